import { describe, expect, it } from "vitest";
import { niceMax, renderSvg } from "../src/report/chart.js";
import { formatJson } from "../src/report/json.js";
import { renderMarkdown } from "../src/report/markdown.js";
import { evaluateTargets } from "../src/report/verdicts.js";
import type { BenchResults, FailoverResult, LoadResult, ScaleResult } from "../src/types.js";

function row(
  partial: Partial<FailoverResult> & Pick<FailoverResult, "backend" | "scenario">,
): FailoverResult {
  return {
    implementation: "tenure",
    trials: 3,
    failures: 0,
    overlaps: 0,
    leaseMs: 2000,
    renewDeadlineMs: 1400,
    retryPeriodMs: 300,
    watch: true,
    processes: true,
    p50Ms: 1900,
    p99Ms: 1990,
    maxMs: 1990,
    minMs: 1800,
    meanMs: 1900,
    samplesMs: [1800, 1900, 1990],
    phases: null,
    ...partial,
  };
}

const failover: FailoverResult[] = [
  row({ backend: "redis", scenario: "crash" }),
  row({ backend: "redis", scenario: "graceful", p50Ms: 5, p99Ms: 9, maxMs: 9, samplesMs: [4, 5, 9] }),
  row({ backend: "kubernetes", scenario: "crash", p99Ms: 2400 }),
  row({ backend: "kubernetes", scenario: "graceful", p50Ms: 30, p99Ms: 300 }),
  row({
    backend: "kubernetes",
    scenario: "crash",
    implementation: "client-go",
    watch: false,
    p50Ms: 2500,
    p99Ms: 3000,
  }),
];

const load: LoadResult[] = [
  {
    backend: "etcd",
    implementation: "tenure",
    source: "etcd /metrics",
    leaseMs: 2000,
    retryPeriodMs: 300,
    renewals: 20,
    leaderOpsPerRenewal: { Txn: 1 },
    leaderWritesPerRenewal: 1,
    leaderReadsPerRenewal: 0,
    followerOpsPerSecond: {},
    followerReadsPerSecond: 0,
    followerWritesPerSecond: 0,
    notes: [],
  },
];

const scale: ScaleResult[] = [
  {
    backend: "redis",
    elections: 1000,
    durationMs: 60_000,
    leaseMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2000,
    leading: 1000,
    rampMs: 900,
    renewals: 30_000,
    storeErrors: 0,
    spuriousLosses: 0,
    cpuCoreShare: 0.2,
    rssMaxMb: 150,
    heapUsedMb: 60,
    eventLoopDelayP99Ms: 12,
    eventLoopDelayMaxMs: 30,
    memoryAtRssMax: null,
    storeCalls: { get: 0, create: 0, update: 30_000, watch: 0 },
    storeCallsPerElectionPerRetry: 1,
    serverOps: null,
    cpuNeighbour: false,
    nodeOptions: ["--max-old-space-size=1024"],
  },
];

describe("evaluateTargets", () => {
  const targets = evaluateTargets(failover, load, scale);
  const find = (target: string, backend: string) =>
    targets.find((entry) => entry.target.startsWith(target) && entry.backend === backend);

  it("passes a crash p99 within lease + 250 ms and states the margin", () => {
    expect(find("crash", "redis")).toMatchObject({ verdict: "pass", limit: "2250 ms", margin: "+260 ms" });
  });

  it("fails one beyond it, by how much", () => {
    const target = find("crash", "kubernetes");
    expect(target?.verdict).toBe("fail");
    expect(target?.margin).toBe("−150 ms");
    expect(target?.why).toMatch(/exceeds the limit by 150 ms/);
  });

  it("judges a handover against the graceful p99 of the same backend, and on the successor's wins", () => {
    const graceful = row({ backend: "etcd", scenario: "graceful", p99Ms: 40, samplesMs: [20, 30, 40] });
    const judge = (handover: Partial<FailoverResult>) =>
      evaluateTargets([graceful, row({ backend: "etcd", scenario: "handover", ...handover })], [], []).find(
        (entry) => entry.target.startsWith("handover"),
      );
    expect(judge({ p99Ms: 35, successorWins: 3 })).toMatchObject({ verdict: "pass", margin: "+5.0 ms" });
    expect(judge({ p99Ms: 35, successorWins: 2 })?.verdict).toBe("fail");
    expect(judge({ p99Ms: 45, successorWins: 3 })).toMatchObject({ verdict: "fail", margin: "−5.0 ms" });
    expect(judge({ p99Ms: 35, successorWins: 3, overlaps: 1 })?.why).toMatch(/safety bug/);
    // A handover row is never judged as a graceful failover.
    const targets = evaluateTargets(
      [row({ backend: "etcd", scenario: "handover", successorWins: 3 })],
      [],
      [],
    );
    expect(targets.map((entry) => entry.target)).toEqual([
      "handover: the chosen successor wins every trial, no overlap",
    ]);
  });

  it("judges graceful failover on watch backends only, and never client-go", () => {
    expect(find("graceful", "redis")?.verdict).toBe("pass");
    expect(find("graceful", "kubernetes")?.verdict).toBe("fail");
    expect(targets.filter((entry) => entry.measured.includes("3000"))).toEqual([]);
  });

  it("checks one write and no read per renewal, and followers' reads", () => {
    expect(find("one conditional write", "etcd")?.verdict).toBe("pass");
    expect(find("followers send no polling", "etcd")?.verdict).toBe("pass");
  });

  it("calls a scale run shorter than the soak, or smaller than the target, not evaluated, never a pass", () => {
    const target = find("10,000 elections for 300 s", "redis");
    expect(target?.verdict).toBe("not evaluated");
    expect(target?.why).toMatch(/measured over 60 s, not 300 s/);
    expect(target?.why).toMatch(/1000 elections, not 10000/);
  });

  it("judges a full soak: a pass with no loss, a failure with one", () => {
    const soak: ScaleResult = {
      ...(scale[0] as ScaleResult),
      elections: 10_000,
      leading: 10_000,
      durationMs: 300_000,
    };
    const judged = (row: ScaleResult) =>
      evaluateTargets([], [], [row]).map((entry) => [entry.target.split(":")[0], entry.verdict]);
    expect(judged(soak)).toEqual([
      ["10,000 elections for 300 s", "pass"],
      ["10,000 elections in one process", "pass"],
    ]);
    expect(judged({ ...soak, spuriousLosses: 1, rssMaxMb: 600 })).toEqual([
      ["10,000 elections for 300 s", "fail"],
      ["10,000 elections in one process", "fail"],
    ]);
  });

  it("reports the shortest stable lease, and judges it only from full soaks with a neighbour", () => {
    const soak = (leaseMs: number, spuriousLosses: number): ScaleResult => ({
      ...(scale[0] as ScaleResult),
      leaseMs,
      spuriousLosses,
      durationMs: 300_000,
      cpuNeighbour: true,
    });
    const search = {
      backend: "etcd" as const,
      elections: 1000,
      soaks: [soak(2000, 0), soak(1000, 0), soak(500, 3)],
    };
    const [met] = evaluateTargets([], [], [], [{ ...search, shortestStableLeaseMs: 1000 }]);
    expect(met).toMatchObject({ verdict: "pass", measured: "1000 ms" });
    const short = { ...search, soaks: search.soaks.map((row) => ({ ...row, durationMs: 60_000 })) };
    const [unjudged] = evaluateTargets([], [], [], [{ ...short, shortestStableLeaseMs: 1000 }]);
    expect(unjudged?.verdict).toBe("not evaluated");
  });
});

