import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LeaderRecord } from "@tenure/core";
import { TenureError } from "@tenure/core";
import { RedisLockStore } from "@tenure/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, ready } from "./cluster.js";

/**
 * TLS, against a redis-server of this test's own (the harness starts plain-text servers only) with
 * a certificate from a throwaway CA made with openssl.
 */
describe("redis over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "tenure-redis-tls-"));
  const file = (name: string): string => join(dir, name);
  let server: ChildProcess | undefined;
  let port = 0;
  const stores: RedisLockStore[] = [];

  beforeAll(async () => {
    const run = (...args: string[]): void => {
      execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    };
    run(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=tenure-test-ca",
    );
    run(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    );
    writeFileSync(file("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
    run(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
    );
    port = await freePort();
    server = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--tls-cert-file",
        file("server.crt"),
        "--tls-key-file",
        file("server.key"),
        "--tls-ca-cert-file",
        file("ca.crt"),
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--logfile",
        "",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await ready(server, port);
  });

  afterAll(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    const child = server;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (options: ConstructorParameters<typeof RedisLockStore>[0]): RedisLockStore => {
    const store = new RedisLockStore({ requestTimeoutMs: 3000, ...options });
    stores.push(store);
    return store;
  };
  const record: LeaderRecord = {
    holderIdentity: "tls",
    leaseDurationSeconds: 5,
    acquireTime: "2026-01-02T03:04:05Z",
    renewTime: "2026-01-02T03:04:05Z",
    leaderTransitions: 1,
  };

  it("reads, writes and watches through rediss:// with the server's CA", async () => {
    const store = open({ url: `rediss://127.0.0.1:${port}`, tls: { ca: readFileSync(file("ca.crt")) } });
    const abort = new AbortController();
    const stream = store.watch("tls-lock", abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const writer = open({ host: "127.0.0.1", port, tls: { ca: readFileSync(file("ca.crt")) } });
    const created = await writer.create("tls-lock", record);
    expect((await stream.next()).value).toEqual(created);
    expect(await store.get("tls-lock")).toEqual(created);
    abort.abort();
  });

  it("refuses a server whose certificate it cannot verify, as UNAVAILABLE naming the reason", async () => {
    const store = open({ host: "127.0.0.1", port, tls: true });
    let caught: unknown;
    try {
      await store.get("tls-lock");
    } catch (error) {
      caught = error;
    }
    expect(TenureError.is(caught, "UNAVAILABLE")).toBe(true);
    expect(String((caught as Error).message)).toMatch(/certificate/i);
  });
});
