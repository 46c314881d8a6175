import { type LockStore, PermissionDeniedError, silentLogger, TenureError } from "@tenure/core";
import { createMemoryStore } from "@tenure/memory";
import { describe, expect, it } from "vitest";
import { AutoLock, chooseLock, type ObjectPresence } from "../src/kubernetes-lock.js";

describe("--lock=auto", () => {
  it.each<[ObjectPresence, ObjectPresence, string | undefined]>([
    // No Endpoints object: no 2016 sidecar of this election ever started.
    ["absent", "absent", "lease"],
    ["absent", "present", "lease"],
    ["absent", "forbidden", "lease"],
    // The 2016 lock may be held: follow it, never a Lease of our own.
    ["present", "absent", "endpoints"],
    ["present", "forbidden", "endpoints"],
    // Both exist: a migration, or one finished with the Endpoints left behind.
    ["present", "present", "migrate"],
    // Cannot tell whether a 2016 lock is in use: no choice (PERMISSION_DENIED).
    ["forbidden", "absent", undefined],
    ["forbidden", "present", undefined],
  ])("endpoints %s, lease %s: %s", (endpoints, lease, kind) => {
    expect(chooseLock(endpoints, lease)?.kind).toBe(kind);
  });
});

/** A store standing for one Kubernetes object: absent, present (holding `holder`), or forbidden. */
function objectStore(backend: string, state: "absent" | "present" | "forbidden", calls: string[]): LockStore {
  const inner = createMemoryStore();
  const record = {
    holderIdentity: "old-1",
    leaseDurationSeconds: 10,
    acquireTime: "2016-06-01T00:00:00Z",
    renewTime: "2016-06-01T00:00:00Z",
    leaderTransitions: 0,
  };
  const ready = state === "present" ? inner.create("example", record) : Promise.resolve();
  return {
    backend,
    capabilities: { watch: true, leaseGranularityMs: 1000 },
    async get(name, options) {
      calls.push(`${backend} get`);
      await ready;
      if (state === "forbidden") throw new PermissionDeniedError(`cannot get ${backend}`, { backend });
      return inner.get(name, options);
    },
    create: (name, value, options) => inner.create(name, value, options),
    update: (name, value, version, options) => inner.update(name, value, version, options),
    close: () => inner.close(),
  };
}

describe("AutoLock", () => {
  function autoLock(
    endpoints: "absent" | "present" | "forbidden",
    lease: "absent" | "present" | "forbidden",
  ) {
    const calls: string[] = [];
    const lock = new AutoLock({
      annotation: objectStore("kubernetes/endpoints", endpoints, calls),
      lease: objectStore("kubernetes/lease", lease, calls),
      namespace: "default",
      logger: silentLogger,
    });
    return { lock, calls };
  }

  it("follows an existing 2016 annotation when the Lease cannot be read, and chooses only once", async () => {
    const { lock, calls } = autoLock("present", "forbidden");
    expect(lock.backend).toBe("kubernetes/auto");
    const [first, second] = await Promise.all([lock.get("example"), lock.get("example")]);
    expect(first?.record?.holderIdentity).toBe("old-1");
    expect(second?.record?.holderIdentity).toBe("old-1");
    expect(lock.choice?.kind).toBe("endpoints");
    expect(lock.backend).toBe("kubernetes/endpoints");
    // One look at each object to choose, then the chosen lock only.
    expect(calls).toEqual([
      "kubernetes/endpoints get",
      "kubernetes/lease get",
      "kubernetes/endpoints get",
      "kubernetes/endpoints get",
    ]);
    await lock.close();
  });

  it("uses a Lease when there is no Endpoints object, without reading the Lease to choose", async () => {
    const { lock, calls } = autoLock("absent", "forbidden");
    await expect(lock.get("example")).rejects.toThrow(/cannot get kubernetes\/lease/);
    expect(lock.choice?.kind).toBe("lease");
    expect(calls).toEqual(["kubernetes/endpoints get", "kubernetes/lease get"]);
  });

  it("refuses to choose when the Endpoints object cannot be read, naming the remedy, and asks again next time", async () => {
    const { lock, calls } = autoLock("forbidden", "absent");
    const error = await lock.get("example").catch((caught: unknown) => caught);
    expect(TenureError.is(error) && error.code).toBe("PERMISSION_DENIED");
    expect(String((error as Error).message)).toMatch(
      /--lock=auto cannot tell whether the 2016 sidecar's lock is in use.*grant "get" on endpoints "example".*--lock=lease/,
    );
    expect(lock.choice).toBeUndefined();
    await lock.get("example").catch(() => undefined);
    expect(calls).toEqual(["kubernetes/endpoints get", "kubernetes/endpoints get"]);
  });
});
