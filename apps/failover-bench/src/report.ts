/** Targets, the Markdown page and the SVG chart. Pure: results in, text out. */
import type {
  BenchResults,
  FailoverResult,
  LoadResult,
  ScaleResult,
  SkippedBackend,
  TargetResult,
} from "./types.js";

const ms = (value: number): string =>
  Number.isFinite(value) ? `${value.toFixed(value >= 100 ? 0 : 1)} ms` : "—";
function signed(value: number, unit = " ms"): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 1 : 2;
  const text = Math.abs(value).toFixed(digits);
  return Number(text) === 0 ? `±0${unit}` : `${value > 0 ? "+" : "−"}${text}${unit}`;
}

/** Extra time a crash failover may take beyond the lease: one round trip and scheduling. */
export const CRASH_SLACK_MS = 250;
export const GRACEFUL_LIMIT_MS = 250;

export function evaluateTargets(
  failover: readonly FailoverResult[],
  load: readonly LoadResult[],
  scale: readonly ScaleResult[],
  soakSeconds: number,
): TargetResult[] {
  const targets: TargetResult[] = [];
  for (const row of failover) {
    if (row.implementation !== "tenure") continue;
    if (row.scenario === "crash") {
      const limit = row.leaseMs + CRASH_SLACK_MS;
      const pass = row.failures === 0 && row.p99Ms <= limit;
      targets.push({
        target: "crash failover p99 ≤ lease + 250 ms",
        backend: row.backend,
        pass,
        measured: `p99 ${ms(row.p99Ms)} over ${row.samplesMs.length} trials${row.failures > 0 ? `, ${row.failures} failed` : ""}`,
        limit: ms(limit),
        margin: signed(limit - row.p99Ms),
        why: pass
          ? `followers wake at the observed expiry (sighting of the last renewal + lease), so failover is lease − time since that renewal + one CAS`
          : row.failures > 0
            ? "some trials produced no new leader in time (see notes)"
            : `p99 exceeds the limit by ${ms(row.p99Ms - limit)}: the take-over waits a full lease from the follower's last sighting, plus the store's write latency and process scheduling on a loaded 2-core machine`,
      });
    } else if (row.scenario === "store-outage") {
      const limit = row.leaseMs + row.retryPeriodMs + CRASH_SLACK_MS;
      const pass = row.failures === 0 && row.p99Ms <= limit;
      targets.push({
        target: "recovery after a store outage p99 ≤ lease + retry period + 250 ms",
        backend: row.backend,
        pass,
        measured: `p99 ${ms(row.p99Ms)} over ${row.samplesMs.length} trials${row.failures > 0 ? `, ${row.failures} failed` : ""}`,
        limit: ms(limit),
        margin: signed(limit - row.p99Ms),
        why: pass
          ? "followers back off one retry period per failure and their observation has long expired, so the first read after the outage leads to a takeover; a renewal the old leader sent during the outage that lands late starts a fresh lease (hence the lease)"
          : row.failures > 0
            ? "some trials produced no leader after the outage in time (see notes)"
            : `p99 exceeds the limit by ${ms(row.p99Ms - limit)}`,
      });
    } else if (row.watch) {
      const pass = row.failures === 0 && row.overlaps === 0 && row.p99Ms <= GRACEFUL_LIMIT_MS;
      targets.push({
        target: "graceful failover p99 ≤ 250 ms (watch)",
        backend: row.backend,
        pass,
        measured: `p99 ${ms(row.p99Ms)}, ${row.overlaps} overlapping terms`,
        limit: ms(GRACEFUL_LIMIT_MS),
        margin: signed(GRACEFUL_LIMIT_MS - row.p99Ms),
        why: pass
          ? "the release is pushed to followers by watch; the first follower's CAS wins at once"
          : row.overlaps > 0
            ? "the next leader started before the old one reported stopping: a safety bug"
            : "the release reaches followers late or the CAS is slow (see samples)",
      });
    }
  }
  for (const row of load) {
    if (row.implementation !== "tenure") continue;
    const pass =
      row.leaderReadsPerRenewal === 0 &&
      Math.abs(row.leaderWritesPerRenewal - 1) <= 1.5 / Math.max(1, row.renewals);
    targets.push({
      target: "one conditional write and no read per renewal",
      backend: row.backend,
      pass,
      measured: `${row.leaderWritesPerRenewal.toFixed(2)} writes, ${row.leaderReadsPerRenewal.toFixed(2)} reads per renewal (${row.renewals} renewals)`,
      limit: "1 write, 0 reads",
      margin: `${signed(row.leaderWritesPerRenewal - 1, " writes")}, ${signed(row.leaderReadsPerRenewal, " reads")}`,
      why: pass
        ? "the leader updates the version it holds; it reads only after a conflict"
        : row.backend === "consul" && row.leaderReadsPerRenewal > 0
          ? "the renewal itself is one /v1/txn CAS; the GET per renewal is the leader's own watch: a Consul blocking query answers every change, the leader's own renewals included, and is sent again (the engine watches in every role; pausing the watch while leading would remove it)"
          : "the server counted more operations than renewals (see the per-operation counts)",
    });
    const eventsPerSecond = 1000 / row.retryPeriodMs;
    const readsPerEvent = row.followerReadsPerSecond / eventsPerSecond;
    const consul = row.backend === "consul";
    const followerPass = consul ? readsPerEvent <= 1.1 : row.followerReadsPerSecond <= 0.1;
    targets.push({
      target: "followers send no polling reads (watch)",
      backend: row.backend,
      pass: followerPass,
      measured: `${row.followerReadsPerSecond.toFixed(2)} reads/s per follower (${readsPerEvent.toFixed(2)} per lease event)`,
      limit: consul ? "≤ 1 blocking query per lease event" : "0 reads/s",
      margin: consul
        ? signed(1 - readsPerEvent, " per event")
        : signed(-row.followerReadsPerSecond, " reads/s"),
      why: consul
        ? "Consul's watch is a blocking query: the GET returns at each change and is sent again, so one read per lease event is the watch itself, not polling"
        : followerPass
          ? "followers follow the store's push (watch) and only write at expiry"
          : "followers read between lease events",
    });
  }
  for (const row of scale) {
    if (row.backend !== "redis" && row.backend !== "etcd") continue;
    const pass = row.spuriousLosses === 0 && row.leading === row.elections && row.elections >= 1000;
    const short = row.durationMs < soakSeconds * 1000 - 1000;
    targets.push({
      target: `${row.elections} concurrent elections, zero spurious losses`,
      backend: row.backend,
      pass,
      measured: `${row.spuriousLosses} losses over ${Math.round(row.durationMs / 1000)} s, ${row.leading}/${row.elections} leading, ${row.storeErrors} store errors`,
      limit: "0 losses over 300 s",
      margin: `${row.spuriousLosses === 0 ? "0 losses" : `${row.spuriousLosses} too many`}`,
      why: `${
        row.spuriousLosses > 0
          ? "leaders missed their renew deadline (event-loop delay or store latency)"
          : row.leading < row.elections
            ? "not every election had a leader when the window started (the ramp was too slow)"
            : row.elections < 1000
              ? `only ${row.elections} elections were run (the target is 1,000)`
              : "every leader renewed within its deadline"
      }${short ? `; measured over ${Math.round(row.durationMs / 1000)} s, not five minutes (run with --soak for the full target)` : ""}`,
    });
  }
  return targets;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

export function failoverTable(rows: readonly FailoverResult[]): string {
  return table(
    ["backend", "candidates", "scenario", "trials", "lease / renew / retry", "p50", "p99", "max", "failed"],
    rows.map((row) => [
      row.backend,
      row.implementation === "client-go" ? "client-go" : row.processes ? "Tenure" : "Tenure (1 process)",
      row.scenario,
      String(row.trials),
      `${row.leaseMs} / ${row.renewDeadlineMs} / ${row.retryPeriodMs} ms`,
      ms(row.p50Ms),
      ms(row.p99Ms),
      ms(row.maxMs),
      String(row.failures),
    ]),
  );
}

export function ratioRows(rows: readonly FailoverResult[]): string[][] {
  const out: string[][] = [];
  for (const scenario of ["crash", "graceful"] as const) {
    const tenure = rows.find(
      (row) => row.backend === "kubernetes" && row.implementation === "tenure" && row.scenario === scenario,
    );
    const go = rows.find(
      (row) =>
        row.backend === "kubernetes" && row.implementation === "client-go" && row.scenario === scenario,
    );
    if (tenure === undefined || go === undefined) continue;
    out.push([
      scenario,
      `${ms(tenure.p50Ms)} / ${ms(go.p50Ms)}`,
      (tenure.p50Ms / go.p50Ms).toFixed(2),
      `${ms(tenure.p99Ms)} / ${ms(go.p99Ms)}`,
      (tenure.p99Ms / go.p99Ms).toFixed(2),
    ]);
  }
  return out;
}

function formatOps(ops: Readonly<Record<string, number>>): string {
  const entries = Object.entries(ops).filter(([, value]) => Math.abs(value) >= 0.005);
  return entries.length === 0
    ? "none"
    : entries.map(([key, value]) => `${key} ${value.toFixed(2)}`).join(", ");
}

export function loadTable(rows: readonly LoadResult[]): string {
  return table(
    [
      "backend",
      "candidates",
      "leader: writes / reads per renewal",
      "leader: all ops per renewal",
      "follower: reads / writes per s",
      "follower: all ops per s",
      "source",
    ],
    rows.map((row) => [
      row.backend,
      row.implementation,
      `${row.leaderWritesPerRenewal.toFixed(2)} / ${row.leaderReadsPerRenewal.toFixed(2)}`,
      formatOps(row.leaderOpsPerRenewal),
      `${row.followerReadsPerSecond.toFixed(2)} / ${row.followerWritesPerSecond.toFixed(2)}`,
      formatOps(row.followerOpsPerSecond),
      row.source,
    ]),
  );
}

export function scaleTable(rows: readonly ScaleResult[]): string {
  return table(
    [
      "backend",
      "elections",
      "lease / renew / retry",
      "measured",
      "leading",
      "ramp",
      "renewals/s",
      "CPU (cores)",
      "RSS max",
      "event-loop delay p99 / max",
      "store errors",
      "spurious losses",
    ],
    rows.map((row) => [
      row.backend,
      String(row.elections),
      `${row.leaseMs / 1000} / ${row.renewDeadlineMs / 1000} / ${row.retryPeriodMs / 1000} s`,
      `${Math.round(row.durationMs / 1000)} s`,
      `${row.leading}/${row.elections}`,
      `${(row.rampMs / 1000).toFixed(1)} s`,
      (row.renewals / (row.durationMs / 1000)).toFixed(0),
      row.cpuCoreShare.toFixed(2),
      `${row.rssMaxMb.toFixed(0)} MB`,
      `${row.eventLoopDelayP99Ms.toFixed(1)} / ${row.eventLoopDelayMaxMs.toFixed(1)} ms`,
      String(row.storeErrors),
      String(row.spuriousLosses),
    ]),
  );
}

export function targetsTable(rows: readonly TargetResult[]): string {
  return table(
    ["target", "backend", "result", "measured", "limit", "margin", "why"],
    rows.map((row) => [
      row.target,
      row.backend,
      row.pass ? "**pass**" : "**FAIL**",
      row.measured,
      row.limit,
      row.margin,
      row.why,
    ]),
  );
}

export function skippedList(rows: readonly SkippedBackend[]): string {
  return rows.length === 0
    ? "None."
    : rows.map((row) => `- **${row.backend}** (${row.what}): ${row.reason}`).join("\n");
}

/** How to read the failover numbers, from the timings the trials used. */
function readingNotes(rows: readonly FailoverResult[]): string[] {
  const first = rows[0];
  if (first === undefined) return [];
  const lease = first.leaseMs;
  const retry = first.retryPeriodMs;
  return [
    `Reading the numbers: a crashed leader's lock is taken over when a follower's timer fires at its last sighting of the lock plus the lease. With watch, that sighting is the leader's last renewal, so a crash failover lies between lease − retry period (${lease - retry} ms) and the lease (${lease} ms), plus one compare-and-swap and process scheduling. A graceful failover is the release write, its delivery by watch and the follower's compare-and-swap. client-go followers poll: every retry period plus up to 1.2 × retry of jitter (here ${retry}–${Math.round(2.2 * retry)} ms between polls), and count the lease from the poll that saw the record change; since client-go compares the record serialized with whole-second times, it sees a renewal only when the second of \`renewTime\` moves, so it may count from up to a second before the leader's last write (see docs/architecture.md). Its crash failover therefore spreads from about lease − 1 s − one poll to lease + one poll, and a graceful one waits for the next poll; at client-go's default settings (15 s / 10 s / 2 s) a poll comes every 2 to 4.4 s.`,
    "",
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const machine = results.machine;
  const ratios = ratioRows(results.failover);
  const sections = [
    "# Failover benchmark",
    "",
    `Generated by \`npm run bench\` (apps/failover-bench) on ${machine.date}; the run took ${Math.round(results.durationMs / 1000)} s. ` +
      "Failover is the time from the leader's kill (SIGKILL: crash; SIGTERM: graceful stop with release) to the next `started-leading` " +
      "of another candidate, both read from the host's CLOCK_MONOTONIC. Three candidates per election, each a separate OS process " +
      "(memory: one process, see below). p99 is by nearest rank, so with 10 trials it is the maximum.",
    "",
    "## Failover",
    "",
    failoverTable(results.failover),
    "",
    ...(ratios.length > 0
      ? [
          "### Tenure / client-go on Kubernetes (same Lease settings)",
          "",
          table(["scenario", "p50 Tenure / client-go", "ratio", "p99 Tenure / client-go", "ratio"], ratios),
          "",
        ]
      : []),
    "![failover chart](chart.svg)",
    "",
    ...readingNotes(results.failover),
    "<details><summary>Every sample (ms, in trial order)</summary>",
    "",
    ...results.failover.map(
      (row) =>
        `- ${row.backend} ${row.implementation} ${row.scenario}: ${row.samplesMs.join(", ") || "none"}`,
    ),
    "",
    "</details>",
    "",
    "## Store load",
    "",
    results.load.length === 0
      ? "Not measured."
      : `From the servers' own statistics: first the leader alone (operations per renewal), then with two followers (the extra operations per second, per follower). Streams (etcd Watch, Redis SUBSCRIBE, kube WATCH) count once when they end, so they show as "other".\n\n${loadTable(results.load)}`,
    "",
    "## Scale",
    "",
    results.scale.length === 0
      ? "Not measured."
      : `Many elections at once in one Node process over one store client, one candidate each (so each is a leader renewing every retry period).\n\n${scaleTable(results.scale)}`,
    "",
    "## Targets",
    "",
    results.targets.length === 0 ? "Nothing to evaluate." : targetsTable(results.targets),
    "",
    "## Skipped",
    "",
    skippedList(results.skipped),
    "",
    ...(results.notes.length > 0 ? ["## Notes", "", ...results.notes.map((note) => `- ${note}`), ""] : []),
    "## Machine",
    "",
    table(
      ["", ""],
      [
        ["date", machine.date],
        ["CPU", `${machine.nproc} × ${machine.cpuModel}`],
        ["memory", `${machine.memoryGb.toFixed(1)} GB`],
        ["Node", machine.node],
        ["platform", machine.platform],
        ...Object.entries(machine.servers).map(([name, version]) => [name, version]),
      ],
    ),
    "",
    `Options: \`${JSON.stringify(results.options)}\``,
    "",
  ];
  return sections.join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A rounded-up axis maximum: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function defaultTitle(rows: readonly FailoverResult[]): string {
  const first = rows[0];
  const timing =
    first === undefined
      ? ""
      : ` — lease ${first.leaseMs / 1000} s, renew ${first.renewDeadlineMs / 1000} s, retry ${first.retryPeriodMs / 1000} s, 3 candidates`;
  return `Failover time, kill → next started-leading${timing}`;
}

/** Two panels (crash, graceful); per backend and implementation a p50 bar and a p99 bar, and the target line. */
export function renderSvg(rows: readonly FailoverResult[], title = defaultTitle(rows)): string {
  const panelWidth = 460;
  const height = 360;
  const top = 64;
  const bottom = 300;
  const left = 60;
  const parts: string[] = [];
  const width = panelWidth * 2 + 40;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 30}" viewBox="0 0 ${width} ${height + 30}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  (["crash", "graceful"] as const).forEach((scenario, panel) => {
    const x0 = 20 + panel * (panelWidth + 20);
    const series = rows.filter((row) => row.scenario === scenario && row.samplesMs.length > 0);
    const limit =
      series.length === 0
        ? GRACEFUL_LIMIT_MS
        : scenario === "crash"
          ? Math.max(...series.map((row) => row.leaseMs)) + CRASH_SLACK_MS
          : GRACEFUL_LIMIT_MS;
    const max = niceMax(Math.max(limit, ...series.map((row) => row.p99Ms)) * 1.1);
    const y = (value: number): number => bottom - (Math.min(value, max) / max) * (bottom - top);
    parts.push(
      `<text x="${x0 + panelWidth / 2}" y="${top - 12}" text-anchor="middle" font-size="13" font-weight="bold">${scenario === "crash" ? "Crash (SIGKILL)" : "Graceful (SIGTERM, release)"}</text>`,
    );
    for (let tick = 0; tick <= 5; tick++) {
      const value = (max / 5) * tick;
      parts.push(
        `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e5e5"/>`,
        `<text x="${x0 + left - 6}" y="${y(value) + 4}" text-anchor="end" fill="#555">${Math.round(value)} ms</text>`,
      );
    }
    const slot = series.length === 0 ? 0 : (panelWidth - left - 10) / series.length;
    const bar = Math.min(28, slot / 3);
    series.forEach((row, index) => {
      const cx = x0 + left + 5 + slot * index + slot / 2;
      const go = row.implementation === "client-go";
      const colors = go ? ["#d97706", "#fbbf24"] : ["#2563eb", "#93c5fd"];
      for (const [offset, value, color, label] of [
        [-bar, row.p50Ms, colors[0], "p50"],
        [0, row.p99Ms, colors[1], "p99"],
      ] as const) {
        parts.push(
          `<rect x="${cx + offset}" y="${y(value)}" width="${bar}" height="${bottom - y(value)}" fill="${color}"><title>${escapeXml(`${row.backend} ${row.implementation} ${scenario} ${label} ${value} ms`)}</title></rect>`,
          `<text x="${cx + offset + bar / 2}" y="${y(value) - 3}" text-anchor="middle" font-size="9">${Math.round(value)}</text>`,
        );
      }
      parts.push(
        `<text x="${cx}" y="${bottom + 14}" text-anchor="middle">${escapeXml(row.backend)}</text>`,
        `<text x="${cx}" y="${bottom + 27}" text-anchor="middle" fill="#555">${escapeXml(go ? "client-go" : row.processes ? "Tenure" : "in-process")}</text>`,
      );
    });
    parts.push(
      `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${y(limit)}" y2="${y(limit)}" stroke="#dc2626" stroke-dasharray="5 4"/>`,
      `<text x="${x0 + left + 4}" y="${y(limit) - 4}" fill="#dc2626">target: p99 ≤ ${Math.round(limit)} ms</text>`,
      `<line x1="${x0 + left}" x2="${x0 + left}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
      `<line x1="${x0 + left}" x2="${x0 + panelWidth}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
    );
  });
  const legendY = height + 10;
  const legend: [string, string][] = [
    ["#2563eb", "Tenure p50"],
    ["#93c5fd", "Tenure p99"],
    ["#d97706", "client-go p50"],
    ["#fbbf24", "client-go p99"],
  ];
  legend.forEach(([color, label], index) => {
    const lx = 80 + index * 150;
    parts.push(
      `<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${color}"/>`,
      `<text x="${lx + 18}" y="${legendY + 10}">${label}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

const LINE_WIDTH = 110;

function flatJson(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "[]" : `[${value.map(flatJson).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    return entries.length === 0
      ? "{}"
      : `{ ${entries.map(([key, item]) => `${JSON.stringify(key)}: ${flatJson(item)}`).join(", ")} }`;
  }
  return JSON.stringify(value) ?? "null";
}

function printJson(value: unknown, indent: number, used: number): string {
  const flat = flatJson(value);
  if (used + flat.length <= LINE_WIDTH || typeof value !== "object" || value === null) return flat;
  const pad = "  ".repeat(indent + 1);
  const items: string[] = Array.isArray(value)
    ? value.map((item, index) => {
        const comma = index < value.length - 1 ? 1 : 0;
        return pad + printJson(item, indent + 1, pad.length + comma);
      })
    : Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item], index, all) => {
          const head = `${pad}${JSON.stringify(key)}: `;
          const comma = index < all.length - 1 ? 1 : 0;
          return head + printJson(item, indent + 1, head.length + comma);
        });
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${open}\n${items.join(",\n")}\n${"  ".repeat(indent)}${close}`;
}

/** JSON laid out the way the repository's formatter (Biome, 110 columns) lays it out, so lint passes. */
export function formatJson(value: unknown): string {
  return `${printJson(value, 0, 0)}\n`;
}
