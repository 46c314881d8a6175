import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { TcpFaultProxy } from "@tenure/conformance";
import { afterEach, expect, it } from "vitest";

/**
 * The fault proxy forwards with backpressure: a side that stops reading (a client that no longer
 * consumes a response body) stops the proxy reading from the other side, so nothing piles up in
 * the proxy's memory. Without it, every byte the server sends is buffered in the test process.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that writes as fast as its connection accepts (it waits for `drain`), up to `cap` bytes. */
async function floodingServer(cap: number): Promise<{ server: Server; written: () => number }> {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, 120);
  const server = createServer((socket: Socket) => {
    socket.on("error", () => {});
    const pump = (): void => {
      while (written < cap && !socket.destroyed) {
        written += chunk.length;
        if (!socket.write(chunk)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, written: () => written };
}

it("stops reading from the server while the client does not read", async () => {
  const cap = 512 * 2 ** 20;
  const { server, written } = await floodingServer(cap);
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  const proxy = await TcpFaultProxy.start({ host: "127.0.0.1", port: address.port });
  cleanups.push(() => proxy.close());
  const client = connect(proxy.port, proxy.host);
  client.on("error", () => {});
  client.pause(); // never reads: what the server sends can only pile up somewhere
  cleanups.push(() => void client.destroy());
  await once(client, "connect");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  // Socket buffers on loopback hold a few MB per direction; the proxy must not hold the rest.
  expect(written()).toBeLessThan(64 * 2 ** 20);
  // Once the client reads again, the bytes flow again.
  let received = 0;
  const enough = 128 * 2 ** 20;
  await new Promise<void>((resolve) => {
    client.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received >= enough) resolve();
    });
    client.resume();
  });
  expect(received).toBeGreaterThanOrEqual(enough);
});
