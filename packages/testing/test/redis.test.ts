import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { restartServer, startServers, stopServers } from "../src/index.ts";

const redisServer = inject("tenureServers").servers.redis;
if (redisServer === undefined) throw new Error("the global setup did not provide redis");

/** Writes `value` and a new version only if the stored version is the one expected ("" = none). */
const compareAndSet = `
local current = redis.call("HGET", KEYS[1], "version") or ""
if current ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "version", ARGV[2], "value", ARGV[3])
return 1`;

describe("redis", () => {
  const client = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  afterAll(() => client.quit());

  it("runs a script that refuses a stale version", async () => {
    const key = `smoke:cas:${Date.now()}`;
    expect(await client.eval(compareAndSet, 1, key, "", "1", "first")).toBe(1);
    expect(await client.eval(compareAndSet, 1, key, "1", "2", "second")).toBe(1);
    expect(await client.eval(compareAndSet, 1, key, "1", "3", "third")).toBe(0);
    expect(await client.hgetall(key)).toEqual({ version: "2", value: "second" });
  });

  it("keeps acknowledged writes across a restart when started durable", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tenure-durable-redis-"));
    try {
      const started = await startServers(["redis"], { stateDir, durable: true, env: {} });
      const durable = started.servers.redis;
      if (durable === undefined) throw new Error("durable redis did not start");
      expect(durable.durable).toBe(true);
      const before = new Redis(durable.url, { maxRetriesPerRequest: 1 });
      await before.set("durable:key", "kept");
      await before.quit();

      const restarted = await restartServer("redis", { stateDir });
      expect(restarted.pid).not.toBe(durable.pid);
      const after = new Redis(durable.url, { maxRetriesPerRequest: 1 });
      expect(await after.get("durable:key")).toBe("kept");
      await after.quit();
    } finally {
      await stopServers({ stateDir });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
