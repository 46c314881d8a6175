// Every version of one Lease as the apiserver sends it on a watch: the raw JSON, before any client
// library decodes it, so a test can compare exactly what client-go and Tenure wrote.
import { type KubeConfig, Watch } from "@kubernetes/client-node";

/** One committed version of the Lease. */
export interface LeaseVersion {
  /** When this process received it (CLOCK_MONOTONIC, ns); the write committed before. */
  readonly arrivedNs: bigint;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly resourceVersion: string;
  /** `spec` exactly as sent (absent fields absent). */
  readonly spec: Readonly<Record<string, unknown>>;
  /** Names of the `metadata` fields present. */
  readonly metadataFields: readonly string[];
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}

/** Follows one Lease from before it exists; a stream that ends early is reopened where it stopped. */
export class LeaseWireLog {
  readonly versions: LeaseVersion[] = [];
  readonly #watch: Watch;
  readonly #path: string;
  readonly #name: string;
  readonly #onError: (error: Error) => void;
  readonly #listeners = new Set<() => void>();
  #abort: AbortController | undefined;
  #stopped = false;

  private constructor(config: KubeConfig, namespace: string, name: string, onError: (error: Error) => void) {
    this.#watch = new Watch(config);
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    this.#name = name;
    this.#onError = onError;
  }

  /** Starts watching; resolves once the stream is open. `onError` gets a stream that cannot go on. */
  static async start(
    config: KubeConfig,
    namespace: string,
    name: string,
    onError: (error: Error) => void,
  ): Promise<LeaseWireLog> {
    const log = new LeaseWireLog(config, namespace, name, onError);
    await log.#open(undefined);
    return log;
  }

  async #open(resourceVersion: string | undefined): Promise<void> {
    this.#abort = await this.#watch.watch(
      this.#path,
      { fieldSelector: `metadata.name=${this.#name}`, resourceVersion },
      (type: string, object: unknown) => this.#receive(type, object),
      (error: unknown) => {
        if (this.#stopped) return;
        if (error !== null && error !== undefined) {
          this.#onError(new Error(`the Lease watch broke: ${String(error)}`));
          return;
        }
        // The apiserver ends watches after a while; go on from the last version seen.
        const last = this.versions.at(-1)?.resourceVersion;
        this.#open(last).catch((reopenError: unknown) =>
          this.#onError(new Error(`reopening the Lease watch failed: ${String(reopenError)}`)),
        );
      },
    );
  }

  #receive(type: string, object: unknown): void {
    const arrivedNs = process.hrtime.bigint();
    if (type === "BOOKMARK") return;
    if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") {
      this.#onError(new Error(`the Lease watch sent ${type}: ${JSON.stringify(object)}`));
      return;
    }
    const metadata = asRecord(asRecord(object).metadata);
    const resourceVersion = metadata.resourceVersion;
    if (typeof resourceVersion !== "string") {
      this.#onError(new Error(`a Lease without resourceVersion: ${JSON.stringify(object)}`));
      return;
    }
    this.versions.push({
      arrivedNs,
      type,
      resourceVersion,
      spec: asRecord(asRecord(object).spec),
      metadataFields: Object.keys(metadata).sort(),
    });
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves once `condition` holds for the versions received; rejects after `timeoutMs`, naming `description`. */
  waitFor(
    description: string,
    condition: (versions: readonly LeaseVersion[]) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    if (condition(this.versions)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!condition(this.versions)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`the Lease watch showed no ${description} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#listeners.add(listener);
    });
  }

  /** Resolves once the version `resourceVersion` has arrived (so has every earlier one). */
  waitForVersion(resourceVersion: string, timeoutMs: number): Promise<void> {
    return this.waitFor(
      `resourceVersion ${resourceVersion}`,
      (versions) => versions.some((version) => version.resourceVersion === resourceVersion),
      timeoutMs,
    );
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }
}
