import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { fetchRefusesPort, freePorts, loopback } from "../src/ports.ts";

/** Whether `port` can be listened on right now (then closes it again). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen({ host: loopback, port, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

// A server binds the ports it was given only after freePorts has released them (etcd is started
// and waited for before kube-apiserver binds its secure port), so a port handed out twice makes
// the second server fail with "bind: address already in use".
describe("freePorts", () => {
  // Linux answers a listen on port 0 with a port drawn at random among about 7,000 (the odd ports
  // of the lower half of ip_local_port_range 32768–60999), so 1,000 calls of an allocator that
  // forgets what it handed out repeat a port with a probability of about 1 − e^−70: certain.
  it("never hands out a port twice in one process, though the port is free again", async () => {
    const handedOut: number[] = [];
    for (let call = 0; call < 1_000; call += 1) handedOut.push(...(await freePorts(1)));
    const repeated = handedOut.filter((port, index) => handedOut.indexOf(port) !== index);
    expect(repeated, `${repeated.length} ports were handed out twice`).toEqual([]);
    // Each was released: the kernel could offer any of them again.
    expect(await canListen(handedOut[0] ?? 0)).toBe(true);
    expect(await canListen(handedOut.at(-1) ?? 0)).toBe(true);
  });

  it("never hands out one port to two concurrent calls", async () => {
    const calls = await Promise.all(Array.from({ length: 100 }, () => freePorts(5)));
    const ports = calls.flat();
    expect(ports).toHaveLength(500);
    expect(new Set(ports).size).toBe(500);
  });

  // fetch's "bad port" list holds one port of the harness's range; a kube-apiserver started on it
  // was unreachable for @kubernetes/client-node.
  it("knows the port fetch refuses, and fetch does refuse it", async () => {
    expect(fetchRefusesPort(10080)).toBe(true);
    expect(fetchRefusesPort(10081)).toBe(false);
    const refused = await fetch(`http://${loopback}:10080/`).then(
      () => "connected",
      (error: unknown) =>
        error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error),
    );
    expect(refused).toBe("bad port");
  });
});
