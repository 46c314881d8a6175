import type { Snapshot } from "@tenure/core";
import { UnavailableError } from "@tenure/core";
import { AsyncQueue, assertValidElectionName, boundedCall, type StoreLifecycle } from "@tenure/core/adapter";
import type { RedisConnection } from "./connection.js";
import { mapRedisError } from "./errors.js";
import { electionKeys } from "./keys.js";
import { isNewer, isOlder, type NewestSnapshots, publishedSnapshot } from "./snapshots.js";

/** What a watch needs of its store. */
export interface WatchedStore {
  readonly backend: string;
  readonly connection: RedisConnection;
  readonly lifecycle: StoreLifecycle;
  readonly newest: NewestSnapshots;
  readonly keyPrefix: string;
  readonly requestTimeoutMs: number;
  /** How often an idle watch pings its connection; 0: never. */
  readonly heartbeatMs: number;
  /** Reads the current state of `election` (the store's `get`). */
  read(election: string, signal: AbortSignal): Promise<Snapshot | null>;
}

/**
 * Subscribes to the election's channel on a connection of its own, and only then reads the current
 * state, so that no commit can fall between the read and the subscription. Messages for versions
 * the read already covered (a commit racing the read is both read and published) are dropped by
 * comparing versions, which only grow; so are states older than one this store instance already
 * returned from a read or a write (see NewestSnapshots). Ends when `signal` aborts; throws
 * UNAVAILABLE when the subscription connection breaks, since messages published while it was down
 * are lost for good, and CLOSED when the store closes.
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
  const subscriber = await store.connection.subscription(name, context, signal).catch((error: unknown) => {
    if (signal.aborted) return undefined;
    throw error;
  });
  if (subscriber === undefined) return;

  /** The messages of the channel, failed when the subscription breaks or the store closes. */
  const messages = new AsyncQueue<string>();
  /** Aborted when the watch breaks, with the failure: ends a command waiting on the subscription. */
  const broken = new AbortController();
  const fail = (error: unknown): void => {
    if (broken.signal.aborted) return;
    broken.abort(error);
    messages.fail(error);
  };
  const onMessage = (from: string, message: string): void => {
    if (from === channel) messages.push(message);
  };
  const onError = (error: Error): void =>
    fail(mapRedisError(error, context, { command: "subscribe", keyPrefix }));
  const onClose = (): void => fail(new UnavailableError("the watch connection to Redis closed", context));
  const onClosing = (): void => fail(store.lifecycle.error(context));
  // An abort ends the watch quietly: whatever was not consumed yet is dropped.
  const onAbort = (): void => void messages.return();
  const ended = AbortSignal.any([signal, broken.signal]);
  /** One command on the subscription's connection, bounded like every call; a break ends it with the break. */
  const send = <T>(command: string, run: () => Promise<T>): Promise<T> =>
    boundedCall(
      {
        timeoutMs: store.requestTimeoutMs,
        signal: ended,
        context: { ...context, operation: `watch ${command}` },
        mapError: (error) => mapRedisError(error, context, { command, keyPrefix }),
      },
      run,
    ).catch((error: unknown) => Promise.reject(broken.signal.aborted ? broken.signal.reason : error));

  subscriber.on("message", onMessage);
  subscriber.on("error", onError);
  subscriber.on("close", onClose);
  subscriber.on("end", onClose);
  signal.addEventListener("abort", onAbort);
  store.lifecycle.signal.addEventListener("abort", onClosing);
  if (signal.aborted) onAbort();
  if (store.lifecycle.closed) onClosing();
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    let first: Snapshot | null;
    try {
      await send("connect", () => subscriber.connect());
      await send("subscribe", () => subscriber.subscribe(channel));
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
      throw error;
    }
    if (signal.aborted) return;
    let last = first?.version;
    yield first;
    if (store.heartbeatMs > 0) {
      heartbeat = setInterval(() => {
        send("ping", () => subscriber.ping()).catch(fail);
      }, store.heartbeatMs);
    }
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
    clearInterval(heartbeat);
    signal.removeEventListener("abort", onAbort);
    store.lifecycle.signal.removeEventListener("abort", onClosing);
    subscriber.off("close", onClose);
    subscriber.off("end", onClose);
    subscriber.off("message", onMessage);
    // Keep a listener: a late socket error after disconnect must not become an unhandled event.
    subscriber.off("error", onError);
    subscriber.on("error", () => {});
    subscriber.disconnect();
  }
}
