import { createConsoleLogger, silentLogger } from "@tenure/core";
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
  it('answers GET / with {"name":"<leader>"} on every replica, byte for byte as the 2016 sidecar', async () => {
    const server = new MemoryServer();
    const replicas = [await replica(server, "pod-a"), await replica(server, "pod-b")];
    await Promise.all(replicas.map(leaderOf));
    const leader = replicas.find((sidecar) => sidecar.elector.isLeader())?.elector.identity;
    for (const sidecar of replicas) {
      const response = await fetch(`${sidecar.server?.url}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.text()).toBe(`{"name":"${leader}"}`);
    }
  });

  it("answers an empty name while no leader is known", async () => {
    const server = new MemoryServer();
    const sidecar = await replica(server, "pod-a");
    await sidecar.shutdown({ release: true });
    const flags = parseFlags(["--election=example", "--id=observer", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const observer = await startSidecar(flags, { logger: silentLogger, store: server.connect() });
    running.push(observer);
    // The lock is released: the observer will take it, but its first answer may still be empty.
    const body = await (await fetch(`${observer.server?.url}/`)).text();
    expect(['{"name":""}', '{"name":"observer"}']).toContain(body);
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
    await readUntil(/event: leader\ndata: \{"name":"pod-a"\}\n\n/);
    await first.shutdown({ release: true });
    await readUntil(/data: \{"name":"pod-b"\}/);
    abort.abort();
  });

  it("is not ready while the store has not answered", async () => {
    const server = new MemoryServer();
    const store = server.connect({ timeoutMs: 5_000 });
    store.disconnect("blackhole");
    const flags = parseFlags(["--election=example", "--id=pod-a", "--ttl=2s", "--http=127.0.0.1:0"], {});
    const sidecar = await startSidecar(flags, { logger: createConsoleLogger({ level: "error" }), store });
    running.push(sidecar);
    expect((await fetch(`${sidecar.server?.url}/readyz`)).status).toBe(503);
    expect(await (await fetch(`${sidecar.server?.url}/`)).text()).toBe('{"name":""}');
  });
});
