// `npm run servers -- <command>`: starts, stops and shows the real servers the tests use.
// Runs directly on Node 24 (type stripping), so this package stays erasable-only TypeScript.
import { clusterNames, openCluster, stopClusters } from "./clusters.ts";
import { messageOf } from "./errors.ts";
import { readServersFile, serverStatus, startServers, stopServers } from "./harness.ts";
import { stateLayout } from "./paths.ts";
import { isServerName, type ServerName, type ServerRecord, serverNames } from "./state.ts";

const usage = `usage: npm run servers -- <command> [options]

commands:
  up [${serverNames.join("] [")}]   install or build what is missing, start the servers (none named: all)
  down                 stop every server started by \`up\` (and every cluster a test started there), remove the data
  status               show what runs and where
  env                  print the TENURE_* variables that point tests at the running servers

options:
  --durable            (up) Redis with appendonly yes + appendfsync always, etcd with fsync
  --state-dir <dir>    state folder (default: .tenure at the repository root)`;

interface CliArguments {
  readonly command: string | undefined;
  readonly names: ServerName[];
  readonly durable: boolean;
  readonly stateDir: string | undefined;
}

function parseArguments(argv: readonly string[]): CliArguments {
  const names: ServerName[] = [];
  let command: string | undefined;
  let durable = false;
  let stateDir: string | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? "";
    if (argument === "--durable") durable = true;
    else if (argument === "--state-dir") {
      stateDir = argv[index + 1];
      index += 1;
      if (stateDir === undefined) throw new Error("--state-dir needs a folder");
    } else if (argument === "--help" || argument === "-h") command = "help";
    else if (command === undefined) command = argument;
    else if (isServerName(argument)) names.push(argument);
    else throw new Error(`unknown server "${argument}" (known: ${serverNames.join(", ")})`);
  }
  return { command, names, durable, stateDir };
}

/** The endpoint of a server in one line, for people. */
function describeEndpoint(record: ServerRecord): string {
  switch (record.name) {
    case "kubernetes":
      return `${record.server ?? "(see kubeconfig)"} kubeconfig=${record.kubeconfig}`;
    case "etcd":
      return record.endpoints.join(",");
    case "consul":
      return record.url;
    case "redis":
      return `${record.url}${record.durable ? " (durable)" : ""}`;
    case "toxiproxy":
      return record.url;
  }
}

/** The TENURE_* variables that make tests use the servers of `record`. */
function overrideFor(record: ServerRecord): string {
  switch (record.name) {
    case "kubernetes":
      return `TENURE_KUBECONFIG=${record.kubeconfig}`;
    case "etcd":
      return `TENURE_ETCD_ENDPOINTS=${record.endpoints.join(",")}`;
    case "consul":
      return `TENURE_CONSUL_ADDR=${record.address}`;
    case "redis":
      return `TENURE_REDIS_URL=${record.url}`;
    case "toxiproxy":
      return `TENURE_TOXIPROXY_ADDR=${record.address}`;
  }
}

/** Clusters recorded in the state folder (started by fault tests), one line each. */
function printClusters(stateDir: string | undefined): void {
  for (const name of clusterNames(stateDir)) {
    const cluster = openCluster(name, stateDir === undefined ? {} : { stateDir });
    const members = cluster.members.map((member) => `${member.name}=${member.pid}(${member.state})`);
    console.log(`cluster ${name} (${cluster.kind} ${cluster.version}): ${members.join(" ")}`);
  }
}

function printStatus(stateDir: string | undefined): void {
  const statuses = serverStatus(stateDir);
  printClusters(stateDir);
  if (statuses.length === 0) {
    console.log(`no servers running under ${stateLayout(stateDir).stateDir}`);
    return;
  }
  for (const status of statuses) {
    const state = status.external ? "external" : status.running ? "running" : "NOT RUNNING";
    const pids = status.processes.map(
      (managed) =>
        `${managed.label}=${managed.pid}${managed.running ? (managed.paused ? "(paused)" : "") : "(dead)"}`,
    );
    console.log(
      `${status.name.padEnd(11)} ${status.version.padEnd(8)} ${state.padEnd(11)} ${describeEndpoint(status.record)}`,
    );
    if (pids.length > 0) console.log(`${"".padEnd(32)}pids: ${pids.join(" ")}`);
  }
  console.log(`(${stateLayout(stateDir).serversFile})`);
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArguments(argv);
  const log = (message: string): void => console.error(`servers: ${message}`);
  switch (args.command) {
    case "up": {
      const started = Date.now();
      await startServers(args.names, {
        durable: args.durable,
        log,
        ...(args.stateDir === undefined ? {} : { stateDir: args.stateDir }),
      });
      log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      printStatus(args.stateDir);
      return 0;
    }
    case "down": {
      const where = args.stateDir === undefined ? {} : { stateDir: args.stateDir };
      const clusters = (await stopClusters(where)).map((name) => `cluster ${name}`);
      const stopped = [...clusters, ...(await stopServers(where))];
      log(stopped.length === 0 ? "nothing was running" : `stopped ${stopped.join(", ")}`);
      return 0;
    }
    case "status": {
      printStatus(args.stateDir);
      return serverStatus(args.stateDir).every((status) => status.running || status.external) ? 0 : 1;
    }
    case "env": {
      const file = readServersFile(args.stateDir);
      for (const record of Object.values(file.servers)) console.log(`export ${overrideFor(record)}`);
      return 0;
    }
    case "help":
      console.log(usage);
      return 0;
    default:
      console.error(args.command === undefined ? usage : `unknown command "${args.command}"\n\n${usage}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`servers: ${messageOf(error)}`);
  process.exitCode = 1;
}
