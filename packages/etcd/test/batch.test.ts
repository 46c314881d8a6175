import { randomBytes } from "node:crypto";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
// Brings in the type of inject("tenureServers"), declared by the harness's global setup.
import type {} from "@tenure/testing/global-setup";
import { afterAll, describe, expect, inject, it } from "vitest";

const endpoint = inject("tenureServers").servers.etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");
const hosts: string = endpoint;
const keyPrefix = `tenure-write-batch/${randomBytes(4).toString("hex")}/`;

function record(holder: string, token = 1): LeaderRecord {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: 2,
    acquireTime: "2026-11-29T00:00:00.000000Z",
    renewTime: "2026-11-29T00:00:00.000000Z",
    leaderTransitions: token,
  };
}

/**
 * Writes of many elections asked for in one turn of the event loop share one etcd transaction
 * (nested transactions), and each still commits or fails on its own version, as if sent alone.
 */
describe("etcd: requests of many elections in one transaction", () => {
  const stores: EtcdLockStore[] = [];
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
  });
  function open(maxRequestsPerTransaction?: number): EtcdLockStore {
    const store = new EtcdLockStore({
      hosts,
      keyPrefix,
      requestTimeoutMs: 3000,
      ...(maxRequestsPerTransaction === undefined ? {} : { maxRequestsPerTransaction }),
    });
    stores.push(store);
    return store;
  }

  it("updates in one turn commit at one revision; a stale version fails alone with CONFLICT", async () => {
    const store = open();
    const names = ["a", "b", "c", "d"].map((letter) => `mixed-${letter}`);
    const created = await Promise.all(names.map((name) => store.create(name, record("x"))));
    const writes = names.map((name, index) =>
      store.update(name, record("x", 2), index === 2 ? "1" : (created[index] as Snapshot).version),
    );
    const settled = await Promise.allSettled(writes);
    const versions = settled.map((outcome) =>
      outcome.status === "fulfilled" ? outcome.value.version : undefined,
    );
    expect(settled[2]).toMatchObject({ status: "rejected", reason: { code: "CONFLICT" } });
    const committed = versions.filter((version) => version !== undefined);
    expect(committed).toHaveLength(3);
    // One round trip: all three at the same revision, the stale write changed nothing.
    expect(new Set(committed).size).toBe(1);
    expect((await store.get(names[2] as string))?.version).toBe((created[2] as Snapshot).version);
    for (const [index, name] of names.entries()) {
      if (index !== 2) expect((await store.get(name))?.version).toBe(committed[0]);
    }
  });

  it("two writes of one key in one turn go in separate transactions: the second loses the race", async () => {
    const store = open();
    const created = await store.create("twice", record("x"));
    const settled = await Promise.allSettled([
      store.update("twice", record("first", 2), created.version),
      store.update("twice", record("second", 2), created.version),
    ]);
    expect(settled[0].status).toBe("fulfilled");
    expect(settled[1]).toMatchObject({ status: "rejected", reason: { code: "CONFLICT" } });
    expect((await store.get("twice"))?.record?.holderIdentity).toBe("first");
  });

  it("a full batch leaves at once: 5 updates at 2 per transaction take 3 revisions", async () => {
    const store = open(2);
    const names = [1, 2, 3, 4, 5].map((index) => `full-${index}`);
    const created: Snapshot[] = [];
    for (const name of names) created.push(await store.create(name, record("x")));
    const snapshots = await Promise.all(
      names.map((name, index) => store.update(name, record("x", 2), (created[index] as Snapshot).version)),
    );
    const revisions = snapshots.map((snapshot) => snapshot.version);
    expect(new Set(revisions).size).toBe(3);
    expect(revisions[0]).toBe(revisions[1]);
    expect(revisions[2]).toBe(revisions[3]);
    expect(revisions[4]).not.toBe(revisions[3]);
  });

  it("maxRequestsPerTransaction 1 sends each write alone", async () => {
    const store = open(1);
    const names = [1, 2, 3].map((index) => `alone-${index}`);
    const created: Snapshot[] = [];
    for (const name of names) created.push(await store.create(name, record("x")));
    const snapshots = await Promise.all(
      names.map((name, index) => store.update(name, record("x", 2), (created[index] as Snapshot).version)),
    );
    expect(new Set(snapshots.map((snapshot) => snapshot.version)).size).toBe(3);
  });

  it.each([0, 128, 1.5, "10"])(
    "rejects maxRequestsPerTransaction %j, naming the field and the rule",
    (value) => {
      expect(() => new EtcdLockStore({ hosts, maxRequestsPerTransaction: value as number })).toThrow(
        expect.objectContaining({
          code: "INVALID_ARGUMENT",
          field: "maxRequestsPerTransaction",
          message: expect.stringContaining("must be an integer from 1 to 127"),
        }),
      );
    },
  );
});
