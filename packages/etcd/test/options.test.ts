import { InvalidArgumentError, TenureError } from "@tenure/core";
import { EtcdLockStore, type EtcdLockStoreOptions } from "@tenure/etcd";
import type {} from "@tenure/testing/global-setup";
import { describe, expect, inject, it } from "vitest";
import { rawClient } from "./support.js";

const endpoint = inject("tenureServers").servers.etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");

const record = {
  holderIdentity: "candidate-a",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:06Z",
  leaderTransitions: 1,
};

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

describe("etcd: options and client ownership", () => {
  it("rejects bad options with INVALID_ARGUMENT naming the field", () => {
    const client = rawClient([endpoint]);
    try {
      const cases: [EtcdLockStoreOptions, string][] = [
        [{ client, hosts: endpoint }, "hosts"],
        [{ client, auth: { username: "u", password: "p" } }, "auth"],
        [{ hosts: [] }, "hosts"],
        [{ hosts: endpoint, keyPrefix: "" }, "keyPrefix"],
        [{ hosts: endpoint, requestTimeoutMs: 0 }, "requestTimeoutMs"],
        [{ hosts: endpoint, auth: { username: "", password: "p" } }, "auth"],
      ];
      for (const [options, field] of cases) {
        let thrown: unknown;
        try {
          new EtcdLockStore(options);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, field).toBeInstanceOf(InvalidArgumentError);
        expect((thrown as InvalidArgumentError).field).toBe(field);
      }
    } finally {
      client.close();
    }
  });

  it("uses a client passed in, stores under keyPrefix, and leaves the client open on close", async () => {
    const client = rawClient([endpoint]);
    try {
      const keyPrefix = `tenure-options/${Date.now()}/`;
      const store = new EtcdLockStore({ client, keyPrefix });
      const created = await store.create("mine", record);
      await store.close();
      const stored = await client.get(`${keyPrefix}mine`).exec();
      expect(stored.kvs[0]?.mod_revision).toBe(created.version);
      expect(await code(store.get("mine"))).toBe("CLOSED");
    } finally {
      client.close();
    }
  });

  it("rejects (never throws) a malformed version and a bad watch name, before any I/O", async () => {
    const store = new EtcdLockStore({ hosts: "http://127.0.0.1:1", requestTimeoutMs: 500 });
    try {
      // A version that is not a revision is still a version no write of this store handed out: the
      // store contract makes that a lost compare-and-swap (CONFLICT), as on every other store; it
      // was INVALID_ARGUMENT before the contract said so. Nothing listens on the port, so an
      // answer other than UNAVAILABLE also shows that nothing was sent (a compare on revision 0
      // would pass for a missing key). Not a string at all is a caller's mistake: INVALID_ARGUMENT.
      for (const [version, expected] of [
        ["not-a-revision", "CONFLICT"],
        ["0", "CONFLICT"],
        ["9999999999999999999", "CONFLICT"], // above int64: no revision
        [7 as unknown as string, "INVALID_ARGUMENT"],
        [undefined as unknown as string, "INVALID_ARGUMENT"],
      ] as const) {
        let pending: Promise<unknown> | undefined;
        expect(() => {
          pending = store.update("fine-name", record, version);
        }).not.toThrow();
        expect(await code(pending ?? Promise.resolve()), String(version)).toBe(expected);
      }
      const abort = new AbortController();
      expect(await code(store.watch("Bad Name", abort.signal)[Symbol.asyncIterator]().next())).toBe(
        "INVALID_ARGUMENT",
      );
    } finally {
      await store.close();
    }
  });

  it("answers UNAVAILABLE within the request timeout when nothing listens, and at once when the signal is aborted", async () => {
    // A call waits for a connection until its deadline (so that it succeeds if etcd comes back in
    // time), then fails: refused connections do not fail it sooner.
    const requestTimeoutMs = 1000;
    const store = new EtcdLockStore({ hosts: "http://127.0.0.1:1", requestTimeoutMs });
    try {
      const started = performance.now();
      expect(await code(store.get("anything"))).toBe("UNAVAILABLE");
      expect(performance.now() - started).toBeLessThan(requestTimeoutMs + 1000);
      const abort = new AbortController();
      abort.abort();
      expect(await code(store.create("anything", record, { signal: abort.signal }))).toBe("UNAVAILABLE");
    } finally {
      await store.close();
    }
  });
});
