import type { ErrorContext, TenureErrorOptions } from "@tenure/core";
import {
  ConflictError,
  InvalidArgumentError,
  PermissionDeniedError,
  TenureError,
  toTenureError,
  UnavailableError,
} from "@tenure/core";

/** What was being done when a call failed: enough to write a message an operator can act on. */
export interface CallSite {
  /** Backend name, e.g. `"kubernetes/lease"`. */
  readonly backend: string;
  /** The election (object) name. */
  readonly election: string;
  /** The store operation: get, create, update or watch. */
  readonly operation: string;
  /** The Kubernetes verb the operation used: get, create, update or watch. */
  readonly verb: string;
  /** The resource as RBAC names it, e.g. `leases.coordination.k8s.io` or `endpoints`. */
  readonly resource: string;
  readonly namespace: string;
}

/** The error context of a call site: backend, election, operation. */
export function siteContext(site: CallSite): ErrorContext {
  return { backend: site.backend, election: site.election, operation: site.operation };
}

/** The fields of a Kubernetes `Status` object this module reads. */
interface StatusBody {
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    readonly kind?: string;
    readonly name?: string;
    readonly causes?: readonly { readonly reason?: string; readonly field?: string }[];
  };
}

/** What the adapter reads of an `ApiException`: the HTTP status, and the body the apiserver sent. */
export interface ApiError extends Error {
  readonly code: number;
  readonly body: unknown;
}

/**
 * Whether `error` is an `ApiException` of @kubernetes/client-node: the apiserver answered with an
 * HTTP error status. Judged by its shape (a numeric HTTP status in `code`, a `body`, `headers`), not
 * with `instanceof`: the client that threw it may come from another copy of @kubernetes/client-node
 * than the one this package resolves (the user's own client, another version), whose ApiException
 * is another class. Node's and undici's network errors carry string codes, so they never match.
 */
export function isApiException(error: unknown): error is ApiError {
  if (!(error instanceof Error)) return false;
  const { code, headers } = error as { code?: unknown; headers?: unknown };
  return (
    typeof code === "number" &&
    Number.isInteger(code) &&
    code >= 100 &&
    code <= 599 &&
    "body" in error &&
    typeof headers === "object" &&
    headers !== null
  );
}

/** The HTTP status of an `ApiException` (from any copy of the client), or undefined for anything else. */
export function apiStatusCode(error: unknown): number | undefined {
  return isApiException(error) ? error.code : undefined;
}

/** The `Status` object an apiserver sends with an error, when the client kept it. */
export function statusOf(body: unknown): StatusBody {
  let value: unknown = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: body };
    }
  }
  if (typeof value !== "object" || value === null) return {};
  return value as StatusBody;
}

/** Network failures that mean "the apiserver could not be reached or did not answer". */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** The first `code` found along an error's cause chain (undici wraps socket errors in `fetch failed`). */
function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (NETWORK_CODES.has(code) || code.startsWith("UND_ERR"))) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = networkCode(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}${code !== undefined && !cause.includes(code) ? ` (${code})` : ""}`;
}

/**
 * Maps anything a @kubernetes/client-node call threw to a TenureError with the core's codes. A call
 * given up (its timeout, the caller's abort, the store closing) never gets here: boundedCall rejects
 * it first, with its own error. 404 is left to callers where it has a meaning of its own (a missing
 * lock on get, a lost race on update); here it only means a missing namespace.
 */
export function mapKubernetesError(error: unknown, site: CallSite): TenureError {
  const context = siteContext(site);
  if (TenureError.is(error)) return error;
  if (isApiException(error)) return mapStatus(error, site);
  const code = networkCode(error);
  if (code !== undefined || (error instanceof TypeError && error.message === "fetch failed")) {
    return new UnavailableError(`cannot reach the apiserver: ${describeError(error)}`, {
      ...context,
      cause: error,
    });
  }
  return toTenureError(error, context);
}

/** One error answer of the apiserver, as the mapping below reads it. */
interface Answer {
  readonly site: CallSite;
  readonly status: StatusBody;
  /** The apiserver's own message as a suffix, ` (apiserver: …)`, or `""`. */
  readonly said: string;
  /** The error's context, with the ApiException as its cause. */
  readonly options: TenureErrorOptions;
}

function mapStatus(error: ApiError, site: CallSite): TenureError {
  const status = statusOf(error.body);
  const said = status.message === undefined ? "" : ` (apiserver: ${status.message})`;
  const answer: Answer = { site, status, said, options: { ...siteContext(site), cause: error } };
  const { options } = answer;
  switch (error.code) {
    case 409:
      return new ConflictError(
        site.operation === "create" ? "the lock already exists" : "the lock's version moved",
        options,
      );
    case 401:
      return new PermissionDeniedError(`the apiserver rejected the credentials${said}`, {
        ...options,
        remedy: "check the kubeconfig's user, token or client certificate",
      });
    case 403:
      return forbidden(answer);
    case 404:
      return notFound(answer);
    case 400:
    case 422:
      return new InvalidArgumentError(
        site.resource,
        `the apiserver refused ${targetOf(site)}${said}`,
        options,
      );
    case 410:
      return new UnavailableError(`the watch expired${said}`, options);
    default:
      if (error.code === 429 || error.code >= 500) {
        return new UnavailableError(`the apiserver answered ${error.code}${said}`, options);
      }
      return new TenureError(
        "INTERNAL",
        `unexpected answer ${error.code} from the apiserver${said}`,
        options,
      );
  }
}

function targetOf(site: CallSite): string {
  return `${site.resource} "${site.election}" in namespace "${site.namespace}"`;
}

/** A 403: RBAC said no, unless the namespace is being deleted. */
function forbidden({ site, status, said, options }: Answer): TenureError {
  if (status.details?.causes?.some((cause) => cause.reason === "NamespaceTerminating")) {
    // The namespace lifecycle plugin, not RBAC: granting anything would not help.
    return new InvalidArgumentError(
      "namespace",
      `must name a namespace that exists and is not being deleted; "${site.namespace}" is being deleted${said}`,
      {
        ...options,
        remedy:
          "wait until the namespace is gone and create it again, or pass another one as the `namespace` option",
      },
    );
  }
  return new PermissionDeniedError(`cannot ${site.verb} ${targetOf(site)}${said}`, {
    ...options,
    remedy: `grant "${site.verb}" on ${site.resource} in namespace "${site.namespace}" with a Role and RoleBinding (see the @tenure/kubernetes README, "RBAC")`,
  });
}

/**
 * A 404 on a write: the apiserver answers a write into a missing namespace with 404 naming the
 * namespace (a read of a missing object says only that the object is missing, which get reports as
 * null); a replace of an object that is gone is a lost race.
 */
function notFound({ site, status, said, options }: Answer): TenureError {
  if (status.details?.kind === "namespaces" || site.operation === "create") {
    return new InvalidArgumentError(
      "namespace",
      `must name an existing namespace; namespace "${site.namespace}" does not exist${said}`,
      { ...options, remedy: "create the namespace or pass an existing one as the `namespace` option" },
    );
  }
  return new ConflictError("the lock no longer exists", options);
}
