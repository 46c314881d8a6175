import type { Elector, ElectorEvent } from "@tenure/core";

/** Upper bounds (seconds) of the renew-latency histogram buckets. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/**
 * The sidecar's Prometheus metrics, fed by one elector's events and rendered in the text
 * exposition format. Written by hand: four metrics do not justify a client library.
 */
export class ElectionMetrics {
  readonly #labels: string;
  readonly #elector: Elector;
  #leaderChanges = 0;
  readonly #bucketCounts: number[] = LATENCY_BUCKETS_SECONDS.map(() => 0);
  #latencyCount = 0;
  #latencySumSeconds = 0;
  readonly #errorsByCode = new Map<string, number>();

  constructor(elector: Elector) {
    this.#elector = elector;
    this.#labels = `election="${escapeLabel(elector.name)}",identity="${escapeLabel(elector.identity)}"`;
    elector.subscribe((event) => this.#record(event));
  }

  #record(event: ElectorEvent): void {
    switch (event.type) {
      case "leader-changed":
        this.#leaderChanges++;
        return;
      case "renewed": {
        const seconds = event.latencyMs / 1000;
        this.#latencyCount++;
        this.#latencySumSeconds += seconds;
        LATENCY_BUCKETS_SECONDS.forEach((bound, index) => {
          if (seconds <= bound) this.#bucketCounts[index] = (this.#bucketCounts[index] ?? 0) + 1;
        });
        return;
      }
      case "store-error":
        this.#errorsByCode.set(event.error.code, (this.#errorsByCode.get(event.error.code) ?? 0) + 1);
        return;
      default:
        return;
    }
  }

  /** The metrics in Prometheus text format 0.0.4. */
  render(): string {
    const labels = this.#labels;
    const lines = [
      "# HELP tenure_is_leader 1 while this replica may act as leader, else 0.",
      "# TYPE tenure_is_leader gauge",
      `tenure_is_leader{${labels}} ${this.#elector.isLeader() ? 1 : 0}`,
      "# HELP tenure_leader_transitions_total Changes of the observed leader.",
      "# TYPE tenure_leader_transitions_total counter",
      `tenure_leader_transitions_total{${labels}} ${this.#leaderChanges}`,
      "# HELP tenure_renew_latency_seconds Time from sending a renewal to its success.",
      "# TYPE tenure_renew_latency_seconds histogram",
      ...LATENCY_BUCKETS_SECONDS.map(
        (bound, index) =>
          `tenure_renew_latency_seconds_bucket{${labels},le="${bound}"} ${this.#bucketCounts[index] ?? 0}`,
      ),
      `tenure_renew_latency_seconds_bucket{${labels},le="+Inf"} ${this.#latencyCount}`,
      `tenure_renew_latency_seconds_sum{${labels}} ${this.#latencySumSeconds}`,
      `tenure_renew_latency_seconds_count{${labels}} ${this.#latencyCount}`,
      "# HELP tenure_store_errors_total Failed store calls by error code.",
      "# TYPE tenure_store_errors_total counter",
      ...[...this.#errorsByCode].map(
        ([code, count]) => `tenure_store_errors_total{${labels},code="${code}"} ${count}`,
      ),
    ];
    return `${lines.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
