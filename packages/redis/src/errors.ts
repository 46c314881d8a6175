import type { ErrorContext } from "@tenure/core";
import { PermissionDeniedError, TenureError, toTenureError, UnavailableError } from "@tenure/core";

/** Redis error codes that say "not now" rather than "never": the elector should retry later. */
const TRANSIENT_REPLY =
  /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|OOM|MOVED|ASK|NOREPLICAS|MISCONF)\b/;

/** Error classes that are bugs here, not trouble on the way to the server. */
const PROGRAMMING_ERRORS = new Set(["TypeError", "RangeError", "ReferenceError", "SyntaxError"]);

/** Whether `error` is Redis's answer (an error reply), as opposed to a failure to get one. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === "ReplyError";
}

/** Whether Redis answered that it does not know a script's SHA (EVALSHA must fall back to EVAL). */
export function isNoScript(error: unknown): boolean {
  return isReplyError(error) && error.message.startsWith("NOSCRIPT");
}

/** Whether `error` says the credentials were refused (rather than a permission missing). */
export function isAuthenticationError(error: unknown): boolean {
  return error instanceof Error && /\b(WRONGPASS|NOAUTH)\b/.test(error.message);
}

/** Whether `error` says the user lacks an ACL permission for a command, key or channel. */
function isPermissionError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (/^NOPERM\b/.test(error.message) ||
      /user executing the script can't/.test(error.message) ||
      /no permissions to/.test(error.message))
  );
}

/**
 * Maps anything ioredis (or the network) throws to a TenureError. `command` is the Redis command that
 * failed, so a permission error can say what to grant; `keyPrefix` shapes that advice.
 */
export function mapRedisError(
  error: unknown,
  context: ErrorContext,
  details: { readonly command?: string; readonly keyPrefix: string },
): TenureError {
  if (TenureError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const options = { ...context, cause: error };
  const what = details.command === undefined ? "the command" : details.command.toUpperCase();
  const during = details.command === undefined ? "" : ` (${what})`;
  if (isAuthenticationError(error)) {
    return new PermissionDeniedError(`Redis refused the credentials: ${message}`, {
      ...options,
      remedy: "check the username and password (Redis AUTH / ACL user) the store connects with",
    });
  }
  if (isPermissionError(error)) {
    const pattern = details.keyPrefix === "" ? "*" : `${details.keyPrefix}:*`;
    return new PermissionDeniedError(`the Redis user lacks a permission ${what} needs: ${message}`, {
      ...options,
      remedy: `grant the user what the store needs (see "Least privilege" in @tenure/redis's README): ACL SETUSER <user> ~${pattern} &${pattern} +@connection +evalsha +eval +evalsha_ro +eval_ro +subscribe +type +hmget +get +exists +time +set +incr +hset +del +publish`,
    });
  }
  if (isReplyError(error)) {
    if (TRANSIENT_REPLY.test(message)) {
      return new UnavailableError(`Redis cannot serve ${what} now: ${message}`, options);
    }
    return toTenureError(error, context);
  }
  if (error instanceof Error && PROGRAMMING_ERRORS.has(error.name)) return toTenureError(error, context);
  return new UnavailableError(`cannot reach Redis${during}: ${message}`, options);
}
