import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { TcpFaultProxy } from "@tenure/conformance";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { encodeRecord, TenureError } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { addressOf, adminClient, sharedRedis } from "./servers.js";

const server = sharedRedis();
const admin = adminClient(server.url);
const keyPrefix = `store-${randomBytes(4).toString("hex")}`;
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((item) => item.close()));
});
afterAll(async () => {
  await admin.quit();
});

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "candidate-a",
    leaseDurationSeconds: 1.5,
    acquireTime: "2026-01-02T03:04:05.123Z",
    renewTime: "2026-01-02T03:04:06.456Z",
    leaderTransitions: 7,
    ...overrides,
  };
}

function election(label: string): string {
  return `${label}-${randomBytes(4).toString("hex")}`;
}

function open(options: ConstructorParameters<typeof RedisLockStore>[0] = {}): RedisLockStore {
  const store = new RedisLockStore({ url: server.url, keyPrefix, requestTimeoutMs: 1000, ...options });
  opened.push(store);
  return store;
}

async function proxied(options: ConstructorParameters<typeof RedisLockStore>[0] = {}) {
  const proxy = await TcpFaultProxy.start(addressOf(server.url));
  opened.push(proxy);
  return { proxy, store: open({ ...options, url: `redis://${proxy.address}` }) };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

function asNumber(version: string): bigint {
  expect(version).toMatch(/^[1-9][0-9]*$/);
  return BigInt(version);
}

describe("redis store: layout and versions", () => {
  it("keeps the record JSON and its version in one hash, with the election as the cluster hash tag", async () => {
    const store = open();
    const name = election("layout");
    const created = await store.create(name, record());
    const keys = store.keys(name);
    expect(keys).toEqual({
      lock: `${keyPrefix}:{${name}}:lock`,
      counter: `${keyPrefix}:{${name}}:version`,
      channel: `${keyPrefix}:{${name}}:changes`,
    });
    // A create raises the token to the version it writes (fencing across deletions).
    expect(created.record?.leaderTransitions).toBe(Number(created.version));
    expect(await admin.hgetall(keys.lock)).toEqual({
      record: encodeRecord({ ...record(), leaderTransitions: Number(created.version) }),
      version: created.version,
    });
    expect(await admin.get(keys.counter)).toBe(created.version);
    // Fractional lease durations round-trip: the store's granularity is 1 ms.
    expect((await store.get(name))?.record?.leaseDurationSeconds).toBe(1.5);
  });

  it("never reuses a version when the lock is deleted and created again (no ABA)", async () => {
    const store = open();
    const name = election("aba");
    const first = await store.create(name, record());
    const second = await store.update(name, record({ leaderTransitions: 8 }), first.version);
    await admin.del(store.keys(name).lock);
    // The counter outlives the lock: the store can tell it was deleted, and refuses a plain create.
    const tombstone = await store.get(name);
    expect(tombstone).toEqual({ version: `deleted-${second.version}`, record: null, deleted: true });
    expect(await codeOf(store.create(name, record({ leaderTransitions: 0 })))).toBe("CONFLICT");
    const third = await store.update(name, record({ leaderTransitions: 0 }), tombstone?.version ?? "");
    expect(asNumber(third.version)).toBeGreaterThan(asNumber(second.version));
    expect(third.record?.leaderTransitions).toBe(Number(third.version));
    for (const stale of [first.version, second.version]) {
      expect(await codeOf(store.update(name, record({ holderIdentity: "stale" }), stale))).toBe("CONFLICT");
    }
  });

  it("keeps versions increasing even when every key of the election is lost", async () => {
    const store = open();
    const name = election("data-loss");
    let snapshot = await store.create(name, record());
    for (let i = 0; i < 3; i++) snapshot = await store.update(name, record(), snapshot.version);
    const keys = store.keys(name);
    // What a restart without persistence or a FLUSHALL does to this election.
    await admin.del(keys.lock, keys.counter);
    const recreated = await store.create(name, record());
    expect(asNumber(recreated.version)).toBeGreaterThan(asNumber(snapshot.version));
    expect(await codeOf(store.update(name, record(), snapshot.version))).toBe("CONFLICT");
  });
});

describe("redis store: values written by other programs", () => {
  it("reads a key of another type as corrupt, and replaces it with a compare-and-swap", async () => {
    const store = open();
    const name = election("wrong-type");
    await admin.set(store.keys(name).lock, "some string");
    const snapshot = await store.get(name);
    expect(snapshot?.record).toBeNull();
    expect(snapshot?.corruption).toMatch(/Redis string/);
    const repaired = await store.update(
      name,
      record({ holderIdentity: "repairer" }),
      snapshot?.version ?? "",
    );
    expect(await admin.hget(store.keys(name).lock, "record")).toBe(
      encodeRecord(record({ holderIdentity: "repairer" })),
    );
    expect((await store.get(name))?.version).toBe(repaired.version);
  });

  it("reads an undecodable record under a valid version as corrupt", async () => {
    const store = open();
    const name = election("bad-json");
    const created = await store.create(name, record());
    await admin.hset(store.keys(name).lock, "record", '{"holderIdentity": 42}');
    const snapshot = await store.get(name);
    expect(snapshot).toMatchObject({ version: created.version, record: null });
    expect(snapshot?.corruption).toMatch(/holderIdentity/);
    await store.update(name, record({ holderIdentity: "repairer" }), created.version);
    expect((await store.get(name))?.record?.holderIdentity).toBe("repairer");
  });

  it("versions a record written by hand by its content, so a CAS on it fails once it changes", async () => {
    const store = open();
    const name = election("by-hand");
    const lock = store.keys(name).lock;
    await admin.hset(lock, "record", encodeRecord(record({ holderIdentity: "by-hand" })));
    const first = await store.get(name);
    expect(first?.record?.holderIdentity).toBe("by-hand");
    expect(first?.version).toMatch(/^raw-/);
    await admin.hset(lock, "record", encodeRecord(record({ holderIdentity: "by-hand-again" })));
    expect(await codeOf(store.update(name, record(), first?.version ?? ""))).toBe("CONFLICT");
    const second = await store.get(name);
    expect(second?.version).not.toBe(first?.version);
    const replaced = await store.update(name, record(), second?.version ?? "");
    expect(replaced.version).toMatch(/^[1-9][0-9]*$/);
  });
});

describe("redis store: failures are bounded", () => {
  it("rejects with UNAVAILABLE at once when nothing listens on the port", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
      });
    });
    const store = open({ url: `redis://127.0.0.1:${port}`, requestTimeoutMs: 3000 });
    const started = performance.now();
    expect(await codeOf(store.get(election("refused")))).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("rejects with UNAVAILABLE within requestTimeoutMs when packets are dropped, then reconnects", async () => {
    const { proxy, store } = await proxied({ requestTimeoutMs: 400 });
    const name = election("blackhole");
    const created = await store.create(name, record());
    proxy.cut("blackhole");
    const started = performance.now();
    expect(await codeOf(store.update(name, record(), created.version))).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(400 + 300);
    proxy.restore();
    // The timed-out write may or may not have committed; a read tells, on a fresh connection.
    expect((await store.get(name))?.record?.holderIdentity).toBe("candidate-a");
  });

  it("honours the caller's abort signal, before and during a call", async () => {
    const { proxy, store } = await proxied({ requestTimeoutMs: 5000 });
    const name = election("abort");
    await store.create(name, record());
    expect(await codeOf(store.get(name, { signal: AbortSignal.abort() }))).toBe("UNAVAILABLE");
    proxy.cut("blackhole");
    const started = performance.now();
    expect(await codeOf(store.get(name, { signal: AbortSignal.timeout(100) }))).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("rejects a call still waiting for its answer with CLOSED when the store closes", async () => {
    const { proxy, store } = await proxied({ requestTimeoutMs: 5000 });
    const name = election("close-in-flight");
    await store.create(name, record());
    proxy.cut("blackhole");
    const started = performance.now();
    const pending = codeOf(store.get(name)).then((code) => ({ code, afterMs: performance.now() - started }));
    // close() itself may wait up to requestTimeoutMs for QUIT on the cut link; the call does not.
    const closing = store.close();
    expect(await pending).toEqual({ code: "CLOSED", afterMs: expect.any(Number) });
    expect((await pending).afterMs).toBeLessThan(1000);
    await closing;
  });

  it("bounds calls on a client passed in even when that client would wait forever", async () => {
    const proxy = await TcpFaultProxy.start(addressOf(server.url));
    opened.push(proxy);
    const client = new Redis(`redis://${proxy.address}`, { maxRetriesPerRequest: null });
    opened.push({ close: async () => client.disconnect() });
    const store = new RedisLockStore({ client, keyPrefix, requestTimeoutMs: 300 });
    opened.push(store);
    const name = election("user-client");
    await store.create(name, record());
    proxy.cut("blackhole");
    const started = performance.now();
    expect(await codeOf(store.get(name))).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("redis store: a client passed in", () => {
  it("is used as is and left open by close(); its watches run on a duplicate", async () => {
    const client = new Redis(server.url);
    opened.push({ close: async () => void (await client.quit()) });
    const store = new RedisLockStore({ client, keyPrefix });
    const name = election("user-client");
    const abort = new AbortController();
    const stream = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const created = await store.create(name, record());
    expect(((await stream.next()).value as Snapshot | null)?.version).toBe(created.version);
    abort.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    await store.close();
    expect(client.status).toBe("ready");
    expect(await client.hget(`${keyPrefix}:{${name}}:lock`, "version")).toBe(created.version);
    expect(await codeOf(store.get(name))).toBe("CLOSED");
  });

  it("lets any number of calls wait for its connection on one set of listeners", async () => {
    const client = new Redis(server.url, { lazyConnect: true });
    opened.push({ close: async () => void client.disconnect() });
    const store = new RedisLockStore({ client, keyPrefix });
    const before = client.listenerCount("ready");
    const reads = Array.from({ length: 50 }, (_, index) => store.get(election(`waiting-${index}`)));
    // 50 calls wait for the connection: one listener each would pass Node's limit of 10 and warn.
    expect(client.listenerCount("ready") - before).toBe(1);
    expect(client.listenerCount("end")).toBeLessThanOrEqual(1);
    expect(await Promise.all(reads)).toEqual(Array.from({ length: 50 }, () => null));
    expect(client.listenerCount("ready")).toBe(before);
  });

  it("does not send a call given up while it waited for the connection", async () => {
    const client = new Redis(server.url, { lazyConnect: true });
    opened.push({ close: async () => void client.disconnect() });
    const store = new RedisLockStore({ client, keyPrefix });
    const name = election("given-up");
    const abort = new AbortController();
    const write = store.create(name, record(), { signal: abort.signal });
    abort.abort();
    expect(await codeOf(write)).toBe("UNAVAILABLE");
    await store.get(election("after-give-up")); // the connection is up now
    expect(await store.get(name)).toBeNull();
  });

  it("rejects bad options with INVALID_ARGUMENT naming the field", () => {
    const cases: [ConstructorParameters<typeof RedisLockStore>[0], string][] = [
      [{ keyPrefix: "te{nure}" }, "keyPrefix"],
      [{ requestTimeoutMs: 0 }, "requestTimeoutMs"],
      [{ requestTimeoutMs: Number.NaN }, "requestTimeoutMs"],
      [{ watchHeartbeatMs: -1 }, "watchHeartbeatMs"],
      [{ url: server.url, host: "127.0.0.1" }, "url"],
      [{ client: new Redis({ lazyConnect: true }), url: server.url }, "client"],
    ];
    for (const [options, field] of cases) {
      expect(() => new RedisLockStore(options), JSON.stringify(Object.keys(options ?? {}))).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT", field }),
      );
    }
  });
});

describe("redis store: watch", () => {
  it("breaks with UNAVAILABLE when its connection is reset, since messages may have been lost", async () => {
    const { proxy, store } = await proxied();
    const name = election("watch-reset");
    const stream = store.watch(name, new AbortController().signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const pending = stream.next();
    proxy.cut("reset");
    expect(await codeOf(pending)).toBe("UNAVAILABLE");
  });

  it("stays open across heartbeats while the link is healthy", async () => {
    const store = open({ watchHeartbeatMs: 50 });
    const writer = open();
    const name = election("watch-heartbeat");
    const abort = new AbortController();
    const stream = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const next = stream.next();
    // No event marks a heartbeat; let several pass (each a PING answered on the subscription).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const created = await writer.create(name, record());
    expect(((await next).value as Snapshot | null)?.version).toBe(created.version);
    abort.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it("notices a silently dead link through its heartbeat", async () => {
    const { proxy, store } = await proxied({ requestTimeoutMs: 300, watchHeartbeatMs: 200 });
    const stream = store
      .watch(election("watch-blackhole"), new AbortController().signal)
      [Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const pending = stream.next();
    const started = performance.now();
    proxy.cut("blackhole");
    expect(await codeOf(pending)).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(200 + 300 + 1000);
  });

  it("ends open watches on close, and refuses new ones", async () => {
    const store = open();
    const name = election("watch-close");
    const stream = store.watch(name, new AbortController().signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const outcome = codeOf(stream.next());
    await store.close();
    expect(await outcome).toBe("CLOSED");
    expect(await codeOf(store.watch(name, new AbortController().signal)[Symbol.asyncIterator]().next())).toBe(
      "CLOSED",
    );
  });
});
