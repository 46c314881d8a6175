import { TcpFaultProxy } from "@tenure/conformance";
import { type Snapshot, TenureError } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import type {} from "@tenure/testing/global-setup";
import { afterEach, describe, expect, inject, it } from "vitest";
import { closeProxy } from "./support.js";

const endpoint = inject("tenureServers").servers.etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");
const target = new URL(endpoint);

/** Settles a pending `next()` and returns its TenureError code, or what happened instead. */
async function outcome(next: Promise<IteratorResult<Snapshot | null>>): Promise<string> {
  try {
    const result = await next;
    return result.done === true ? "ended" : "yielded";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

/**
 * A watch must not outlive its connection silently: a follower whose watch hangs on a dead
 * connection would stop hearing about releases. These cases drop every byte between one store and
 * etcd (a blackhole, as a dead network path looks) and check the watch ends with UNAVAILABLE.
 */
describe("etcd: a watch on a dropped connection ends with UNAVAILABLE", () => {
  const requestTimeoutMs = 1000;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function isolatedWatch(name: string) {
    const proxy = await TcpFaultProxy.start({ host: target.hostname, port: Number(target.port) });
    const store = new EtcdLockStore({
      hosts: `http://${proxy.address}`,
      keyPrefix: "tenure-watch-faults/",
      requestTimeoutMs,
    });
    const abort = new AbortController();
    cleanups.push(async () => {
      abort.abort();
      await store.close();
      await closeProxy(proxy);
    });
    const stream = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    return { proxy, store, stream };
  }

  it("as soon as a call on the same store times out", async () => {
    const name = `call-${Date.now()}`;
    const { proxy, store, stream } = await isolatedWatch(name);
    const pending = outcome(stream.next());
    proxy.cut("blackhole");
    const started = performance.now();
    expect(await outcome(store.get(name).then(() => ({ done: false, value: null })))).toBe("UNAVAILABLE");
    expect(await pending).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(requestTimeoutMs + 1000);
  });

  it("by keepalive when nothing else is sent", async () => {
    const { proxy, stream } = await isolatedWatch(`idle-${Date.now()}`);
    const pending = outcome(stream.next());
    proxy.cut("blackhole");
    const started = performance.now();
    expect(await pending).toBe("UNAVAILABLE");
    // One keepalive period (10 s) plus its answer timeout (requestTimeoutMs), with slack.
    expect(performance.now() - started).toBeLessThan(10_000 + requestTimeoutMs + 3000);
  }, 30_000);
});
