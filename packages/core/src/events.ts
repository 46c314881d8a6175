import { AsyncQueue } from "./adapter/async-queue.js";
import { InvalidArgumentError, type TenureError } from "./errors.js";
import type { HealthFailure } from "./health-policy.js";
import type { Purpose, StepDownReason } from "./machine.js";

/** Everything an Elector reports. `atMs` is the elector's monotonic clock when it happened. */
export type ElectorEvent =
  | {
      readonly type: "started-leading";
      readonly atMs: number;
      readonly fencingToken: number;
      /** Leadership is safe to act on until this monotonic time unless a renewal extends it. */
      readonly safeUntilMs: number;
    }
  | {
      readonly type: "renewed";
      readonly atMs: number;
      readonly fencingToken: number;
      readonly safeUntilMs: number;
      /** From sending the renewal to its answer. */
      readonly latencyMs: number;
    }
  | {
      readonly type: "stopped-leading";
      readonly atMs: number;
      readonly fencingToken: number;
      readonly reason: StepDownReason;
    }
  | {
      readonly type: "leader-changed";
      readonly atMs: number;
      /**
       * Who leads as far as this candidate can tell now (see `Elector.currentLeader()`): this
       * candidate while its term is valid, another holder while the lease observed for it lasts,
       * else `null`. A renewal extends `validUntilMs` without a new event.
       */
      readonly leader: string | null;
      /** Monotonic time (the elector's clock) until which this answer holds; `null` with no leader. */
      readonly validUntilMs: number | null;
    }
  | {
      readonly type: "observer-error";
      readonly atMs: number;
      /** What threw: a `subscribe` listener, the logger, or a callback (`onStartedLeading`, …). */
      readonly source: "listener" | "logger" | "onStartedLeading" | "onStoppedLeading" | "onNewLeader";
      readonly error: unknown;
    }
  | {
      readonly type: "store-error";
      readonly atMs: number;
      readonly error: TenureError;
      readonly purpose: Purpose;
    }
  | {
      /** One run of the `health` option's check failed (returned false, threw, timed out, still running). */
      readonly type: "health-check-failed";
      readonly atMs: number;
      readonly failure: HealthFailure;
      /** Failures in a row, this one included. */
      readonly consecutiveFailures: number;
    }
  | {
      /**
       * The health verdict changed: `false` after the failure threshold (a leader steps down with
       * reason `unhealthy`, a candidate stops campaigning), `true` after the success threshold (and
       * after the first passing check: until then a candidate with a health check does not campaign).
       */
      readonly type: "health-changed";
      readonly atMs: number;
      readonly healthy: boolean;
    }
  | { readonly type: "stopped"; readonly atMs: number };

/** Default bound of what one `events()` iterator buffers before it is ended with OVERFLOW. */
export const DEFAULT_MAX_BUFFERED_EVENTS = 1000;

/** Options of `events()` (the iterator of an elector's events). */
export interface IterateOptions {
  /**
   * Most events buffered for a consumer that does not keep up. When one more arrives the iterator
   * delivers what it holds, then rejects with an OVERFLOW error: memory stays bounded, and the
   * consumer learns that it missed events instead of silently skipping them. Default 1000.
   */
  readonly maxBuffered?: number;
}

/**
 * Fan-out of events to synchronous listeners and async iterators, each iterator with its own bounded
 * queue. A listener that throws is isolated: the others still get the event, and the error goes to
 * `onListenerError` (the elector reports it), never back into the code that emitted.
 */
export class EventHub<Event> {
  readonly #listeners = new Set<(event: Event) => void>();
  /** Wakes open iterators when the hub closes; kept apart so listeners only ever see events. */
  readonly #onClose = new Set<() => void>();
  readonly #onListenerError: (error: unknown) => void;
  #closed = false;

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Calls `listener` synchronously for every event from now on. Returns a function that unsubscribes. */
  subscribe(listener: (event: Event) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Delivers `event` to every listener; one that throws does not keep it from the others. */
  emit(event: Event): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /** No more events: open iterators finish after draining what they buffered. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#onClose]) wake();
    this.#onClose.clear();
    this.#listeners.clear();
  }

  /** An async iterator over events emitted from now on; it ends when the hub closes. */
  iterate(options: IterateOptions = {}): AsyncIterableIterator<Event> {
    const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED_EVENTS;
    if (!Number.isSafeInteger(maxBuffered) || maxBuffered < 1) {
      throw new InvalidArgumentError("maxBuffered", `must be a positive integer, got ${String(maxBuffered)}`);
    }
    const queue = new AsyncQueue<Event>({ maxItems: maxBuffered, name: "an events() iterator" });
    if (this.#closed) queue.end();
    const unsubscribe = this.subscribe((event) => {
      queue.push(event);
      if (queue.closed) detach();
    });
    const onClose = (): void => queue.end();
    this.#onClose.add(onClose);
    const detach = (): void => {
      unsubscribe();
      this.#onClose.delete(onClose);
    };
    const iterator: AsyncIterableIterator<Event> = {
      next: () => queue.next(),
      return: () => {
        detach();
        return queue.return();
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
