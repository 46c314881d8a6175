import type { IncomingHttpHeaders } from "node:http";
import {
  type Answer,
  connectionLost,
  type Endpoint,
  type HttpRequest,
  sendWithOneRetry,
  TransportError,
  unsent,
} from "./http.js";

/**
 * The two calls the store makes, on Consul's documented HTTP API and nothing else: a KV read
 * (`GET /v1/kv/<key>`, https://developer.hashicorp.com/consul/api-docs/kv, with blocking queries,
 * https://developer.hashicorp.com/consul/api-docs/features/blocking) and a one-operation
 * transaction (`PUT /v1/txn`, https://developer.hashicorp.com/consul/api-docs/txn). Each reports
 * what the store's safety rules need: the `X-Consul-Index` header, the status, the transaction's
 * error texts. Each runs under the signal of the kit's `boundedCall` (see the store).
 */

/** Per-call settings sent with every request. */
export interface CallSettings {
  /** ACL token (`X-Consul-Token`); undefined sends none (the agent's default token applies). */
  readonly token: string | undefined;
  /** Datacenter (`?dc=`); undefined leaves the agent's own. */
  readonly datacenter: string | undefined;
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

/** A blocking query: answer when the key's index passes `index`, or after `waitMs`. */
export interface Blocking {
  readonly index: number;
  readonly waitMs: number;
}

/** The KV calls, on one Consul agent. */
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
    signal: AbortSignal,
    block?: Blocking,
    consistency: ConsistencyMode = this.#consistency,
  ): Promise<KvRead> {
    const query = this.#query();
    // `?consistent` and `?stale` are flags: Consul looks only at their presence.
    if (consistency === "consistent") query.set("consistent", "");
    if (consistency === "stale") query.set("stale", "");
    if (block !== undefined) {
      query.set("index", String(block.index));
      query.set("wait", `${block.waitMs}ms`);
    }
    // A read changes nothing, so one that lost its connection before any answer may run again.
    const request = {
      method: "GET",
      path: `/v1/kv/${encodeKey(key)}`,
      query,
      headers: this.#headers(),
    } as const;
    const answer = await sendWithOneRetry(this.#endpoint, request, signal, connectionLost);
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
  async casWrite(key: string, value: string, index: number, signal: AbortSignal): Promise<number> {
    const body = JSON.stringify([
      { KV: { Verb: "cas", Key: key, Value: Buffer.from(value, "utf8").toString("base64"), Index: index } },
    ]);
    const request: HttpRequest = {
      method: "PUT",
      path: "/v1/txn",
      query: this.#query(),
      headers: this.#headers(),
      body,
    };
    // A write runs again only if none of it reached the network (see `unsent`): a transaction that
    // did arrive may have committed, and running it again would report a lost race for a write that won.
    const answer = await sendWithOneRetry(this.#endpoint, request, signal, unsent);
    if (answer.status !== 200) throw statusError(answer);
    const modifyIndex = txnModifyIndex(parseJson(answer.body, "transaction"));
    if (modifyIndex === undefined) {
      throw new TransportError(`unexpected transaction answer: ${answer.body.slice(0, 200)}`, {
        reason: "response",
        status: 200,
      });
    }
    return modifyIndex;
  }

  #query(): URLSearchParams {
    const query = new URLSearchParams();
    if (this.#settings.datacenter !== undefined) query.set("dc", this.#settings.datacenter);
    return query;
  }

  #headers(): Record<string, string> {
    return this.#settings.token === undefined ? {} : { "X-Consul-Token": this.#settings.token };
  }
}

/** The key as a URL path: each segment percent-encoded, the slashes kept (Consul keys are paths). */
function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
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
