import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/**
 * A three-master Redis Cluster on loopback, for the key-layout and routing tests. The harness in
 * packages/testing starts standalone servers only, so this helper starts the cluster itself, with
 * the same redis-server binary the harness installs.
 */
export interface LocalCluster {
  readonly nodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

const SLOTS = 16384;

/** Resolves when redis-server logs that it accepts connections; rejects if it exits first. */
export function ready(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready: ${log}`)), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on ${port} exited with ${code}: ${log}`));
    });
  });
}

export async function startCluster(binary = "redis-server"): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), "tenure-redis-cluster-"));
  const processes: ChildProcess[] = [];
  const admins: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(
      processes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodes: { host: string; port: number }[] = [];
    for (let index = 0; index < 3; index++) {
      // Cluster nodes also listen on port + 10000 for the bus; retry until both are free.
      let port = await freePort();
      while (port + 10_000 > 65_535) port = await freePort();
      const args = [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--logfile",
        "",
      ];
      const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
      processes.push(child);
      nodes.push({ host: "127.0.0.1", port });
      await ready(child, port);
    }
    for (const node of nodes) {
      const admin = new Redis({
        ...node,
        lazyConnect: true,
        retryStrategy: (attempt) => (attempt > 50 ? null : 100),
      });
      admins.push(admin);
      await admin.connect();
    }
    const share = Math.ceil(SLOTS / admins.length);
    for (const [index, admin] of admins.entries()) {
      const first = index * share;
      await admin.call("CLUSTER", "ADDSLOTSRANGE", first, Math.min(SLOTS, first + share) - 1);
    }
    const [seed, ...others] = admins;
    for (const [index] of others.entries()) {
      const node = nodes[index + 1];
      if (seed === undefined || node === undefined) throw new Error("no nodes");
      await seed.call("CLUSTER", "MEET", node.host, node.port);
    }
    // No event tells when gossip has converged: ask each node until all report a healthy cluster.
    const deadline = performance.now() + 30_000;
    for (const admin of admins) {
      for (;;) {
        const info = String(await admin.call("CLUSTER", "INFO"));
        const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]);
        if (info.includes("cluster_state:ok") && known === nodes.length) break;
        if (performance.now() > deadline) throw new Error(`cluster did not converge: ${info}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return { nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
