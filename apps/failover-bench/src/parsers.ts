/** Parsers of the servers' own statistics. Pure: each takes the text a server answered. */

/** Redis `INFO commandstats`: calls per command (lower case), e.g. `{ evalsha: 120, ping: 3 }`. */
export function parseRedisCommandStats(info: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) counts[match[1].toLowerCase()] = Number(match[2]);
  }
  return counts;
}

/** One sample of the Prometheus text format. */
export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The Prometheus text exposition format (what etcd and kube-apiserver serve on /metrics). */
export function parsePrometheus(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (match?.[1] === undefined || match[4] === undefined) continue;
    const labels: Record<string, string> = {};
    const body = match[3] ?? "";
    for (const label of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (label[1] !== undefined && label[2] !== undefined)
        labels[label[1]] = label[2].replace(/\\(.)/g, "$1");
    }
    const value = Number(match[4]);
    if (!Number.isNaN(value)) samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** Sums `metric` by the values of some labels, keyed "v1 v2". */
export function sumBy(
  samples: readonly PrometheusSample[],
  metric: string,
  keyLabels: readonly string[],
  filter: (labels: Readonly<Record<string, string>>) => boolean = () => true,
): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== metric || !filter(sample.labels)) continue;
    const key = keyLabels.map((label) => sample.labels[label] ?? "").join(" ");
    sums[key] = (sums[key] ?? 0) + sample.value;
  }
  return sums;
}

/** etcd: completed gRPC calls per method of the KV and Lease services (`Range`, `Txn`, `Put`, …). */
export function etcdGrpcCounts(metricsText: string): Record<string, number> {
  return sumBy(parsePrometheus(metricsText), "grpc_server_handled_total", ["grpc_method"], (labels) =>
    ["etcdserverpb.KV", "etcdserverpb.Lease", "etcdserverpb.Watch"].includes(labels.grpc_service ?? ""),
  );
}

/** kube-apiserver: requests per "VERB resource" (e.g. `PUT leases`), only the given resources. */
export function apiserverRequestCounts(
  metricsText: string,
  resources: readonly string[],
): Record<string, number> {
  return sumBy(parsePrometheus(metricsText), "apiserver_request_total", ["verb", "resource"], (labels) =>
    resources.includes(labels.resource ?? ""),
  );
}

/** Consul `/v1/agent/metrics` (go-metrics in-memory sink): one finished interval. */
export interface ConsulInterval {
  /** Start of the interval, wall clock (ms since the epoch). */
  readonly startMs: number;
  /** Count per counter or sample, keyed by name and label values, e.g. `consul.api.http GET v1_kv_`. */
  readonly counts: Readonly<Record<string, number>>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses `/v1/agent/metrics`: counts of the Counters and Samples of the interval it shows. */
export function parseConsulMetrics(json: unknown): ConsulInterval {
  if (!isRecord(json)) throw new Error("Consul metrics: not an object");
  const stamp = typeof json.Timestamp === "string" ? json.Timestamp : "";
  // "2026-11-25 08:53:40 +0000 UTC"
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})/.exec(stamp);
  const startMs = match === null ? Number.NaN : Date.parse(`${match[1]}T${match[2]}${match[3]}:${match[4]}`);
  const counts: Record<string, number> = {};
  for (const group of [json.Counters, json.Samples]) {
    if (!Array.isArray(group)) continue;
    for (const entry of group) {
      if (!isRecord(entry) || typeof entry.Name !== "string" || typeof entry.Count !== "number") continue;
      const labels = isRecord(entry.Labels) ? Object.values(entry.Labels).map(String) : [];
      const key = [entry.Name, ...labels].join(" ");
      counts[key] = (counts[key] ?? 0) + entry.Count;
    }
  }
  return { startMs, counts };
}

/** The difference of two counter sets (after − before), keeping only what changed. */
export function diffCounts(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): Record<string, number> {
  const diff: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) diff[key] = delta;
  }
  return diff;
}
