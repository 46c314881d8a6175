import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import { launchInOrder, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { ToxiproxyServer } from "../state.ts";
import { goBinaries } from "../versions.ts";

/** Builds (or finds in the cache) the Toxiproxy server. */
export function installToxiproxy(context: StartContext): Promise<string> {
  return ensureGoBinary("toxiproxy", {
    server: "toxiproxy",
    logDir: context.layout.logDir,
    onBuild: context.log,
  });
}

/** Starts toxiproxy-server with its API on a free loopback port (proxies are created later by tests). */
export async function startToxiproxy(context: StartContext, binary: string): Promise<ToxiproxyServer> {
  const [port] = await freePorts(1);
  const address = `${loopback}:${port}`;
  const url = `http://${address}`;
  const processes = await launchInOrder("toxiproxy", [
    {
      label: "toxiproxy-server",
      binary,
      args: ["-host", loopback, "-port", String(port)],
      logFile: join(context.layout.logDir, "toxiproxy.log"),
      probe: { kind: "http", url: `${url}/version`, bodyPattern: "\\S" },
      readyTimeoutMs: 15_000,
    },
  ]);
  return {
    name: "toxiproxy",
    version: goBinaries.toxiproxy.version,
    external: false,
    pid: processes[0]?.pid ?? null,
    dataDir: null,
    processes,
    address,
    url,
  };
}
