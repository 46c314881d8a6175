import type { TenureErrorOptions } from "@tenure/core";
import {
  ClosedError,
  PermissionDeniedError,
  TenureError,
  toTenureError,
  UnavailableError,
} from "@tenure/core";

/** The backend name in every message and metric. */
export const BACKEND = "etcd";

/** What an etcd3 / gRPC failure means for the caller. */
export type FailureKind = "permission" | "unavailable" | "closed" | "other";

/**
 * Error class names of etcd3 (and cockatiel, which etcd3 uses for retries and circuit breakers)
 * grouped by meaning. Matched by name, not `instanceof`, because a client passed in by the user may
 * come from another copy of etcd3 than ours.
 */
const PERMISSION_NAMES = new Set([
  "EtcdPermissionDeniedError",
  "EtcdAuthenticationFailedError",
  "EtcdUserNotFoundError",
  "EtcdRoleNotGrantedError",
  "EtcdRoleNotFoundError",
  "GRPCUnauthenticatedError",
]);
const UNAVAILABLE_NAMES = new Set([
  "GRPCUnavailableError",
  "GRPCDeadlineExceededError",
  "GRPCCancelledError",
  "GRPCResourceExhastedError", // sic: etcd3's spelling
  "GRPCAbortedError",
  "GRPCInternalError",
  "GRPCUnknownError",
  "EtcdWatchStreamEnded",
  "BrokenCircuitError",
  "TaskCancelledError",
  "IsolatedCircuitError",
]);
const CLOSED_NAMES = new Set(["ClientClosedError"]);

/**
 * etcd server messages that reach us as generic errors. The permission ones come back, for
 * example, when auth is on and the client sent no user ("user name is empty"); the availability
 * ones while the cluster has no leader or is overloaded: all transient.
 */
const PERMISSION_MESSAGES = [
  "permission denied",
  "authentication failed",
  "user name is empty",
  "user name not found",
  "role is not granted",
];
const UNAVAILABLE_MESSAGES = [
  "no leader",
  "leader changed",
  "request timed out",
  "too many requests",
  "server stopped",
  "timed out",
  "not capable",
  "unhealthy cluster",
  "econnrefused",
  "econnreset",
  "no connection established",
];

/**
 * True when gRPC failed the call before sending any of it: grpc-js cancels the calls still waiting
 * for a connection, with exactly this text, when their channel is closed (etcd3 closes a host's
 * channels after a call there fails). Such a call did nothing on the server and may run again.
 */
export function neverSent(error: unknown): boolean {
  return error instanceof Error && error.message.includes("Channel closed before call started");
}

/** Classifies anything etcd3 or gRPC threw. */
export function classify(error: unknown): FailureKind {
  if (!(error instanceof Error)) return "other";
  const name = error.constructor?.name ?? error.name;
  if (PERMISSION_NAMES.has(name) || PERMISSION_NAMES.has(error.name)) return "permission";
  if (CLOSED_NAMES.has(name) || CLOSED_NAMES.has(error.name)) return "closed";
  if (UNAVAILABLE_NAMES.has(name) || UNAVAILABLE_NAMES.has(error.name)) return "unavailable";
  const message = error.message.toLowerCase();
  if (PERMISSION_MESSAGES.some((text) => message.includes(text))) return "permission";
  if (UNAVAILABLE_MESSAGES.some((text) => message.includes(text))) return "unavailable";
  // gRPC status codes, for errors etcd3 did not cast: 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE, 7/16 auth.
  const code = (error as { code?: unknown }).code;
  if (code === 4 || code === 14 || code === 1) return "unavailable";
  if (code === 7 || code === 16) return "permission";
  return "other";
}

/** Where a failure happened, for messages that say what to do. */
export interface FailureContext {
  readonly election: string;
  readonly operation: string;
  readonly key: string;
  readonly keyPrefix: string;
  /** The etcd user, or undefined when the store does not authenticate. */
  readonly user: string | undefined;
}

/** Turns an etcd3 / gRPC failure into the TenureError the contract asks for. */
export function mapFailure(error: unknown, context: FailureContext): TenureError {
  if (TenureError.is(error)) return error;
  const where: TenureErrorOptions = {
    backend: BACKEND,
    election: context.election,
    operation: context.operation,
    cause: error,
  };
  const detail = error instanceof Error ? error.message : String(error);
  switch (classify(error)) {
    case "permission": {
      const who = context.user === undefined ? "the unauthenticated client" : `etcd user "${context.user}"`;
      if (/authentication failed|user name not found/i.test(detail)) {
        return new PermissionDeniedError(`etcd rejected the credentials of ${who}: ${detail}`, {
          ...where,
          remedy: "check the username and password given in `auth`",
        });
      }
      return new PermissionDeniedError(
        `etcd refused ${context.operation} of key "${context.key}" for ${who}: ${detail}`,
        {
          ...where,
          remedy:
            context.user === undefined
              ? "the cluster has auth enabled: pass `auth: { username, password }` for a user whose role may read and write the key prefix"
              : `an elector needs read and write access to its lock: grant the user a role with \`etcdctl role grant-permission <role> --prefix=true readwrite ${context.keyPrefix}\``,
        },
      );
    }
    case "unavailable":
      return new UnavailableError(`etcd did not answer: ${detail}`, where);
    case "closed":
      return new ClosedError(`the etcd client was closed: ${detail}`, {
        ...where,
        remedy: "a client passed in as `client` must stay open until the store is closed",
      });
    case "other":
      return toTenureError(error, {
        backend: BACKEND,
        election: context.election,
        operation: context.operation,
      });
  }
}
