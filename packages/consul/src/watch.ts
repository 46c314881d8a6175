import type { Snapshot } from "@tenure/core";
import { AsyncQueue, type StoreLifecycle } from "@tenure/core/adapter";
import type { Blocking, KvEntry, KvRead } from "./transport.js";

/** What a watch needs from its store. */
export interface WatchSource {
  /** The `wait` of each blocking query, in ms. */
  readonly watchWaitMs: number;
  /** One KV read of the watched key (blocking with `block`), bounded and mapped to TenureErrors. */
  read(stop: AbortSignal, block: Blocking | undefined): Promise<KvRead>;
  /** The snapshot of a stored entry. */
  toSnapshot(entry: KvEntry): Snapshot;
}

/**
 * Follows one key with blocking queries: yields the current state first (`null` when the lock does
 * not exist), then the state after each change the queries observe, in commit order. A blocking
 * query answers with the key's latest state, so several commits between two queries arrive as one
 * (the latest); the next query is sent as soon as the previous one answers, independently of how
 * fast the consumer iterates, to keep that window small. Ends when `signal` aborts (cancelling the
 * query in flight); throws UNAVAILABLE when the agent cannot be reached, CLOSED when the store closes.
 */
export async function* watchKey(
  name: string,
  signal: AbortSignal,
  lifecycle: StoreLifecycle,
  source: WatchSource,
): AsyncGenerator<Snapshot | null> {
  const queue = new AsyncQueue<Snapshot | null>();
  // Ends the pump when the iteration ends for any reason, without touching the caller's signal.
  const ended = new AbortController();
  const stop = AbortSignal.any([signal, ended.signal]);
  const onAbort = (): void => void queue.return();
  const onClose = (): void => queue.fail(lifecycle.error({ election: name, operation: "watch" }));
  signal.addEventListener("abort", onAbort);
  lifecycle.signal.addEventListener("abort", onClose);
  pump(stop, source, (snapshot) => queue.push(snapshot)).catch((error: unknown) => {
    if (!stop.aborted) queue.fail(error);
  });
  try {
    for (;;) {
      const next = await queue.next();
      if (next.done || signal.aborted) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    lifecycle.signal.removeEventListener("abort", onClose);
    // Ending the iteration (abort, break, error) cancels the query in flight.
    ended.abort();
  }
}

/**
 * The blocking-query loop behind `watch`. Consul's guidance for blocking queries is followed: the
 * first query is non-blocking; each next one blocks on the last `X-Consul-Index`; an index that
 * goes backwards (a snapshot restore, a new cluster) resets to 0, and an index below 1 is raised
 * to 1 so the query still blocks. A query may return without any change (wait expired, or a write
 * elsewhere moved the index), so a snapshot is emitted only when the key's ModifyIndex changed.
 */
async function pump(
  stop: AbortSignal,
  source: WatchSource,
  emit: (snapshot: Snapshot | null) => void,
): Promise<void> {
  let index = 0;
  let lastVersion: string | null | undefined;
  while (!stop.aborted) {
    const answer = await source.read(stop, index === 0 ? undefined : { index, waitMs: source.watchWaitMs });
    const snapshot = answer.entry === null ? null : source.toSnapshot(answer.entry);
    const version = snapshot?.version ?? null;
    if (version !== lastVersion) {
      lastVersion = version;
      emit(snapshot);
    }
    const next = answer.index ?? answer.entry?.modifyIndex ?? 0;
    index = next < index ? 0 : Math.max(next, 1);
  }
}
