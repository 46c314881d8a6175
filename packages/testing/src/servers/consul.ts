import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import { launchInOrder, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { ConsulServer } from "../state.ts";
import { goBinaries } from "../versions.ts";

/** Builds (or finds in the cache) the Consul binary. */
export function installConsul(context: StartContext): Promise<string> {
  return ensureGoBinary("consul", { server: "consul", logDir: context.layout.logDir, onBuild: context.log });
}

/**
 * Starts a Consul dev agent (one server, state in memory) bound to 127.0.0.1 on its own free
 * ports, with DNS and the gRPC TLS port off and no update check. Ready once a leader is elected.
 */
export async function startConsul(context: StartContext, binary: string): Promise<ConsulServer> {
  const [httpPort, serverPort, serfLanPort, serfWanPort, grpcPort] = await freePorts(5);
  const address = `${loopback}:${httpPort}`;
  const url = `http://${address}`;
  const args = [
    "agent",
    "-dev",
    "-node=tenure-consul",
    `-bind=${loopback}`,
    `-client=${loopback}`,
    `-advertise=${loopback}`,
    `-http-port=${httpPort}`,
    `-server-port=${serverPort}`,
    `-serf-lan-port=${serfLanPort}`,
    `-serf-wan-port=${serfWanPort}`,
    `-grpc-port=${grpcPort}`,
    "-dns-port=-1",
    "-hcl=disable_update_check = true",
    "-hcl=ports { grpc_tls = -1 }",
    "-log-level=info",
  ];
  const processes = await launchInOrder("consul", [
    {
      label: "consul",
      binary,
      args,
      logFile: join(context.layout.logDir, "consul.log"),
      probe: { kind: "http", url: `${url}/v1/status/leader`, bodyPattern: '^\\s*"[^"]+"\\s*$' },
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
