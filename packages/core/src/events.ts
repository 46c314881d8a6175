import type { TenureError } from "./errors.js";
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
      /** The holder now seen in the store; `null` when nobody holds it or the record is unreadable. */
      readonly leader: string | null;
    }
  | {
      readonly type: "store-error";
      readonly atMs: number;
      readonly error: TenureError;
      readonly purpose: Purpose;
    }
  | { readonly type: "stopped"; readonly atMs: number };

/** Fan-out of events to synchronous listeners and async iterators, each iterator with its own queue. */
export class EventHub<Event> {
  readonly #listeners = new Set<(event: Event) => void>();
  /** Wakes open iterators when the hub closes; kept apart so listeners only ever see events. */
  readonly #onClose = new Set<() => void>();
  #closed = false;

  /** Calls `listener` synchronously for every event from now on. Returns a function that unsubscribes. */
  subscribe(listener: (event: Event) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: Event): void {
    for (const listener of [...this.#listeners]) listener(event);
  }

  /** No more events: open iterators finish after draining what they buffered. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#onClose]) wake();
    this.#onClose.clear();
    this.#listeners.clear();
  }

  /** An async iterator over events emitted from now on; it ends when the hub closes. */
  iterate(): AsyncIterableIterator<Event> {
    const buffer: Event[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closed;
    const unsubscribe = this.subscribe((event) => {
      buffer.push(event);
      wake?.();
    });
    const onClose = (): void => {
      done = true;
      wake?.();
    };
    this.#onClose.add(onClose);
    const finish = (): IteratorReturnResult<undefined> => {
      done = true;
      buffer.length = 0;
      unsubscribe();
      this.#onClose.delete(onClose);
      return { done: true, value: undefined };
    };
    const iterator: AsyncIterableIterator<Event> = {
      async next(): Promise<IteratorResult<Event>> {
        while (buffer.length === 0 && !done) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        const event = buffer.shift();
        return event === undefined ? finish() : { done: false, value: event };
      },
      async return(): Promise<IteratorResult<Event>> {
        return finish();
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}
