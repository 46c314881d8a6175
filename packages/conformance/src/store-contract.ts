import type { LockStore, Snapshot } from "@tenure/core";
import { afterEach, describe, expect, it } from "vitest";
import { outcomeCode, rawRecord, StorePool, sameRecord, sampleRecord, uniqueName } from "./support.js";
import type { ConformanceTarget } from "./target.js";

/**
 * The store contract: get / create / update / watch semantics, checked through the adapter and
 * confirmed with the backend's own client.
 */
export function describeStoreContract(target: ConformanceTarget): void {
  describe(`${target.name}: store contract`, () => {
    const pool = new StorePool(target);
    afterEach(() => pool.closeAll());
    const unavailableWithinMs = target.unavailableWithinMs ?? 5000;

    it("declares the capabilities the adapter promises", async () => {
      const store = await pool.open();
      expect(store.capabilities).toEqual(target.capabilities);
      expect(typeof store.backend).toBe("string");
      expect(store.backend.length).toBeGreaterThan(0);
      expect(typeof store.watch === "function").toBe(target.capabilities.watch);
    });

    it("reads a missing lock as null", async () => {
      const store = await pool.open();
      expect(await store.get(uniqueName(target, "missing"))).toBeNull();
    });

    it("creates a lock that reads back exactly, through the adapter and the backend's own client", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "create");
      const requested = sampleRecord();
      const created = await store.create(name, requested);
      expect(created.record).not.toBeNull();
      // The store may raise the token to its counter (see LockStore.create), never lower it.
      const token = created.record?.leaderTransitions ?? -1;
      expect(token).toBeGreaterThanOrEqual(requested.leaderTransitions);
      const record = { ...requested, leaderTransitions: token };
      expect(sameRecord(created.record ?? requested, record)).toBe(true);
      const read = await store.get(name);
      expect(read?.version).toBe(created.version);
      expect(read?.record && sameRecord(read.record, record)).toBe(true);
      expect(sameRecord(rawRecord(await target.readRaw(name)), record)).toBe(true);
    });

    it("round-trips every field: empty holder, long identity, large token", async () => {
      const store = await pool.open();
      for (const record of [
        sampleRecord({ holderIdentity: "", leaseDurationSeconds: 1, leaderTransitions: 0 }),
        sampleRecord({
          holderIdentity: `pod-${"x".repeat(200)}_ünïcødé/with:chars`,
          leaderTransitions: 2 ** 31 - 1,
        }),
      ]) {
        const name = uniqueName(target, "roundtrip");
        // An update stores the record exactly as given (a create may raise the token).
        const created = await store.create(name, sampleRecord({ holderIdentity: "creator" }));
        await store.update(name, record, created.version);
        const read = await store.get(name);
        expect(read?.record && sameRecord(read.record, record)).toBe(true);
        expect(sameRecord(rawRecord(await target.readRaw(name)), record)).toBe(true);
      }
    });

    it("never lowers the token of a create", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "create-token");
      const created = await store.create(name, sampleRecord({ leaderTransitions: 2 ** 31 - 1 }));
      expect(created.record?.leaderTransitions).toBeGreaterThanOrEqual(2 ** 31 - 1);
      expect(rawRecord(await target.readRaw(name)).leaderTransitions).toBe(created.record?.leaderTransitions);
    });

    it("reads a deleted lock as absent, and a lock created again carries a token above every earlier one", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "recreate");
      let snapshot = await store.create(name, sampleRecord({ leaderTransitions: 0 }));
      let highest = snapshot.record?.leaderTransitions ?? 0;
      for (let term = 0; term < 3; term++) {
        // New terms, each one above the last, as the engine writes them.
        highest += 1;
        snapshot = await store.update(
          name,
          sampleRecord({ holderIdentity: `holder-${term}`, leaderTransitions: highest }),
          snapshot.version,
        );
      }
      await target.deleteRaw(name);
      const fresh = await pool.open();
      const absent = await fresh.get(name);
      expect(absent === null || absent.deleted === true, JSON.stringify(absent)).toBe(true);
      // A creator that never saw the lock starts from 0, as a fresh process would. A store that
      // reports a tombstone refuses a plain create and brings the lock back on the tombstone's version.
      const initial = sampleRecord({ leaderTransitions: 0 });
      const recreated =
        absent === null
          ? await fresh.create(name, initial)
          : await (async () => {
              expect(await outcomeCode(fresh.create(name, initial))).toBe("CONFLICT");
              return fresh.update(name, initial, absent.version);
            })();
      expect(recreated.record?.leaderTransitions).toBeGreaterThan(highest);
      expect(rawRecord(await target.readRaw(name)).leaderTransitions).toBe(
        recreated.record?.leaderTransitions,
      );
    });

    it("refuses to create a lock that exists with CONFLICT, leaving it unchanged", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "create-twice");
      const first = sampleRecord({ holderIdentity: "first" });
      await store.create(name, first);
      expect(await outcomeCode(store.create(name, sampleRecord({ holderIdentity: "second" })))).toBe(
        "CONFLICT",
      );
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe("first");
    });

    it("updates on the current version and hands out a new version", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "update");
      const created = await store.create(name, sampleRecord());
      const next = sampleRecord({ holderIdentity: "candidate-b", leaderTransitions: 4 });
      const updated = await store.update(name, next, created.version);
      expect(updated.version).not.toBe(created.version);
      expect(updated.record && sameRecord(updated.record, next)).toBe(true);
      expect((await store.get(name))?.version).toBe(updated.version);
      expect(sameRecord(rawRecord(await target.readRaw(name)), next)).toBe(true);
    });

    it("refuses an update on a stale version with CONFLICT, leaving the lock unchanged", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "stale");
      const created = await store.create(name, sampleRecord());
      const current = sampleRecord({ holderIdentity: "current" });
      await store.update(name, current, created.version);
      const stale = store.update(name, sampleRecord({ holderIdentity: "stale" }), created.version);
      expect(await outcomeCode(stale)).toBe("CONFLICT");
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe("current");
    });

    it("refuses an update of a lock that does not exist with CONFLICT", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "update-missing");
      const other = uniqueName(target, "other");
      const version = (await store.create(other, sampleRecord())).version;
      expect(await outcomeCode(store.update(name, sampleRecord(), version))).toBe("CONFLICT");
      expect(await target.readRaw(name)).toBeNull();
    });

    it("never repeats a version across many writes", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "versions");
      let snapshot = await store.create(name, sampleRecord());
      const seen = new Set([snapshot.version]);
      for (let i = 0; i < 10; i++) {
        snapshot = await store.update(name, sampleRecord({ leaderTransitions: i }), snapshot.version);
        expect(seen.has(snapshot.version)).toBe(false);
        seen.add(snapshot.version);
      }
    });

    it("lets exactly one of many concurrent writers on one version win", async () => {
      const writers = await Promise.all(Array.from({ length: 6 }, () => pool.open()));
      const name = uniqueName(target, "race");
      const base = await (writers[0] as LockStore).create(name, sampleRecord());
      const outcomes = await Promise.all(
        writers.map((store, index) =>
          outcomeCode(store.update(name, sampleRecord({ holderIdentity: `writer-${index}` }), base.version)),
        ),
      );
      expect(outcomes.filter((code) => code === "resolved")).toHaveLength(1);
      expect(outcomes.filter((code) => code === "CONFLICT")).toHaveLength(writers.length - 1);
      const winner = outcomes.indexOf("resolved");
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(`writer-${winner}`);
    });

    it("lets exactly one of many concurrent creators win", async () => {
      const writers = await Promise.all(Array.from({ length: 6 }, () => pool.open()));
      const name = uniqueName(target, "create-race");
      const outcomes = await Promise.all(
        writers.map((store, index) =>
          outcomeCode(store.create(name, sampleRecord({ holderIdentity: `creator-${index}` }))),
        ),
      );
      expect(outcomes.filter((code) => code === "resolved")).toHaveLength(1);
      expect(outcomes.filter((code) => code === "CONFLICT")).toHaveLength(writers.length - 1);
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe(
        `creator-${outcomes.indexOf("resolved")}`,
      );
    });

    it("rejects bad election names with INVALID_ARGUMENT", async () => {
      const store = await pool.open();
      for (const name of ["", "Upper-Case", "has space", "-leading-dash", "x".repeat(254), "under_score"]) {
        expect(await outcomeCode(store.get(name)), `get(${JSON.stringify(name)})`).toBe("INVALID_ARGUMENT");
        expect(await outcomeCode(store.create(name, sampleRecord())), `create(${JSON.stringify(name)})`).toBe(
          "INVALID_ARGUMENT",
        );
      }
    });

    it("rejects bad records with INVALID_ARGUMENT and writes nothing", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "bad-record");
      const bad = [
        sampleRecord({ leaderTransitions: -1 }),
        sampleRecord({ leaderTransitions: 1.5 }),
        sampleRecord({ leaseDurationSeconds: 0 }),
        sampleRecord({ leaseDurationSeconds: Number.NaN }),
      ];
      if (target.capabilities.leaseGranularityMs >= 1000)
        bad.push(sampleRecord({ leaseDurationSeconds: 1.5 }));
      for (const record of bad) {
        expect(await outcomeCode(store.create(name, record)), JSON.stringify(record)).toBe(
          "INVALID_ARGUMENT",
        );
      }
      expect(await target.readRaw(name)).toBeNull();
    });

    it(
      "fails with UNAVAILABLE within a bounded time when the server is unreachable, and recovers",
      async () => {
        const store = await pool.open();
        const name = uniqueName(target, "unreachable");
        const created = await store.create(name, sampleRecord());
        await target.faults.isolate(store);
        for (const call of [
          () => store.get(name),
          () => store.update(name, sampleRecord(), created.version),
        ]) {
          const started = performance.now();
          expect(await outcomeCode(call())).toBe("UNAVAILABLE");
          expect(performance.now() - started).toBeLessThan(unavailableWithinMs);
        }
        await target.faults.heal(store);
        expect((await store.get(name))?.version).toBe(created.version);
      },
      unavailableWithinMs * 3 + 10_000,
    );

    it("rejects every call after close with CLOSED, without hanging", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "closed");
      const created = await store.create(name, sampleRecord());
      await store.close();
      await store.close(); // closing twice is harmless
      expect(await outcomeCode(store.get(name))).toBe("CLOSED");
      expect(await outcomeCode(store.create(uniqueName(target, "closed-create"), sampleRecord()))).toBe(
        "CLOSED",
      );
      expect(await outcomeCode(store.update(name, sampleRecord(), created.version))).toBe("CLOSED");
      if (store.watch !== undefined) {
        const iterator = store.watch(name, new AbortController().signal)[Symbol.asyncIterator]();
        expect(await outcomeCode(iterator.next())).toBe("CLOSED");
      }
    });

    it("refuses an update on a version the store never issued with CONFLICT", async () => {
      const store = await pool.open();
      const name = uniqueName(target, "unknown-version");
      await store.create(name, sampleRecord({ holderIdentity: "kept" }));
      // A version no write of this store handed out (a lost race, in the engine's terms).
      for (const version of ["999999999999", "not-a-version"]) {
        expect(await outcomeCode(store.update(name, sampleRecord(), version)), version).toBe("CONFLICT");
      }
      expect(rawRecord(await target.readRaw(name)).holderIdentity).toBe("kept");
    });

    if (target.writeCorrupt !== undefined) {
      const writeCorrupt = target.writeCorrupt.bind(target);
      it("reads an undecodable lock as corrupt, with a version that a compare-and-swap can replace", async () => {
        const store = await pool.open();
        const name = uniqueName(target, "corrupt");
        await writeCorrupt(name);
        const snapshot = await store.get(name);
        expect(snapshot).not.toBeNull();
        expect(snapshot?.record).toBeNull();
        expect(typeof snapshot?.corruption).toBe("string");
        const replacement = sampleRecord({ holderIdentity: "repairer" });
        await store.update(name, replacement, snapshot?.version ?? "");
        expect(sameRecord(rawRecord(await target.readRaw(name)), replacement)).toBe(true);
      });
    }

    if (target.capabilities.watch) {
      const every = target.watchMayCoalesce !== true;
      it(`watch starts with the current state, then delivers ${every ? "every committed change" : "changes (possibly coalesced)"} in order`, async () => {
        const store = await pool.open();
        const writer = await pool.open();
        const name = uniqueName(target, "watch");
        const abort = new AbortController();
        const stream = store.watch?.(name, abort.signal);
        if (stream === undefined) throw new Error("watch declared but not implemented");
        const iterator = stream[Symbol.asyncIterator]();
        const first = await iterator.next();
        expect(first.done).toBe(false);
        expect(first.value).toBeNull();
        let snapshot = await writer.create(name, sampleRecord({ leaderTransitions: 0 }));
        const firstToken = snapshot.record?.leaderTransitions;
        const written = [snapshot.version];
        for (let i = 1; i <= 5; i++) {
          snapshot = await writer.update(name, sampleRecord({ leaderTransitions: i }), snapshot.version);
          written.push(snapshot.version);
        }
        const last = written.at(-1);
        const seen: (Snapshot | null)[] = [];
        const deadline = performance.now() + unavailableWithinMs;
        while (seen.at(-1)?.version !== last) {
          const next = await Promise.race([
            iterator.next(),
            new Promise<"late">((resolve) => setTimeout(() => resolve("late"), deadline - performance.now())),
          ]);
          if (next === "late")
            throw new Error(`watch did not reach the last write within ${unavailableWithinMs} ms`);
          if (next.done) throw new Error("watch ended early");
          seen.push(next.value);
        }
        const versions = seen.map((item) => item?.version ?? "deleted");
        if (every) {
          expect(versions).toEqual(written);
          expect(seen.map((item) => item?.record?.leaderTransitions)).toEqual([firstToken, 1, 2, 3, 4, 5]);
        } else {
          // A subsequence of the writes, in commit order, ending with the last: never an old state after a newer one.
          const positions = versions.map((version) => written.indexOf(version));
          expect(positions.every((position) => position >= 0)).toBe(true);
          expect(positions).toEqual([...positions].sort((a, b) => a - b));
          expect(new Set(positions).size).toBe(positions.length);
        }
        abort.abort();
        const end = await Promise.race([
          iterator.next(),
          new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), unavailableWithinMs)),
        ]);
        expect(end).toEqual({ done: true, value: undefined });
      });

      it("watch starts with the current state of an existing lock", async () => {
        const store = await pool.open();
        const name = uniqueName(target, "watch-existing");
        const created = await store.create(name, sampleRecord());
        const abort = new AbortController();
        const stream = store.watch?.(name, abort.signal);
        if (stream === undefined) throw new Error("watch declared but not implemented");
        const iterator = stream[Symbol.asyncIterator]();
        const first = await iterator.next();
        expect(first.done).toBe(false);
        expect(first.value?.version).toBe(created.version);
        abort.abort();
        await iterator.return?.();
      });
    }
  });
}
