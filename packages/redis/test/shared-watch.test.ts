/**
 * The store's watches share one subscriber connection (subscriber.ts), counted where it matters: in
 * Redis's own CLIENT LIST, by the connection name each test gives its stores.
 */
import { randomBytes } from "node:crypto";
import { TcpFaultProxy } from "@tenure/conformance";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { TenureError } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { addressOf, adminClient, sharedRedis } from "./servers.js";

const server = sharedRedis();
const admin = adminClient(server.url);
const keyPrefix = `shared-${randomBytes(4).toString("hex")}`;
const opened: { close(): Promise<void> }[] = [];
const aborts: AbortController[] = [];

afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort();
  await Promise.allSettled(opened.splice(0).map((item) => item.close()));
});
afterAll(async () => {
  await admin.quit();
});

function record(holderIdentity: string, leaderTransitions = 1): LeaderRecord {
  return {
    holderIdentity,
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:04:05.123Z",
    renewTime: "2026-01-02T03:04:06.456Z",
    leaderTransitions,
  };
}

function open(options: ConstructorParameters<typeof RedisLockStore>[0] = {}): RedisLockStore {
  const store = new RedisLockStore({ url: server.url, keyPrefix, requestTimeoutMs: 2000, ...options });
  opened.push(store);
  return store;
}

function watch(store: RedisLockStore, name: string): AsyncIterator<Snapshot | null> {
  const abort = new AbortController();
  aborts.push(abort);
  return store.watch(name, abort.signal)[Symbol.asyncIterator]();
}

/** The connections named `name` that hold subscriptions, as Redis lists them: one `sub` count each. */
async function subscriberConnections(name: string): Promise<number[]> {
  const list = String(await admin.call("CLIENT", "LIST"));
  return list
    .split("\n")
    .map((line) => Object.fromEntries(line.split(" ").map((field) => field.split("=", 2))))
    .filter((fields) => fields.name === name && Number(fields.sub) > 0)
    .map((fields) => Number(fields.sub));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

const WATCHES = 200;

describe("redis store: watches share one subscriber connection", () => {
  it(`runs ${WATCHES} watches over one connection, each seeing its own changes in order`, async () => {
    const connectionName = `shared-${randomBytes(3).toString("hex")}`;
    const store = open({ connectionName });
    const writer = open();
    const names = Array.from(
      { length: WATCHES },
      (_, index) => `many-${index}-${randomBytes(3).toString("hex")}`,
    );
    const streams = names.map((name) => watch(store, name));
    // Every first state is read after its channel's SUBSCRIBE was confirmed.
    for (const first of await Promise.all(streams.map((stream) => stream.next()))) {
      expect(first.value).toBeNull();
    }
    expect(await subscriberConnections(connectionName)).toEqual([WATCHES]);
    expect(store.watchConnections).toBe(1);

    const written = await Promise.all(
      names.map(async (name) => {
        const created = await writer.create(name, record(`${name}-a`));
        const second = await writer.update(name, record(`${name}-b`, 2), created.version);
        const third = await writer.update(name, record(`${name}-c`, 3), second.version);
        return [created, second, third];
      }),
    );
    for (const [index, stream] of streams.entries()) {
      const seen: (Snapshot | null)[] = [];
      for (let change = 0; change < 3; change++) seen.push((await stream.next()).value ?? null);
      expect(seen).toEqual(written[index]);
    }
  });

  it(`negative control: ${WATCHES} stores' watches are ${WATCHES} connections in the same count`, async () => {
    // What the count above would say without sharing: one store per watch gives each watch a
    // subscriber connection of its own, as every watch had before the connection was shared.
    const connectionName = `apart-${randomBytes(3).toString("hex")}`;
    const streams = Array.from({ length: WATCHES }, (_, index) =>
      watch(open({ connectionName }), `apart-${index}-${randomBytes(3).toString("hex")}`),
    );
    await Promise.all(streams.map((stream) => stream.next()));
    const connections = await subscriberConnections(connectionName);
    expect(connections).toHaveLength(WATCHES);
    expect(connections.every((sub) => sub === 1)).toBe(true);
  });

  it("subscribes a channel once for its watches and unsubscribes it when the last leaves", async () => {
    const connectionName = `counted-${randomBytes(3).toString("hex")}`;
    const store = open({ connectionName });
    const writer = open();
    const [shared, other, later] = ["shared", "other", "later"].map(
      (label) => `${label}-${randomBytes(3).toString("hex")}`,
    );
    const first = new AbortController();
    const second = new AbortController();
    const a = store.watch(String(shared), first.signal)[Symbol.asyncIterator]();
    const b = store.watch(String(shared), second.signal)[Symbol.asyncIterator]();
    const c = watch(store, String(other));
    await Promise.all([a.next(), b.next(), c.next()]);
    expect(await subscriberConnections(connectionName)).toEqual([2]);

    // One watch of the channel leaves: the other still hears it.
    first.abort();
    expect(await a.next()).toEqual({ done: true, value: undefined });
    const created = await writer.create(String(shared), record("x"));
    expect((await b.next()).value).toEqual(created);

    // The last one leaves: the channel is unsubscribed. A watch opened after it is confirmed after
    // the UNSUBSCRIBE (one connection answers in order), so the count below is settled.
    second.abort();
    expect(await b.next()).toEqual({ done: true, value: undefined });
    const d = watch(store, String(later));
    await d.next();
    expect(await subscriberConnections(connectionName)).toEqual([2]);
    expect(store.watchConnections).toBe(1);
  });

  it("closes the connection when no watch uses it any more", async () => {
    const store = open();
    const abort = new AbortController();
    const stream = store
      .watch(`idle-${randomBytes(3).toString("hex")}`, abort.signal)
      [Symbol.asyncIterator]();
    await stream.next();
    expect(store.watchConnections).toBe(1);
    abort.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(store.watchConnections).toBe(0);
  });

  it("fails every watch on a broken connection with UNAVAILABLE, and the next watch opens a fresh one", async () => {
    const proxy = await TcpFaultProxy.start(addressOf(server.url));
    opened.push(proxy);
    const store = open({ url: `redis://${proxy.address}`, requestTimeoutMs: 1000 });
    const writer = open();
    const names = ["broken-a", "broken-b", "broken-c"].map(
      (label) => `${label}-${randomBytes(3).toString("hex")}`,
    );
    const streams = names.map((name) => watch(store, name));
    await Promise.all(streams.map((stream) => stream.next()));
    const pending = streams.map((stream) => codeOf(stream.next()));
    proxy.cut("reset");
    expect(await Promise.all(pending)).toEqual(["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
    expect(store.watchConnections).toBe(0);

    proxy.restore();
    const again = watch(store, String(names[0]));
    expect((await again.next()).value).toBeNull();
    expect(store.watchConnections).toBe(1);
    const created = await writer.create(String(names[0]), record("after"));
    expect((await again.next()).value).toEqual(created);
  });

  it("ends every open watch with CLOSED when the store closes", async () => {
    const store = open();
    const streams = ["closing-a", "closing-b"].map((label) =>
      watch(store, `${label}-${randomBytes(3).toString("hex")}`),
    );
    await Promise.all(streams.map((stream) => stream.next()));
    const outcomes = streams.map((stream) => codeOf(stream.next()));
    await store.close();
    expect(await Promise.all(outcomes)).toEqual(["CLOSED", "CLOSED"]);
    expect(store.watchConnections).toBe(0);
  });
});
