import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  type ConfigurationOptions,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  ResponseContext as ResponseContextClass,
  SelfDecodingBody,
} from "@kubernetes/client-node";
import type { Logger } from "@tenure/core";
import { InvalidArgumentError } from "@tenure/core";
import { boundedCall, type GiveUpReason, positiveMs } from "@tenure/core/adapter";
import { type CallSite, mapKubernetesError, siteContext } from "./errors.js";

/** Options shared by every Kubernetes lock. */
export interface KubernetesLockOptions {
  /** Namespace of the lock object. Default `"default"`. */
  readonly namespace?: string;
  /**
   * Where the apiserver is and how to authenticate. Default: the in-cluster service account when
   * running in a pod, else the usual kubeconfig (`KUBECONFIG`, then `~/.kube/config`).
   * Ignored for the API calls when `client` is passed.
   */
  readonly kubeConfig?: KubeConfig;
  /**
   * How long one API call may take before it fails with UNAVAILABLE (connection, TLS handshake,
   * answer). Default 5 000 ms. A watch uses it for opening the stream.
   */
  readonly requestTimeoutMs?: number;
  /** Where one-time notices go (for example the apiserver's deprecation warning for Endpoints). Default silent. */
  readonly logger?: Logger;
  /**
   * How long the apiserver keeps one watch stream open before the lock reopens it (from the last
   * resourceVersion seen, so no change is missed). Default 60 s.
   */
  readonly watchTimeoutSeconds?: number;
  /**
   * Lease lock: whether the store's watches share one watch of the namespace's Leases (filtered by
   * name in this process) instead of opening one stream per election. The shared watch needs
   * `watch` on leases in the namespace without resourceNames; where RBAC grants it on the lock's
   * names only, the apiserver answers 403, the store logs that once (warn) and watches per name.
   * `false` watches per name from the start (no refused request, no stream of other programs'
   * Leases in a namespace where they renew often). The annotation locks always watch per name.
   * Default true.
   */
  readonly sharedWatch?: boolean;
}

/** Resolved options of an object lock. */
export interface ObjectLockSettings {
  readonly namespace: string;
  readonly requestTimeoutMs: number;
  /** Whole seconds: the apiserver's `timeoutSeconds` is an integer. */
  readonly watchTimeoutSeconds: number;
  readonly logger: Logger | undefined;
  readonly sharedWatch: boolean;
}

/** Checks the options every Kubernetes lock shares, naming the option and the rule in the error. */
export function lockSettings(options: KubernetesLockOptions, backend: string): ObjectLockSettings {
  const context = { backend };
  const namespace = validNamespace(options.namespace, backend);
  const requestTimeoutMs = positiveMs("requestTimeoutMs", options.requestTimeoutMs, 5000, context);
  const watchTimeoutSeconds = positiveSeconds(
    "watchTimeoutSeconds",
    options.watchTimeoutSeconds,
    60,
    context,
  );
  return {
    namespace,
    requestTimeoutMs,
    watchTimeoutSeconds: Math.ceil(watchTimeoutSeconds),
    logger: options.logger,
    sharedWatch: sharedWatchOption(options.sharedWatch, context),
  };
}

function sharedWatchOption(value: unknown, context: { backend: string }): boolean {
  if (value === undefined) return true;
  if (typeof value !== "boolean") {
    throw new InvalidArgumentError("sharedWatch", `must be true or false, got ${String(value)}`, context);
  }
  return value;
}

/** A positive, finite number of seconds; `fallback` when undefined (the kit's `positiveMs`, in seconds). */
function positiveSeconds(
  field: string,
  value: unknown,
  fallback: number,
  context: { backend: string },
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(
      field,
      `must be a positive number of seconds, got ${String(value)}`,
      context,
    );
  }
  return value;
}

/** The connection pool a request goes through (undici's Dispatcher, as client-node types it). */
type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/**
 * How long one connection pool serves a store's calls. client-node builds a new pool (so a new TLS
 * connection) for every request; a store keeps the first and passes it on to its calls for this
 * long, then takes the next request's fresh pool, so client certificates and CAs rotated on disk
 * are picked up within this time.
 */
