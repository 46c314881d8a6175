import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { request as httpRequest } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { request as httpsRequest } from "node:https";
import type { SecureContextOptions } from "node:tls";

/**
 * The two calls the store makes, on Consul's documented HTTP API and nothing else: a KV read
 * (`GET /v1/kv/<key>`, https://developer.hashicorp.com/consul/api-docs/kv, with blocking queries,
 * https://developer.hashicorp.com/consul/api-docs/features/blocking) and a one-operation
 * transaction (`PUT /v1/txn`, https://developer.hashicorp.com/consul/api-docs/txn). Each call is
 * bounded by a deadline and the caller's signal, and reports what the store's safety rules need: the
 * `X-Consul-Index` header, the status, the transaction's error texts, and for a connection that
 * failed, the socket error's code and system call.
 */

/** Per-call settings sent with every request. */
export interface CallSettings {
  /** ACL token (`X-Consul-Token`); undefined sends none (the agent's default token applies). */
  readonly token: string | undefined;
  /** Datacenter (`?dc=`); undefined leaves the agent's own. */
  readonly datacenter: string | undefined;
}

/** Where the agent is and how to reach it. */
export interface Endpoint {
  /** `http:` or `https:`. */
  readonly protocol: "http:" | "https:";
  readonly host: string;
  readonly port: number;
  /** The connection pool: keep-alive, shared by every call of the store (or the user's own). */
  readonly agent: HttpAgent | HttpsAgent;
  /** TLS settings for HTTPS, sent with each request (an agent of the user's keeps its own too). */
  readonly tls: TlsSettings | undefined;
}

/** The TLS fields of Node's `https.request` the store passes on. */
export interface TlsSettings {
  readonly ca?: SecureContextOptions["ca"];
  readonly cert?: SecureContextOptions["cert"];
  readonly key?: SecureContextOptions["key"];
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

/** Read consistency of GETs: see the README's Safety section. */
export type ConsistencyMode = "default" | "consistent" | "stale";

/** One KV entry as the agent returns it, its Value decoded from base64 to text. */
export interface KvEntry {
  readonly key: string;
  readonly value: string | null;
  readonly modifyIndex: number;
}

/** The answer to a KV read: the entry (null when missing) and the index to block on next. */
export interface KvRead {
  readonly entry: KvEntry | null;
  /** `X-Consul-Index`, or undefined when the agent sent none. */
  readonly index: number | undefined;
}

/** A transport failure, before mapping to Tenure's codes. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  /** HTTP status when the agent answered, undefined when it did not (connection failure, timeout, abort). */
  readonly status: number | undefined;
  /** The transaction's error texts (`Errors[].What`) for a 409 from /v1/txn, or the body of another error. */
  readonly txnErrors: readonly string[];
  /** Why no answer came: the call's own deadline, the caller's signal, or the network. */
  readonly reason: "timeout" | "aborted" | "network" | "response";
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

/** The most a Consul answer to these calls can reasonably hold (a KV value is at most 512 KiB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** An HTTP answer: status, headers and the body as text. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Bounded, cancellable calls to one Consul agent. */
export class ConsulTransport {
  readonly #endpoint: Endpoint;
  readonly #settings: CallSettings;
  readonly #consistency: ConsistencyMode;

  constructor(endpoint: Endpoint, settings: CallSettings, consistency: ConsistencyMode) {
    this.#endpoint = endpoint;
    this.#settings = settings;
    this.#consistency = consistency;
  }

