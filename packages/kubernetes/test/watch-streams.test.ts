// How the watch treats the end of a stream, against the real apiserver behind a real HTTP proxy
// (issue item 5): a stream that ends at once without any event must not be reopened in a tight loop,
// while the normal end of an idle watch (its timeoutSeconds ran out) is reopened at once.
import type { KubeConfig } from "@kubernetes/client-node";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { Elector, TenureError } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLock } from "../src/index.js";
import { Admin, kubernetesServer } from "./kube-helpers.js";
import { ApiProxy } from "./support/api-proxy.js";

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
const proxies: ApiProxy[] = [];
const stores: LeaseLock[] = [];

const record: LeaderRecord = {
  holderIdentity: "watched",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 0,
};

/** Whether the stores of the running cases share a namespace watch (each case runs both ways). */
let sharedWatch = true;

function store(kubeConfig: KubeConfig, watchTimeoutSeconds?: number): LeaseLock {
  const lock = new LeaseLock({
    kubeConfig,
    namespace,
    requestTimeoutMs: 2000,
    sharedWatch,
    ...(watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds }),
  });
  stores.push(lock);
  return lock;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The next state a watch reports, or "late" when none comes within `ms`. */
async function nextWithin(
  iterator: AsyncIterator<Snapshot | null>,
  ms: number,
): Promise<IteratorResult<Snapshot | null> | "late"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      iterator.next(),
      new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function startProxy(): Promise<ApiProxy> {
  const proxy = await ApiProxy.start(admin.config);
  proxies.push(proxy);
  return proxy;
}

beforeAll(async () => {
  namespace = await admin.freshNamespace("watch");
});
afterAll(async () => {
  await Promise.allSettled(stores.map((lock) => lock.close()));
  await Promise.allSettled(proxies.map((proxy) => proxy.close()));
});

describe.each([
  ["one namespace watch shared by the store", true],
  ["one stream per election", false],
])("watch streams: %s", (_label, shared) => {
  beforeAll(() => {
    sharedWatch = shared;
  });

  it("treats a stream that ends at once without any event as a break: UNAVAILABLE, no tight loop of requests", async () => {
    const proxy = await startProxy();
    const name = `cut-watch-${shared}`;
    await store(admin.config).create(name, record);
    proxy.cutWatches = true;
    const abort = new AbortController();
    const iterator = store(proxy.kubeConfig()).watch(name, abort.signal)[Symbol.asyncIterator]();
    try {
      const first = await iterator.next(); // the current state, from a read
      expect(first.value?.record?.holderIdentity).toBe("watched");
      const started = performance.now();
      let failure: unknown;
      try {
        await nextWithin(iterator, 5000);
      } catch (error) {
        failure = error;
      }
      expect(TenureError.is(failure, "UNAVAILABLE"), String(failure)).toBe(true);
      expect((failure as Error).message).toContain("ended after");
      expect((failure as Error).message).toContain("without any event");
      expect(performance.now() - started).toBeLessThan(2000);
      // One watch request reached the proxy: the stream that ended was not reopened in a loop.
      await sleep(500);
      expect(proxy.watchRequests).toBe(1);
    } finally {
      abort.abort();
    }
  });

  it("leaves the pace of re-watching to the elector: one watch per retry period, not a loop", async () => {
    const proxy = await startProxy();
    const name = `cut-watch-elector-${shared}`;
    await store(admin.config).create(name, {
      ...record,
      holderIdentity: "someone-else",
      leaseDurationSeconds: 30,
    });
    proxy.cutWatches = true;
    const warnings: string[] = [];
    const elector = new Elector({
      store: store(proxy.kubeConfig()),
      name,
      identity: "follower",
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 300,
      logger: { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} },
    });
    elector.start();
    try {
      await sleep(2000);
      // About one watch per retry period (300 ms) over 2 s; the loop above made hundreds.
      expect(proxy.watchRequests).toBeGreaterThanOrEqual(2);
      expect(proxy.watchRequests).toBeLessThanOrEqual(10);
      expect(warnings.some((message) => message.includes("without any event"))).toBe(true);
      expect(elector.isLeader()).toBe(false);
    } finally {
      await elector.stop({ release: false });
    }
  });

  it("reopens a stream at once when its timeout ends it, and delivers the changes after it", async () => {
    const proxy = await startProxy();
    const name = `idle-watch-${shared}`;
    const writer = store(admin.config);
    let snapshot = await writer.create(name, record);
    const abort = new AbortController();
    // The apiserver ends each stream after 1 s; the watch outlives several of them.
    const iterator = store(proxy.kubeConfig(), 1).watch(name, abort.signal)[Symbol.asyncIterator]();
    try {
      const first = await iterator.next();
      expect(first.value?.version).toBe(snapshot.version);
      const pending = nextWithin(iterator, 10_000);
      await sleep(3500);
      // At least three streams ended by their timeout, each reopened at once, none reported as a break.
      expect(proxy.watchRequests).toBeGreaterThanOrEqual(3);
      expect(proxy.watchRequests).toBeLessThanOrEqual(5);
      snapshot = await writer.update(name, { ...record, holderIdentity: "changed" }, snapshot.version);
      const next = await pending;
      if (next === "late") throw new Error("the watch did not deliver the change");
      expect(next.value?.version).toBe(snapshot.version);
      expect(next.value?.record?.holderIdentity).toBe("changed");
    } finally {
      abort.abort();
    }
  });
});
