import type { Snapshot } from "@tenure/core";
import { TenureError, UnavailableError } from "@tenure/core";
import { jsonLines } from "./client.js";
import { apiStatusCode, statusOf } from "./errors.js";
import type { NewestStates } from "./newest-state.js";
import type { KubeObject, WatchQuery } from "./object-kind.js";

/** What a watch needs of its lock. */
export interface WatchSource<T extends KubeObject> {
  readonly backend: string;
  /** The lock's newest-state guards, shared with its reads and writes. */
  readonly states: NewestStates<T>;
  /** How long the apiserver keeps one stream open (its `timeoutSeconds`). */
  readonly watchTimeoutSeconds: number;
  /** How long a stream may stay silent, opening included: the stream's timeout plus a request timeout. */
  readonly idleMs: number;
  /** Whether the store was closed: the watch then ends. */
  closed(): boolean;
  /** Reads the object (null when it does not exist), bounded as any call. */
  read(name: string, signal: AbortSignal): Promise<T | null>;
  /** Opens one stream of watch events, bounded by `idleMs`; it lives until `signal` aborts. */
  open(name: string, query: WatchQuery, signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

interface WatchEvent {
  readonly type?: string;
  readonly object?: unknown;
}

/** States to report: none, or one. */
type Due = readonly (Snapshot | null)[];
const NOTHING: Due = [];

/** One HTTP stream of a watch: its idle limit, and what it brought (also used by the shared namespace watch). */
export class StreamWindow {
  /** Aborted when the stream has been silent for the idle limit, or is done with. */
  readonly idle = new AbortController();
  readonly openedAt = performance.now();
  /** The stream brought an event (a change, a deletion, a bookmark): the server is serving it. */
  progressed = false;
  /** The server said the resourceVersion is too old to resume from (410). */
  expired = false;
  readonly #idleMs: number;
  #timer: NodeJS.Timeout;

  constructor(idleMs: number) {
    this.#idleMs = idleMs;
    this.#timer = setTimeout(() => this.idle.abort(), idleMs);
  }

  /** Something arrived: the idle limit starts again. */
  readonly quiet = (): void => {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.idle.abort(), this.#idleMs);
  };

  /** Ends the stream (closing its connection when the consumer stopped early). */
  dispose(): void {
    clearTimeout(this.#timer);
    this.idle.abort();
  }
}

/**
 * One watch of one object, across as many HTTP streams as it takes: the current state from a read,
 * then each stream's events, a stream reopened where the last one ended, a read after a 410. See
 * KubernetesObjectLock.watch for the rules.
 */
export class ObjectWatch<T extends KubeObject> {
  readonly #source: WatchSource<T>;
  readonly #states: NewestStates<T>;
  readonly #name: string;
  readonly #signal: AbortSignal;
  /** The highest version the store had handed out before the last read: did its writes overtake the read? */
  #highestBefore: bigint | undefined;
  /** Where the next stream starts; undefined: "at most recent". */
  #resourceVersion: string | undefined;
  /** Version of the last state reported (null: absent; undefined: nothing reported yet). */
  #last: string | null | undefined;
  /** States to report before anything the next stream brings. */
  readonly #pending: (Snapshot | null)[] = [];
  /** The next stream establishes the state itself (initial events, then a bookmark). */
  #initialEvents = false;
  /** The object the initial events named, until their end is announced. */
  #initialObject: T | null = null;
  /** The previous stream ended early without any event (see {@link #checkEnd}). */
  #previousWasEmpty = false;

  constructor(source: WatchSource<T>, name: string, signal: AbortSignal) {
    this.#source = source;
    this.#states = source.states;
    this.#name = name;
    this.#signal = signal;
  }

  async *run(): AsyncGenerator<Snapshot | null> {
    this.#highestBefore = this.#states.highest(this.#name);
    let initial: T | null;
    try {
      initial = await this.#source.read(this.#name, this.#signal);
    } catch (error) {
      if (this.#stopped) return; // an abort ends the watch; it is no failure
      throw error;
    }
    this.#resourceVersion = initial?.metadata?.resourceVersion;
    this.#initialEvents = initial === null;
    if (initial !== null) yield* this.#newest(this.#states.remember(this.#name, initial));
    while (!this.#stopped) yield* this.#follow();
  }

  get #stopped(): boolean {
    return this.#signal.aborted || this.#source.closed();
  }

  /** Follows one stream, from its opening to its end. */
  async *#follow(): AsyncGenerator<Snapshot | null> {
    const window = new StreamWindow(this.#source.idleMs);
    try {
      const stream = await this.#open(window);
      if (stream === undefined) return;
      for (const state of this.#pending.splice(0)) yield* this.#newest(state);
      yield* this.#readEvents(stream, window);
      this.#checkEnd(window);
      if (window.expired) await this.#resume();
    } catch (error) {
      if (this.#stopped) return;
      throw this.#failure(error, window);
    } finally {
      window.dispose();
    }
  }

  /** Opens the next stream; undefined when the apiserver refused initial events (open again without). */
  async #open(window: StreamWindow): Promise<ReadableStream<Uint8Array> | undefined> {
    const query: WatchQuery = {
      fieldSelector: `metadata.name=${this.#name}`,
      timeoutSeconds: this.#source.watchTimeoutSeconds,
      ...(this.#initialEvents
        ? { sendInitialEvents: true, resourceVersionMatch: "NotOlderThan" }
        : this.#resourceVersion === undefined
          ? {}
          : { resourceVersion: this.#resourceVersion }),
    };
    try {
      return await this.#source.open(this.#name, query, AbortSignal.any([this.#signal, window.idle.signal]));
    } catch (error) {
      if (!this.#initialEvents || !refusesInitialEvents(error)) throw error;
      // No initial events on this apiserver: report the absence read before and watch from now.
      this.#initialEvents = false;
      if (this.#last === undefined) this.#pending.push(null);
      return undefined;
    }
  }

  async *#readEvents(
    stream: ReadableStream<Uint8Array>,
    window: StreamWindow,
  ): AsyncGenerator<Snapshot | null> {
    this.#initialObject = null;
    for await (const line of jsonLines(stream, window.quiet)) {
      const event = line as WatchEvent;
      if (event.type === "ERROR") {
        this.#assertExpired(event);
        window.expired = true;
        return;
      }
      window.progressed = true;
      const object = event.object as T | undefined;
      const version = object?.metadata?.resourceVersion;
      if (event.type === "ADDED" || event.type === "MODIFIED") yield* this.#changed(object, version);
      else if (event.type === "DELETED") yield* this.#deleted(version);
      else if (event.type === "BOOKMARK") yield* this.#bookmark(object, version);
    }
  }

  #changed(object: T | undefined, version: string | undefined): Due {
    if (object === undefined || version === undefined) return NOTHING;
    this.#resourceVersion = version;
    if (this.#initialEvents) {
      this.#initialObject = object;
      return NOTHING;
    }
    if (version === this.#last || this.#states.isStale(this.#name, version)) return NOTHING;
    this.#last = version;
    return [this.#states.remember(this.#name, object)];
  }

  #deleted(version: string | undefined): Due {
    if (version !== undefined) this.#resourceVersion = version;
    if (this.#initialEvents) {
      this.#initialObject = null;
      return NOTHING;
    }
    if (this.#last === null || this.#states.isStale(this.#name, version)) return NOTHING;
    this.#states.forget(this.#name);
    this.#last = null;
    return [null];
  }

  #bookmark(object: T | undefined, version: string | undefined): Due {
    if (version !== undefined) this.#resourceVersion = version;
    if (!this.#initialEvents || object?.metadata?.annotations?.["k8s.io/initial-events-end"] !== "true") {
      return NOTHING;
    }
    this.#initialEvents = false;
    const initial = this.#initialObject;
    return this.#newest(initial === null ? null : this.#states.remember(this.#name, initial));
  }

  /**
   * The state read (or established by initial events), unless this store saw a newer one meanwhile
   * (its own write), and unless it is the state last reported.
   */
  #newest(read: Snapshot | null): Due {
    const snapshot = this.#states.newest(this.#name, read, this.#highestBefore);
    const version = snapshot?.version ?? null;
    if (version === this.#last) return NOTHING;
    this.#last = version;
    return [snapshot];
  }

  /** A watch ERROR event: a 410 (too old to resume from) is answered by a read; anything else is a break. */
  #assertExpired(event: WatchEvent): void {
    const status = statusOf(event.object);
    if (status.code === 410) return;
    throw new UnavailableError(`the watch failed: ${status.message ?? JSON.stringify(event.object)}`, {
      backend: this.#source.backend,
      election: this.#name,
      operation: "watch",
    });
  }

  /**
   * The stream ended: the server's timeout (timeoutSeconds) ran out, or it ended the stream early —
   * a proxy or load balancer cutting long requests, an apiserver shutting down (it ends every watch
   * at once and asks clients to come back later), a watch cache re-initializing — or the
   * resourceVersion expired.
   *
   * A stream that ended early without bringing anything is a break, not a timeout: reopening it at
   * once could turn into a tight loop of requests (a proxy that ends every watch at once never lets
   * one last). It is reported as UNAVAILABLE, and the engine watches again after its retry period
   * (starting with a read, so nothing is missed): the backoff and its bound are the engine's, the
   * same as for any other break, and the operator sees the break in the elector's warnings instead
   * of a silent loop. A stream that brought events made progress, and one that lasted its timeout is
   * the normal end of an idle watch: both reopen at once, which costs at most one request per event
   * or per timeout. (The apiserver ends an idle watch exactly timeoutSeconds after it received it;
   * measured here from before the request, the stream lasts at least that long, and the 10 % slack
   * absorbs timer granularity.) A 410 is answered by a read and a new stream at once; twice in a row
   * without progress is a break.
   */
  #checkEnd(window: StreamWindow): void {
    const lastedMs = performance.now() - window.openedAt;
    const timeoutSeconds = this.#source.watchTimeoutSeconds;
    const empty = !window.progressed && lastedMs < timeoutSeconds * 900;
    if (empty && (!window.expired || this.#previousWasEmpty) && !this.#stopped) {
      throw new UnavailableError(
        `the watch stream ended after ${Math.round(lastedMs)} ms without any event, before its ${timeoutSeconds} s timeout (the apiserver is shutting down, or a proxy in front of it ends long requests)`,
        {
          backend: this.#source.backend,
          election: this.#name,
          operation: "watch",
          remedy:
            "the elector watches again after its retry period; if this repeats, check proxies and load balancers between this process and the apiserver, or lower watchTimeoutSeconds below their idle timeout",
        },
      );
    }
    this.#previousWasEmpty = empty;
  }

  /** Too old to resume (410): read the current state and watch on from it. */
  async #resume(): Promise<void> {
    this.#highestBefore = this.#states.highest(this.#name);
    const current = await this.#source.read(this.#name, this.#signal);
    this.#resourceVersion = current?.metadata?.resourceVersion;
    this.#initialEvents = current === null;
    if (current !== null) this.#pending.push(this.#states.remember(this.#name, current));
  }

  /** What a stream's failure is reported as. */
  #failure(error: unknown, window: StreamWindow): TenureError {
    const context = { backend: this.#source.backend, election: this.#name, operation: "watch" };
    if (window.idle.signal.aborted) {
      return new UnavailableError(`the watch stream was silent for ${this.#source.idleMs} ms`, {
        ...context,
        cause: error,
      });
    }
    if (TenureError.is(error)) return error;
    return new UnavailableError(
      `the watch stream broke: ${error instanceof Error ? error.message : String(error)}`,
      { ...context, cause: error },
    );
  }
}

/** Whether an apiserver refused a watch with `sendInitialEvents` (an older or differently configured one). */
function refusesInitialEvents(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  const status = apiStatusCode(cause);
  return status === 400 || status === 422;
}
