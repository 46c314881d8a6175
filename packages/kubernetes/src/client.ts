import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  type ConfigurationOptions,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type ResponseContext,
  ResponseContext as ResponseContextClass,
  SelfDecodingBody,
} from "@kubernetes/client-node";
import type { Logger } from "@tenure/core";
import { ClosedError, InvalidArgumentError } from "@tenure/core";
import { type AbortReason, type CallSite, mapKubernetesError } from "./errors.js";

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
}

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
  if (!inCluster && kubeconfigFile === "" && !existsSync(homeConfig)) {
    // loadFromDefault would quietly fall back to http://localhost:8080, which fails on first use.
    throw new InvalidArgumentError(
      "kubeConfig",
      `no Kubernetes configuration found: not in a pod, KUBECONFIG unset, no ${homeConfig}`,
      { backend, remedy: "pass `kubeConfig`, set KUBECONFIG, or run inside a pod" },
    );
  }
  try {
    if (inCluster) config.loadFromCluster();
    else config.loadFromDefault();
  } catch (error) {
    throw new InvalidArgumentError(
      "kubeConfig",
      `no usable Kubernetes configuration: ${error instanceof Error ? error.message : String(error)}`,
      { backend, cause: error, remedy: "pass `kubeConfig`, set KUBECONFIG, or run inside a pod" },
    );
  }
  if (config.getCurrentCluster() === null) {
    throw new InvalidArgumentError("kubeConfig", "the kubeconfig has no current cluster", {
      backend,
      remedy: "pass `kubeConfig`, set KUBECONFIG, or run inside a pod",
    });
  }
  return config;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Namespaces are DNS-1123 labels; checking here turns a confusing 404 into a clear error. */
export function validNamespace(namespace: string | undefined, backend: string): string {
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

export function validTimeout(value: number | undefined, field: string, fallback: number, backend: string) {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result <= 0) {
    throw new InvalidArgumentError(field, `must be a positive number, got ${String(value)}`, { backend });
  }
  return result;
}

/** The controls of one in-flight call: its combined signal, and why it fired. */
export interface CallControl {
  readonly signal: AbortSignal;
  reason(): AbortReason;
  dispose(): void;
}

/**
 * Runs API calls through a @kubernetes/client-node client with what the store contract asks for:
 * every call bounded by a timeout and abortable (the caller's signal, or close()), every failure a
 * TenureError, and `Warning` headers reported once per store, not once per request.
 */
export class CallRunner {
  readonly #backend: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #closed = new AbortController();
  readonly #warned = new Set<string>();

  constructor(backend: string, timeoutMs: number, logger: Logger | undefined) {
    this.#backend = backend;
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  get closed(): boolean {
    return this.#closed.signal.aborted;
  }

  close(): void {
    this.#closed.abort();
  }

  assertOpen(election: string, operation: string): void {
    if (this.closed) {
      throw new ClosedError("store closed", { backend: this.#backend, election, operation });
    }
  }

  /**
   * A signal that fires on the caller's signal, on close(), or after `timeoutMs` (when given), and
   * remembers which came first, so an abort is reported for what it was.
   */
  control(signal: AbortSignal | undefined, timeoutMs: number | undefined): CallControl {
    const controller = new AbortController();
    let why: AbortReason;
    const fire = (reason: AbortReason) => () => {
      if (why === undefined) why = reason;
      controller.abort();
    };
    const onAbort = fire("aborted");
    const onClose = fire("closed");
    const timer = timeoutMs === undefined ? undefined : setTimeout(fire("timeout"), timeoutMs);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#closed.signal.aborted) onClose();
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    return {
      signal: controller.signal,
      reason: () => why,
      dispose: () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#closed.signal.removeEventListener("abort", onClose);
      },
    };
  }

  /** Per-call options for a generated API method: our signal, and a look at the response. */
  options(signal: AbortSignal, post?: (response: ResponseContext) => ResponseContext): ConfigurationOptions {
    const middleware: ObservableMiddleware = {
      pre: (request) => {
        request.setSignal(signal);
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

  /** Runs one bounded call; any failure comes back as a TenureError. */
  async run<T>(
    site: CallSite,
    signal: AbortSignal | undefined,
    call: (options: ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    this.assertOpen(site.election, site.operation);
    const control = this.control(signal, this.#timeoutMs);
    try {
      if (control.signal.aborted) throw control.signal.reason;
      return await call(this.options(control.signal));
    } catch (error) {
      if (control.reason() === "closed") {
        throw new ClosedError("store closed", {
          backend: site.backend,
          election: site.election,
          operation: site.operation,
          cause: error,
        });
      }
      throw mapKubernetesError(error, site, control.reason(), this.#timeoutMs);
    } finally {
      control.dispose();
    }
  }

  /**
   * Opens a watch through the client's list call with `watch=true`: the request goes through the
   * client's own authentication and dispatcher, and the response body is taken as a stream before
   * the generated code would try to read it whole.
   */
  async openStream(
    site: CallSite,
    control: CallControl,
    call: (options: ConfigurationOptions) => Promise<unknown>,
  ): Promise<ReadableStream<Uint8Array>> {
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
    try {
      await call(this.options(control.signal, take));
    } catch (error) {
      throw mapKubernetesError(error, site, control.reason(), this.#timeoutMs);
    }
    if (stream === null) {
      throw mapKubernetesError(new Error("the watch answered without a body"), site, undefined, 0);
    }
    return stream;
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
