import { TenureError } from "@tenure/core";
import { MemoryServer } from "@tenure/memory";
import { describe, expect, it } from "vitest";

const record = {
  holderIdentity: "a",
  leaseDurationSeconds: 1,
  acquireTime: "2026-01-02T03:04:05Z",
  renewTime: "2026-01-02T03:04:05Z",
  leaderTransitions: 1,
};

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return TenureError.is(error) ? error.code : `not a TenureError: ${String(error)}`;
  }
}

describe("memory store: the simulated network and the closed state", () => {
  it("ends a call waiting on a blackholed link with CLOSED when the store closes", async () => {
    const store = new MemoryServer().connect({ requestTimeoutMs: 60_000 });
    await store.create("lock", record);
    store.disconnect("blackhole");
    const pending = codeOf(store.get("lock"));
    await store.close();
    expect(await pending).toBe("CLOSED");
  });

  it("gives up a call when the caller's signal aborts, yet the write it sent still lands", async () => {
    const server = new MemoryServer();
    const store = server.connect({ requestDelayMs: 20 });
    const abort = new AbortController();
    const pending = codeOf(store.create("lock", record, { signal: abort.signal }));
    abort.abort();
    expect(await pending).toBe("UNAVAILABLE");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.readRaw("lock")).toBeDefined();
  });

  it("rejects a requestTimeoutMs that is not a positive number of milliseconds", () => {
    expect(() => new MemoryServer().connect({ requestTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", field: "requestTimeoutMs" }),
    );
  });
});
