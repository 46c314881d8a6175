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
 * How many ports the kernel may offer that were handed out before, in one call, before giving up.
 * The kernel picks among thousands of ports at random, so reaching this means this process has
 * used up nearly all of them.
 */
const maximumSkippedPorts = 1_000;

function listenOnFreePort(): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: loopback, port: 0, exclusive: true }, () => resolvePromise(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/**
 * Returns `count` distinct TCP ports that are free on 127.0.0.1 right now and that this process
 * has never handed out before (see {@link handedOut}): a server may take its time to bind the
 * ports it was given without another server of this process being given the same ones. All the
 * listeners are held until every port is chosen (a port the kernel offers that was handed out
 * before is held too, so it is not offered again in the same call). Ports chosen by another
 * process can still collide, but only by the kernel's random choice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const chosen: Server[] = [];
  const skipped: Server[] = [];
  try {
    while (chosen.length < count) {
      if (skipped.length > maximumSkippedPorts) {
        throw new Error(
          `no free loopback port left that this process has not handed out before (${handedOut.size} handed out)`,
        );
      }
      const server = await listenOnFreePort();
      (handedOut.has(portOf(server)) ? skipped : chosen).push(server);
    }
    const ports = chosen.map(portOf);
    // Recorded before the listeners close, so no concurrent call can be offered these ports.
    for (const port of ports) handedOut.add(port);
    return ports;
  } finally {
    await Promise.all([...chosen, ...skipped].map((server) => new Promise((done) => server.close(done))));
  }
}
