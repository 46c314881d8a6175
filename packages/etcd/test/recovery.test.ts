import { type CutMode, TcpFaultProxy } from "@tenure/conformance";
import { TenureError } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import type {} from "@tenure/testing/global-setup";
import etcd3 from "etcd3";
import { afterEach, describe, expect, inject, it } from "vitest";
import { closeProxy } from "./support.js";

const endpoint = inject("tenureServers").servers.etcd?.endpoints[0];
if (endpoint === undefined) throw new Error("the global setup provided no etcd endpoint");
const target = new URL(endpoint);

/** Outage cycles per case; `TENURE_RECOVERY_CYCLES` raises it for a measurement run. */
const cycles = Number(process.env.TENURE_RECOVERY_CYCLES ?? 3);
/** Time limit of a case: a cycle takes up to about 5 s (the failed calls, the outage, the heal). */
const caseTimeoutMs = 30_000 + cycles * 8_000;

const record = {
  holderIdentity: "candidate-a",
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:06Z",
  leaderTransitions: 1,
};

/** What a call settled with: "resolved", a TenureError code with its message, or something else. */
async function outcome(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: "resolved", message: "" };
  } catch (error) {
    return TenureError.is(error)
      ? { code: error.code, message: error.message }
      : { code: "not a TenureError", message: String(error) };
  }
}

type FaultPolicy = NonNullable<NonNullable<etcd3.IOptions["faultHandling"]>["global"]>;

