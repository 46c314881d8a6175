/** What a `handOver()` that did not happen is rejected with (see the `handover-settled` effect). */
import type { ErrorContext } from "./errors.js";
import { ConflictError, InvalidArgumentError, NotLeaderError, TenureError } from "./errors.js";
import type { Effect } from "./machine.js";

/** The error for a handover that was refused or whose write did not land (any outcome but `written`). */
export function handoverError(
  effect: Extract<Effect, { type: "handover-settled" }>,
  context: ErrorContext,
): TenureError {
  const successor = JSON.stringify(effect.successor);
  switch (effect.outcome) {
    case "invalid-successor":
      return new InvalidArgumentError("successor", "must be another candidate's identity", context);
    case "not-leading":
      return new NotLeaderError(`handOver(${successor}) needs a leader; this candidate does not lead`, {
        ...context,
        remedy:
          "call handOver() from the leader, for example within onStartedLeading, while isLeader() is true",
      });
    default:
      return effect.error === null
        ? new ConflictError(
            `the lock changed before the handover to ${successor} was written; nothing was handed over, and this candidate no longer leads`,
            {
              ...context,
              remedy:
                "the lock is held by whoever the election chose; hand over again from the new leader if needed",
            },
          )
        : new TenureError(
            effect.error.code,
            `the handover to ${successor} failed and could not be confirmed (${effect.error.message}); this candidate no longer leads`,
            {
              ...context,
              cause: effect.error,
              remedy: "check the store; the election recovers by itself within a lease",
            },
          );
  }
}
