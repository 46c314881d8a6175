// One store's API calls share their TLS connections: client-node builds a new connection pool for
// every request, so without the store keeping one, each call would open (and handshake) a new
// connection. Counted at a TCP relay in front of the real apiserver.

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { LeaseLock } from "../src/index.js";
import { Admin, kubernetesServer, testRecord, viaServer } from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);

/** Relays TCP to the apiserver and counts the connections made through it. */
class CountingRelay {
  connections = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(target: URL) {
    this.#server = createServer((client) => {
      this.connections += 1;
      const upstream = connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on("error", () => {});
        socket.on("close", () => this.#sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe("kubernetes: a store's calls share connections", () => {
  const relay = new CountingRelay(new URL(admin.config.getCurrentCluster()?.server ?? ""));
  const stores: LeaseLock[] = [];
  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await relay.close();
  });

  it("50 sequential calls open one connection, not 50", async () => {
    const namespace = await admin.freshNamespace("connections");
    const store = new LeaseLock({ kubeConfig: viaServer(admin.config, await relay.listen()), namespace });
    stores.push(store);
    let snapshot = await store.create("shared", testRecord({ holderIdentity: "a" }));
    for (let call = 0; call < 49; call++) {
      snapshot =
        call % 2 === 0
          ? await store.update("shared", testRecord({ holderIdentity: "a" }), snapshot.version)
          : ((await store.get("shared")) ?? snapshot);
    }
    // A create reads the collection's resourceVersion first (the fencing-token floor): 51 requests.
    expect(relay.connections).toBeLessThanOrEqual(2);
  });
});