/** cockatiel's `noop` policy, written out (cockatiel is etcd3's dependency, not ours). */
const runOnce: FaultPolicy = {
  _altReturn: undefined as never,
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
  execute: async (fn, signal) => fn({ signal: signal ?? new AbortController().signal }),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function summary(times: readonly number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return `n=${sorted.length} median=${at(0.5).toFixed(1)} ms p90=${at(0.9).toFixed(1)} ms max=${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms`;
}

/**
 * After a store outage, calls must succeed promptly once the store is back, whatever the outage
 * length: a candidate whose first call after the network healed failed at once would lose a retry
 * period (a leader, possibly its leadership) to a failure that was already over. Each cycle cuts one
 * store off through a TCP proxy, checks that calls during the outage fail with UNAVAILABLE within the
 * request timeout, heals, and requires the very next call to succeed.
 */
describe("etcd: calls succeed promptly once the store is reachable again", () => {
  const requestTimeoutMs = 1000;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function isolatedStore(label: string, options: { userClient?: boolean } = {}) {
    const proxy = await TcpFaultProxy.start({ host: target.hostname, port: Number(target.port) });
    const hosts = `http://${proxy.address}`;
    const keyPrefix = `tenure-recovery/${label}-${Date.now()}/`;
    // A client passed in, with etcd3's defaults except the run-once fault policies the README
    // recommends: grpc-js's own reconnect backoff (1 s to 120 s) and its shared subchannel pool.
    const client =
      options.userClient === true
        ? new etcd3.Etcd3({ hosts, faultHandling: { global: runOnce, host: () => runOnce } })
        : undefined;
    const store =
      client === undefined
        ? new EtcdLockStore({ hosts, keyPrefix, requestTimeoutMs })
        : new EtcdLockStore({ client, keyPrefix, requestTimeoutMs });
    cleanups.push(async () => {
      await store.close();
      client?.close();
      await closeProxy(proxy);
    });
    return { proxy, store };
  }

  /**
   * Runs outage cycles and returns the time from each heal to the first successful call. `outageMs`
   * is how long the cut lasts beyond the failed calls of each cycle.
   */
  async function outageCycles(
    store: EtcdLockStore,
    proxy: TcpFaultProxy,
    mode: CutMode,
    outageLengthsMs: readonly number[],
  ): Promise<number[]> {
    const name = "lock";
    let version = (await store.create(name, record)).version;
    const recoveries: number[] = [];
    for (let cycle = 0; cycle < cycles; cycle++) {
      proxy.cut(mode);
      // Calls during the outage fail with UNAVAILABLE within the request timeout: an update runs
      // into it; after etcd3 has replaced the failed channel (a few milliseconds), a read is
      // abandoned early by its caller's signal, as the Elector does at its operation timeout. The
      // abandoned read keeps waiting in gRPC, on the new channel, until its own deadline: the heal
      // below meets that channel's connection attempt in progress, as a heal soon after a failed
      // call does.
      for (const call of [
        () => store.update(name, record, version),
        () => store.get(name, { signal: AbortSignal.timeout(requestTimeoutMs / 4) }),
      ]) {
        const started = performance.now();
        const failed = await outcome(call());
        expect(failed.code, `cycle ${cycle}: ${failed.message}`).toBe("UNAVAILABLE");
        expect(performance.now() - started).toBeLessThan(requestTimeoutMs + 500);
        await sleep(50);
      }
      const outageMs = outageLengthsMs[cycle % outageLengthsMs.length] ?? 0;
      await sleep(outageMs);
      proxy.restore();
      const healedAt = performance.now();
      let failure = "";
      const read = await store.get(name).catch((error: unknown) => {
        failure = String(error);
        return null;
      });
      recoveries.push(performance.now() - healedAt);
      expect(failure, `cycle ${cycle}, outage +${outageMs} ms: the first call after heal failed`).toBe("");
      expect(read?.version).toBe(version);
      version = (await store.update(name, record, version)).version;
    }
    return recoveries;
  }

  it(
    "after a blackhole (packets dropped), the first call after heal succeeds",
    async () => {
      const { proxy, store } = await isolatedStore("blackhole");
      const recoveries = await outageCycles(store, proxy, "blackhole", [0, 500, 3000]);
      console.info(`etcd recovery after blackhole: ${summary(recoveries)}`);
    },
    caseTimeoutMs,
  );

  it(
    "after refused connections, the first call after heal succeeds",
    async () => {
      const { proxy, store } = await isolatedStore("reset");
      // Every connection attempt during the outage fails at once, so the reconnect backoff grows;
      // the first call after the heal waits for the next attempt, within its deadline.
      const recoveries = await outageCycles(store, proxy, "reset", [0, 500, 3000]);
      console.info(`etcd recovery after reset: ${summary(recoveries)}`);
    },
    caseTimeoutMs,
  );

  it(
    "a call waiting for a connection when the network heals succeeds instead of failing fast",
    async () => {
      const { proxy, store } = await isolatedStore("in-flight");
      const name = "lock";
      await store.create(name, record);
      const recoveries: number[] = [];
      for (let cycle = 0; cycle < cycles; cycle++) {
        proxy.cut("blackhole");
        // The first call times out on the dead connection; etcd3 then opens a new channel, whose
        // connection the blackhole accepts and never answers.
        expect((await outcome(store.get(name))).code).toBe("UNAVAILABLE");
        await sleep(50);
        const pending = outcome(store.get(name));
        await sleep(requestTimeoutMs / 4);
        // Healing resets that half-open connection: the channel sees ECONNRESET while the call waits.
        proxy.restore();
        const healedAt = performance.now();
        const read = await pending;
        recoveries.push(performance.now() - healedAt);
        expect(read.code, `cycle ${cycle}: ${read.message}`).toBe("resolved");
      }
      console.info(`etcd recovery of an in-flight call: ${summary(recoveries)}`);
    },
    caseTimeoutMs,
  );

  for (const mode of ["blackhole", "reset"] as const) {
    it(
      `a client passed in recovers too (${mode})`,
      async () => {
        const { proxy, store } = await isolatedStore(`user-client-${mode}`, { userClient: true });
        const recoveries = await outageCycles(store, proxy, mode, [0, 500, 3000]);
        console.info(`etcd recovery of a client passed in, after ${mode}: ${summary(recoveries)}`);
      },
      caseTimeoutMs,
    );
  }
});
