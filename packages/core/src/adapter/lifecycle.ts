import type { ErrorContext } from "../errors.js";
import { ClosedError } from "../errors.js";

/**
 * The open/closed state of a store, enforced the same way in every adapter: after `close()` every
 * call rejects with CLOSED (one wording), open watches end, and calls in flight given the `signal`
 * (through {@link boundedCall}'s `closing`) reject at once instead of running on.
 */
export class StoreLifecycle {
  readonly #backend: string;
  readonly #closing = new AbortController();

  constructor(backend: string) {
    this.#backend = backend;
  }

  /** Aborted when the store closes. */
  get signal(): AbortSignal {
    return this.#closing.signal;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Marks the store closed; true the first time (the caller then releases what it holds). */
  close(): boolean {
    if (this.closed) return false;
    this.#closing.abort(this.error());
    return true;
  }

  /** The CLOSED error, worded once for every adapter. */
  error(context: Omit<ErrorContext, "backend"> = {}): ClosedError {
    return new ClosedError("the store was closed", {
      backend: this.#backend,
      ...context,
      remedy: "open a new store; a closed one takes no more calls",
    });
  }

  /** Throws CLOSED once the store is closed. */
  assertOpen(context: Omit<ErrorContext, "backend"> = {}): void {
    if (this.closed) throw this.error(context);
  }
}
