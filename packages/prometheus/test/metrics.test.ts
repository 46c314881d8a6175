import { Elector } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { bindElectorMetrics } from "../src/index.js";

const running: Elector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((elector) => elector.stop({ release: false })));
});

function leaderOf(elector: Elector): Promise<void> {
  return elector.whenLeading().then(() => undefined);
}

describe("bindElectorMetrics", () => {
  it("exposes is_leader, transitions and renew latency for several electors on one registry", async () => {
    const server = new MemoryServer();
    const registry = new Registry();
    const timing = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };
    const electors = ["pod-a", "pod-b"].map((identity) => {
      const elector = new Elector({ store: server.connect(), name: "example", identity, ...timing });
      bindElectorMetrics(elector, { registry });
      running.push(elector);
      return elector.start();
    });
    await Promise.race(electors.map(leaderOf));
    await new Promise((resolve) => setTimeout(resolve, 350)); // a few renewals
    const text = await registry.metrics();
    const leader = electors.find((elector) => elector.isLeader());
    const follower = electors.find((elector) => elector !== leader);
    expect(text).toContain(`tenure_is_leader{election="example",identity="${leader?.identity}"} 1`);
    expect(text).toContain(`tenure_is_leader{election="example",identity="${follower?.identity}"} 0`);
    expect(text).toMatch(/# TYPE tenure_renew_latency_seconds histogram/);
    expect(text).toMatch(
      new RegExp(
        `tenure_renew_latency_seconds_count\\{election="example",identity="${leader?.identity}"\\} [1-9]`,
      ),
    );
    expect(text).toMatch(/tenure_leader_transitions_total\{election="example",identity="pod-a"\} [1-9]/);
    expect(text).toMatch(/tenure_leadership_remaining_seconds\{election="example",identity="pod-b"\} 0\.\d+/);
  });

  it("counts store errors by code", async () => {
    const server = new MemoryServer();
    const store = server.connect({ requestTimeoutMs: 50 });
    const registry = new Registry();
    const timing = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };
    const elector = new Elector({ store, name: "example", identity: "pod-a", ...timing });
    bindElectorMetrics(elector, { registry, prefix: "app_" });
    running.push(elector);
    store.disconnect("refuse");
    elector.start();
    await new Promise<void>((resolve) => {
      elector.subscribe((event) => {
        if (event.type === "store-error") resolve();
      });
    });
    expect(await registry.metrics()).toMatch(
      /app_store_errors_total\{election="example",identity="pod-a",code="UNAVAILABLE"\} [1-9]/,
    );
  });
});
