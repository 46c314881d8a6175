import { TenureError } from "@tenure/core";
import { EtcdLockStore, type EtcdLockStoreOptions } from "@tenure/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVER_START_TIMEOUT_MS } from "./support.js";
import { startTlsEtcd, type TlsEtcd } from "./tls-etcd.js";

const record = {
  holderIdentity: "candidate-a",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:06Z",
  leaderTransitions: 1,
};

/** etcd serving clients over TLS and requiring a client certificate (`--client-cert-auth`). */
describe("etcd: TLS with client certificates", () => {
  const requestTimeoutMs = 2000;
  let etcd: TlsEtcd;
  const stores: EtcdLockStore[] = [];

  function store(options: EtcdLockStoreOptions): EtcdLockStore {
    const created = new EtcdLockStore({ hosts: etcd.endpoint, requestTimeoutMs, ...options });
    stores.push(created);
    return created;
  }

  beforeAll(async () => {
    etcd = await startTlsEtcd();
  }, SERVER_START_TIMEOUT_MS);
  afterAll(async () => {
    await Promise.allSettled(stores.map((created) => created.close()));
    await etcd?.stop();
  });

  it("creates, updates, reads and watches with the CA and a client certificate", async () => {
    const trusted = store({
      credentials: {
        rootCertificate: etcd.tls.ca,
        certChain: etcd.tls.clientCert,
        privateKey: etcd.tls.clientKey,
      },
    });
    const abort = new AbortController();
    const stream = trusted.watch("tls", abort.signal)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toBeNull();
    const created = await trusted.create("tls", record);
    const updated = await trusted.update("tls", { ...record, leaderTransitions: 2 }, created.version);
    expect((await stream.next()).value?.version).toBe(created.version);
    expect((await stream.next()).value?.record?.leaderTransitions).toBe(2);
    expect((await trusted.get("tls"))?.version).toBe(updated.version);
    abort.abort();
    await stream.return?.();
  });

  it("fails with UNAVAILABLE within the request timeout, never hangs, without a client certificate or the CA", async () => {
    for (const [label, candidate] of [
      ["no client certificate", store({ credentials: { rootCertificate: etcd.tls.ca } })],
      ["server certificate not trusted", store({ hosts: etcd.endpoint })],
    ] as const) {
      const started = performance.now();
      let code = "resolved";
      try {
        await candidate.get("tls");
      } catch (error) {
        code = TenureError.is(error) ? error.code : String(error);
      }
      expect(code, label).toBe("UNAVAILABLE");
      expect(performance.now() - started, label).toBeLessThan(requestTimeoutMs + 1000);
    }
  });
});
