import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { ErrorContext } from "../errors.js";
import { ClosedError, TenureError, toTenureError, UnavailableError } from "../errors.js";

/** Why a bounded call was given up. */
export type GiveUpReason = "timeout" | "aborted" | "closed";

/** The limits of one store call. */
export interface CallLimits {
  /**
   * The adapter's own limit for one call (its request or command timeout), in ms. `Infinity`: none
   * (a store whose calls are bounded otherwise, as the memory store's simulated network is).
   */
  readonly timeoutMs: number;
  /** The timer's clock. Default the process's; a store on an injected (virtual) clock passes it. */
  readonly clock?: Pick<Clock, "setTimer">;
  /** The caller's signal (`OperationOptions.signal`): the Elector aborts it at its operation timeout. */
  readonly signal?: AbortSignal | undefined;
  /** The store's closing signal ({@link StoreLifecycle.signal}): the call then rejects with CLOSED. */
  readonly closing?: AbortSignal | undefined;
  /** Names the call in its errors: backend, election, operation. */
  readonly context: ErrorContext;
  /**
   * Called once when the call is given up (its own timeout, the caller's abort, the store closing),
   * before the promise rejects: for example to drop a connection whose answer may never come.
   */
  readonly onGiveUp?: (reason: GiveUpReason) => void;
  /** Turns what `run` rejects with into a TenureError. Default: kept if it is one, else INTERNAL. */
  readonly mapError?: (error: unknown) => TenureError;
  /**
   * The last error of the connection the call needed, if any: quoted in the timeout's message and
   * kept as its cause, so "no answer" says why (connection refused, TLS failure, …).
   */
  readonly lastConnectionError?: () => Error | undefined;
}

/**
 * Runs one store call so that it always settles in bounded time: `run` receives a signal that aborts
 * at the first of three ends, and the promise settles then whatever `run` does.
 *
 * **Which deadline wins: whichever comes first.** The adapter's `timeoutMs` bounds every call, also
 * those made without a signal (a user calling the store directly); the caller's `signal` bounds it
 * further (the Elector passes one that aborts at its operation timeout, which is shorter than a
 * renew deadline). Both give UNAVAILABLE, and the message says which limit ended the call. The
 * store closing gives CLOSED. A write given up this way may still commit: callers treat UNAVAILABLE
 * as "unknown", never as "not written" (the engine reads before it writes again).
 */
export function boundedCall<T>(limits: CallLimits, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { context } = limits;
  if (limits.closing?.aborted) return Promise.reject(closedError(limits.closing, context));
  if (limits.signal?.aborted) {
    return Promise.reject(new UnavailableError("the call was aborted before it was sent", context));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = new AbortController();
    let settled = false;
    const cleanup = (): void => {
      cancelTimer();
      limits.signal?.removeEventListener("abort", onAbort);
      limits.closing?.removeEventListener("abort", onClosing);
    };
    const giveUp = (reason: GiveUpReason, error: TenureError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      abort.abort(error);
      limits.onGiveUp?.(reason);
      reject(error);
    };
    const onAbort = (): void => giveUp("aborted", new UnavailableError("the call was aborted", context));
    const onClosing = (): void => giveUp("closed", closedError(limits.closing, context));
    const clock = limits.clock ?? systemClock;
    const onTimeout = (): void => {
      const last = limits.lastConnectionError?.();
      const reason = last === undefined ? "" : ` (last connection error: ${last.message})`;
      giveUp(
        "timeout",
        new UnavailableError(`no answer within ${limits.timeoutMs} ms${reason}`, {
          ...context,
          ...(last === undefined ? {} : { cause: last }),
        }),
      );
    };
    const cancelTimer = Number.isFinite(limits.timeoutMs)
      ? clock.setTimer(limits.timeoutMs, onTimeout)
      : () => {};
    limits.signal?.addEventListener("abort", onAbort, { once: true });
    limits.closing?.addEventListener("abort", onClosing, { once: true });
    let call: Promise<T>;
    try {
      call = run(abort.signal);
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      (value) => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(limits.mapError?.(error) ?? toTenureError(error, context));
      },
    );
  });
}

/**
 * The CLOSED error of a call ended by the store closing: the store's own (a {@link StoreLifecycle}
 * aborts its signal with it), so a call ended by close() reads like one made after it.
 */
function closedError(closing: AbortSignal | undefined, context: ErrorContext): TenureError {
  const reason: unknown = closing?.reason;
  return TenureError.is(reason, "CLOSED") ? reason : new ClosedError("the store was closed", context);
}
