import { createServer, type Server } from "node:net";

/** The only address the harness binds or targets. */
export const loopback = "127.0.0.1";

function listenOnFreePort(): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: loopback, port: 0, exclusive: true }, () => resolvePromise(server));
  });
}

/**
 * Returns `count` distinct TCP ports that are free on 127.0.0.1 right now. All are held open
 * until every one is chosen, so the same call never hands out one port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let index = 0; index < count; index += 1) servers.push(await listenOnFreePort());
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("no TCP address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  }
}
