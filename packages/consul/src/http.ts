import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { request as httpsRequest } from "node:https";
import type { ConsulTlsOptions } from "./options.js";

/**
 * One HTTP request to the agent, over Node's http client, and what a failed one tells: the status
 * and error texts of an answer, or for a connection that failed, the socket error's code and system
 * call (which decide whether the request may run again). Time limits are the caller's: every
 * request is made under the kit's `boundedCall`, whose signal cancels it.
 */

/** Where the agent is and how to reach it. */
export interface Endpoint {
  /** `http:` or `https:`. */
  readonly protocol: "http:" | "https:";
  readonly host: string;
  readonly port: number;
  /** The connection pool: keep-alive, shared by every call of the store (or the user's own). */
  readonly agent: HttpAgent | HttpsAgent;
  /** TLS settings for HTTPS, sent with each request (an agent of the user's keeps its own too). */
  readonly tls: ConsulTlsOptions | undefined;
}

/** A transport failure, before mapping to Tenure's codes. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  /** HTTP status when the agent answered, undefined when it did not (connection failure). */
  readonly status: number | undefined;
  /** The transaction's error texts (`Errors[].What`) for a 409 from /v1/txn, or the body of another error. */
  readonly txnErrors: readonly string[];
  /** Why the call failed: the network (no answer), or an answer that is not a success. */
  readonly reason: "network" | "response";
  /** The socket error's code and system call (`ECONNRESET`, `"write"`), for a network failure. */
  readonly socketError: { readonly code: string; readonly syscall: string | undefined } | undefined;

  constructor(
    message: string,
    details: {
      status?: number;
      txnErrors?: readonly string[];
      reason: TransportError["reason"];
      cause?: unknown;
      socketError?: TransportError["socketError"];
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.txnErrors = details.txnErrors ?? [];
    this.reason = details.reason;
    this.socketError = details.socketError;
  }
}

/** An HTTP answer: status, headers and the body as text. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** What one request sends. */
export interface HttpRequest {
  readonly method: "GET" | "PUT";
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | undefined;
}

/** The most a Consul answer to these calls can reasonably hold (a KV value is at most 512 KiB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Sends `request` once and resolves with the answer, whatever its status; rejects with a
 * TransportError of reason "network" if no complete answer arrives. `signal` cancels it (the
 * socket is destroyed, so none is left waiting).
 */
export function send(endpoint: Endpoint, request: HttpRequest, signal: AbortSignal): Promise<Answer> {
  const { protocol, host, port, agent, tls } = endpoint;
  const search = request.query.toString().replace(/=(?=&|$)/g, "");
  const headers: Record<string, string> = { Accept: "application/json", ...request.headers };
  if (request.body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(request.body));
  }
  const options = {
    method: request.method,
    host,
    port,
    path: search === "" ? request.path : `${request.path}?${search}`,
    headers,
    ...(protocol === "https:" && tls !== undefined ? tls : {}),
  };
  return new Promise<Answer>((resolve, reject) => {
    const outgoing =
      protocol === "https:"
        ? httpsRequest({ ...options, agent: agent as HttpsAgent })
        : httpRequest({ ...options, agent: agent as HttpAgent });
    const onAbort = (): void => {
      outgoing.destroy();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      outcome();
    };
    outgoing.on("error", (error) => settle(() => reject(networkError(error))));
    outgoing.on("response", (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          response.destroy(
            new TransportError(`the answer exceeds ${MAX_BODY_BYTES} bytes`, { reason: "response" }),
          );
          return;
        }
        chunks.push(chunk);
      });
      response.on("error", (error) => settle(() => reject(networkError(error))));
      // A connection that closes in the middle of the answer: no answer, as if none had come.
      response.on("close", () => {
        if (!response.complete) {
          settle(() =>
            reject(
              new TransportError("the connection closed before the answer was complete", {
                reason: "network",
                socketError: { code: "ECONNRESET", syscall: "read" },
              }),
            ),
          );
        }
      });
      response.on("end", () =>
        settle(() =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        ),
      );
    });
    if (signal.aborted) {
      onAbort();
      return;
    }
    outgoing.end(request.body);
  });
}

/**
 * Sends `request`, and once more (under the same signal, so within the same time limit) when the
 * first attempt failed in a way `mayRetry` allows. The usual cause is a connection kept alive across
 * an outage that the agent or the network dropped meanwhile: Node reuses it and learns it is dead
 * only when it writes. The second attempt opens a new connection.
 */
export async function sendWithOneRetry(
  endpoint: Endpoint,
  request: HttpRequest,
  signal: AbortSignal,
  mayRetry: (error: TransportError) => boolean,
): Promise<Answer> {
  try {
    return await send(endpoint, request, signal);
  } catch (error) {
    if (signal.aborted || !(error instanceof TransportError) || !mayRetry(error)) throw error;
    return send(endpoint, request, signal);
  }
}

/** Socket error codes of a connection the peer (or the network) has reset or closed. */
const CONNECTION_GONE = new Set(["ECONNRESET", "EPIPE"]);

/** The request's connection was reset or closed before any answer came. */
export function connectionLost(error: TransportError): boolean {
  return (
    error.reason === "network" &&
    error.socketError !== undefined &&
    CONNECTION_GONE.has(error.socketError.code)
  );
}

/**
 * The request's connection was gone when it was written: the write itself failed (`syscall`
 * "write"), so the kernel sent none of it. Node writes a small request (headers and body) in one
 * write, so no part of it left either.
 */
export function unsent(error: TransportError): boolean {
  return connectionLost(error) && error.socketError?.syscall === "write";
}

/** A socket or request error as a TransportError of reason "network" (or what it already is). */
function networkError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const fields = (typeof error === "object" && error !== null ? error : {}) as {
    message?: unknown;
    code?: unknown;
    syscall?: unknown;
  };
  const message = typeof fields.message === "string" ? fields.message : String(error);
  return new TransportError(message, {
    reason: "network",
    cause: error,
    ...(typeof fields.code === "string"
      ? {
          socketError: {
            code: fields.code,
            syscall: typeof fields.syscall === "string" ? fields.syscall : undefined,
          },
        }
      : {}),
  });
}
