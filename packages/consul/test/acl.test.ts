// ACLs: a -dev agent of the test's own with ACLs on and default deny (the harness's agent has ACLs
// off). Checks that the token option is sent, that a refusal is PERMISSION_DENIED naming the
// operation and the key, and that the minimal policy the README documents is enough.
import { randomUUID } from "node:crypto";
import { ConsulLockStore, type ConsulLockStoreOptions } from "@tenure/consul";
import type { LeaderRecord } from "@tenure/core";
import { TenureError } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestAgent } from "./agent.js";

const management = randomUUID();
const record: LeaderRecord = {
  holderIdentity: "candidate-a",
  leaseDurationSeconds: 10,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:06Z",
  leaderTransitions: 1,
};

async function errorOf(promise: Promise<unknown>): Promise<TenureError> {
  try {
    await promise;
  } catch (error) {
    if (TenureError.is(error)) return error;
    throw error;
  }
  throw new Error("the call resolved");
}

describe("consul: ACLs", () => {
  let agent: TestAgent;
  let writer: string;
  let reader: string;
  const stores: ConsulLockStore[] = [];

  /** Creates a policy and a token holding it with the management token; resolves with the token's secret. */
  async function tokenWith(policyName: string, rules: string): Promise<string> {
    const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${agent.url}${path}`, {
        method: "PUT",
        headers: { "X-Consul-Token": management },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as Record<string, unknown>;
    };
    await call("/v1/acl/policy", { Name: policyName, Rules: rules });
    const token = await call("/v1/acl/token", { Policies: [{ Name: policyName }] });
    if (typeof token.SecretID !== "string") throw new Error("no SecretID");
    return token.SecretID;
  }

  function open(options: ConsulLockStoreOptions): ConsulLockStore {
    const store = new ConsulLockStore({ address: `127.0.0.1:${agent.httpPort}`, ...options });
    stores.push(store);
    return store;
  }

  // No timeout of its own: on a cold machine the agent binary is built first (bounded by hookTimeout).
  beforeAll(async () => {
    agent = await TestAgent.start({
      mode: "dev",
      token: management,
      hcl: [`acl { enabled = true default_policy = "deny" tokens { initial_management = "${management}" } }`],
    });
    writer = await tokenWith("tenure-elector", 'key_prefix "tenure/elections/" { policy = "write" }');
    reader = await tokenWith("tenure-observer", 'key_prefix "tenure/elections/" { policy = "read" }');
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await agent?.stop();
  });

  it("runs get, create, update and watch with a token limited to key_prefix write on the prefix", async () => {
    const store = open({ token: writer });
    expect(await store.get("acl-ok")).toBeNull();
    const created = await store.create("acl-ok", record);
    const updated = await store.update("acl-ok", { ...record, leaderTransitions: 2 }, created.version);
    const abort = new AbortController();
    const iterator = store.watch("acl-ok", abort.signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual(updated);
    abort.abort();
    await iterator.return?.();
  });

  it("maps a refusal to PERMISSION_DENIED naming the operation and the key", async () => {
    const anonymous = open({});
    const denied = await errorOf(anonymous.get("acl-denied"));
    expect(denied.code).toBe("PERMISSION_DENIED");
    expect(denied.operation).toBe("get");
    expect(denied.message).toContain('"tenure/elections/acl-denied"');
    expect(denied.message).toContain("key_prefix");

    const readOnly = open({ token: reader });
    expect(await readOnly.get("acl-denied")).toBeNull();
    const write = await errorOf(readOnly.create("acl-denied", record));
    expect(write.code).toBe("PERMISSION_DENIED");
    expect(write.operation).toBe("create");
    expect(write.message).toContain('write key "tenure/elections/acl-denied"');

    const elsewhere = open({ token: writer, keyPrefix: "other/" });
    const outside = await errorOf(elsewhere.update("acl-denied", record, "12"));
    expect(outside.code).toBe("PERMISSION_DENIED");
    expect(outside.message).toContain('"other/acl-denied"');

    const watch = anonymous.watch("acl-denied", new AbortController().signal)[Symbol.asyncIterator]();
    expect((await errorOf(watch.next())).code).toBe("PERMISSION_DENIED");
  });
});
