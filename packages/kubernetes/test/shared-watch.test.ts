// The Lease lock's watches share one watch of the namespace's Leases (namespace-watch.ts), counted at
// a proxy in front of the real apiserver: one watch request for many elections, each election still
// seeing its own changes in order; with sharedWatch: false, one request per election (the negative
// control: the same proxy counts every stream).
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LeaseLock } from "../src/index.js";
import { Admin, kubernetesServer } from "./kube-helpers.js";
import { ApiProxy } from "./support/api-proxy.js";

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
const stores: LeaseLock[] = [];
const proxies: ApiProxy[] = [];
const aborts: AbortController[] = [];

const ELECTIONS = 50;

function record(holderIdentity: string): LeaderRecord {
  return {
    holderIdentity,
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05.000000Z",
    renewTime: "2026-01-02T03:04:05.000000Z",
    leaderTransitions: 0,
  };
}

async function proxiedStore(sharedWatch?: boolean): Promise<{ proxy: ApiProxy; store: LeaseLock }> {
  const proxy = await ApiProxy.start(admin.config);
  proxies.push(proxy);
  const store = new LeaseLock({
    kubeConfig: proxy.kubeConfig(),
    namespace,
    requestTimeoutMs: 5000,
    ...(sharedWatch === undefined ? {} : { sharedWatch }),
  });
  stores.push(store);
  return { proxy, store };
}

function watch(store: LeaseLock, name: string): AsyncIterator<Snapshot | null> {
  const abort = new AbortController();
  aborts.push(abort);
  return store.watch(name, abort.signal)[Symbol.asyncIterator]();
}

/** Creates each election's Lease and updates it twice; every watch must report exactly these, in order. */
async function writeAll(writer: LeaseLock, names: readonly string[]): Promise<Snapshot[][]> {
  return Promise.all(
    names.map(async (name) => {
      const created = await writer.create(name, record(`${name}-a`));
      const second = await writer.update(name, record(`${name}-b`), created.version);
      const third = await writer.update(name, record(`${name}-c`), second.version);
      return [created, second, third];
    }),
  );
}

async function expectChanges(
  streams: readonly AsyncIterator<Snapshot | null>[],
  written: readonly Snapshot[][],
): Promise<void> {
  for (const [index, stream] of streams.entries()) {
    const seen: (Snapshot | null)[] = [];
    for (let change = 0; change < 3; change++) seen.push((await stream.next()).value ?? null);
    expect(seen.map((snapshot) => snapshot?.version)).toEqual(
      written[index]?.map((snapshot) => snapshot.version),
    );
    expect(seen.map((snapshot) => snapshot?.record?.holderIdentity)).toEqual(
      written[index]?.map((snapshot) => snapshot.record?.holderIdentity),
    );
  }
}

beforeAll(async () => {
  namespace = await admin.freshNamespace("shared-watch");
});
afterEach(() => {
  for (const abort of aborts.splice(0)) abort.abort();
});
afterAll(async () => {
  await Promise.allSettled(stores.map((store) => store.close()));
  await Promise.allSettled(proxies.map((proxy) => proxy.close()));
});

describe("kubernetes/lease: one namespace watch for a store's watches", () => {
  it(`runs ${ELECTIONS} watches over one stream, each seeing its own changes in order`, async () => {
    const { proxy, store } = await proxiedStore();
    const writer = new LeaseLock({ kubeConfig: admin.config, namespace });
    stores.push(writer);
    const names = Array.from({ length: ELECTIONS }, (_, index) => `shared-${index}`);
    const streams = names.map((name) => watch(store, name));
    for (const first of await Promise.all(streams.map((stream) => stream.next()))) {
      expect(first.value).toBeNull();
    }
    expect(store.sharingWatch).toBe(true);
    await expectChanges(streams, await writeAll(writer, names));
    // One stream, of the whole namespace: no fieldSelector.
    expect(proxy.watchRequests).toBe(1);
    expect(proxy.watchQueries[0]?.get("fieldSelector")).toBeNull();
  });

  it(`negative control: with sharedWatch false, ${ELECTIONS} watches are ${ELECTIONS} streams`, async () => {
    const { proxy, store } = await proxiedStore(false);
    const writer = new LeaseLock({ kubeConfig: admin.config, namespace });
    stores.push(writer);
    const names = Array.from({ length: ELECTIONS }, (_, index) => `apart-${index}`);
    const streams = names.map((name) => watch(store, name));
    await Promise.all(streams.map((stream) => stream.next()));
    await expectChanges(streams, await writeAll(writer, names));
    expect(store.sharingWatch).toBe(false);
    expect(proxy.watchRequests).toBeGreaterThanOrEqual(ELECTIONS);
    expect(new Set(proxy.watchQueries.map((query) => query.get("fieldSelector")))).toEqual(
      new Set(names.map((name) => `metadata.name=${name}`)),
    );
  });

  it("stops the stream when the last watch leaves, and starts a new one for the next", async () => {
    const { proxy, store } = await proxiedStore();
    const first = new AbortController();
    const stream = store.watch("comes-and-goes", first.signal)[Symbol.asyncIterator]();
    await stream.next();
    expect(store.sharingWatch).toBe(true);
    first.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(store.sharingWatch).toBe(false);
    const again = watch(store, "comes-and-goes");
    expect((await again.next()).value).toBeNull();
    expect(store.sharingWatch).toBe(true);
    expect(proxy.watchRequests).toBe(2);
  });

  it("breaks every watch on it with UNAVAILABLE when the stream ends early without an event", async () => {
    const { proxy, store } = await proxiedStore();
    proxy.cutWatches = true;
    const streams = ["cut-a", "cut-b"].map((name) => watch(store, name));
    await Promise.all(streams.map((stream) => stream.next()));
    const outcomes = await Promise.all(
      streams.map((stream) =>
        stream.next().then(
          () => "resolved",
          (error: unknown) => (error as { code?: string }).code,
        ),
      ),
    );
    expect(outcomes).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
    expect(proxy.watchRequests).toBe(1);
    expect(store.sharingWatch).toBe(false);
  });

  it("ends every watch on it when the store closes", async () => {
    const { store } = await proxiedStore();
    const streams = ["closing-a", "closing-b"].map((name) => watch(store, name));
    await Promise.all(streams.map((stream) => stream.next()));
    const outcomes = streams.map((stream) => stream.next());
    await store.close();
    expect(await Promise.all(outcomes)).toEqual([
      { done: true, value: undefined },
      { done: true, value: undefined },
    ]);
  });
});
