// Test support: the conformance suite's raw access to the locks (`rawLocks`), and a Consul agent of
// a test's own (`TestAgent`) for what the harness's shared dev agent cannot show: a restart with the
// data kept (server mode with a data folder), Consul's telemetry as cumulative counters (Prometheus
// retention), and ACLs on. It runs the binary the harness builds and caches, on free 127.0.0.1
// ports, and stops exactly the process it started.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConformanceTarget } from "@tenure/conformance";
import type { LeaderRecord } from "@tenure/core";
import { ensureGoBinary } from "@tenure/testing";
import Consul from "consul";

const loopback = "127.0.0.1";

/** The suite's raw access to the locks, and `close()` for its client. */
export type RawLocks = Required<Pick<ConformanceTarget, "readRaw" | "deleteRaw" | "writeCorrupt">> & {
  close(): void;
};

/**
 * The conformance suite's hands on Consul, around the adapter: a raw reader, a deleter and a
 * corrupt writer for the locks under `keyPrefix`, through the `consul` client (not the adapter).
 */
export function rawLocks(
  agent: { readonly host: string; readonly port: number },
  keyPrefix: string,
): RawLocks {
  const raw = new Consul({ host: agent.host, port: agent.port });
  return {
    async readRaw(election) {
      const entry = await raw.kv.get({ key: `${keyPrefix}${election}` });
      if (entry === null || entry === undefined) return null;
      if (typeof entry.Value !== "string") return { corruption: "no value" };
      // Decoded with JSON.parse alone: the adapter is expected to store exactly encodeRecord's JSON.
      const parsed = JSON.parse(entry.Value) as unknown;
      if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
      return { record: parsed as LeaderRecord };
    },
    async deleteRaw(election) {
      // As `consul kv delete <key>` would: DELETE /v1/kv/<key>.
      await raw.kv.del({ key: `${keyPrefix}${election}` });
    },
    async writeCorrupt(election) {
      await raw.kv.set({ key: `${keyPrefix}${election}`, value: "{not json" });
    },
    close: () => raw.destroy(),
  };
}

export interface AgentOptions {
  /** `dev`: a -dev agent, state in memory. `server`: one server that keeps its Raft log and state in a data folder. */
  readonly mode: "dev" | "server";
  /** Extra HCL snippets (one `-hcl` each). */
  readonly hcl?: readonly string[];
  /** The token every readiness probe sends (the initial management token when ACLs are on). */
  readonly token?: string;
}

/** A running agent the test owns. */
export class TestAgent {
  readonly url: string;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly #binary: string;
  readonly #args: readonly string[];
  readonly #token: string | undefined;
  #process: ChildProcess | undefined;
  #log = "";

  private constructor(
    binary: string,
    args: readonly string[],
    httpPort: number,
    dataDir: string,
    token?: string,
  ) {
    this.#binary = binary;
    this.#args = args;
    this.httpPort = httpPort;
    this.url = `http://${loopback}:${httpPort}`;
    this.dataDir = dataDir;
    this.#token = token;
  }

  /** Starts an agent and resolves once it has a leader and serves KV reads. */
  static async start(options: AgentOptions): Promise<TestAgent> {
    const dataDir = mkdtempSync(join(tmpdir(), "tenure-consul-"));
    const binary = await ensureGoBinary("consul", { server: "consul", logDir: dataDir });
    const [http, server, serfLan, serfWan] = await freePorts(4);
    const args = [
      "agent",
      ...(options.mode === "dev"
        ? ["-dev"]
        : ["-server", "-bootstrap-expect=1", `-data-dir=${join(dataDir, "data")}`]),
      "-node=tenure-consul-test",
      `-bind=${loopback}`,
      `-client=${loopback}`,
      `-advertise=${loopback}`,
      `-http-port=${http}`,
      `-server-port=${server}`,
      `-serf-lan-port=${serfLan}`,
      `-serf-wan-port=${serfWan}`,
      "-grpc-port=-1",
      "-dns-port=-1",
      "-hcl=ports { grpc_tls = -1 }",
      "-hcl=disable_update_check = true",
      // Server mode elects its leader at production Raft timings unless told otherwise.
      "-hcl=performance { raft_multiplier = 1 }",
      ...(options.hcl ?? []).map((snippet) => `-hcl=${snippet}`),
    ];
    const agent = new TestAgent(binary, args, http ?? 0, dataDir, options.token);
    await agent.#launch();
    return agent;
  }

  /** The agent's log so far, for failure messages. */
  get log(): string {
    return this.#log;
  }

  /** Kills the agent at once (SIGKILL: no graceful leave, no final flush) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    this.#process = undefined;
  }

  /** Starts the agent again with the same ports, data folder and configuration. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#launch();
  }

  /** Stops the agent and removes its data folder. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    const child = spawn(this.#binary, this.#args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#process = child;
    const append = (chunk: Buffer): void => {
      this.#log = (this.#log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    await this.#waitReady(child);
  }

  /**
   * Ready when a KV read is served: a leader is elected and (with ACLs) the management token works.
   * There is no event to wait on from outside the process, so this polls, as the harness does.
   */
  async #waitReady(child: ChildProcess): Promise<void> {
    const deadline = performance.now() + 60_000;
    const headers: Record<string, string> =
      this.#token === undefined ? {} : { "X-Consul-Token": this.#token };
    while (performance.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`consul exited while starting:\n${this.#log}`);
      }
      try {
        const response = await fetch(`${this.url}/v1/kv/tenure-readiness-probe`, {
          headers,
          signal: AbortSignal.timeout(2_000),
        });
        await response.arrayBuffer();
        if (response.status === 404 || response.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`consul was not ready within 60 s:\n${this.#log}`);
  }
}

/** `count` distinct free TCP ports on 127.0.0.1, all held open until every one is chosen. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createServer();
      server.listen(0, loopback);
      await once(server, "listening");
      return server;
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
