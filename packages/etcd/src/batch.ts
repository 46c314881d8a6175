import type { Etcd3, ICompare, IRequestOp } from "etcd3";
import type { CallOptions } from "./calls.js";

/** One compare-and-swap write: put `value` at `key` only while `compare` holds. */
export interface ConditionalPut {
  readonly key: Buffer;
  readonly compare: ICompare;
  readonly value: Buffer;
}

/** What became of one write: whether its compare held, and the revision the round trip committed at. */
export interface PutOutcome {
  readonly succeeded: boolean;
  /** The header revision: the write's `mod_revision` when it succeeded. */
  readonly revision: string;
}

/** Default of `EtcdLockStoreOptions.maxWritesPerTransaction`. */
export const DEFAULT_MAX_WRITES_PER_TRANSACTION = 100;
/**
 * Most writes one batch may carry: etcd refuses a transaction whose outer branch plus one nested
 * transaction's operations exceed `--max-txn-ops` (128 by default), so 127 nested transactions of
 * one compare and one put each is the most a default server takes.
 */
export const MAX_WRITES_PER_TRANSACTION = 127;

interface Entry {
  readonly write: ConditionalPut;
  readonly callOptions: CallOptions;
  readonly resolve: (outcome: PutOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Carries the compare-and-swap writes of many elections in one etcd round trip. The writes asked
 * for in the same turn of the event loop leave together, when the loop next checks for I/O
 * (`setImmediate`), as one transaction whose success branch holds one nested transaction per write,
 * each with its own compare: every write commits or fails on its own version, exactly as if sent
 * alone, and the committed ones share the round trip's revision. A batch is sent as soon as it is
 * full, and nothing waits for a batch in flight, so batching never holds a write back by more than
 * the rest of the current turn. Two writes of the same key never share a transaction (etcd refuses
 * a transaction that puts one key twice); the second opens the next batch. A lone write goes out
 * as a plain transaction, the same request as without batching.
 *
 * Nested transactions need etcd 3.3 or later.
 */
export class WriteBatcher {
  readonly #kv: Etcd3["kv"];
  readonly #maxWrites: number;
  /** The batch being filled, keyed by the lock key (as text). */
  #open = new Map<string, Entry>();
  #flushScheduled = false;

  constructor(client: Etcd3, maxWritesPerTransaction: number) {
    this.#kv = client.kv;
    this.#maxWrites = maxWritesPerTransaction;
  }

  /** Sends `write` with the others of this turn; resolves with its own outcome. */
  put(write: ConditionalPut, callOptions: CallOptions): Promise<PutOutcome> {
    return new Promise<PutOutcome>((resolve, reject) => {
      const key = write.key.toString("latin1");
      if (this.#open.has(key)) this.#flush();
      this.#open.set(key, { write, callOptions, resolve, reject });
      if (this.#open.size >= this.#maxWrites) this.#flush();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#flush();
        });
      }
    });
  }

  /** Sends the open batch, if it holds anything, and starts a new one. */
  #flush(): void {
    if (this.#open.size === 0) return;
    const entries = [...this.#open.values()];
    this.#open = new Map();
    void this.#send(entries);
  }

  async #send(entries: readonly Entry[]): Promise<void> {
    // The batch ends when its most pressed write must end: the earliest deadline. Every entry
    // carries the same interceptors (the store's).
    const first = entries[0] as Entry;
    let deadline = Number(first.callOptions.deadline ?? Number.POSITIVE_INFINITY);
    for (const entry of entries) deadline = Math.min(deadline, Number(entry.callOptions.deadline));
    const callOptions: CallOptions = { ...first.callOptions, deadline };
    try {
      if (entries.length === 1) {
        const { key, compare, value } = first.write;
        const response = await this.#kv.txn(
          { compare: [compare], success: [{ request_put: { key, value } }], failure: [] },
          callOptions,
        );
        first.resolve({ succeeded: response.succeeded, revision: String(response.header.revision) });
        return;
      }
      const success: IRequestOp[] = entries.map(({ write: { key, compare, value } }) => ({
        request_txn: { compare: [compare], success: [{ request_put: { key, value } }], failure: [] },
      }));
      const response = await this.#kv.txn({ compare: [], success, failure: [] }, callOptions);
      const revision = String(response.header.revision);
      entries.forEach((entry, index) => {
        const nested = response.responses[index]?.response_txn;
        if (nested === undefined) {
          entry.reject(
            new Error(`etcd answered a batch of ${entries.length} writes without result ${index}`),
          );
        } else entry.resolve({ succeeded: nested.succeeded, revision });
      });
    } catch (error) {
      for (const entry of entries) entry.reject(error);
    }
  }
}
