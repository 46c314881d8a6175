import type { Etcd3, ICompare, IKeyValue, IRangeRequest, IRequestOp, IResponseOp } from "etcd3";
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

/** What one read found, and the store's revision when the round trip that carried it was served. */
export interface RangeOutcome {
  readonly kvs: readonly IKeyValue[];
  readonly count: string;
  /** The header revision: at least the revision the read saw. */
  readonly revision: string;
}

/** Default of `EtcdLockStoreOptions.maxRequestsPerTransaction`. */
export const DEFAULT_MAX_REQUESTS_PER_TRANSACTION = 100;
/**
 * Most requests one batch may carry: etcd refuses a transaction whose outer branch plus one nested
 * transaction's operations exceed `--max-txn-ops` (128 by default), so 127 nested transactions of
 * one compare and one put each is the most a default server takes.
 */
export const MAX_REQUESTS_PER_TRANSACTION = 127;

interface Entry {
  /** The request as one operation of the batch's transaction. */
  readonly op: IRequestOp;
  readonly callOptions: CallOptions;
  readonly resolve: (response: IResponseOp, revision: string) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Carries the requests of many elections in one etcd round trip. The reads and compare-and-swap
 * writes asked for in the same turn of the event loop leave together, when the loop next checks
 * for I/O (`setImmediate`), as one transaction: a read is a range request of its own, a write a
 * nested transaction with its own compare, so every write commits or fails on its own version,
 * exactly as if sent alone, and the committed ones share the round trip's revision. A batch is
 * sent as soon as it is full, and nothing waits for a batch in flight, so batching never holds a
 * request back by more than the rest of the current turn. Two writes of one key never share a
 * transaction (etcd refuses a transaction that puts a key twice); the second opens the next batch.
 * A lone request goes out as it would without batching: a Range, or a plain Txn.
 *
 * Nested transactions need etcd 3.3 or later.
 */
export class RequestBatcher {
  readonly #kv: Etcd3["kv"];
  readonly #maxRequests: number;
  /** The batch being filled. */
  #open: Entry[] = [];
  /** Keys the open batch writes (as text). */
  #written = new Set<string>();
  #flushScheduled = false;

  constructor(client: Etcd3, maxRequestsPerTransaction: number) {
    this.#kv = client.kv;
    this.#maxRequests = maxRequestsPerTransaction;
  }

  /** Reads with the others of this turn. */
  async range(request: IRangeRequest, callOptions: CallOptions): Promise<RangeOutcome> {
    const { response, revision } = await this.#add({ request_range: request }, undefined, callOptions);
    const range = response.response_range;
    return { kvs: range.kvs, count: String(range.count), revision };
  }

  /** Sends `write` with the others of this turn; resolves with its own outcome. */
  async put(write: ConditionalPut, callOptions: CallOptions): Promise<PutOutcome> {
    const { key, compare, value } = write;
    const op: IRequestOp = {
      request_txn: { compare: [compare], success: [{ request_put: { key, value } }], failure: [] },
    };
    const { response, revision } = await this.#add(op, key.toString("latin1"), callOptions);
    return { succeeded: response.response_txn.succeeded, revision };
  }

  #add(
    op: IRequestOp,
    writtenKey: string | undefined,
    callOptions: CallOptions,
  ): Promise<{ response: IResponseOp; revision: string }> {
    return new Promise((resolve, reject) => {
      if (writtenKey !== undefined && this.#written.has(writtenKey)) this.#flush();
      this.#open.push({
        op,
        callOptions,
        resolve: (response, revision) => resolve({ response, revision }),
        reject,
      });
      if (writtenKey !== undefined) this.#written.add(writtenKey);
      if (this.#open.length >= this.#maxRequests) this.#flush();
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
    if (this.#open.length === 0) return;
    const entries = this.#open;
    this.#open = [];
    this.#written = new Set();
    void this.#send(entries);
  }

  async #send(entries: readonly Entry[]): Promise<void> {
    // The batch ends when its most pressed request must end: the earliest deadline. Every entry
    // carries the same interceptors (the store's).
    const first = entries[0] as Entry;
    let deadline = Number(first.callOptions.deadline ?? Number.POSITIVE_INFINITY);
    for (const entry of entries) deadline = Math.min(deadline, Number(entry.callOptions.deadline));
    const callOptions: CallOptions = { ...first.callOptions, deadline };
    try {
      if (entries.length === 1) {
        const { request_range: range, request_txn: txn } = first.op;
        if (range !== undefined) {
          const response = await this.#kv.range(range, callOptions);
          first.resolve({ response_range: response } as IResponseOp, String(response.header.revision));
        } else if (txn !== undefined) {
          const response = await this.#kv.txn(txn, callOptions);
          first.resolve({ response_txn: response } as IResponseOp, String(response.header.revision));
        }
        return;
      }
      const response = await this.#kv.txn(
        { compare: [], success: entries.map((entry) => entry.op), failure: [] },
        callOptions,
      );
      const revision = String(response.header.revision);
      entries.forEach((entry, index) => {
        const answer = response.responses[index];
        if (answer === undefined) {
          entry.reject(
            new Error(`etcd answered a batch of ${entries.length} requests without result ${index}`),
          );
        } else entry.resolve(answer, revision);
      });
    } catch (error) {
      for (const entry of entries) entry.reject(error);
    }
  }
}
