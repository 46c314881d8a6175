import { Elector } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type PrivateEtcd,
  type RawClient,
  rawClient,
  readRawLock,
  SERVER_START_TIMEOUT_MS,
  startPrivateEtcd,
} from "./support.js";

/**
 * Durability is part of safety: a lock (and its fencing token) that vanished in a restart would let
 * a second leader start with a token the first one already used. etcd fsyncs its Raft log before
 * acknowledging a write, so an acknowledged write must survive a restart.
 */
describe("etcd: durability across a server restart", () => {
  const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1400, retryPeriodMs: 300 };
  const keyPrefix = "tenure-durability/";
  let etcd: PrivateEtcd;
  let raw: RawClient;
  const stores: EtcdLockStore[] = [];
  const electors: Elector[] = [];

  beforeAll(async () => {
    etcd = await startPrivateEtcd("durability", { durable: true });
  }, SERVER_START_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.allSettled(electors.map((elector) => elector.stop({ release: false })));
    await Promise.allSettled(stores.map((store) => store.close()));
    raw?.close();
    await etcd?.stop();
  });

  function store(): EtcdLockStore {
    const created = new EtcdLockStore({ hosts: [...etcd.endpoints], keyPrefix, requestTimeoutMs: 1000 });
    stores.push(created);
    return created;
  }

  function elector(name: string, identity: string, own: EtcdLockStore): Elector {
    const created = new Elector({ store: own, name, identity, ...timing });
    electors.push(created);
    return created;
  }

  /** Resolves when `candidate` starts leading, with its fencing token. */
  function leads(candidate: Elector): Promise<number> {
    return new Promise((resolve) => {
      const unsubscribe = candidate.subscribe((event) => {
        if (event.type !== "started-leading") return;
        unsubscribe();
        resolve(event.fencingToken);
      });
    });
  }

  it("keeps the lock, its version and its leaderTransitions, and the next leader's token follows on", async () => {
    const name = "durable-lock";
    // Several terms first, so the token is well above its initial value.
    const first = elector(name, "first", store());
    let token = await Promise.all([leads(first), first.start()]).then(([started]) => started);
    await first.stop({ release: true });
    const second = elector(name, "second", store());
    token = await Promise.all([leads(second), second.start()]).then(([started]) => started);
    expect(token).toBeGreaterThan(0);
    // The leader dies without releasing: its record must outlive the restart.
    await second.stop({ release: false });
    raw = rawClient(etcd.endpoints);
    const before = await raw.get(`${keyPrefix}${name}`).exec();
    const beforeRecord = await readRawLock(raw, `${keyPrefix}${name}`);
    raw.close();

    // A store connected before the restart, to show the adapter reconnects by itself.
    const survivor = store();
    expect((await survivor.get(name))?.version).toBe(before.kvs[0]?.mod_revision);

    await etcd.restart();

    raw = rawClient(etcd.endpoints);
    const after = await raw.get(`${keyPrefix}${name}`).exec();
    expect(after.kvs[0]?.mod_revision).toBe(before.kvs[0]?.mod_revision);
    expect(await readRawLock(raw, `${keyPrefix}${name}`)).toEqual(beforeRecord);
    expect(beforeRecord !== null && "record" in beforeRecord && beforeRecord.record.holderIdentity).toBe(
      "second",
    );
    expect(beforeRecord !== null && "record" in beforeRecord && beforeRecord.record.leaderTransitions).toBe(
      token,
    );

    // The next candidate must wait out the dead leader's lease and then take the next token.
    const third = elector(name, "third", survivor);
    const startedAt = performance.now();
    const thirdToken = await Promise.all([leads(third), third.start()]).then(([started]) => started);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(timing.leaseDurationMs);
    expect(thirdToken).toBe(token + 1);
    const record = await readRawLock(raw, `${keyPrefix}${name}`);
    expect(record !== null && "record" in record && record.record.holderIdentity).toBe("third");
  }, 30_000);
});
