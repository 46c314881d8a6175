import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import type Consul from "consul";

/**
 * The few Consul HTTP calls the store makes, through the user's `consul` client, with what the
 * client's type declarations leave out: per-call cancellation (papi's `ctx` event emitter), the raw
 * response (for `X-Consul-Index` and status codes) and the transaction wire format.
 */

/** Per-call settings sent with every request. */
export interface CallSettings {
  /** ACL token (`X-Consul-Token`); undefined leaves the client's default. */
  readonly token: string | undefined;
  /** Datacenter (`?dc=`); undefined leaves the client's default (the agent's datacenter). */
  readonly datacenter: string | undefined;
}

/** Read consistency of GETs: see the README's Safety section. */
export type ConsistencyMode = "default" | "consistent" | "stale";

/** One KV entry as the agent returns it (Value already base64-decoded by the client). */
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
  /** The transaction's error texts (`Errors[].What`) for a 409 from /v1/txn. */
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

/**
 * Options the `consul` client accepts at run time but does not declare: papi reads `ctx` (an
 * EventEmitter; emitting "cancel" aborts the request, `includeResponse` makes calls resolve
 * `[response, body]`), and the common options `token`, `dc`, `consistent`, `stale`, `index`, `wait`.
 */
interface RequestOptions {
  readonly ctx: EventEmitter & { includeResponse: boolean };
  readonly token?: string;
  readonly dc?: string;
  readonly consistent?: boolean;
  readonly stale?: boolean;
  readonly index?: string;
  readonly wait?: string;
}

/** One KV operation of /v1/txn in Consul's wire format (Value is base64). */
interface TxnKvOperation {
  readonly KV: {
    readonly Verb: "cas";
    readonly Key: string;
    readonly Value: string;
    readonly Index: number;
  };
}

/**
 * What `consul.transaction.create` really takes: the client sends the operations array as the JSON
 * body untouched, so it must already be in Consul's wire format (`{ KV: { Verb, Key, Value, Index } }`),
 * not the lower-case shape its declarations describe.
 */
interface TransactionApi {
  create(operations: readonly TxnKvOperation[], options: RequestOptions): Promise<unknown>;
}

/** Bounded, cancellable calls on one `consul` client. */
export class ConsulTransport {
  readonly #client: Consul;
  readonly #settings: CallSettings;
  readonly #consistency: ConsistencyMode;

