/**
 * One watch of all the namespace's lock objects, shared by every watch of a store and filtered by
 * name here, instead of one HTTP stream per election (fieldSelector on the name): a process that
 * follows 1,000 elections holds one stream, one socket and one idle timer, not 1,000.
 *
 * The per-name rules of ObjectWatch still hold, for the shared stream as a whole:
 * - the chain of streams resumes from the last resourceVersion it saw (events and bookmarks), so a
 *   stream the server ends at its timeout loses nothing;
 * - a 410 (too old to resume from) restarts the chain "at most recent", and every watch then reads
 *   its object again, as a per-name watch does after a 410;
 * - a stream silent for the idle limit, one that breaks, and one that ends early without any event
 *   break the chain: every watch on it fails with UNAVAILABLE, the engine watches again after its
 *   retry period (starting with a read), and that watch starts a new chain.
 *
 * Each watch joins by registering first and reading its object once the chain's stream is open, so
 * every change committed after the read reaches it; events the read already covers are dropped by
 * the store's newest-state guards.
 */
import type { Snapshot } from "@tenure/core";
import { TenureError, UnavailableError } from "@tenure/core";
import { AsyncQueue } from "@tenure/core/adapter";
import { jsonLines } from "./client.js";
import { statusOf } from "./errors.js";
import type { NewestStates } from "./newest-state.js";
import type { KubeObject } from "./object-kind.js";
import { StreamWindow } from "./object-watch.js";

/** Query of one stream of the namespace watch. */
export interface NamespaceWatchQuery {
  /** Absent: "start at most recent" (the server first sends every object as ADDED). */
  readonly resourceVersion?: string;
  readonly timeoutSeconds: number;
}

