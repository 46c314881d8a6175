import { Elector, TenureError } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import etcd3 from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type PrivateEtcd,
  type RawClient,
  rawClient,
  SERVER_START_TIMEOUT_MS,
  startPrivateEtcd,
} from "./support.js";

const record = {
  holderIdentity: "candidate-a",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:06Z",
  leaderTransitions: 1,
};

/** Settles `promise` and returns the TenureError it rejected with (failing if it did not). */
async function rejection(promise: Promise<unknown>): Promise<TenureError> {
  try {
    await promise;
  } catch (error) {
    if (TenureError.is(error)) return error;
    throw new Error(`rejected with something other than a TenureError: ${String(error)}`);
  }
  throw new Error("resolved, but a rejection was expected");
}

/**
 * etcd's own RBAC on a private server with auth enabled: a user whose role covers the key prefix
 * runs elections; one without gets PERMISSION_DENIED naming the operation, never a hang, never a
 * belief that it leads.
 */
describe("etcd: user/password auth and permissions", () => {
  const keyPrefix = "tenure/elections/";
  const users = {
    root: "root-password",
    elector: "elector-password",
    stranger: "stranger-password",
  } as const;
  let etcd: PrivateEtcd;
  let admin: RawClient;
  const stores: EtcdLockStore[] = [];

  function store(auth?: { username: string; password: string }): EtcdLockStore {
    const created = new EtcdLockStore({
      hosts: [...etcd.endpoints],
      keyPrefix,
      requestTimeoutMs: 2000,
      ...(auth === undefined ? {} : { auth }),
    });
    stores.push(created);
    return created;
  }

  beforeAll(async () => {
    etcd = await startPrivateEtcd("auth", { durable: false });
    const setup = rawClient(etcd.endpoints);
    try {
      await setup.user("root").create(users.root);
      await setup.role("root").create();
      await setup.user("root").addRole("root");
      // Least privilege: readwrite on the lock prefix and nothing else.
      await setup.role("tenure-elector").create();
      await setup
        .role("tenure-elector")
        .grant({ permission: "Readwrite", range: etcd3.Range.prefix(keyPrefix) });
      await setup.user("elector").create(users.elector);
      await setup.user("elector").addRole("tenure-elector");
      await setup.user("stranger").create(users.stranger);
      await setup.auth.authEnable({});
    } finally {
      setup.close();
    }
    admin = rawClient(etcd.endpoints, { username: "root", password: users.root });
  }, SERVER_START_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.allSettled(stores.map((created) => created.close()));
    admin?.close();
    await etcd?.stop();
  });

  it("lets a user whose role covers the prefix get, create, update and watch", async () => {
    const elector = store({ username: "elector", password: users.elector });
    const abort = new AbortController();
    const stream = elector.watch("granted", abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const created = await elector.create("granted", record);
    const updated = await elector.update("granted", { ...record, leaderTransitions: 2 }, created.version);
    expect((await elector.get("granted"))?.version).toBe(updated.version);
    expect((await stream.next()).value?.version).toBe(created.version);
    expect((await stream.next()).value?.version).toBe(updated.version);
    abort.abort();
    await stream.return?.();
    expect(JSON.parse((await admin.get(`${keyPrefix}granted`).string()) ?? "null")).toMatchObject({
      leaderTransitions: 2,
    });
  });

  it("answers PERMISSION_DENIED, naming the operation, to a user without a role on the prefix", async () => {
    const stranger = store({ username: "stranger", password: users.stranger });
    await admin.put(`${keyPrefix}held`).value(JSON.stringify(record));
    const version = (await admin.get(`${keyPrefix}held`).exec()).kvs[0]?.mod_revision ?? "";
    const abort = new AbortController();
    const cases: [string, () => Promise<unknown>][] = [
      ["get", () => stranger.get("held")],
      ["create", () => stranger.create("not-there", record)],
      ["update", () => stranger.update("held", record, version)],
      ["watch", () => stranger.watch("held", abort.signal)[Symbol.asyncIterator]().next()],
    ];
    for (const [operation, call] of cases) {
      const error = await rejection(call());
      expect(error.code, operation).toBe("PERMISSION_DENIED");
      expect(error.operation).toBe(operation);
      expect(error.message).toContain(operation);
      expect(error.message).toContain('etcd user "stranger"');
    }
    abort.abort();
    expect(await admin.get(`${keyPrefix}not-there`).string()).toBeNull();

    // An Elector on this store reports the refusal and never believes it leads.
    const elector = new Elector({
      store: stranger,
      name: "not-there",
      identity: "stranger",
      leaseDurationMs: 2000,
      renewDeadlineMs: 1400,
      retryPeriodMs: 300,
    });
    const refused = new Promise<TenureError>((resolve) => {
      const unsubscribe = elector.subscribe((event) => {
        if (event.type !== "store-error") return;
        unsubscribe();
        resolve(event.error);
      });
    });
    elector.start();
    try {
      expect((await refused).code).toBe("PERMISSION_DENIED");
      expect(elector.isLeader()).toBe(false);
    } finally {
      await elector.stop();
    }
    expect(await admin.get(`${keyPrefix}not-there`).string()).toBeNull();
  });

  it("answers PERMISSION_DENIED to a wrong password and to a client that sends no user", async () => {
    for (const [label, candidate] of [
      ["wrong password", store({ username: "elector", password: "not-the-password" })],
      ["no user", store()],
    ] as const) {
      const error = await rejection(candidate.get("anything"));
      expect(error.code, label).toBe("PERMISSION_DENIED");
      expect(error.message, label).toMatch(label === "no user" ? /auth enabled/ : /rejected the credentials/);
    }
  });
});
