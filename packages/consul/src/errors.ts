import {
  ConflictError,
  InvalidArgumentError,
  PermissionDeniedError,
  TenureError,
  UnavailableError,
} from "@tenure/core";
import { TransportError } from "./http.js";

/** The backend name in every message and metric. */
export const BACKEND = "consul";

/** Where a failure happened, for messages that say what to do. */
export interface FailureContext {
  readonly election: string;
  readonly operation: string;
  readonly key: string;
  readonly keyPrefix: string;
}

/** Maps a transport failure to Tenure's codes, naming the backend, election, operation and key. */
export function mapFailure(error: unknown, where: FailureContext): TenureError {
  if (TenureError.is(error)) return error;
  const { election, operation, key, keyPrefix } = where;
  const context = { backend: BACKEND, election, operation, cause: error };
  if (!(error instanceof TransportError)) {
    return new TenureError("INTERNAL", `unexpected error: ${String(error)}`, context);
  }
  if (error.reason === "network") {
    return new UnavailableError(`the Consul agent did not answer (${error.message})`, context);
  }
  const status = error.status ?? 0;
  const denied = error.txnErrors.find((text) => /permission denied|ACL not found/i.test(text));
  if (status === 403 || status === 401 || denied !== undefined) {
    const access = operation === "get" || operation === "watch" ? "read" : "write";
    return new PermissionDeniedError(
      `the ACL token may not ${access} key "${key}" (${denied ?? error.message})`,
      {
        ...context,
        remedy: `give the token a policy with key_prefix "${keyPrefix}" { policy = "${access}" } and pass it as the token option`,
      },
    );
  }
  if (status === 409 && error.txnErrors.some((text) => /index is stale/i.test(text))) {
    return new ConflictError(
      operation === "create" ? "the lock already exists" : "the lock's version moved or it no longer exists",
      { backend: BACKEND, election, operation },
    );
  }
  if (status === 429 || status >= 500) {
    return new UnavailableError(`the Consul agent could not serve the request (${error.message})`, context);
  }
  if (status === 400 || status === 413) {
    return new InvalidArgumentError("request", `Consul refused it: ${error.message}`, context);
  }
  return new TenureError("INTERNAL", `unexpected answer from Consul (${error.message})`, {
    ...context,
    remedy: "please report this with the Consul version",
  });
}
