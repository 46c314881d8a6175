// Adapter-specific behaviour on the harness's Consul agent, beyond the shared conformance suite:
// option checks, the key layout, error mapping and bounds, and the watch's blocking-query loop.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import {
  createServer,
  Agent as HttpAgent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, Agent as HttpsAgent } from "node:https";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { TcpFaultProxy } from "@tenure/conformance";
import { ConsulLockStore, type ConsulLockStoreOptions } from "@tenure/consul";
import type { LeaderRecord, Snapshot } from "@tenure/core";
import { encodeRecord, TenureError } from "@tenure/core";
import Consul from "consul";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";

const server = inject("tenureServers").servers.consul;
if (server === undefined) throw new Error("the global setup did not provide consul");
const agentUrl = new URL(server.url);
const agent = { host: agentUrl.hostname, port: Number(agentUrl.port) };
const keyPrefix = `tenure-test/${randomBytes(4).toString("hex")}/`;
const raw = new Consul(agent);

const opened: ConsulLockStore[] = [];
const proxies: TcpFaultProxy[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});
afterAll(() => raw.destroy());

function open(options: ConsulLockStoreOptions = {}): ConsulLockStore {
  const store = new ConsulLockStore({ address: server?.address ?? "", keyPrefix, ...options });
  opened.push(store);
  return store;
}

async function proxied(options: ConsulLockStoreOptions = {}): Promise<[ConsulLockStore, TcpFaultProxy]> {
  const proxy = await TcpFaultProxy.start(agent);
  proxies.push(proxy);
  const store = new ConsulLockStore({ address: proxy.address, keyPrefix, ...options });
  opened.push(store);
  return [store, proxy];
}

let counter = 0;
function uniqueName(label: string): string {
  counter += 1;
  return `${label}-${counter}-${randomBytes(3).toString("hex")}`;
}

