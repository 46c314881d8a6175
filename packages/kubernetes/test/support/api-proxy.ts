// A plain-HTTP reverse proxy in front of the real apiserver that counts watch requests and can cut
// them: shared by the watch tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

/**
 * A plain-HTTP reverse proxy in front of the apiserver, authenticating upstream with the admin's
 * client certificate (as `kubectl proxy` does). It counts the watch requests that reach it and, when
 * `cutWatches` is set, forwards each watch but ends the response right after the apiserver's headers:
 * what a load balancer that cuts long requests, or an apiserver shutting down, does to a watch.
 */
export class ApiProxy {
  watchRequests = 0;
  /** The query of each watch request, in arrival order. */
  readonly watchQueries: URLSearchParams[] = [];
  cutWatches = false;
  readonly #server: Server;
  readonly #upstream: URL;
  readonly #tls: RequestOptions;

  private constructor(upstream: URL, tls: RequestOptions) {
    this.#upstream = upstream;
    this.#tls = tls;
    this.#server = createServer((request, response) => this.#forward(request, response));
  }

  /** Starts a proxy to the apiserver of `upstream`, authenticating with its credentials. */
  static async start(upstream: KubeConfig): Promise<ApiProxy> {
    const tls: RequestOptions = {};
    await upstream.applyToHTTPSOptions(tls);
    const proxy = new ApiProxy(new URL(upstream.getCurrentCluster()?.server ?? ""), tls);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** A KubeConfig that reaches the apiserver through this proxy, with no credentials of its own. */
  kubeConfig(): KubeConfig {
    const { port } = this.#server.address() as AddressInfo;
    const config = new KubeConfig();
    config.loadFromOptions({
      // client-node refuses plain http unless told that TLS is not wanted.
      clusters: [{ name: "proxy", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "anonymous" }],
      contexts: [{ name: "proxy", context: { cluster: "proxy", user: "anonymous" } }],
      currentContext: "proxy",
    });
    return config;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #forward(request: IncomingMessage, response: ServerResponse): void {
    const query = new URL(request.url ?? "/", "http://proxy").searchParams;
    const isWatch = query.get("watch") === "true";
    if (isWatch) {
      this.watchRequests += 1;
      this.watchQueries.push(query);
    }
    const upstream = httpsRequest(
      {
        ...this.#tls,
        host: this.#upstream.hostname,
        port: this.#upstream.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: this.#upstream.host },
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (isWatch && this.cutWatches && answer.statusCode === 200) {
          // The apiserver sends a watch's headers at once; end the response there, empty.
          response.end();
          answer.destroy();
          return;
        }
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.destroy());
    response.on("close", () => upstream.destroy());
    request.pipe(upstream);
  }
}