describe("renderSvg", () => {
  const svg = renderSvg(failover);

  it("is one standalone SVG with two bars per row and a target line per panel", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(
      svg.match(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="[^"]+"><title>/g),
    ).toHaveLength(10);
    expect(svg.match(/target: p99 ≤/g)).toHaveLength(2);
    expect(svg).toContain("client-go");
  });

  it("escapes text", () => {
    expect(renderSvg([], "a < b & c")).toContain("a &lt; b &amp; c");
  });

  it("rounds axes up to a readable step", () => {
    expect(niceMax(2420)).toBe(2500);
    expect(niceMax(2845)).toBe(3000);
    expect(niceMax(180)).toBe(200);
    expect(niceMax(0)).toBe(1);
  });
});

describe("renderMarkdown", () => {
  const results: BenchResults = {
    schema: 2,
    machine: {
      date: "2026-11-25T10:00:00.000Z",
      nproc: 2,
      cpuModel: "Test CPU",
      memoryGb: 23.5,
      node: "v24.21.0",
      platform: "linux x64",
      servers: { redis: "7.0.15" },
    },
    options: { trials: 3 },
    durationMs: 123_000,
    failover,
    load,
    scale,
    leaseSearch: [],
    skipped: [{ backend: "consul", what: "everything", reason: "its server did not start" }],
    targets: evaluateTargets(failover, load, scale),
    notes: ["a note"],
  };
  const markdown = renderMarkdown(results);

  it("has the failover table, the ratio, the machine and the skipped backends", () => {
    expect(markdown).toContain(
      "| backend | candidates | scenario | trials | lease / renew / retry | p50 | p99 | max | failed |",
    );
    expect(markdown).toContain(
      "| redis | Tenure | crash | 3 | 2000 / 1400 / 300 ms | 1900 ms | 1990 ms | 1990 ms | 0 |",
    );
    expect(markdown).toContain(
      "| crash, 2 / 1.4 / 0.3 s | 1900 ms / 2500 ms | 0.76 | 2400 ms / 3000 ms | 0.80 |",
    );
    expect(markdown).toContain("**consul** (everything): its server did not start");
    expect(markdown).toContain("| CPU | 2 × Test CPU |");
    expect(markdown).toContain("| redis | 7.0.15 |");
    expect(markdown).toContain("![failover chart](chart.svg)");
  });
});

describe("formatJson", () => {
  it("collapses what fits in 110 columns and expands the rest, as Biome does", () => {
    const long = "x".repeat(70);
    expect(formatJson({ a: { b: 1, c: [1, 2] }, d: [], e: { long, long2: long }, f: undefined })).toBe(
      `{\n  "a": { "b": 1, "c": [1, 2] },\n  "d": [],\n  "e": {\n    "long": "${long}",\n    "long2": "${long}"\n  }\n}\n`,
    );
  });

  it("fills a long array of numbers, as many per line as fit, as Biome does", () => {
    const samples = Array.from({ length: 30 }, (_, index) => 1000 + index + 0.5);
    const lines = formatJson({ samplesMs: samples }).split("\n");
    expect(lines[1]).toBe('  "samplesMs": [');
    // 4 spaces, then items of 7 characters ("1000.5,") and a space between: 14 would take 115 > 110 columns.
    expect(lines[2]).toBe(`    ${samples.slice(0, 13).join(", ")},`);
    expect(lines.slice(2, -3).join(" ").replace(/\s+/g, " ").trim()).toBe(samples.join(", "));
  });
});
