import type { LeaderRecord, LockStore } from "@tenure/core";
import { createConsoleLogger, PermissionDeniedError, silentLogger } from "@tenure/core";
import type { MemoryStore } from "@tenure/memory";
import { MemoryServer } from "@tenure/memory";
import { afterEach, describe, expect, it } from "vitest";
import { parseFlags } from "../src/flags.js";
import type { Sidecar } from "../src/sidecar.js";
import { startSidecar } from "../src/sidecar.js";

const running: Sidecar[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sidecar) => sidecar.shutdown({ release: false })));
});

async function replica(server: MemoryServer, id: string): Promise<Sidecar> {
  const flags = parseFlags(["--election=example", `--id=${id}`, "--ttl=2s", "--http=127.0.0.1:0"], {});
  const sidecar = await startSidecar(flags, { logger: silentLogger, store: server.connect() });
  running.push(sidecar);
  return sidecar;
}

function leaderOf(sidecar: Sidecar): Promise<void> {
  return new Promise((resolve) => {
    if (sidecar.elector.leader() !== null) return resolve();
    const unsubscribe = sidecar.elector.subscribe((event) => {
      if (event.type === "leader-changed" && event.leader !== null) {
        unsubscribe();
        resolve();
      }
    });
  });
}

describe("status server", () => {
  it('answers GET / with {"name":"<leader>"} on every replica, and how long that answer holds', async () => {
    const server = new MemoryServer();
    const replicas = [await replica(server, "pod-a"), await replica(server, "pod-b")];
    await Promise.all(replicas.map(leaderOf));
    const leader = replicas.find((sidecar) => sidecar.elector.isLeader())?.elector;
    for (const sidecar of replicas) {
      const response = await fetch(`${sidecar.server?.url}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json");
      const body = (await response.json()) as { name: string; validForMs: number; fencingToken?: number };
      // The 2016 answer's one field, first, as before; a parser that reads `name` sees no change.
      expect(Object.keys(body)[0]).toBe("name");
      expect(body.name).toBe(leader?.identity);
      expect(body.validForMs).toBeGreaterThan(0);
      // Never longer than the term can last: the renew deadline (ttl / 2) for the leader, the ttl for others.
      expect(body.validForMs).toBeLessThanOrEqual(leader === sidecar.elector ? 1000 : 2000);
      expect(Number(response.headers.get("tenure-valid-for-ms"))).toBeGreaterThanOrEqual(body.validForMs - 5);
      // Only the leader's own sidecar hands out the token.
      expect(body.fencingToken).toBe(sidecar.elector === leader ? leader.fencingToken() : undefined);
    }
  });

  it("stops naming itself when cut off from the store, by its renew deadline, while the record still names it", async () => {
    const server = new MemoryServer();
    const store = server.connect({ requestTimeoutMs: 5_000 });
    const flags = parseFlags(["--election=example", "--id=pod-a", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const sidecar = await startSidecar(flags, { logger: silentLogger, store });
    running.push(sidecar);
    await leaderOf(sidecar);
    const ask = async () => (await (await fetch(`${sidecar.server?.url}/`)).json()) as { name: string };
    expect((await ask()).name).toBe("pod-a");
    const cutAt = performance.now();
    (store as MemoryStore).disconnect("blackhole");
    // Within the renew deadline (1 s at ttl 2 s) of its last renewal, it no longer claims to lead.
    while ((await ask()).name === "pod-a") {
      expect(performance.now() - cutAt).toBeLessThan(1000 + 500);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await ask()).toEqual({ name: "", validForMs: 0 });
    expect(JSON.parse(server.readRaw("example") ?? "{}").holderIdentity).toBe("pod-a");
  });

  it("answers an empty name while no leader is known", async () => {
    const server = new MemoryServer();
    const sidecar = await replica(server, "pod-a");
    await sidecar.shutdown({ release: true });
    const flags = parseFlags(["--election=example", "--id=observer", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const observer = await startSidecar(flags, { logger: silentLogger, store: server.connect() });
    running.push(observer);
    // The lock is released: the observer will take it, but its first answer may still be empty.
    const body = (await (await fetch(`${observer.server?.url}/`)).json()) as { name: string };
    expect(["", "observer"]).toContain(body.name);
  });

  it("serves health, readiness and Prometheus metrics", async () => {
    const server = new MemoryServer();
    const sidecar = await replica(server, "pod-a");
    await leaderOf(sidecar);
    const base = sidecar.server?.url;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('tenure_is_leader{election="example",identity="pod-a"} 1');
    expect(metrics).toContain("# TYPE tenure_renew_latency_seconds histogram");
    expect(metrics).toMatch(/tenure_leader_transitions_total\{[^}]*\} 1/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it("streams leader changes as server-sent events", async () => {
    const server = new MemoryServer();
    const first = await replica(server, "pod-a");
    await leaderOf(first);
    const second = await replica(server, "pod-b");
    await leaderOf(second);
    const abort = new AbortController();
    const response = await fetch(`${second.server?.url}/events`, { signal: abort.signal });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error("no body");
    let text = "";
    const readUntil = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended before ${pattern}`);
        text += new TextDecoder().decode(chunk.value);
      }
    };
    await readUntil(/event: leader\ndata: \{"name":"pod-a","validForMs":\d+\}\n\n/);
    await first.shutdown({ release: true });
    await readUntil(/data: \{"name":"pod-b","validForMs":\d+,"fencingToken":\d+\}/);
    abort.abort();
  });

  it("/events says no leader once a crashed leader can no longer be vouched for, before anyone takes over", async () => {
    const server = new MemoryServer();
    const first = await replica(server, "pod-a");
    await leaderOf(first);
    const second = await replica(server, "pod-b");
    await leaderOf(second);
    const abort = new AbortController();
    const response = await fetch(`${second.server?.url}/events`, { signal: abort.signal });
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error("no body");
    let text = "";
    const readUntil = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended before ${pattern}`);
        text += new TextDecoder().decode(chunk.value);
      }
    };
    await readUntil(/data: \{"name":"pod-a","validForMs":\d+\}/);
    // The stream's observer vouches for pod-a once it has seen it write: let it see two renewals.
    await new Promise<void>((resolve) => {
      let renewals = 0;
      const unsubscribe = first.elector.subscribe((event) => {
        if (event.type === "renewed" && ++renewals === 2) {
          unsubscribe();
          resolve();
        }
      });
    });
    const crashedAt = performance.now();
    await first.shutdown({ release: false }); // no release: the record names pod-a for a whole ttl
    text = "";
    await readUntil(/data: \{"name":"","validForMs":0\}/);
    const noticeMs = performance.now() - crashedAt;
    // Negative control: the elector's own view, which /events followed before, still names pod-a.
    const plain = (await (await fetch(`${second.server?.url}/`)).json()) as { name: string };
    expect(plain.name).toBe("pod-a");
    // The observer vouches for pod-a at most a renew deadline (1 s at --ttl=2s) past a write it saw;
    // pod-b may take over only a full ttl (2 s) after its own sighting.
    expect(noticeMs).toBeLessThan(1_800);
    expect(text).not.toContain('"name":"pod-b"');
    expect(second.elector.isLeader()).toBe(false);
    await readUntil(/data: \{"name":"pod-b","validForMs":\d+,"fencingToken":\d+\}/);
    abort.abort();
  });

  it("is not ready when the store refuses for a reason waiting will not fix", async () => {
    const server = new MemoryServer();
    const inner = server.connect();
    // A store whose writes are denied, as a missing RBAC rule would: reads work, writes never will.
    const denied: LockStore = {
      backend: inner.backend,
      capabilities: inner.capabilities,
      get: (name, options) => inner.get(name, options),
      create: async (_name: string, _record: LeaderRecord) => {
        throw new PermissionDeniedError("create is forbidden", { backend: "memory" });
      },
      update: async () => {
        throw new PermissionDeniedError("update is forbidden", { backend: "memory" });
      },
      close: () => inner.close(),
    };
    const flags = parseFlags(["--election=example", "--id=pod-a", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const sidecar = await startSidecar(flags, {
      logger: createConsoleLogger({ level: "error" }),
      store: denied,
    });
    running.push(sidecar);
    await new Promise<void>((resolve) => {
      const unsubscribe = sidecar.elector.subscribe((event) => {
        if (event.type === "store-error") {
          unsubscribe();
          resolve();
        }
      });
    });
    const response = await fetch(`${sidecar.server?.url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.text()).toMatch(/PERMISSION_DENIED/);
  });

  it("is not ready while the store has not answered", async () => {
    const server = new MemoryServer();
    const store = server.connect({ requestTimeoutMs: 5_000 });
    store.disconnect("blackhole");
    const flags = parseFlags(["--election=example", "--id=pod-a", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const sidecar = await startSidecar(flags, { logger: createConsoleLogger({ level: "error" }), store });
    running.push(sidecar);
    expect((await fetch(`${sidecar.server?.url}/readyz`)).status).toBe(503);
    expect(await (await fetch(`${sidecar.server?.url}/`)).text()).toBe('{"name":"","validForMs":0}');
  });
});
