// Durability: a lock and its fencing token survive a crash of the Consul server. The harness's
// agent is a -dev agent, which keeps everything in memory (a restart loses every key and starts the
// Raft index over), so this test runs a server of its own with a data folder and kills it with
// SIGKILL between writes.
import { ConsulLockStore } from "@tenure/consul";
import type { LeaderRecord } from "@tenure/core";
import { TenureError } from "@tenure/core";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestAgent } from "./agent.js";

function record(leaderTransitions: number, holderIdentity = "candidate-a"): LeaderRecord {
  return {
    holderIdentity,
    leaseDurationSeconds: 10,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:06Z",
    leaderTransitions,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

describe("consul: durability", () => {
  let agent: TestAgent;
  // No timeout of its own: on a cold machine the agent binary is built first (bounded by hookTimeout).
  beforeAll(async () => {
    agent = await TestAgent.start({ mode: "server" });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("keeps the lock, its version and its fencing token across a SIGKILL and restart", async () => {
    const store = new ConsulLockStore({ address: `127.0.0.1:${agent.httpPort}`, requestTimeoutMs: 2_000 });
    const name = "durable-lock";
    let snapshot = await store.create(name, record(1));
    for (let token = 2; token <= 5; token++)
      snapshot = await store.update(name, record(token), snapshot.version);
    const before = snapshot;

    await agent.kill();
    // While the server is down, calls fail fast and typed.
    expect(await codeOf(store.get(name))).toBe("UNAVAILABLE");
    await agent.restart();

    const after = await store.get(name);
    expect(after?.version).toBe(before.version);
    expect(after?.record).toEqual(record(5));
    const raw = new Consul({ host: "127.0.0.1", port: agent.httpPort });
    try {
      expect(JSON.parse((await raw.kv.get({ key: `tenure/elections/${name}` }))?.Value ?? "null")).toEqual(
        record(5),
      );
    } finally {
      raw.destroy();
    }

    // The CAS still works on the version from before the crash, and versions keep increasing
    // (Raft indexes are persisted), so no version from before the crash can come back.
    const next = await store.update(name, record(6, "candidate-b"), before.version);
    expect(Number(next.version)).toBeGreaterThan(Number(before.version));
    expect(await codeOf(store.update(name, record(7), before.version))).toBe("CONFLICT");
    await store.close();
  }, 120_000);
});
