// Why Consul renews one election per request: its transaction endpoint is all-or-nothing, so
// compare-and-swaps of different elections cannot share a round trip the way etcd's nested
// transactions let them (packages/etcd/src/batch.ts). Checked on the real agent, with its HTTP API.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";

const server = inject("tenureServers").servers.consul;
if (server === undefined) throw new Error("the global setup did not provide consul");
const base = server.url.replace(/\/$/, "");
const prefix = `tenure-txn-batching/${randomBytes(4).toString("hex")}/`;

interface KvOp {
  readonly KV: { Verb: string; Key: string; Value?: string; Index?: number };
}

async function txn(ops: readonly KvOp[]): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}/v1/txn`, { method: "PUT", body: JSON.stringify(ops) });
  return { status: response.status, body: await response.json() };
}

async function modifyIndex(key: string): Promise<number> {
  const response = await fetch(`${base}/v1/kv/${prefix}${key}`);
  const [entry] = (await response.json()) as { ModifyIndex: number }[];
  return entry?.ModifyIndex ?? 0;
}

const value = (text: string): string => Buffer.from(text).toString("base64");

describe("consul: /v1/txn cannot carry independent compare-and-swaps", () => {
  afterAll(async () => {
    await fetch(`${base}/v1/kv/${prefix}?recurse=true`, { method: "DELETE" });
  });

  it("one stale compare fails the whole transaction: the current one is not applied either", async () => {
    for (const key of ["a", "b"]) await fetch(`${base}/v1/kv/${prefix}${key}`, { method: "PUT", body: "0" });
    const a = await modifyIndex("a");
    const b = await modifyIndex("b");
    const mixed = await txn([
      { KV: { Verb: "cas", Key: `${prefix}a`, Value: value("1"), Index: a } },
      { KV: { Verb: "cas", Key: `${prefix}b`, Value: value("1"), Index: b - 1 } },
    ]);
    // 409: the transaction was rolled back; the errors name the failed operation.
    expect(mixed.status).toBe(409);
    expect(await modifyIndex("a")).toBe(a);
    const both = await txn([
      { KV: { Verb: "cas", Key: `${prefix}a`, Value: value("2"), Index: a } },
      { KV: { Verb: "cas", Key: `${prefix}b`, Value: value("2"), Index: b } },
    ]);
    expect(both.status).toBe(200);
    expect(await modifyIndex("a")).toBeGreaterThan(a);
  });
});
