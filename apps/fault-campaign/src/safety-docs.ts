/**
 * `node apps/fault-campaign/src/safety-docs.ts docs/safety/*.json`: writes docs/safety/README.md,
 * the readable summary of the long campaigns whose JSON reports sit beside it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { CampaignReport, Distribution } from "./report.ts";

const fmt = (ms: number | null): string =>
  ms === null ? "–" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
const dist = (d: Distribution): string =>
  d.count === 0 ? "–" : `${fmt(d.medianMs)} / ${fmt(d.p99Ms)} / ${fmt(d.maxMs)} (${d.count})`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

/** The longest fault around the longest gap, in parentheses: what the gap was spent on. */
function gapCause(report: CampaignReport): string {
  const around = report.faults.filter((fault) => report.summary.longestGapFaults.includes(fault.index));
  const longest = around.sort((a, b) => b.healMs - b.startMs - (a.healMs - a.startMs))[0];
  return longest === undefined ? "" : ` (around \`${longest.kind}\`: ${longest.detail})`;
}

/** Reports made before each fault had its own random stream replay their seed only in part. */
function replayNote(reports: readonly { report: CampaignReport }[]): string {
  const older = reports
    .filter(({ report }) => report.plan !== "stream-per-fault")
    .map(({ report }) => report.backend);
  if (older.length === 0) return "";
  return ` The runs of ${older.join(", ")} were made while one random stream served the whole campaign:
the same seed gives their faults only up to the first one whose draws depended on who led, and a
run today (a stream per fault) injects a different sequence of the same kinds in the same numbers.`;
}

/** One sentence per backend whose store-outage recoveries exceeded the bound: how many, after which faults. */
function overBoundNote(reports: readonly { report: CampaignReport }[]): string {
  const notes = reports.flatMap(({ report }) => {
    const { overBound, count, boundMs } = report.summary.recoveryAfterStoreOutage;
    if (overBound === 0) return [];
    const outageKinds = new Set(
      report.faults.filter((fault) => fault.storeOutage).map((fault) => fault.kind),
    );
    const kinds = Object.entries(report.summary.recoveryByKind)
      .filter(([kind, d]) => outageKinds.has(kind as never) && d.maxMs !== null && d.maxMs > boundMs)
      .map(([kind, d]) => `\`${kind}\` (max ${fmt(d.maxMs)})`);
    return [`${report.backend}: ${overBound} of ${count} over ${fmt(boundMs)}, after ${kinds.join(", ")}`];
  });
  return notes.length === 0 ? "" : ` Over the bound in these runs: ${notes.join("; ")}.`;
}

