import type { Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

/** How a cut looks to the client: connections reset at once, or packets silently dropped. */
export type CutMode = "reset" | "blackhole";

/**
 * A TCP proxy on loopback between one client and a real server, which a test can cut and restore:
 * the fault hook most adapters need. Give each candidate's client its own proxy, so cutting one
 * leaves the others connected.
 */
export class TcpFaultProxy {
  readonly host = "127.0.0.1";
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Connections accepted while blackholed: held open, unanswered, until restore or close. */
  readonly #held = new Set<Socket>();
  #mode: CutMode | null = null;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  /** Starts a proxy on a free loopback port forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpFaultProxy> {
    const server = createServer();
    const proxy = new TcpFaultProxy(server, target);
    server.on("connection", (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  /** The port clients should connect to. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("proxy is not listening");
    return address.port;
  }

  /** `host:port` of the proxy. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Cuts the link: `reset` closes every connection and refuses new ones; `blackhole` drops all bytes. */
  cut(mode: CutMode = "reset"): void {
    this.#mode = mode;
    if (mode === "reset") {
      for (const [client, upstream] of this.#pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      this.#pairs.clear();
    }
  }

  /** Restores the link for new connections; blackholed connections stay dead, as after a real outage. */
  restore(): void {
    this.#dropHeld();
    if (this.#mode === "blackhole") {
      for (const [client, upstream] of this.#pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      this.#pairs.clear();
    }
    this.#mode = null;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#dropHeld();
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #dropHeld(): void {
    for (const client of this.#held) client.resetAndDestroy();
    this.#held.clear();
  }

  #accept(client: Socket): void {
    if (this.#mode !== null) {
      // While cut, new connections fail at once (reset) or hang unanswered (blackhole).
      client.on("error", () => {});
      if (this.#mode === "reset") {
        client.resetAndDestroy();
      } else {
        this.#held.add(client);
        client.on("data", () => {});
        client.on("close", () => this.#held.delete(client));
      }
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    // Reads no faster than the other side takes the bytes: a peer that stops reading (a client that
    // no longer consumes a response) stops the proxy reading from the other one, instead of every
    // byte it sends piling up in this process's memory.
    const forward = (from: Socket, to: Socket): void => {
      from.on("data", (chunk) => {
        if (this.#mode !== null || to.write(chunk) || from.isPaused()) return;
        from.pause();
        to.once("drain", () => from.resume());
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    const close = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  }
}