  constructor(client: Consul, settings: CallSettings, consistency: ConsistencyMode) {
    this.#client = client;
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
    // A read changes nothing, so one that lost its connection before any answer may run again.
    return this.#call(timeoutMs, signal, connectionLost, async (ctx) => {
      const options: RequestOptions & { key: string } = {
        key,
        ctx,
        ...this.#common(),
        ...(consistency === "consistent" ? { consistent: true } : {}),
        ...(consistency === "stale" ? { stale: true } : {}),
        ...(block === undefined ? {} : { index: String(block.index), wait: `${block.waitMs}ms` }),
      };
      const result: unknown = await this.#client.kv.get(options);
      const [response, body] = splitResponse(result);
      return { entry: body === undefined ? null : parseEntry(body), index: consulIndex(response.headers) };
    });
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
    // A write runs again only if none of it reached the network (see `unsent`): a transaction that
    // did arrive may have committed, and running it again would report a lost race for a write that won.
    return this.#call(timeoutMs, signal, unsent, async (ctx) => {
      const operation: TxnKvOperation = {
        KV: { Verb: "cas", Key: key, Value: Buffer.from(value, "utf8").toString("base64"), Index: index },
      };
      const transactions: TransactionApi = this.#client.transaction as unknown as TransactionApi;
      const result = await transactions.create([operation], { ctx, ...this.#common() });
      const [, body] = splitResponse(result);
      const modifyIndex = txnModifyIndex(body);
      if (modifyIndex === undefined) {
        throw new TransportError(`unexpected transaction answer: ${JSON.stringify(body)}`, {
          reason: "response",
          status: 200,
        });
      }
      return modifyIndex;
    });
  }

  #common(): { token?: string; dc?: string } {
    return {
      ...(this.#settings.token === undefined ? {} : { token: this.#settings.token }),
      ...(this.#settings.datacenter === undefined ? {} : { dc: this.#settings.datacenter }),
    };
  }

  /**
   * Runs one request under a deadline and the caller's signal. Either cancels the HTTP request (so
   * no socket is left waiting) and rejects at once, without waiting for the client to notice.
   *
   * A request that fails because its connection is gone before any answer runs once more (within
   * the same deadline) when `mayRetry` allows it. The usual cause is a connection kept alive across
   * an outage that the agent or the network dropped meanwhile: the client reuses it and learns it is
   * dead only when it writes. The second attempt opens a new connection.
   */
  #call<T>(
    timeoutMs: number,
    signal: AbortSignal | undefined,
    mayRetry: (error: TransportError) => boolean,
    request: (ctx: RequestOptions["ctx"]) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let ctx = Object.assign(new EventEmitter(), { includeResponse: true });
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
          ctx.emit("cancel");
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
        request(ctx).then(
          (value) => finish(() => resolve(value)),
          (error: unknown) => {
            const failure = toTransportError(error);
            if (!settled && attempts < 2 && mayRetry(failure)) {
              ctx = Object.assign(new EventEmitter(), { includeResponse: true });
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

/** `[response, body]` from a call made with `includeResponse` (body undefined on 404 / empty). */
function splitResponse(result: unknown): [{ headers: IncomingHttpHeaders; statusCode: number }, unknown] {
  if (!Array.isArray(result) || !isResponse(result[0])) {
    throw new TransportError("the consul client answered without the HTTP response", { reason: "response" });
  }
  return [result[0], result[1]];
}

function isResponse(value: unknown): value is { headers: IncomingHttpHeaders; statusCode: number } {
  return (
    typeof value === "object" &&
    value !== null &&
    "headers" in value &&
    "statusCode" in value &&
    typeof value.statusCode === "number" &&
    typeof value.headers === "object"
  );
}

function consulIndex(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers["x-consul-index"];
  const text = Array.isArray(raw) ? raw[0] : raw;
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

function parseEntry(body: unknown): KvEntry {
  if (typeof body !== "object" || body === null) {
    throw new TransportError(`unexpected KV answer: ${JSON.stringify(body)}`, { reason: "response" });
  }
  const item = body as { Key?: unknown; Value?: unknown; ModifyIndex?: unknown };
  if (typeof item.Key !== "string" || typeof item.ModifyIndex !== "number") {
    throw new TransportError(`unexpected KV answer: ${JSON.stringify(body)}`, { reason: "response" });
  }
  return {
    key: item.Key,
    value: typeof item.Value === "string" ? item.Value : null,
    modifyIndex: item.ModifyIndex,
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

/** Classifies what the client threw: an HTTP answer (with status) or no answer at all. */
function toTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const fields = (typeof error === "object" && error !== null ? error : {}) as {
    message?: unknown;
    response?: { statusCode?: unknown; body?: unknown };
    isTimeout?: unknown;
    isAbort?: unknown;
    code?: unknown;
    syscall?: unknown;
  };
  const message = typeof fields.message === "string" ? fields.message : String(error);
  const status = fields.response?.statusCode;
  if (typeof status === "number") {
    return new TransportError(`HTTP ${status}: ${message}`, {
      status,
      txnErrors: txnErrorTexts(fields.response?.body),
      reason: "response",
      cause: error,
    });
  }
  return new TransportError(message, {
    reason: fields.isTimeout === true ? "timeout" : fields.isAbort === true ? "aborted" : "network",
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

function txnErrorTexts(body: unknown): string[] {
  if (typeof body !== "object" || body === null) return typeof body === "string" ? [body] : [];
  const errors = (body as { Errors?: unknown }).Errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((item: unknown) => {
    const what = typeof item === "object" && item !== null ? (item as { What?: unknown }).What : undefined;
    return typeof what === "string" ? [what] : [];
  });
}
