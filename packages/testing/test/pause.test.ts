import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { pauseServer, resumeServer, serverStatus, startServers, stopServers } from "../src/index.ts";

/** Sends PING on a new connection; resolves with the reply, or null if none comes within `timeoutMs`. */
function ping(url: string, timeoutMs: number): Promise<string | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise) => {
    // The kernel completes the TCP handshake for a stopped process too: only the reply can tell.
    const socket = connect({ host: hostname, port: Number(port) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolvePromise(null);
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (reply: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(reply.trim());
    });
    socket.on("error", () => {
      clearTimeout(timer);
      resolvePromise(null);
    });
  });
}

/** Whether `pid` is a live (non-zombie) process. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

// Pausing is the harness's own feature, so this starts a private Redis (never an external one).
describe("pauseServer and resumeServer", () => {
  it("stop a server's processes (no answers, data kept) and continue them", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tenure-pause-"));
    try {
      const redis = (await startServers(["redis"], { stateDir, env: {} })).servers.redis;
      if (redis === undefined) throw new Error("redis did not start");
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      await client.set("paused:key", "kept");
      await client.quit();

      await pauseServer("redis", { stateDir });
      const paused = serverStatus(stateDir).find((status) => status.name === "redis");
      expect(paused?.processes.map(({ running, paused }) => ({ running, paused }))).toEqual([
        { running: true, paused: true },
      ]);
      expect(await ping(redis.url, 500)).toBeNull();

      await resumeServer("redis", { stateDir });
      expect(serverStatus(stateDir).find((status) => status.name === "redis")?.processes[0]?.paused).toBe(
        false,
      );
      expect(await ping(redis.url, 5_000)).toBe("+PONG");
      const after = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      expect(await after.get("paused:key")).toBe("kept");
      await after.quit();

      // A paused server is stopped at once: SIGCONT follows SIGTERM (without it, SIGTERM would
      // wait the whole 10 s grace period for SIGKILL).
      await pauseServer("redis", { stateDir });
      const stopping = Date.now();
      expect(await stopServers({ stateDir })).toEqual(["redis"]);
      expect(Date.now() - stopping).toBeLessThan(5_000);
      expect(serverStatus(stateDir)).toEqual([]);
      expect(isAlive(redis.pid ?? 0)).toBe(false);
    } finally {
      await stopServers({ stateDir });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
