import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConformanceTarget } from "@tenure/conformance";
import type { LeaderRecord } from "@tenure/core";
import { type RedisServer, restartServer, startServers, stopServers } from "@tenure/testing";
import type {} from "@tenure/testing/global-setup";
import { Redis } from "ioredis";
import { inject } from "vitest";

/** The Redis shared by this project's tests (started by the harness, or given by TENURE_REDIS_URL). */
export function sharedRedis(): RedisServer {
  const server = inject("tenureServers").servers.redis;
  if (server === undefined) throw new Error("the global setup did not provide redis");
  return server;
}

/** host and port of a `redis://host:port` URL. */
export function addressOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379) };
}

/** A direct ioredis client for checking what landed on the server, independently of the adapter. */
export function adminClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
}

/** The suite's raw access to the locks under `keyPrefix`: Redis's own client, around the adapter. */
export function rawLocks(
  admin: Redis,
  keyPrefix: string,
): Required<Pick<ConformanceTarget, "readRaw" | "deleteRaw" | "writeCorrupt">> {
  const lockKey = (election: string): string => `${keyPrefix}:{${election}}:lock`;
  return {
    async readRaw(election) {
      const value = await admin.hget(lockKey(election), "record");
      if (value === null) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        return { corruption: "not JSON" };
      }
      if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
      return { record: parsed as LeaderRecord };
    },
    async deleteRaw(election) {
      // What an operator would do: delete the lock key (the version counter beside it stays).
      await admin.del(lockKey(election));
    },
    async writeCorrupt(election) {
      // What another program might leave: a hash with an unparseable record and no version.
      await admin.hset(lockKey(election), "record", "{not json");
    },
  };
}

/** A Redis server of a test's own, started through the harness in a private state folder. */
export interface PrivateRedis {
  readonly url: string;
  readonly version: string;
  /** Stops and starts the server again: same port, arguments and data folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a private redis-server on a free loopback port (never the shared one: these tests restart
 * it or read server-wide statistics). `durable`: appendonly yes + appendfsync always; otherwise
 * `--save "" --appendonly no`, so a restart loses every key.
 */
export async function startPrivateRedis(options: { durable: boolean }): Promise<PrivateRedis> {
  const stateDir = mkdtempSync(join(tmpdir(), "tenure-redis-test-"));
  // env: {} ignores TENURE_REDIS_URL: a server given from outside cannot be restarted.
  const started = await startServers(["redis"], { stateDir, durable: options.durable, env: {} });
  const server = started.servers.redis;
  if (server === undefined) throw new Error("the harness did not start redis");
  if (server.durable !== options.durable) throw new Error(`asked for durable=${options.durable}`);
  return {
    url: server.url,
    version: server.version,
    async restart() {
      await restartServer("redis", { stateDir });
    },
    async stop() {
      try {
        await stopServers({ stateDir });
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  };
}
