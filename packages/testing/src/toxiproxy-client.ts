// A small client of Toxiproxy's HTTP API (https://github.com/Shopify/toxiproxy#http-api): proxies
// between one client and a real server, cut, blackholed or slowed on command. Used by tests and by
// the fault campaign, which give every candidate its own proxy so a fault hits exactly one.

/** Which way a toxic acts: on bytes to the server (`upstream`) or back to the client (`downstream`). */
export type ToxicStream = "upstream" | "downstream";

/** A toxic as Toxiproxy takes it. */
export interface Toxic {
  readonly name: string;
  /** `latency`, `timeout`, `bandwidth`, `slicer`, `limit_data`, `reset_peer`, … */
  readonly type: string;
  readonly stream: ToxicStream;
  /** Probability that a connection is affected, 0..1. Default 1. */
  readonly toxicity?: number;
  readonly attributes: Readonly<Record<string, number>>;
}

/** The Toxiproxy API at `url` (for example `http://127.0.0.1:8474`). */
export class ToxiproxyClient {
  readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  /** Creates (or replaces) a proxy on a free loopback port forwarding to `upstream` (`host:port`). */
  async createProxy(name: string, upstream: string): Promise<ToxiproxyProxy> {
    await this.#request("DELETE", `/proxies/${encodeURIComponent(name)}`, undefined, [204, 404]);
    const created = (await this.#request(
      "POST",
      "/proxies",
      { name, listen: "127.0.0.1:0", upstream, enabled: true },
      [201],
    )) as { listen: string };
    return new ToxiproxyProxy(this, name, created.listen, upstream);
  }

  /** @internal One API call; throws with Toxiproxy's answer when the status is not expected. */
  async request(method: string, path: string, body: unknown, expected: readonly number[]): Promise<unknown> {
    return this.#request(method, path, body, expected);
  }

  async #request(method: string, path: string, body: unknown, expected: readonly number[]): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!expected.includes(response.status)) {
      throw new Error(`Toxiproxy ${method} ${path}: ${response.status} ${text}`);
    }
    return text === "" ? undefined : (JSON.parse(text) as unknown);
  }
}

/** One proxy: `listen` is what the client connects to instead of the server. */
export class ToxiproxyProxy {
  readonly name: string;
  /** `127.0.0.1:<port>`: what the client connects to. */
  readonly listen: string;
  /** `host:port` of the server. */
  readonly upstream: string;
  readonly #client: ToxiproxyClient;

  constructor(client: ToxiproxyClient, name: string, listen: string, upstream: string) {
    this.#client = client;
    this.name = name;
    this.listen = listen;
    this.upstream = upstream;
  }

  /** The listening port. */
  get port(): number {
    return Number(this.listen.slice(this.listen.lastIndexOf(":") + 1));
  }

  /** Cuts the link: open connections are closed and new ones refused (a crashed peer, a reset). */
  async disable(): Promise<void> {
    await this.#update({ enabled: false });
  }

  /** Restores a disabled link. */
  async enable(): Promise<void> {
    await this.#update({ enabled: true });
  }

  /**
   * Drops every byte both ways without closing anything (a partition: packets silently lost), until
   * {@link heal}. Connections stay open and hang, as they do when a network path dies.
   */
  async blackhole(): Promise<void> {
    for (const stream of ["upstream", "downstream"] as const) {
      await this.addToxic({
        name: `blackhole-${stream}`,
        type: "timeout",
        stream,
        attributes: { timeout: 0 },
      });
    }
  }

  /** Delays every byte by `latencyMs` ± `jitterMs` on the way given (default both ways). */
  async slow(latencyMs: number, jitterMs = 0, streams: readonly ToxicStream[] = ["upstream", "downstream"]) {
    for (const stream of streams) {
      await this.addToxic({
        name: `slow-${stream}`,
        type: "latency",
        stream,
        attributes: { latency: Math.round(latencyMs), jitter: Math.round(jitterMs) },
      });
    }
  }

  async addToxic(toxic: Toxic): Promise<void> {
    await this.#client.request(
      "POST",
      `/proxies/${encodeURIComponent(this.name)}/toxics`,
      { toxicity: 1, ...toxic },
      [200],
    );
  }

  async removeToxic(name: string): Promise<void> {
    await this.#client.request(
      "DELETE",
      `/proxies/${encodeURIComponent(this.name)}/toxics/${encodeURIComponent(name)}`,
      undefined,
      [204, 404],
    );
  }

  /** Removes every toxic and enables the proxy: the link works as if nothing happened. */
  async heal(): Promise<void> {
    const toxics = (await this.#client.request(
      "GET",
      `/proxies/${encodeURIComponent(this.name)}/toxics`,
      undefined,
      [200],
    )) as { name: string }[];
    for (const toxic of toxics) await this.removeToxic(toxic.name);
    await this.enable();
  }

  /** Deletes the proxy, closing its connections. */
  async delete(): Promise<void> {
    await this.#client.request("DELETE", `/proxies/${encodeURIComponent(this.name)}`, undefined, [204, 404]);
  }

  async #update(fields: Record<string, unknown>): Promise<void> {
    await this.#client.request(
      "POST",
      `/proxies/${encodeURIComponent(this.name)}`,
      { upstream: this.upstream, listen: this.listen, ...fields },
      [200],
    );
  }
}
