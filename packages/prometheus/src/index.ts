/**
 * @tenure/prometheus: an elector's metrics on a prom-client registry of your own (prom-client is a
 * peer dependency, so your registry and these metrics come from the same copy). Several electors may
 * share one registry: each metric is created once per registry and labelled by election and identity.
 */
import type { Elector, ElectorEvent } from "@tenure/core";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Options of {@link bindElectorMetrics}. */
export interface ElectorMetricsOptions {
  /** Where the metrics are registered (your application's registry). */
  readonly registry: Registry;
  /** Prefix of every metric name. Default `"tenure_"`. */
  readonly prefix?: string;
  /** Upper bounds of the renewal-latency histogram, in seconds. Default 1 ms to 5 s. */
  readonly latencyBuckets?: readonly number[];
}

/** Default buckets of `<prefix>renew_latency_seconds`. */
export const DEFAULT_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const LABELS = ["election", "identity"] as const;

interface Metrics {
  readonly isLeader: Gauge<(typeof LABELS)[number]>;
  readonly leaseRemaining: Gauge<(typeof LABELS)[number]>;
  readonly leaderChanges: Counter<(typeof LABELS)[number]>;
  readonly renewLatency: Histogram<(typeof LABELS)[number]>;
  readonly storeErrors: Counter<(typeof LABELS)[number] | "code">;
  /** The electors bound to these metrics: the gauges read them when scraped. */
  readonly electors: Set<Elector>;
}

const perRegistry = new WeakMap<Registry, Map<string, Metrics>>();

function metricsFor(registry: Registry, prefix: string, buckets: readonly number[]): Metrics {
  let byPrefix = perRegistry.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    perRegistry.set(registry, byPrefix);
  }
  const existing = byPrefix.get(prefix);
  if (existing !== undefined) return existing;
  const electors = new Set<Elector>();
  const labelsOf = (elector: Elector) => ({ election: elector.name, identity: elector.identity });
  const metrics: Metrics = {
    electors,
    isLeader: new Gauge({
      name: `${prefix}is_leader`,
      help: "1 while this candidate may act as leader (computed when scraped), else 0.",
      labelNames: LABELS,
      registers: [registry],
      collect() {
        for (const elector of electors) this.set(labelsOf(elector), elector.isLeader() ? 1 : 0);
      },
    }),
    leaseRemaining: new Gauge({
      name: `${prefix}leadership_remaining_seconds`,
      help: "How long the current leader stays valid as far as this candidate can tell, 0 with no leader.",
      labelNames: LABELS,
      registers: [registry],
      collect() {
        for (const elector of electors)
          this.set(labelsOf(elector), elector.currentLeader().remainingMs / 1000);
      },
    }),
    leaderChanges: new Counter({
      name: `${prefix}leader_transitions_total`,
      help: "Changes of the leader as seen by this candidate (a lease running out counts as a change to none).",
      labelNames: LABELS,
      registers: [registry],
    }),
    renewLatency: new Histogram({
      name: `${prefix}renew_latency_seconds`,
      help: "Time from sending a renewal to its success.",
      labelNames: LABELS,
      buckets: [...buckets],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: `${prefix}store_errors_total`,
      help: "Failed store calls by error code.",
      labelNames: [...LABELS, "code"],
      registers: [registry],
    }),
  };
  byPrefix.set(prefix, metrics);
  return metrics;
}

/**
 * Exposes `elector`'s metrics on `options.registry`:
 * - `tenure_is_leader` (gauge, 0 or 1, computed when scraped): alert on `sum(tenure_is_leader) != 1`;
 * - `tenure_leadership_remaining_seconds` (gauge): how long the current leader stays valid;
 * - `tenure_leader_transitions_total` (counter);
 * - `tenure_renew_latency_seconds` (histogram);
 * - `tenure_store_errors_total{code}` (counter).
 * Every series carries `election` and `identity` labels. Returns a function that unbinds the elector
 * (its series stay until the registry is reset).
 */
export function bindElectorMetrics(elector: Elector, options: ElectorMetricsOptions): () => void {
  const metrics = metricsFor(
    options.registry,
    options.prefix ?? "tenure_",
    options.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
  );
  const labels = { election: elector.name, identity: elector.identity };
  metrics.electors.add(elector);
  // Series exist from the start, at 0, so rates and absent() behave.
  metrics.leaderChanges.inc(labels, 0);
  const record = (event: ElectorEvent): void => {
    switch (event.type) {
      case "leader-changed":
        metrics.leaderChanges.inc(labels);
        return;
      case "renewed":
        metrics.renewLatency.observe(labels, event.latencyMs / 1000);
        return;
      case "store-error":
        metrics.storeErrors.inc({ ...labels, code: event.error.code });
        return;
      default:
        return;
    }
  };
  const unsubscribe = elector.subscribe(record);
  return () => {
    unsubscribe();
    metrics.electors.delete(elector);
  };
}
