import type { Clock, ErrorContext } from "@tenure/core";
import { systemClock, UnavailableError } from "@tenure/core";
import { positiveMs } from "@tenure/core/adapter";

/** A delay in milliseconds, fixed or drawn per message (seed the function for reproducible tests). */
export type Delay = number | (() => number);

/** How an unreachable store fails: at once (connection refused) or after `requestTimeoutMs` (packets dropped). */
export type Unreachability = "refuse" | "blackhole";

/** Options of a MemoryStore: the knobs of its simulated network. */
export interface MemoryStoreOptions {
  /** Clock for delays and timeouts. Default the system clock; tests pass a manual one. */
  readonly clock?: Clock;
  /** Delay before a request reaches the server (it commits then). Default 0. */
  readonly requestDelayMs?: Delay;
  /** Delay before an answer, or a watch event, reaches this client. Default 0. */
  readonly responseDelayMs?: Delay;
  /** How long a call waits on an unreachable server in `"blackhole"` mode before UNAVAILABLE. Default 1000. */
  readonly requestTimeoutMs?: number;
}

/**
 * The simulated network between one memory store and its server, on the store's clock: requests
 * and answers take their delays, answers arrive in order (as over one TCP connection), and the link
 * can be cut so that calls are refused at once or get no answer until `requestTimeoutMs`.
 */
export class SimulatedLink {
  readonly clock: Clock;
  readonly #requestDelay: () => number;
  readonly #responseDelay: () => number;
  readonly #requestTimeoutMs: number;
  /** How the server is unreachable, or null while it is reachable. */
  unreachable: Unreachability | null = null;
  /** Answers are delivered in order: none before an earlier one. */
  #lastDeliveryMs = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryStoreOptions, context: { backend: string }) {
    this.clock = options.clock ?? systemClock;
    this.#requestDelay = asDelay(options.requestDelayMs);
    this.#responseDelay = asDelay(options.responseDelayMs);
    this.#requestTimeoutMs = positiveMs("requestTimeoutMs", options.requestTimeoutMs, 1000, context);
  }

  /**
   * One round trip: the request travels, the server applies it, the answer travels back, and
   * `answer` or `fail` is called once. A link cut while the answer is on its way loses the answer but
   * not the write, as a real network can: the caller sees UNAVAILABLE for a call that may have
   * succeeded.
   */
  roundTrip<T>(
    apply: () => T,
    context: ErrorContext,
    answer: (value: T) => void,
    fail: (error: unknown) => void,
  ): void {
    const unavailable = (problem: string): UnavailableError => linkError(problem, context);
    if (this.unreachable === "blackhole") {
      this.clock.setTimer(this.#requestTimeoutMs, () =>
        fail(unavailable(`no answer within ${this.#requestTimeoutMs} ms`)),
      );
      return;
    }
    if (this.unreachable === "refuse") {
      this.#after(this.#requestDelay(), () => fail(unavailable("connection refused")));
      return;
    }
    this.#after(this.#requestDelay(), () => {
      let outcome: { value: T } | { error: unknown };
      try {
        outcome = { value: apply() };
      } catch (error) {
        outcome = { error };
      }
      this.deliver(() => {
        if (this.unreachable !== null) fail(unavailable("connection lost before the answer arrived"));
        else if ("value" in outcome) answer(outcome.value);
        else fail(outcome.error);
      });
    });
  }

  /** Delivers an answer or watch event after the response delay, never before an earlier one. */
  deliver(callback: () => void): void {
    const atMs = Math.max(this.clock.now() + this.#responseDelay(), this.#lastDeliveryMs);
    this.#lastDeliveryMs = atMs;
    this.#after(atMs - this.clock.now(), callback);
  }

  #after(delayMs: number, callback: () => void): void {
    if (delayMs <= 0) queueMicrotask(callback);
    else this.clock.setTimer(delayMs, callback);
  }
}

/** UNAVAILABLE from the simulated network: the test cut it, or the caller stopped waiting. */
export function linkError(problem: string, context: ErrorContext): UnavailableError {
  return new UnavailableError(problem, {
    ...context,
    remedy: "the memory store was disconnected by a test; call reconnect()",
  });
}

function asDelay(delay: Delay | undefined): () => number {
  if (delay === undefined) return () => 0;
  if (typeof delay === "number") return () => delay;
  return delay;
}
