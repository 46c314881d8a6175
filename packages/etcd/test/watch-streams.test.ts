import type { Snapshot } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  metricSum,
  type PrivateEtcd,
  SERVER_START_TIMEOUT_MS,
  scrapeMetrics,
  startPrivateEtcd,
} from "./support.js";

/**
 * A store's watches share one gRPC Watch stream: etcd3 multiplexes every watcher of a client over
 * one bidirectional stream (watch IDs), and the store keeps one client. Counted by etcd itself, on
 * a private server nothing else talks to: Watch streams it accepted, and the watchers on them.
 */
describe("etcd: a store's watches share one Watch stream", () => {
  const WATCHES = 100;
  let etcd: PrivateEtcd;
  const stores: EtcdLockStore[] = [];
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    etcd = await startPrivateEtcd("watch-streams", { durable: false });
  }, SERVER_START_TIMEOUT_MS);
  afterEach(async () => {
    for (const abort of aborts.splice(0)) abort.abort();
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  function open(): EtcdLockStore {
    const store = new EtcdLockStore({ hosts: [...etcd.endpoints], requestTimeoutMs: 2000 });
    stores.push(store);
    return store;
  }

  function watch(store: EtcdLockStore, name: string): AsyncIterator<Snapshot | null> {
    const abort = new AbortController();
    aborts.push(abort);
    return store.watch(name, abort.signal)[Symbol.asyncIterator]();
  }

  /** Watch streams etcd accepted so far, and the watchers open now. */
  async function counts(): Promise<{ streams: number; watchers: number }> {
    const metrics = await scrapeMetrics(etcd.url);
    return {
      streams: metricSum(metrics, "grpc_server_started_total", { grpc_method: "Watch" }),
      watchers: metricSum(metrics, "etcd_debugging_mvcc_watcher_total"),
    };
  }

  it(`runs ${WATCHES} watches of one store over one stream, each seeing its own change`, async () => {
    const store = open();
    const writer = open();
    const before = await counts();
    const names = Array.from({ length: WATCHES }, (_, index) => `multiplexed-${index}`);
    const streams = names.map((name) => watch(store, name));
    for (const first of await Promise.all(streams.map((stream) => stream.next()))) {
      expect(first.value).toBeNull();
    }
    const during = await counts();
    expect(during.streams - before.streams).toBe(1);
    expect(during.watchers - before.watchers).toBe(WATCHES);
    const created = await Promise.all(
      names.map((name) =>
        writer.create(name, {
          holderIdentity: name,
          leaseDurationSeconds: 15,
          acquireTime: "2026-01-02T03:04:05.000Z",
          renewTime: "2026-01-02T03:04:05.000Z",
          leaderTransitions: 1,
        }),
      ),
    );
    for (const [index, stream] of streams.entries()) {
      expect((await stream.next()).value).toEqual(created[index]);
    }
  });

  it("negative control: watches of separate stores are one stream each in the same count", async () => {
    const before = await counts();
    const streams = Array.from({ length: 10 }, (_, index) => watch(open(), `apart-${index}`));
    await Promise.all(streams.map((stream) => stream.next()));
    const during = await counts();
    // The stream counter only grows; the watcher gauge may still be dropping the previous case's.
    expect(during.streams - before.streams).toBe(10);
  });
});