  /**
   * GET /v1/kv/<key>. With `block`, a blocking query: the agent answers when the key's index passes
   * `block.index` or after `block.waitMs` (plus Consul's jitter of up to wait/16). `consistency`
   * overrides the store's read mode for this read.
   */
  async readKey(
    key: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    block?: { readonly index: number; readonly waitMs: number },
    consistency: ConsistencyMode = this.#consistency,
  ): Promise<KvRead> {
    const query = new URLSearchParams();
    if (this.#settings.datacenter !== undefined) query.set("dc", this.#settings.datacenter);
    // `?consistent` and `?stale` are flags: Consul looks only at their presence.
    if (consistency === "consistent") query.set("consistent", "");
    if (consistency === "stale") query.set("stale", "");
    if (block !== undefined) {
      query.set("index", String(block.index));
      query.set("wait", `${block.waitMs}ms`);
    }
    // A read changes nothing, so one that lost its connection before any answer may run again.
    const answer = await this.#call(timeoutMs, signal, connectionLost, (attempt) =>
      this.#send("GET", `/v1/kv/${encodeKey(key)}`, query, undefined, attempt),
    );
    const index = consulIndex(answer.headers);
    // 404: no such key. Its X-Consul-Index still counts (blocking and the token floor use it).
    if (answer.status === 404) return { entry: null, index };
    if (answer.status !== 200) throw statusError(answer);
    return { entry: parseEntry(parseJson(answer.body, "KV")), index };
  }

  /**
   * PUT /v1/txn with one `cas` operation: writes `value` to `key` only if the key's ModifyIndex is
   * `index` (0: only if the key does not exist). Resolves with the new ModifyIndex; a lost CAS
   * rejects with a TransportError of status 409. A transaction (not PUT /v1/kv?cas=) because only
   * the transaction answers with the index it committed, so no read is needed to learn the version.
   */
  async casWrite(
    key: string,
    value: string,
    index: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const query = new URLSearchParams();
    if (this.#settings.datacenter !== undefined) query.set("dc", this.#settings.datacenter);
    const body = JSON.stringify([
      { KV: { Verb: "cas", Key: key, Value: Buffer.from(value, "utf8").toString("base64"), Index: index } },
    ]);
    // A write runs again only if none of it reached the network (see `unsent`): a transaction that
    // did arrive may have committed, and running it again would report a lost race for a write that won.
    const answer = await this.#call(timeoutMs, signal, unsent, (attempt) =>
      this.#send("PUT", "/v1/txn", query, body, attempt),
    );
    if (answer.status !== 200) throw statusError(answer);
    const parsed = parseJson(answer.body, "transaction");
    const modifyIndex = txnModifyIndex(parsed);
    if (modifyIndex === undefined) {
      throw new TransportError(`unexpected transaction answer: ${answer.body.slice(0, 200)}`, {
        reason: "response",
        status: 200,
      });
    }
    return modifyIndex;
  }

  /** One HTTP request; rejects with a TransportError of reason "network" if no answer arrives. */
  #send(
    method: "GET" | "PUT",
    path: string,
    query: URLSearchParams,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<Answer> {
    const { protocol, host, port, agent, tls } = this.#endpoint;
    const search = query.toString().replace(/=(?=&|$)/g, "");
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.#settings.token !== undefined) headers["X-Consul-Token"] = this.#settings.token;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }
    const options = {
      method,
      host,
      port,
      path: search === "" ? path : `${path}?${search}`,
      headers,
      agent,
      ...(protocol === "https:" && tls !== undefined ? tls : {}),
    };
    return new Promise<Answer>((resolve, reject) => {
      const request =
        protocol === "https:"
          ? httpsRequest({ ...options, agent: agent as HttpsAgent })
          : httpRequest({ ...options, agent: agent as HttpAgent });
      const onAbort = (): void => {
        request.destroy();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        outcome();
      };
      request.on("error", (error) => settle(() => reject(networkError(error))));
      request.on("response", (response: IncomingMessage) => {
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
      request.end(body);
    });
  }

  /**
   * Runs one request under a deadline and the caller's signal. Either cancels the HTTP request (so
   * no socket is left waiting) and rejects at once, without waiting for the socket to notice.
   *
   * A request that fails because its connection is gone before any answer runs once more (within
   * the same deadline) when `mayRetry` allows it. The usual cause is a connection kept alive across
   * an outage that the agent or the network dropped meanwhile: Node reuses it and learns it is dead
   * only when it writes. The second attempt opens a new connection.
   */
  #call<T>(
    timeoutMs: number,
    signal: AbortSignal | undefined,
    mayRetry: (error: TransportError) => boolean,
    request: (attempt: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let current = new AbortController();
      let settled = false;
      let attempts = 0;
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        outcome();
      };
      const cancel = (error: TransportError): void =>
        finish(() => {
          current.abort();
          reject(error);
        });
      const onAbort = (): void =>
        cancel(new TransportError("the call was aborted", { reason: "aborted", cause: signal?.reason }));
      const timer = setTimeout(
        () => cancel(new TransportError(`no answer within ${timeoutMs} ms`, { reason: "timeout" })),
        timeoutMs,
      );
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      const attempt = (): void => {
        attempts += 1;
        request(current.signal).then(
          (value) => finish(() => resolve(value)),
          (error: unknown) => {
            const failure =
              error instanceof TransportError
                ? error
                : new TransportError(String(error), { reason: "response", cause: error });
            if (!settled && attempts < 2 && mayRetry(failure)) {
              current = new AbortController();
              attempt();
              return;
            }
            finish(() => reject(failure));
          },
        );
      };
      attempt();
    });
  }
}

