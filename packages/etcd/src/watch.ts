import type { Snapshot, TenureError } from "@tenure/core";
import { UnavailableError } from "@tenure/core";
import { AsyncQueue } from "@tenure/core/adapter";
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from "etcd3";
import type { EtcdCalls } from "./calls.js";
import { BACKEND, type FailureContext, mapFailure } from "./errors.js";

/** What the watcher reported: etcd confirmed it, or a change (the key's new state, or null for a delete). */
type WatchItem =
  | { readonly connected: true }
  | { readonly connected?: undefined; readonly revision: bigint; readonly kv: IKeyValue | null };

/**
 * Watches one key. The watcher is set up first and the key read after, so no change can fall
 * between the read and the first event; events already reflected in the read (mod_revision up
 * to the read's revision) are skipped. A break of the stream (connection lost, watch cancelled
 * by etcd, a failed call on the store's connection) throws UNAVAILABLE instead of letting etcd3
 * reconnect silently: the Elector re-watches, which re-reads the current state. The store
 * closing ends it with CLOSED. `toSnapshot` decodes a stored key.
 */
export async function* watchKey(
  calls: EtcdCalls,
  name: string,
  key: string,
  signal: AbortSignal,
  failureContext: FailureContext,
  toSnapshot: (kv: IKeyValue) => Snapshot,
): AsyncGenerator<Snapshot | null> {
  const { client, lifecycle, requestTimeoutMs } = calls;
  const where = { backend: BACKEND, election: name, operation: "watch" };
  const queue = new AsyncQueue<WatchItem>();
  const onConnected = (): void => queue.push({ connected: true });
  const onData = (response: IWatchResponse): void => {
    for (const event of response.events) {
      queue.push({
        revision: BigInt(event.kv.mod_revision),
        kv: event.type === "Delete" ? null : event.kv,
      });
    }
  };
  const onBreak = (error: unknown): void => {
    const mapped = mapFailure(error, failureContext);
    // A stream that ends is an outage, whatever etcd3 calls the reason.
    queue.fail(
      mapped.code === "INTERNAL"
        ? new UnavailableError(`the watch stream broke: ${mapped.message}`, { ...where, cause: error })
        : mapped,
    );
  };
  const onAbort = (): void => void queue.return();
  const onClose = (): void => queue.fail(lifecycle.error({ election: name, operation: "watch" }));

  let watcher: Watcher;
  try {
    watcher = client.watch().key(key).watcher();
  } catch (error) {
    throw mapFailure(error, failureContext);
  }
  watcher.on("connected", onConnected);
  watcher.on("data", onData);
  watcher.on("disconnected", onBreak);
  watcher.on("error", onBreak);
  const unregister = calls.onConnectionFailure((error: TenureError) => queue.fail(error));
  signal.addEventListener("abort", onAbort);
  lifecycle.signal.addEventListener("abort", onClose);

  try {
    // 1. Wait until etcd confirms the watcher, bounded like any call. Changes reported before
    // that are all reflected in the read below, so nothing is lost by passing over them.
    const connectTimer = setTimeout(
      () => queue.fail(new UnavailableError(`no watch confirmation within ${requestTimeoutMs} ms`, where)),
      requestTimeoutMs,
    );
    try {
      for (;;) {
        const item = await queue.next();
        if (item.done || signal.aborted) return;
        if (item.value.connected) break;
      }
    } finally {
      clearTimeout(connectTimer);
    }

    // 2. Read the current state; every change the watcher reports after it follows it.
    let read: Awaited<ReturnType<Etcd3["kv"]["range"]>>;
    try {
      read = await calls.run("watch", name, { signal }, (callOptions) =>
        client.kv.range({ key: Buffer.from(key) }, callOptions),
      );
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
    const readRevision = BigInt(read.header.revision);
    const current = read.kvs[0];
    yield current === undefined ? null : toSnapshot(current);

    // 3. Every later change, in commit order; those the read already showed are skipped.
    for (;;) {
      const item = await queue.next();
      if (item.done || signal.aborted) return;
      const change = item.value;
      if (change.connected !== true && change.revision > readRevision) {
        yield change.kv === null ? null : toSnapshot(change.kv);
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    lifecycle.signal.removeEventListener("abort", onClose);
    unregister();
    watcher.off("connected", onConnected);
    watcher.off("data", onData);
    watcher.off("disconnected", onBreak);
    watcher.off("error", onBreak);
    // A late stream error must not become an unhandled 'error' event.
    watcher.on("error", () => {});
    // Not awaited: over a dead connection the cancel's answer may never come, and ending the
    // iteration must not hang. etcd3 drops the watcher when its stream is re-established.
    try {
      watcher.cancel().catch(() => {});
    } catch {
      // etcd3 throws synchronously when its stream is in an unexpected state; the watcher is
      // forgotten with the stream anyway.
    }
  }
}
