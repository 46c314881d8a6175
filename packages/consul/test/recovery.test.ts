import { type CutMode, TcpFaultProxy } from "@tenure/conformance";
import { ConsulLockStore } from "@tenure/consul";
import { TenureError } from "@tenure/core";
import type {} from "@tenure/testing/global-setup";
import { afterEach, describe, expect, inject, it } from "vitest";

const server = inject("tenureServers").servers.consul;
if (server === undefined) throw new Error("the global setup did not provide consul");
const agentUrl = new URL(server.url);
const agent = { host: agentUrl.hostname, port: Number(agentUrl.port) };

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function summary(times: readonly number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return `n=${sorted.length} median=${at(0.5).toFixed(1)} ms p90=${at(0.9).toFixed(1)} ms max=${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms`;
}

/**
 * After an outage of the agent, calls must succeed promptly once it is reachable again, whatever
 * the outage length: a connection kept alive across the outage must not fail the first call. Each
 * cycle cuts one store off through a TCP proxy, checks that calls during the outage fail with
 * UNAVAILABLE within the request timeout, heals, and requires the very next call to succeed.
 */
describe("consul: calls succeed promptly once the agent is reachable again", () => {
  const requestTimeoutMs = 1000;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  for (const mode of ["blackhole", "reset"] as const satisfies readonly CutMode[]) {
    it(
      `after ${mode === "blackhole" ? "a blackhole (packets dropped)" : "refused connections"}, the first call after heal succeeds`,
      async () => {
        const proxy = await TcpFaultProxy.start(agent);
        const store = new ConsulLockStore({
          address: proxy.address,
          keyPrefix: `tenure-recovery/${mode}-${Date.now()}/`,
          requestTimeoutMs,
        });
        cleanups.push(async () => {
          await store.close();
          await proxy.close();
        });
        const name = "lock";
        let version = (await store.create(name, record)).version;
        const recoveries: number[] = [];
        const outageLengthsMs = [0, 500, 3000];
        for (let cycle = 0; cycle < cycles; cycle++) {
          proxy.cut(mode);
          // Calls during the outage fail with UNAVAILABLE within the request timeout: an update runs
          // into it, a read is abandoned early by its caller's signal (as the Elector does).
          for (const call of [
            () => store.update(name, record, version),
            () => store.get(name, { signal: AbortSignal.timeout(requestTimeoutMs / 4) }),
          ]) {
            const started = performance.now();
            const failed = await outcome(call());
            expect(failed.code, `cycle ${cycle}: ${failed.message}`).toBe("UNAVAILABLE");
            expect(performance.now() - started).toBeLessThan(requestTimeoutMs + 500);
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
          expect(failure, `cycle ${cycle}, outage +${outageMs} ms: the first call after heal failed`).toBe(
            "",
          );
          expect(read?.version).toBe(version);
          version = (await store.update(name, record, version)).version;
        }
        console.info(`consul recovery after ${mode}: ${summary(recoveries)}`);
      },
      caseTimeoutMs,
    );

    it(
      `after ${mode === "blackhole" ? "a blackhole" : "refused connections"} with no call during the outage, the first call after heal succeeds`,
      async () => {
        const proxy = await TcpFaultProxy.start(agent);
        const store = new ConsulLockStore({
          address: proxy.address,
          keyPrefix: `tenure-recovery/idle-${mode}-${Date.now()}/`,
          requestTimeoutMs,
        });
        cleanups.push(async () => {
          await store.close();
          await proxy.close();
        });
        const name = "lock";
        let version = (await store.create(name, record)).version;
        const recoveries: number[] = [];
        for (let cycle = 0; cycle < cycles; cycle++) {
          // The connection kept alive from the last call is idle during the outage; the heal drops it.
          expect((await store.get(name))?.version).toBe(version);
          proxy.cut(mode);
          await sleep([0, 200, 1000][cycle % 3] ?? 0);
          proxy.restore();
          const healedAt = performance.now();
          // The first call after heal: a read, or a write (a leader's renewal), in turn.
          const write = cycle % 2 === 1;
          let failure = "";
          const result = await (write ? store.update(name, record, version) : store.get(name)).catch(
            (error: unknown) => {
              failure = String(error);
              return null;
            },
          );
          recoveries.push(performance.now() - healedAt);
          expect(
            failure,
            `cycle ${cycle}: the first call (${write ? "update" : "get"}) after heal failed`,
          ).toBe("");
          version = result?.version ?? version;
        }
        console.info(`consul recovery after ${mode}, idle connection: ${summary(recoveries)}`);
      },
      caseTimeoutMs,
    );
  }
});
