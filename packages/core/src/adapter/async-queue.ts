import { TenureError } from "../errors.js";

/** Options of an {@link AsyncQueue}. */
export interface AsyncQueueOptions {
  /**
   * Most items held for a consumer that does not keep up. One more ends the queue: the items held
   * are still delivered, then the iterator rejects with OVERFLOW. Default: unbounded (a watch yields
   * the store's changes, which the engine consumes at once).
   */
  readonly maxItems?: number;
  /** Names the queue in the OVERFLOW error. */
  readonly name?: string;
  /** Called once when the consumer stops early (`return()`): unsubscribe, close a stream. */
  readonly onReturn?: () => void;
}

/**
 * A queue with one consumer, iterated asynchronously: producers `push`, then `end` (the iterator
 * finishes) or `fail` (it throws). Items pushed before an end or a failure are delivered first. The
 * one implementation behind every adapter's `watch` and the elector's `events()`.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  readonly #maxItems: number;
  readonly #name: string;
  #wake: (() => void) | undefined;
  #ended = false;
  #failure: unknown;
  #failed = false;
  #onReturn: (() => void) | undefined;

  constructor(options: AsyncQueueOptions = {}) {
    this.#maxItems = options.maxItems ?? Number.POSITIVE_INFINITY;
    this.#name = options.name ?? "queue";
    this.#onReturn = options.onReturn;
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.#items.length;
  }

  /** Whether the queue will take no more items (ended, failed or returned). */
  get closed(): boolean {
    return this.#ended || this.#failed;
  }

  /** Adds an item; ignored once the queue is closed. Past `maxItems`, fails with OVERFLOW. */
  push(item: T): void {
    if (this.closed) return;
    if (this.#items.length >= this.#maxItems) {
      this.fail(
        new TenureError(
          "OVERFLOW",
          `${this.#name} fell more than ${this.#maxItems} items behind and was ended`,
          {
            remedy: "consume it promptly, or allow more items",
          },
        ),
      );
      return;
    }
    this.#items.push(item);
    this.#poke();
  }

  /** No more items: the iterator finishes after the ones held. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#poke();
  }

  /** The iterator throws `error` after the items held. The first failure wins. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.#failed = true;
    this.#failure = error;
    this.#poke();
  }

  /** Resolves when an item, an end or a failure is there, or when `signal` aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    if (this.#items.length > 0 || this.closed || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const onAbort = (): void => this.#poke();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
    });
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) return { done: false, value: item };
      if (this.#failed) {
        const failure = this.#failure;
        this.#failure = undefined;
        this.#ended = true;
        if (failure !== undefined) throw failure;
        return { done: true, value: undefined };
      }
      if (this.#ended) return { done: true, value: undefined };
      await this.wait();
    }
  }

  /** Stops iterating: nothing more is delivered. */
  async return(): Promise<IteratorResult<T>> {
    this.#items.length = 0;
    this.#ended = true;
    this.#failure = undefined;
    this.#poke();
    const onReturn = this.#onReturn;
    this.#onReturn = undefined;
    onReturn?.();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
