import type { LockStore } from "@tenure/core";
import type { FaultHook } from "./target.js";
import { type CutMode, TcpFaultProxy } from "./tcp-fault-proxy.js";

/**
 * The fault plumbing an adapter's conformance test needs, once: every store the suite opens talks to
 * the server through a {@link TcpFaultProxy} of its own, so the fault hook cuts exactly one candidate
 * off. An adapter's test file then reads:
 *
 * ```ts
 * const stores = new ProxiedStores(server, (address) => new MyStore({ address, requestTimeoutMs: 1000 }));
 * afterAll(() => stores.close());
 * describeConformance({ name: "mine", capabilities, createStore: () => stores.open(), faults: stores.faults, ... });
 * ```
 */
export class ProxiedStores {
  readonly #upstream: { readonly host: string; readonly port: number };
  readonly #open: (address: string) => LockStore | Promise<LockStore>;
  readonly #mode: CutMode;
  readonly #proxies = new Map<LockStore, TcpFaultProxy>();

  /**
   * @param upstream where the server listens.
   * @param open opens a store that connects to `address` (`127.0.0.1:<port>` of its proxy).
   * @param mode how an isolated store's link fails: `"blackhole"` (default: bytes dropped, calls hang
   *   until their time limit, the harder case) or `"reset"` (connections refused at once).
   */
  constructor(
    upstream: { readonly host: string; readonly port: number } | string,
    open: (address: string) => LockStore | Promise<LockStore>,
    mode: CutMode = "blackhole",
  ) {
    this.#upstream = typeof upstream === "string" ? hostPort(upstream) : upstream;
    this.#open = open;
    this.#mode = mode;
  }

  /** A new store behind a proxy of its own (the suite's `createStore`). */
  async open(): Promise<LockStore> {
    const proxy = await TcpFaultProxy.start(this.#upstream);
    const store = await this.#open(proxy.address);
    this.#proxies.set(store, proxy);
    return store;
  }

  /** The suite's fault hook: cuts and restores one store's proxy. */
  readonly faults: FaultHook = {
    isolate: async (store) => {
      this.#proxyOf(store).cut(this.#mode);
    },
    heal: async (store) => {
      this.#proxyOf(store).restore();
    },
  };

  /** Closes every proxy (after the suite: `afterAll`). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#proxies.values()].map((proxy) => proxy.close()));
    this.#proxies.clear();
  }

  #proxyOf(store: LockStore): TcpFaultProxy {
    const proxy = this.#proxies.get(store);
    if (proxy === undefined) throw new Error("this store was not opened through ProxiedStores.open()");
    return proxy;
  }
}

/** `{ host, port }` of a URL or `host:port`. */
function hostPort(address: string): { host: string; port: number } {
  const url = new URL(address.includes("://") ? address : `tcp://${address}`);
  return { host: url.hostname, port: Number(url.port) };
}