function record(overrides: Partial<LeaderRecord> = {}): LeaderRecord {
  return {
    holderIdentity: "candidate-a",
    leaseDurationSeconds: 1.25,
    acquireTime: "2026-01-02T03:04:05.123Z",
    renewTime: "2026-01-02T03:04:06.456Z",
    leaderTransitions: 1,
    ...overrides,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

async function errorOf(promise: Promise<unknown>): Promise<TenureError> {
  try {
    await promise;
  } catch (error) {
    if (TenureError.is(error)) return error;
    throw error;
  }
  throw new Error("the call resolved");
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createTcpServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("options", () => {
  it("rejects bad options with INVALID_ARGUMENT naming the field", () => {
    const cases: [ConsulLockStoreOptions, string][] = [
      [{ keyPrefix: "/leading-slash/" }, "keyPrefix"],
      [{ requestTimeoutMs: 0 }, "requestTimeoutMs"],
      [{ requestTimeoutMs: Number.NaN }, "requestTimeoutMs"],
      [{ watchWaitMs: 700_000 }, "watchWaitMs"],
      [{ address: "ftp://127.0.0.1:8500" }, "address"],
      [{ address: "127.0.0.1:8500", port: 8500 }, "address"],
      [{ port: 70_000 }, "port"],
      [{ secure: false, tls: { rejectUnauthorized: true } }, "tls"],
      [{ datacenter: 42 as unknown as string }, "datacenter"],
      [{ agent: new HttpsAgent(), address: "127.0.0.1:8500" }, "agent"],
      [{ agent: new HttpAgent(), address: "https://127.0.0.1:8501" }, "agent"],
      [{ agent: {} as HttpAgent }, "agent"],
      [{ consistency: "linearizable" as "default" }, "consistency"],
    ];
    for (const [options, field] of cases) {
      let thrown: unknown;
      try {
        new ConsulLockStore(options).close();
      } catch (error) {
        thrown = error;
      }
      expect(TenureError.is(thrown, "INVALID_ARGUMENT"), field).toBe(true);
      expect((thrown as { field?: string }).field).toBe(field);
    }
  });

  it("sends its calls through an agent passed in, and leaves it open on close", async () => {
    const agent = new HttpAgent({ keepAlive: true });
    try {
      const store = new ConsulLockStore({ address: server?.address ?? "", agent, keyPrefix });
      const name = uniqueName("agent");
      await store.create(name, record());
      // The keep-alive connection the calls used is back in the user's pool.
      expect(Object.values(agent.freeSockets).flat().length).toBeGreaterThan(0);
      await store.close();
      expect(await codeOf(store.get(name))).toBe("CLOSED");
      // The pool still serves: another store (or the program itself) can go on using it.
      const again = new ConsulLockStore({ address: server?.address ?? "", agent, keyPrefix });
      expect((await again.get(name))?.record?.holderIdentity).toBe(record().holderIdentity);
      await again.close();
    } finally {
      agent.destroy();
    }
  });
});

describe("storage layout", () => {
  it("stores encodeRecord's JSON under <keyPrefix><name>, versioned by ModifyIndex, with millisecond leases", async () => {
    const store = open();
    const name = uniqueName("layout");
    const created = await store.create(name, record());
    const entry = await raw.kv.get({ key: `${keyPrefix}${name}` });
    // A create raises the fencing token above Consul's KV index (see "Fencing tokens" in the README).
    const token = created.record?.leaderTransitions ?? -1;
    expect(token).toBeGreaterThan(record().leaderTransitions);
    expect(entry?.Value).toBe(encodeRecord(record({ leaderTransitions: token })));
    expect(String(entry?.ModifyIndex)).toBe(created.version);
    const next = record({ leaseDurationSeconds: 0.001, leaderTransitions: 2 });
    const updated = await store.update(name, next, created.version);
    const read = await store.get(name);
    expect(read).toEqual(updated);
    expect(read?.record?.leaseDurationSeconds).toBe(0.001);
    expect(Number(updated.version)).toBeGreaterThan(Number(created.version));
  });

  it("treats a version it never handed out as a lost CAS, and never creates on update", async () => {
    const store = open();
    const name = uniqueName("bad-version");
    for (const version of ["0", "", "abc", "-1", "1.5", "99999999999999999999"]) {
      expect(await codeOf(store.update(name, record(), version)), version).toBe("CONFLICT");
    }
    expect(await store.get(name)).toBeNull();
  });

  it("reads an empty value as a corrupt snapshot that a CAS can replace", async () => {
    const store = open();
    const name = uniqueName("empty");
    await raw.kv.set({ key: `${keyPrefix}${name}`, value: "" });
    const snapshot = await store.get(name);
    expect(snapshot?.record).toBeNull();
    expect(snapshot?.corruption).toMatch(/empty/);
    await store.update(name, record(), snapshot?.version ?? "");
    expect((await store.get(name))?.record).toEqual(record());
  });
});

describe("errors", () => {
  it("rejects bad names and records with INVALID_ARGUMENT before any I/O, as rejected promises", async () => {
    // Nothing listens on this port: any I/O would end in UNAVAILABLE instead.
    const store = open({ address: `127.0.0.1:${await closedPort()}` });
    const calls = [
      () => store.get("Bad_Name"),
      () => store.create("bad name", record()),
      () => store.update("ok", record({ leaderTransitions: -1 }), "5"),
      () => store.create("ok", record({ leaseDurationSeconds: 0 })),
    ];
    for (const call of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = call();
      }).not.toThrow();
      expect(await codeOf(promise ?? Promise.resolve())).toBe("INVALID_ARGUMENT");
    }
    const watch = store.watch("Bad", new AbortController().signal)[Symbol.asyncIterator]();
    expect(await codeOf(watch.next())).toBe("INVALID_ARGUMENT");
  });

  it("fails with UNAVAILABLE at once when the connection is refused, naming backend, election and remedy", async () => {
    const store = open({ address: `127.0.0.1:${await closedPort()}` });
    const started = performance.now();
    const error = await errorOf(store.get("refused"));
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain("[consul]");
    expect(error.message).toContain('election "refused"');
    expect(error.remedy).toBeDefined();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await codeOf(store.create("refused", record()))).toBe("UNAVAILABLE");
  });

  it("bounds a call to an agent that never answers by requestTimeoutMs", async () => {
    const [store, proxy] = await proxied({ requestTimeoutMs: 300 });
    const name = uniqueName("blackhole");
    const created = await store.create(name, record());
    proxy.cut("blackhole");
    for (const call of [
      () => store.get(name),
      () => store.update(name, record(), created.version),
      () => store.create(uniqueName("blackhole"), record()),
    ]) {
      const started = performance.now();
      expect(await codeOf(call())).toBe("UNAVAILABLE");
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2_000);
    }
    proxy.restore();
    expect((await store.get(name))?.version).toBe(created.version);
  });

  it("ends a call at once when its signal aborts, with UNAVAILABLE", async () => {
    const [store, proxy] = await proxied({ requestTimeoutMs: 30_000 });
    proxy.cut("blackhole");
    const abort = new AbortController();
    const pending = codeOf(store.get(uniqueName("abort"), { signal: abort.signal }));
    const started = performance.now();
    abort.abort();
    expect(await pending).toBe("UNAVAILABLE");
    expect(performance.now() - started).toBeLessThan(500);
    const aborted = AbortSignal.abort();
    expect(await codeOf(store.create(uniqueName("abort"), record(), { signal: aborted }))).toBe(
      "UNAVAILABLE",
    );
  });

  it("ends calls in flight with CLOSED when the store closes", async () => {
    const [store, proxy] = await proxied({ requestTimeoutMs: 30_000 });
    proxy.cut("blackhole");
    const pending = codeOf(store.get(uniqueName("closing")));
    await store.close();
    expect(await pending).toBe("CLOSED");
  });
});

