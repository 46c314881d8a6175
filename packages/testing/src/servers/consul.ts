import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import { launchInOrder, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { ReadinessProbe } from "../readiness.ts";
import type { ConsulServer } from "../state.ts";
import { goBinaries } from "../versions.ts";

/** Builds (or finds in the cache) the Consul binary. */
export function installConsul(context: StartContext): Promise<string> {
  return ensureGoBinary("consul", { server: "consul", logDir: context.layout.logDir, onBuild: context.log });
}

/** The ports one Consul agent listens on (all on 127.0.0.1). */
export interface ConsulPorts {
  readonly http: number;
  readonly server: number;
  readonly serfLan: number;
  readonly serfWan: number;
  readonly grpc: number;
}

/** Picks the five ports of one Consul agent. */
export async function freeConsulPorts(): Promise<ConsulPorts> {
  const [http = 0, server = 0, serfLan = 0, serfWan = 0, grpc = 0] = await freePorts(5);
  return { http, server, serfLan, serfWan, grpc };
}

/**
 * Arguments every agent the harness starts shares: bound to and advertised on 127.0.0.1, its own
 * ports, DNS and the gRPC TLS port off, no update check.
 */
export function consulAgentNetworkArgs(ports: ConsulPorts): string[] {
  return [
    `-bind=${loopback}`,
    `-client=${loopback}`,
    `-advertise=${loopback}`,
    `-http-port=${ports.http}`,
    `-server-port=${ports.server}`,
    `-serf-lan-port=${ports.serfLan}`,
    `-serf-wan-port=${ports.serfWan}`,
    `-grpc-port=${ports.grpc}`,
    "-dns-port=-1",
    "-hcl=disable_update_check = true",
    "-hcl=ports { grpc_tls = -1 }",
  ];
}

/** Ready when `/v1/status/leader` names a leader (as this agent sees it). */
export function consulLeaderProbe(url: string): ReadinessProbe {
  return { kind: "http", url: `${url}/v1/status/leader`, bodyPattern: '^\\s*"[^"]+"\\s*$' };
}

/**
 * Starts a Consul dev agent (one server, state in memory) bound to 127.0.0.1 on its own free
 * ports, with DNS and the gRPC TLS port off and no update check. Ready once a leader is elected.
 */
export async function startConsul(context: StartContext, binary: string): Promise<ConsulServer> {
  const ports = await freeConsulPorts();
  const address = `${loopback}:${ports.http}`;
  const url = `http://${address}`;
  const args = ["agent", "-dev", "-node=tenure-consul", ...consulAgentNetworkArgs(ports), "-log-level=info"];
  const processes = await launchInOrder("consul", [
    {
      label: "consul",
      binary,
      args,
      logFile: join(context.layout.logDir, "consul.log"),
      probe: consulLeaderProbe(url),
      readyTimeoutMs: 60_000,
    },
  ]);
  return {
    name: "consul",
    version: goBinaries.consul.version,
    external: false,
    pid: processes[0]?.pid ?? null,
    dataDir: null,
    processes,
    address,
    url,
  };
}