export function renderSafetyDocs(reports: readonly { file: string; report: CampaignReport }[]): string {
  const kinds = [
    ...new Set(reports.flatMap(({ report }) => Object.keys(report.summary.faultsByKind))),
  ].sort();
  const overview = table(
    [
      "backend",
      "store",
      "faults",
      "terms",
      "overlaps (unexpected / expected)",
      "stale tokens",
      "reused tokens",
      "longest gap",
      "store outage → leader (median / p99 / max, n)",
      "seed",
      "report",
    ],
    reports.map(({ file, report }) => {
      const v = report.summary.violationsByKind;
      const outage = report.summary.recoveryAfterStoreOutage;
      return [
        report.backend,
        report.store,
        String(report.summary.faults),
        String(report.summary.terms),
        `**${v.overlap.unexpected}** / ${v.overlap.expected}`,
        `**${v["stale-token"].unexpected}** / ${v["stale-token"].expected}`,
        `**${v["reused-token"].unexpected}** / ${v["reused-token"].expected}`,
        `${fmt(report.summary.longestGapMs)}${gapCause(report)}`,
        `${dist(outage)}; over ${outage.boundMs} ms: ${outage.overBound}`,
        String(report.seed),
        `[${basename(file)}](${basename(file)})`,
      ];
    }),
  );
  const byKind = table(
    ["fault", ...reports.map(({ report }) => report.backend)],
    kinds.map((kind) => [
      `\`${kind}\``,
      ...reports.map(({ report }) => {
        const count = report.summary.faultsByKind[kind];
        if (count === undefined) return "–";
        const violations = report.violations.filter((violation) =>
          violation.faults.some((index) => report.faults[index]?.kind === kind),
        );
        const expected = violations.filter((violation) => violation.expected).length;
        const unexpected = violations.length - expected;
        const recovery = report.summary.recoveryByKind[kind];
        const parts = [`${count} fault${count === 1 ? "" : "s"}`];
        if (violations.length > 0) parts.push(`${unexpected} unexpected, ${expected} expected violations`);
        if (recovery !== undefined && recovery.count > 0)
          parts.push(`leader after heal: median ${fmt(recovery.medianMs)}, max ${fmt(recovery.maxMs)}`);
        return parts.join("; ");
      }),
    ]),
  );
  const commands = reports
    .map(
      ({ report }) =>
        `npm run chaos -- --backend ${report.backend} --seed ${report.seed} --faults all --fault-count ${report.summary.faults} --out docs/safety/${report.backend}.json`,
    )
    .join("\n");
  return `# Safety: the fault campaign

What the fault campaign (\`apps/fault-campaign\`, \`npm run chaos\`) found in its long runs, one per
backend. Each run starts the backend's real servers from the harness (etcd and Consul as
three-member clusters), three candidates as separate processes, each through its own Toxiproxy
link, and injects faults one at a time, in seeded rounds of every kind, until the fault count is
reached; between two faults it waits for a leader to work again. While leading, a candidate works in
steps of 10 ms, each logged with its fencing token and the host's monotonic time read just before
\`leadership.isValid()\` answered true. The checker reads every log afterwards.

This page is generated from the JSON reports beside it:
\`node apps/fault-campaign/src/safety-docs.ts docs/safety/*.json\`.

## Results

${overview}

A **violation** is two terms whose work overlapped on the host's clock (overlap), a term whose token
was lower than an earlier term's (stale token), or two terms with one token (reused token). It is
**expected** only when it falls within two leases of a fault the documentation predicts it for:

- \`drift-beyond\`: a candidate's clock runs beyond the drift bound ρ < (L − R)/(L + R) (the leader at
  0.35× or a follower at about 2.6× its true rate) while the leader is cut off. Two leaders are what
  the bound predicts (\`docs/architecture.md\`, "Why two leaders never overlap"). This is the
  campaign's negative control: the checker must catch these, and does.
- \`store-wipe\` (Redis): the server restarts having lost every key, as without persistence. Nothing is
  left to tell that the lock existed, so a new leader may start while the old one still acts, until
  its next renewal fails (\`packages/redis/README.md\`, "Safety").

Every other violation is unexpected, and the campaign exits with status 1.

The **longest gap** is the longest time in which no candidate worked. **Store outage → leader** is the
time from the end of each store pause, restart or wipe to the next work step, against the engine's
promise of one retry period plus one lease. The end of a restart is when the store answers (a
cluster: when it has a Raft leader again); a store that then replays earlier states of the lock is
not yet back, and the bound holds from its last replayed state instead
(\`docs/architecture.md\`, "Recovery after a store outage").${overBoundNote(reports)}

## Faults by kind

${byKind}

"Leader after heal" is the time from the end of the fault (process back, link restored, store
answering) to the next work step by anyone; 0 when the leader was never interrupted.

## The faults

${Object.entries({
  kill: "SIGKILL a candidate (the leader 60% of the time), restart it after 0.3–3 leases",
  term: "SIGTERM the leader (it releases), restart it after 0.3–3 leases",
  pause: "SIGSTOP a candidate for 0.3–3 leases (a stalled process), then SIGCONT",
  partition: "drop every byte between a candidate and the store, both ways, for 0.3–3 leases",
  "slow-link": "delay every byte between a candidate and the store by 0.1–0.6 renew deadlines",
  "store-pause": "SIGSTOP every store process for 0.3–3 leases",
  "store-restart": "restart every store process, data kept",
  "store-wipe": "Redis: restart having lost every key (negative control)",
  "delete-lock": "delete the lock as an operator would, once it has been held for a lease",
  drift: "a clock within the drift bound (leader slow or follower fast), the leader cut off meanwhile",
  "drift-beyond": "the same beyond the bound (negative control)",
  "member-failover": "etcd, Consul: SIGKILL the cluster's leader member, restart it after 0.3–3 leases",
})
  .map(([kind, text]) => `- \`${kind}\`: ${text}`)
  .join("\n")}

## Reproducing

Every choice (fault, target, duration, rate) comes from the seed; timing on a real machine still
varies, and so does which candidate leads when a fault picks "the leader".${replayNote(reports)} The runs
above:

\`\`\`sh
${commands}
\`\`\`

## Report format (schema 1)

Each JSON file is one campaign: \`plan\` (\`"stream-per-fault"\`; absent in older reports), \`backend\`, \`store\`, \`seed\`, \`startedAt\`, \`durationMs\`, \`timing\`
(lease, renew deadline, retry period in ms), \`candidates\`, \`faultKinds\`; \`summary\` (the counts above,
\`violationsByKind\`, \`longestGapMs\`, \`recoveryAfterStoreOutage\` with its \`boundMs\` and \`overBound\`,
\`recoveryAfterAnyFault\`, \`recoveryByKind\`); \`faults\` (each with \`index\`, \`kind\`, \`target\`,
\`detail\`, \`startMs\` and \`healMs\` on the host's monotonic clock, \`expected\` violation kinds,
\`storeOutage\`); and \`violations\` (each with \`kind\`, \`startMs\`, \`endMs\`, the \`terms\` involved,
\`detail\`, the \`faults\` around it and whether it was \`expected\`).
`;
}

const files = process.argv.slice(2);
if (files.length > 0) {
  const order = ["redis", "etcd", "consul", "kubernetes"];
  const reports = files
    .map((file) => ({ file, report: JSON.parse(readFileSync(file, "utf8")) as CampaignReport }))
    .sort((a, b) => order.indexOf(a.report.backend) - order.indexOf(b.report.backend));
  const target = join(dirname(files[0] ?? "."), "README.md");
  writeFileSync(target, renderSafetyDocs(reports));
  process.stdout.write(`wrote ${target}\n`);
}
