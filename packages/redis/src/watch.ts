import type { Snapshot } from "@tenure/core";
import { UnavailableError } from "@tenure/core";
import { AsyncQueue, assertValidElectionName, type StoreLifecycle } from "@tenure/core/adapter";
import type { RedisConnection } from "./connection.js";
import { mapRedisError } from "./errors.js";
import { electionKeys } from "./keys.js";
import { isNewer, isOlder, type NewestSnapshots, publishedSnapshot } from "./snapshots.js";
import type { ChannelListener, ChannelSubscription } from "./subscriber.js";

/** What a watch needs of its store. */
export interface WatchedStore {
  readonly backend: string;
  readonly connection: RedisConnection;
  readonly lifecycle: StoreLifecycle;
  readonly newest: NewestSnapshots;
  readonly keyPrefix: string;
  /** Reads the current state of `election` (the store's `get`). */
  read(election: string, signal: AbortSignal): Promise<Snapshot | null>;
}

/**
 * Subscribes to the election's channel on the store's shared subscriber connection, and only once
 * Redis confirmed the subscription reads the current state, so that no commit can fall between the
 * read and the subscription. Messages for versions the read already covered (a commit racing the
 * read is both read and published) are dropped by comparing versions, which only grow; so are
 * states older than one this store instance already returned from a read or a write (see
 * NewestSnapshots). Ends when `signal` aborts; throws UNAVAILABLE when the subscriber connection
 * breaks, since messages published while it was down are lost for good (every watch on it breaks
 * alike), and CLOSED when the store closes.
 */
export async function* watchElection(
  store: WatchedStore,
  name: string,
  signal: AbortSignal,
): AsyncGenerator<Snapshot | null> {
  assertValidElectionName(name, { backend: store.backend });
  const context = { backend: store.backend, election: name, operation: "watch" };
  store.lifecycle.assertOpen(context);
  if (signal.aborted) return;
  const { channel } = electionKeys(store.keyPrefix, name);
  const { keyPrefix } = store;

  /** The messages of the channel, failed when the subscription breaks or the store closes. */
  const messages = new AsyncQueue<string>();
  /** Aborted when the watch breaks, with the failure: ends the wait for the subscription. */
  const broken = new AbortController();
  const fail = (error: unknown): void => {
    if (broken.signal.aborted) return;
    broken.abort(error);
    messages.fail(error);
  };
  const listener: ChannelListener = {
    message: (text) => messages.push(text),
    broken: (cause) =>
      fail(
        cause === undefined
          ? new UnavailableError("the watch connection to Redis closed", context)
          : mapRedisError(cause, context, { command: "subscribe", keyPrefix }),
      ),
  };
  const onClosing = (): void => fail(store.lifecycle.error(context));
  // An abort ends the watch quietly: whatever was not consumed yet is dropped.
  const onAbort = (): void => void messages.return();
  const ended = AbortSignal.any([signal, broken.signal]);
  signal.addEventListener("abort", onAbort);
  store.lifecycle.signal.addEventListener("abort", onClosing);
  let subscription: ChannelSubscription | undefined;
  try {
    if (store.lifecycle.closed) onClosing();
    let first: Snapshot | null;
    try {
      subscription = await store.connection.subscribe(name, channel, listener, context, ended);
      await untilSettledOr(subscription.ready, ended);
      const knownBefore = store.newest.get(name);
      const initial = await store.read(name, signal);
      // A write of this store answered while the read was under way may be newer than what it read.
      const known = store.newest.get(name);
      first =
        known !== undefined &&
        known !== knownBefore &&
        (initial === null || isOlder(initial.version, known.version))
          ? known
          : initial;
    } catch (error) {
      if (signal.aborted) return;
      if (broken.signal.aborted) throw broken.signal.reason;
      throw mapRedisError(error, context, { command: "subscribe", keyPrefix });
    }
    if (signal.aborted) return;
    let last = first?.version;
    yield first;
    for await (const message of messages) {
      const snapshot = publishedSnapshot(message);
      // Not from the scripts (someone else publishing on the channel): not a commit, ignore it.
      if (snapshot === undefined) continue;
      if (last !== undefined && !isNewer(snapshot.version, last)) continue;
      const known = store.newest.get(name)?.version;
      if (known !== undefined && isOlder(snapshot.version, known)) continue;
      last = snapshot.version;
      yield snapshot;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    store.lifecycle.signal.removeEventListener("abort", onClosing);
    subscription?.release();
  }
}

/** Waits for `promise`, or rejects with the signal's reason as soon as `signal` aborts. */
function untilSettledOr<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