/** The key as a URL path: each segment percent-encoded, the slashes kept (Consul keys are paths). */
function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** Socket error codes of a connection the peer (or the network) has reset or closed. */
const CONNECTION_GONE = new Set(["ECONNRESET", "EPIPE"]);

/** The request's connection was reset or closed before any answer came. */
function connectionLost(error: TransportError): boolean {
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
function unsent(error: TransportError): boolean {
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

/** An answer other than success, with the transaction's error texts when the body carries them. */
function statusError(answer: Answer): TransportError {
  const text = answer.body.trim();
  let texts: string[] = text === "" ? [] : [text];
  try {
    const errors = (JSON.parse(text) as { Errors?: unknown }).Errors;
    if (Array.isArray(errors)) {
      texts = errors.flatMap((item: unknown) => {
        const what =
          typeof item === "object" && item !== null ? (item as { What?: unknown }).What : undefined;
        return typeof what === "string" ? [what] : [];
      });
    }
  } catch {
    // Not JSON: Consul answers most errors with plain text ("Permission denied", "rpc error: …").
  }
  const summary = texts.join("; ").slice(0, 300);
  return new TransportError(`HTTP ${answer.status}${summary === "" ? "" : `: ${summary}`}`, {
    status: answer.status,
    txnErrors: texts,
    reason: "response",
  });
}

function parseJson(body: string, what: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw new TransportError(`unexpected ${what} answer (not JSON): ${body.slice(0, 200)}`, {
      reason: "response",
      status: 200,
      cause: error,
    });
  }
}

function consulIndex(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers["x-consul-index"];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** The entry of a KV read's answer: a JSON array holding the one key asked for. */
function parseEntry(body: unknown): KvEntry | null {
  const item: unknown = Array.isArray(body) ? body[0] : body;
  if (item === undefined) return null;
  if (typeof item !== "object" || item === null) {
    throw new TransportError(`unexpected KV answer: ${JSON.stringify(body)}`, { reason: "response" });
  }
  const fields = item as { Key?: unknown; Value?: unknown; ModifyIndex?: unknown };
  if (typeof fields.Key !== "string" || typeof fields.ModifyIndex !== "number") {
    throw new TransportError(`unexpected KV answer: ${JSON.stringify(body)}`, { reason: "response" });
  }
  return {
    key: fields.Key,
    // Consul sends the value base64-encoded, or null for a key without one.
    value: typeof fields.Value === "string" ? Buffer.from(fields.Value, "base64").toString("utf8") : null,
    modifyIndex: fields.ModifyIndex,
  };
}

function txnModifyIndex(body: unknown): number | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const results = (body as { Results?: unknown }).Results;
  if (!Array.isArray(results)) return undefined;
  const first: unknown = results[0];
  if (typeof first !== "object" || first === null) return undefined;
  const kv = (first as { KV?: unknown }).KV;
  if (typeof kv !== "object" || kv === null) return undefined;
  const index = (kv as { ModifyIndex?: unknown }).ModifyIndex;
  return typeof index === "number" ? index : undefined;
}