const CONNECTION_POOL_REUSE_MS = 60_000;

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * The default configuration: in a pod (the service-account token is mounted and the service
 * environment variables are set), the in-cluster config; elsewhere `loadFromDefault`, which reads
 * `KUBECONFIG` or `~/.kube/config`.
 */
export function defaultKubeConfig(backend: string): KubeConfig {
  const config = new KubeConfig();
  const inCluster =
    process.env.KUBERNETES_SERVICE_HOST !== undefined &&
    process.env.KUBERNETES_SERVICE_PORT !== undefined &&
    existsSync(SERVICE_ACCOUNT_TOKEN);
  const kubeconfigFile = process.env.KUBECONFIG ?? "";
  const homeConfig = join(homedir(), ".kube", "config");
  const remedy = "pass `kubeConfig`, set KUBECONFIG, or run inside a pod";
  if (!inCluster && kubeconfigFile === "" && !existsSync(homeConfig)) {
    // loadFromDefault would quietly fall back to http://localhost:8080, which fails on first use.
    throw new InvalidArgumentError(
      "kubeConfig",
      `no Kubernetes configuration found: not in a pod, KUBECONFIG unset, no ${homeConfig}`,
      { backend, remedy },
    );
  }
  try {
    if (inCluster) config.loadFromCluster();
    else config.loadFromDefault();
  } catch (error) {
    throw new InvalidArgumentError(
      "kubeConfig",
      `no usable Kubernetes configuration: ${error instanceof Error ? error.message : String(error)}`,
      { backend, cause: error, remedy },
    );
  }
  if (config.getCurrentCluster() === null) {
    throw new InvalidArgumentError("kubeConfig", "the kubeconfig has no current cluster", {
      backend,
      remedy,
    });
  }
  return config;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Namespaces are DNS-1123 labels; checking here turns a confusing 404 into a clear error. */
function validNamespace(namespace: string | undefined, backend: string): string {
  const value = namespace ?? "default";
  if (typeof value !== "string" || value.length > 63 || !NAMESPACE.test(value)) {
    throw new InvalidArgumentError(
      "namespace",
      `"${String(value)}" must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters`,
      { backend },
    );
  }
  return value;
}

/**
 * The API calls of one store, made through a @kubernetes/client-node client. Each is a
 * {@link boundedCall} (the request timeout, the caller's signal and the store closing, whichever
 * comes first), each failure is mapped by {@link mapKubernetesError}, and the apiserver's `Warning`
 * headers are logged once per store, not once per request.
 */
export class ApiCalls {
  readonly #backend: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger | undefined;
  /** The store's closing signal (StoreLifecycle.signal): a call in flight then rejects with CLOSED. */
  readonly #closing: AbortSignal;
  readonly #warned = new Set<string>();
  /** The connection pool this store's calls share, and when it was taken into use. */
  #pool: { readonly dispatcher: Dispatcher; readonly sinceMs: number } | undefined;

  constructor(backend: string, timeoutMs: number, logger: Logger | undefined, closing: AbortSignal) {
    this.#backend = backend;
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
    this.#closing = closing;
    closing.addEventListener("abort", () => this.#retire(this.#pool?.dispatcher), { once: true });
  }

  /** Runs one call of a generated API method, bounded by the request timeout. */
  run<T>(
    site: CallSite,
    signal: AbortSignal | undefined,
    call: (options: ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    return boundedCall(this.#limits(site, signal, this.#timeoutMs), (callSignal) =>
      call(this.#options(callSignal)),
    );
  }

  /**
   * Opens a watch through the client's list call with `watch=true`: the request goes through the
   * client's own authentication and dispatcher, and the response body is taken as a stream before
   * the generated code would try to read it whole. Opening is bounded by `timeoutMs`; the stream
   * then lives until `signal` aborts or the store closes.
   */
  openStream(
    site: CallSite,
    signal: AbortSignal,
    timeoutMs: number,
    call: (options: ConfigurationOptions) => Promise<unknown>,
  ): Promise<ReadableStream<Uint8Array>> {
    return boundedCall(this.#limits(site, signal, timeoutMs), async (callSignal) => {
      let stream: ReadableStream<Uint8Array> | null = null;
      const take = (response: ResponseContext): ResponseContext => {
        if (response.httpStatusCode !== 200) return response;
        stream = response.body.stream();
        // The generated code parses the body as a list; give it an empty one.
        return new ResponseContextClass(
          200,
          response.headers,
          new SelfDecodingBody(Promise.resolve(Buffer.from("{}"))),
        );
      };
      // The opening's signal ends with the call; the body's must last as long as the stream.
      await call(this.#options(AbortSignal.any([callSignal, signal, this.#closing]), take));
      if (stream === null) throw new Error("the watch answered without a body");
      return stream;
    });
  }

  #limits(site: CallSite, signal: AbortSignal | undefined, timeoutMs: number) {
    return {
      timeoutMs,
      signal,
      closing: this.#closing,
      context: siteContext(site),
      // A call that got no answer in time, or failed on the connection, may have been on a dead
      // connection (a blackholed or restarted peer): later calls start on fresh ones.
      onGiveUp: (reason: GiveUpReason) => {
        if (reason === "timeout") this.#dropPool();
      },
      mapError: (error: unknown) => {
        const mapped = mapKubernetesError(error, site);
        if (mapped.code === "UNAVAILABLE") this.#dropPool();
        return mapped;
      },
    };
  }

  /** Retires the shared connection pool: the next call takes a fresh one. */
  #dropPool(): void {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#retire(pool?.dispatcher);
  }

  /** Per-call options for a generated API method: our signal, and a look at the response. */
  #options(signal: AbortSignal, post?: (response: ResponseContext) => ResponseContext): ConfigurationOptions {
    const middleware: ObservableMiddleware = {
      pre: (request) => {
        request.setSignal(signal);
        this.#sharePool(request);
        return new Observable(Promise.resolve(request));
      },
      post: (response) => {
        const warning = response.headers.warning;
        if (warning !== undefined) this.#warn(warning);
        return new Observable(Promise.resolve(post === undefined ? response : post(response)));
      },
    };
    // "append" keeps the client's own middleware (its User-Agent, anything the user added).
    return { middleware: [middleware], middlewareMergeStrategy: "append" };
  }

  /**
   * Sends `request` through the store's shared connection pool instead of the fresh one the client
   * built for it (see {@link CONNECTION_POOL_REUSE_MS}): one TLS handshake per connection, not per
   * call. Without it, a process renewing 1,000 elections opened hundreds of TLS connections a
   * second. A request the client sends without a pool of its own (plain HTTP, or TLS with only
   * the system's CAs) keeps Node's shared one.
   */
  #sharePool(request: RequestContext): void {
    const fresh = request.getDispatcher();
    if (fresh === undefined || this.#closing.aborted) return;
    const nowMs = performance.now();
    const pool = this.#pool;
    if (pool !== undefined && nowMs - pool.sinceMs < CONNECTION_POOL_REUSE_MS) {
      request.setDispatcher(pool.dispatcher);
      // The fresh pool never connected: nothing to close.
      return;
    }
    this.#pool = { dispatcher: fresh, sinceMs: nowMs };
    this.#retire(pool?.dispatcher);
  }

  /** Closes a pool once the calls and streams still using it are over. */
  #retire(dispatcher: Dispatcher | undefined): void {
    dispatcher?.close().catch(() => {});
  }

  #warn(warning: string): void {
    // One line per distinct warning and store: the apiserver repeats it on every request.
    if (this.#warned.has(warning)) return;
    this.#warned.add(warning);
    this.#logger?.warn(`the apiserver warns: ${warning}`, { backend: this.#backend, warning });
  }
}

/** Splits a watch stream into its JSON lines. */
export async function* jsonLines(
  stream: ReadableStream<Uint8Array>,
  onChunk: () => void,
): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    onChunk();
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line !== "") yield JSON.parse(line) as unknown;
      newline = buffer.indexOf("\n");
    }
  }
  const rest = (buffer + decoder.decode()).trim();
  if (rest !== "") yield JSON.parse(rest) as unknown;
}
