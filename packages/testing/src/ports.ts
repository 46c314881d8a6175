import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/** The only address the harness binds or targets. */
export const loopback = "127.0.0.1";

/**
 * Every port {@link freePorts} has handed out in this process. A port is chosen by listening on
 * port 0 and closing, and the server it is for binds it only later, sometimes seconds later
 * (kube-apiserver's secure port is chosen while its etcd still starts on ports chosen before).
 * In that window the kernel considers the port free and may offer it again, so a port once handed
 * out is never handed out again by this process. Kept on globalThis so that two copies of this
 * module in one process (a test runner may load it twice) still share one set.
 */
const handedOut: Set<number> = (() => {
  const key = Symbol.for("@tenure/testing.handedOutPorts");
  const shared = globalThis as { [key]?: Set<number> };
  shared[key] ??= new Set<number>();
  return shared[key];
})();

/**
 * How many ports may be found taken, or handed out before, in one call, before giving up. Ports are
 * drawn at random among some twenty thousand, so reaching this means nearly all of them are used.
 */
const maximumSkippedPorts = 1_000;

/**
 * The lowest port the harness hands out. Ports are taken below the kernel's ephemeral range (the
 * local ports of outgoing connections, `net.ipv4.ip_local_port_range`, 32768–60999 by default):
 * a server that is restarted on its old port (a cluster member killed and brought back) would
 * otherwise find it taken by some client's outgoing connection in the meantime.
 */
const lowestPort = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > lowestPort + 1000 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

const highestPort = ephemeralRangeStart() - 1;

/**
 * The ports of the Fetch standard's "bad port" list that lie in the harness's range. `fetch` (undici,
 * which `@kubernetes/client-node` uses) refuses to connect to them with "bad port", so a server given
 * one is unreachable for those clients: a kube-apiserver started on 10080 failed a CI run.
 */
const fetchBadPorts: ReadonlySet<number> = new Set([10080]);

/** Whether `fetch` refuses to connect to `port` (the harness never hands such a port out). */
export function fetchRefusesPort(port: number): boolean {
  return fetchBadPorts.has(port);
}

/** Listens on a random port below the ephemeral range; undefined when that port is taken. */
function listenOnFreePort(): Promise<Server | undefined> {
  const port = lowestPort + Math.floor(Math.random() * (highestPort - lowestPort + 1));
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(undefined));
    server.listen({ host: loopback, port, exclusive: true }, () => resolvePromise(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/**
 * Returns `count` distinct TCP ports that are free on 127.0.0.1 right now, below the kernel's
 * ephemeral range (see {@link lowestPort}), and that this process has never handed out before (see {@link handedOut}): a server may take its time to bind the
 * ports it was given without another server of this process being given the same ones. All the
 * listeners are held until every port is chosen (a port the kernel offers that was handed out
 * before is held too, so it is not offered again in the same call). Ports chosen by another
 * process can still collide, but only by the kernel's random choice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const chosen: Server[] = [];
  const skipped: Server[] = [];
  let attemptsOnTakenPorts = 0;
  try {
    while (chosen.length < count) {
      if (skipped.length > maximumSkippedPorts) {
        throw new Error(
          `no free loopback port left that this process has not handed out before (${handedOut.size} handed out)`,
        );
      }
      const server = await listenOnFreePort();
      if (server === undefined) {
        attemptsOnTakenPorts++;
        if (attemptsOnTakenPorts > maximumSkippedPorts) {
          throw new Error(`no free loopback port found between ${lowestPort} and ${highestPort}`);
        }
        continue;
      }
      const port = portOf(server);
      (handedOut.has(port) || fetchRefusesPort(port) ? skipped : chosen).push(server);
    }
    const ports = chosen.map(portOf);
    // Recorded before the listeners close, so no concurrent call can be offered these ports.
    for (const port of ports) handedOut.add(port);
    return ports;
  } finally {
    await Promise.all([...chosen, ...skipped].map((server) => new Promise((done) => server.close(done))));
  }
}