describe("watch", () => {
  /** Reads the next item of a watch, failing the test instead of hanging. */
  async function next(iterator: AsyncIterator<Snapshot | null>, within = 10_000): Promise<Snapshot | null> {
    const result = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no watch item within ${within} ms`)), within),
      ),
    ]);
    if (result.done) throw new Error("the watch ended");
    return result.value;
  }

  it("follows create, update, corruption, deletion and re-creation, starting with the current state", async () => {
    const store = open();
    const name = uniqueName("watch");
    const key = `${keyPrefix}${name}`;
    const abort = new AbortController();
    const iterator = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect(await next(iterator)).toBeNull();
    const created = await store.create(name, record());
    expect(await next(iterator)).toEqual(created);
    await raw.kv.set({ key, value: "{not json" });
    const corrupt = await next(iterator);
    expect(corrupt?.record).toBeNull();
    expect(corrupt?.corruption).toMatch(/JSON/);
    await raw.kv.del({ key });
    expect(await next(iterator)).toBeNull();
    const again = await store.create(name, record({ leaderTransitions: 9 }));
    expect(await next(iterator)).toEqual(again);
    abort.abort();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it("yields nothing when a blocking query returns without a change", async () => {
    // Each query waits 100 ms, so several return empty-handed while nothing changes.
    const store = open({ watchWaitMs: 100 });
    const name = uniqueName("idle");
    const created = await store.create(name, record());
    const abort = new AbortController();
    const iterator = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect(await next(iterator)).toEqual(created);
    // The condition under test is time passing with no change: five or more wait periods.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const updated = await store.update(name, record({ leaderTransitions: 2 }), created.version);
    expect(await next(iterator)).toEqual(updated);
    abort.abort();
  });

  it("delivers a burst of writes as increasing versions that end at the last write", async () => {
    // Blocking queries answer with the latest state: commits that land between two queries arrive
    // as one. What the watch does promise: commit order, no repeats, and the final state.
    const store = open();
    const writer = open();
    const name = uniqueName("burst");
    const abort = new AbortController();
    const iterator = store.watch(name, abort.signal)[Symbol.asyncIterator]();
    expect(await next(iterator)).toBeNull();
    let snapshot = await writer.create(name, record({ leaderTransitions: 0 }));
    const written = new Map([[snapshot.version, snapshot.record?.leaderTransitions]]);
    for (let i = 1; i <= 30; i++) {
      snapshot = await writer.update(name, record({ leaderTransitions: i }), snapshot.version);
      written.set(snapshot.version, i);
    }
    const seen: Snapshot[] = [];
    while (seen.at(-1)?.version !== snapshot.version) {
      const item = await next(iterator);
      if (item === null) throw new Error("unexpected null");
      seen.push(item);
    }
    const versions = seen.map((item) => Number(item.version));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    for (const item of seen) expect(item.record?.leaderTransitions).toBe(written.get(item.version));
    abort.abort();
  });

  it("ends promptly on abort while a blocking query is in flight", async () => {
    const store = open({ watchWaitMs: 300_000 });
    const abort = new AbortController();
    const iterator = store.watch(uniqueName("abort"), abort.signal)[Symbol.asyncIterator]();
    expect(await next(iterator)).toBeNull();
    const pending = iterator.next();
    const started = performance.now();
    abort.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("throws UNAVAILABLE when the agent is unreachable, and CLOSED when the store closes", async () => {
    const refused = open({ address: `127.0.0.1:${await closedPort()}` });
    const failing = refused
      .watch(uniqueName("refused"), new AbortController().signal)
      [Symbol.asyncIterator]();
    expect(await codeOf(failing.next())).toBe("UNAVAILABLE");

    const [store, proxy] = await proxied({ watchWaitMs: 300_000 });
    const broken = store.watch(uniqueName("reset"), new AbortController().signal)[Symbol.asyncIterator]();
    expect(await next(broken)).toBeNull();
    const pending = codeOf(broken.next());
    proxy.cut("reset");
    expect(await pending).toBe("UNAVAILABLE");
    proxy.restore();

    const closing = store.watch(uniqueName("closing"), new AbortController().signal)[Symbol.asyncIterator]();
    expect(await next(closing)).toBeNull();
    const ended = codeOf(closing.next());
    await store.close();
    expect(await ended).toBe("CLOSED");
  });

  it("starts over with a non-blocking query when the index goes backwards", async () => {
    // A fake agent: Consul's index only goes backwards after a snapshot restore or a new cluster,
    // which a test cannot cause on a real one. The fake answers the second query with a smaller index.
    const entry = (modifyIndex: number, value: string) => [
      { Key: `${keyPrefix}fake`, Value: Buffer.from(value).toString("base64"), ModifyIndex: modifyIndex },
    ];
    const fake = await FakeAgent.start([
      { index: 100, body: entry(100, encodeRecord(record())) },
      { index: 7, body: entry(100, encodeRecord(record())) }, // backwards, no change
      { index: 100, body: entry(100, encodeRecord(record())) }, // the reset query: still no change
      { index: 101, body: entry(101, encodeRecord(record({ leaderTransitions: 2 }))) },
    ]);
    try {
      const store = open({ address: fake.address });
      const abort = new AbortController();
      const iterator = store.watch("fake", abort.signal)[Symbol.asyncIterator]();
      expect((await next(iterator))?.version).toBe("100");
      expect((await next(iterator))?.version).toBe("101");
      // (A fifth query, blocking on 101, may already be on its way.)
      const indexes = fake.requests.map((request) => request.url.searchParams.get("index") ?? "none");
      expect(indexes.slice(0, 4)).toEqual(["none", "100", "none", "100"]);
      abort.abort();
      await iterator.return?.();
    } finally {
      await fake.close();
    }
  });
});

describe("request options", () => {
  it("sends the token, datacenter and read mode with reads and writes", async () => {
    const fake = await FakeAgent.start([
      { index: 5, body: [] },
      { index: 5, body: [] },
      { index: 6, body: { Results: [{ KV: { Key: `${keyPrefix}opts`, ModifyIndex: 6 } }], Errors: null } },
    ]);
    try {
      const store = open({
        address: fake.address,
        token: "s3cret",
        datacenter: "dc2",
        consistency: "consistent",
      });
      expect(await store.get("opts")).toBeNull();
      expect((await store.create("opts", record())).version).toBe("6");
      const [read, , write] = fake.requests;
      expect(read?.method).toBe("GET");
      // Each segment of the key is percent-encoded; Consul decodes them.
      expect(decodeURIComponent(read?.url.pathname ?? "")).toBe(`/v1/kv/${keyPrefix}opts`);
      expect(read?.url.searchParams.get("dc")).toBe("dc2");
      // `?consistent` is a flag (Consul's API documents it without a value).
      expect(read?.url.searchParams.has("consistent")).toBe(true);
      expect(read?.token).toBe("s3cret");
      expect(write?.method).toBe("PUT");
      expect(write?.url.pathname).toBe("/v1/txn");
      expect(write?.url.searchParams.get("dc")).toBe("dc2");
      expect(write?.token).toBe("s3cret");
      expect(JSON.parse(write?.body ?? "null")).toEqual([
        {
          KV: {
            Verb: "cas",
            Key: `${keyPrefix}opts`,
            Value: Buffer.from(encodeRecord(record({ leaderTransitions: 6 }))).toString("base64"),
            Index: 0,
          },
        },
      ]);
    } finally {
      await fake.close();
    }
  });

  it("creates after a consistent read, whatever the read mode, with the token raised above X-Consul-Index", async () => {
    const written = (index: number) => ({
      index,
      body: { Results: [{ KV: { Key: `${keyPrefix}token`, ModifyIndex: index } }], Errors: null },
    });
    const fake = await FakeAgent.start([
      { index: 41, body: [] },
      written(43),
      { index: 41, body: [] },
      written(44),
    ]);
    try {
      const store = open({ address: fake.address, consistency: "stale" });
      const raised = await store.create("token", record({ leaderTransitions: 0 }));
      expect(raised.record?.leaderTransitions).toBe(42);
      // A requested token above the index is kept: the token is never lowered.
      const kept = await store.create("token", record({ leaderTransitions: 100 }));
      expect(kept.record?.leaderTransitions).toBe(100);
      const [read, write] = fake.requests;
      expect(read?.url.searchParams.has("consistent")).toBe(true);
      expect(read?.url.searchParams.has("stale")).toBe(false);
      const operations = JSON.parse(write?.body ?? "null") as { KV: { Value: string } }[];
      const stored = JSON.parse(
        Buffer.from(operations[0]?.KV.Value ?? "", "base64").toString(),
      ) as LeaderRecord;
      expect(stored.leaderTransitions).toBe(42);
    } finally {
      await fake.close();
    }
  });

  it("refuses to create when the read finds the lock, without writing", async () => {
    const fake = await FakeAgent.start([
      { index: 9, body: [{ Key: `${keyPrefix}exists`, Value: null, ModifyIndex: 9, CreateIndex: 9 }] },
    ]);
    try {
      const store = open({ address: fake.address });
      expect(await codeOf(store.create("exists", record()))).toBe("CONFLICT");
      expect(fake.requests.map((request) => request.method)).toEqual(["GET"]);
    } finally {
      await fake.close();
    }
  });
});

describe("HTTPS", () => {
  /** A self-signed certificate for 127.0.0.1, made with openssl (the harness installs it). */
  async function selfSigned(): Promise<{ cert: Buffer; key: Buffer }> {
    const dir = mkdtempSync(join(tmpdir(), "tenure-consul-tls-"));
    try {
      await promisify(execFile)("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ]);
      return { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("reads over HTTPS with the CA and client certificate given, through its own agent or the user's", async () => {
    const server = await selfSigned();
    const client = await selfSigned();
    const seen: { path: string; clientCertificate: boolean }[] = [];
    // An agent that asks for a client certificate, as Consul with verify_incoming does.
    const https = createHttpsServer(
      { ...server, requestCert: true, ca: [client.cert] },
      (request, response) => {
        const socket = request.socket as import("node:tls").TLSSocket;
        seen.push({ path: request.url ?? "", clientCertificate: socket.authorized });
        response.writeHead(404, { "X-Consul-Index": "7" }).end();
      },
    );
    https.listen(0, "127.0.0.1");
    await once(https, "listening");
    const port = (https.address() as { port: number }).port;
    const agent = new HttpsAgent({ keepAlive: true });
    try {
      const tls = { ca: server.cert, cert: client.cert, key: client.key };
      for (const options of [{ tls }, { tls, agent }]) {
        const store = open({ address: `https://127.0.0.1:${port}`, ...options });
        expect(await store.get("over-tls")).toBeNull();
      }
      expect(seen).toHaveLength(2);
      expect(seen.every((request) => request.clientCertificate)).toBe(true);
      // A server certificate from a CA the store was not given is refused: no answer, UNAVAILABLE.
      const untrusted = open({ address: `https://127.0.0.1:${port}`, tls: { ca: client.cert } });
      expect(await codeOf(untrusted.get("over-tls"))).toBe("UNAVAILABLE");
      expect(seen).toHaveLength(2);
    } finally {
      agent.destroy();
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    }
  });
});

/** A scripted stand-in for the agent's HTTP API: answers requests in order, then holds them open. */
class FakeAgent {
  readonly requests: { method: string; url: URL; token: string | undefined; body: string }[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(answers: { index: number; body: unknown }[]): Promise<FakeAgent> {
    const server = createServer();
    const fake = new FakeAgent(server);
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const token = request.headers["x-consul-token"];
        fake.requests.push({
          method: request.method ?? "",
          url: new URL(request.url ?? "/", "http://fake"),
          token: Array.isArray(token) ? token[0] : token,
          body: Buffer.concat(chunks).toString(),
        });
        const answer = answers.shift();
        if (answer === undefined) return; // like a blocking query that has nothing to report
        const body = JSON.stringify(answer.body);
        const empty = Array.isArray(answer.body) && answer.body.length === 0;
        response.writeHead(empty ? 404 : 200, {
          "Content-Type": "application/json",
          "X-Consul-Index": String(answer.index),
        });
        response.end(empty ? undefined : body);
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return fake;
  }

  get address(): string {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return `127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