/** What the shared watch needs of its lock. */
export interface NamespaceWatchSource<T extends KubeObject> {
  readonly backend: string;
  readonly states: NewestStates<T>;
  readonly watchTimeoutSeconds: number;
  /** How long a stream may stay silent, opening included. */
  readonly idleMs: number;
  closed(): boolean;
  /** Reads one object (null when it does not exist), bounded as any call. */
  read(name: string, signal: AbortSignal): Promise<T | null>;
  /** Opens one stream of the namespace's objects, bounded by `idleMs`; it lives until `signal` aborts. */
  open(query: NamespaceWatchQuery, signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

interface WatchEvent {
  readonly type?: string;
  readonly object?: unknown;
}

/** What a watch of one name gets from the chain: an event about its object, or "read your object again". */
type Delivery =
  | { readonly kind: "event"; readonly type: string; readonly object: KubeObject }
  | { readonly kind: "resync" };

/** One watch's place in the chain. */
export interface NamespaceWatchMember {
  /** Resolves once the chain's first stream is open; rejects with why it could not open (a 403 included), or with the signal's reason. */
  ready(signal: AbortSignal): Promise<void>;
  /** The object's current state (read after `ready`), then every change; throws when the chain breaks. */
  follow(signal: AbortSignal): AsyncGenerator<Snapshot | null>;
  /** Leaves the chain. Idempotent. */
  leave(): void;
}

/**
 * The shared chain of namespace streams. It starts with its first watch and stops when the last one
 * leaves, or for good when it breaks; the lock then starts a new one for the next watch.
 */
export class NamespaceWatch<T extends KubeObject> {
  readonly #source: NamespaceWatchSource<T>;
  /** The queues of the watches, by object name. */
  readonly #watchers = new Map<string, Set<AsyncQueue<Delivery>>>();
  readonly #stop = new AbortController();
  /** Settles when the chain's first stream opened (or could not). */
  readonly #opened: Promise<void>;
  #resolveOpened!: () => void;
  #rejectOpened!: (error: unknown) => void;
  #resourceVersion: string | undefined;
  #previousWasEmpty = false;
  /** After a 410: when the next stream is open, every watch reads its object again. */
  #resyncOnOpen = false;
  #retired = false;
  readonly #onRetired: () => void;

  constructor(source: NamespaceWatchSource<T>, onRetired: () => void) {
    this.#source = source;
    this.#onRetired = onRetired;
    this.#opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Watches hear a failure through `opened` or their queues; this keeps the rejection handled.
    this.#opened.catch(() => {});
    void this.#run();
  }

  /** Whether new watches may join (false once the chain stopped or broke). */
  get usable(): boolean {
    return !this.#retired;
  }

  /**
   * Registers a watch of `name` at once (it hears every event from now on), so that the chain
   * cannot stop between a check and the registration. Call `leave` when the watch ends, whatever
   * happened; the chain stops when its last watch leaves. Throws UNAVAILABLE when the chain already
   * stopped or broke (the lock checks `usable` first, synchronously, so that does not happen).
   */
  join(name: string): NamespaceWatchMember {
    if (this.#retired) {
      throw new UnavailableError("the shared watch has stopped", {
        backend: this.#source.backend,
        election: name,
        operation: "watch",
      });
    }
    const queue = new AsyncQueue<Delivery>();
    let set = this.#watchers.get(name);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(name, set);
    }
    const members = set;
    members.add(queue);
    let left = false;
    return {
      ready: (signal) => untilSettledOr(this.#opened, signal),
      follow: (signal) => this.#follow(name, queue, signal),
      leave: () => {
        if (left) return;
        left = true;
        queue.return();
        members.delete(queue);
        if (members.size === 0 && this.#watchers.get(name) === members) this.#watchers.delete(name);
        if (this.#watchers.size === 0) this.#retire();
      },
    };
  }

  /** The states of `name`: its object read now (the chain is open), then every change, again after a resync. */
  async *#follow(
    name: string,
    queue: AsyncQueue<Delivery>,
    signal: AbortSignal,
  ): AsyncGenerator<Snapshot | null> {
    const states = this.#source.states;
    const onAbort = (): void => void queue.return();
    signal.addEventListener("abort", onAbort);
    /** Version of the last state reported (null: absent; undefined: nothing reported yet). */
    let last: string | null | undefined;
    const report = (snapshot: Snapshot | null): boolean => {
      const version = snapshot?.version ?? null;
      if (version === last) return false;
      last = version;
      return true;
    };
    try {
      let resync = true;
      for (;;) {
        if (resync) {
          resync = false;
          const highestBefore = states.highest(name);
          let read: T | null;
          try {
            read = await this.#source.read(name, signal);
          } catch (error) {
            if (signal.aborted || this.#source.closed()) return; // an abort ends the watch; it is no failure
            throw error;
          }
          if (signal.aborted) return;
          const snapshot = states.newest(
            name,
            read === null ? null : states.remember(name, read),
            highestBefore,
          );
          if (report(snapshot)) yield snapshot;
        }
        const item = await queue.next();
        if (item.done || signal.aborted) return;
        const delivery = item.value;
        if (delivery.kind === "resync") {
          resync = true;
          continue;
        }
        const version = delivery.object.metadata?.resourceVersion;
        if (delivery.type === "DELETED") {
          if (last === null || states.isStale(name, version)) continue;
          states.forget(name);
          if (report(null)) yield null;
        } else {
          if (version === undefined || version === last || states.isStale(name, version)) continue;
          const snapshot = states.remember(name, delivery.object as T);
          if (report(snapshot)) yield snapshot;
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Stops the chain (the store is closing, or no watch is left). */
  stop(): void {
    this.#retire();
  }

  /** Stops the chain for good: watches still on it end (those told of a failure first keep it). */
  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    this.#stop.abort();
    this.#rejectOpened(
      new UnavailableError("the shared watch stopped before its stream opened", {
        backend: this.#source.backend,
        operation: "watch",
      }),
    );
    for (const set of this.#watchers.values()) for (const queue of set) queue.end();
    this.#onRetired();
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted || this.#source.closed();
  }

  /** The chain: one stream after the other while watches use it. */
  async #run(): Promise<void> {
    let first = true;
    while (!this.#stopped) {
      const window = new StreamWindow(this.#source.idleMs);
      try {
        const query: NamespaceWatchQuery = {
          timeoutSeconds: this.#source.watchTimeoutSeconds,
          ...(this.#resourceVersion === undefined ? {} : { resourceVersion: this.#resourceVersion }),
        };
        const stream = await this.#source.open(
          query,
          AbortSignal.any([this.#stop.signal, window.idle.signal]),
        );
        if (first) {
          first = false;
          this.#resolveOpened();
        }
        if (this.#resyncOnOpen) {
          this.#resyncOnOpen = false;
          for (const set of this.#watchers.values()) for (const queue of set) queue.push({ kind: "resync" });
        }
        for await (const line of jsonLines(stream, window.quiet)) {
          const event = line as WatchEvent;
          if (event.type === "ERROR") {
            this.#assertExpired(event);
            window.expired = true;
            break;
          }
          window.progressed = true;
          this.#dispatch(event);
        }
        this.#checkEnd(window);
        if (window.expired) {
          // Resume "at most recent"; every watch reads its object again once the new stream is open.
          this.#resourceVersion = undefined;
          this.#resyncOnOpen = true;
        }
      } catch (error) {
        if (this.#stopped) return;
        const failure = this.#failure(error, window);
        this.#rejectOpened(failure);
        for (const set of this.#watchers.values()) for (const queue of set) queue.fail(failure);
        this.#retire();
        return;
      } finally {
        window.dispose();
      }
    }
  }

  #dispatch(event: WatchEvent): void {
    const object = event.object as KubeObject | undefined;
    const version = object?.metadata?.resourceVersion;
    if (version !== undefined) this.#resourceVersion = version;
    if (object === undefined || event.type === "BOOKMARK" || event.type === undefined) return;
    const name = object.metadata?.name;
    if (name === undefined) return;
    const set = this.#watchers.get(name);
    if (set === undefined) return;
    for (const queue of set) queue.push({ kind: "event", type: event.type, object });
  }

  /** A watch ERROR event: a 410 is answered by a restart; anything else is a break. */
  #assertExpired(event: WatchEvent): void {
    const status = statusOf(event.object);
    if (status.code === 410) return;
    throw new UnavailableError(`the shared watch failed: ${status.message ?? JSON.stringify(event.object)}`, {
      backend: this.#source.backend,
      operation: "watch",
    });
  }

  /** The same rule as ObjectWatch's: an early end without any event is a break, not a timeout. */
  #checkEnd(window: StreamWindow): void {
    const lastedMs = performance.now() - window.openedAt;
    const timeoutSeconds = this.#source.watchTimeoutSeconds;
    const empty = !window.progressed && lastedMs < timeoutSeconds * 900;
    if (empty && (!window.expired || this.#previousWasEmpty) && !this.#stopped) {
      throw new UnavailableError(
        `the shared watch stream ended after ${Math.round(lastedMs)} ms without any event, before its ${timeoutSeconds} s timeout (the apiserver is shutting down, or a proxy in front of it ends long requests)`,
        {
          backend: this.#source.backend,
          operation: "watch",
          remedy:
            "the elector watches again after its retry period; if this repeats, check proxies and load balancers between this process and the apiserver, or lower watchTimeoutSeconds below their idle timeout",
        },
      );
    }
    this.#previousWasEmpty = empty;
  }

  #failure(error: unknown, window: StreamWindow): TenureError {
    const context = { backend: this.#source.backend, operation: "watch" };
    if (window.idle.signal.aborted) {
      return new UnavailableError(`the shared watch stream was silent for ${this.#source.idleMs} ms`, {
        ...context,
        cause: error,
      });
    }
    if (TenureError.is(error)) return error;
    return new UnavailableError(
      `the shared watch stream broke: ${error instanceof Error ? error.message : String(error)}`,
      { ...context, cause: error },
    );
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
