/**
 * The example adapter passes the whole suite, like every real one. SQLite runs inside the process,
 * so there is no network to cut: the fault hook cuts one candidate off at its store's boundary (its
 * calls fail with UNAVAILABLE after the store's own time limit), which is what the engine sees of a
 * store it cannot reach.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describeConformance } from "@tenure/conformance";
import type { LeaderRecord, LockStore } from "@tenure/core";
import { UnavailableError } from "@tenure/core";
import { afterAll } from "vitest";
import { SqliteLockStore } from "../src/sqlite-store.ts";

const folder = mkdtempSync(join(tmpdir(), "tenure-sqlite-"));
const path = join(folder, "locks.db");
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** Reads and edits the file with SQLite itself, around the adapter. */
const raw = new DatabaseSync(path);
raw.exec(
  "CREATE TABLE IF NOT EXISTS tenure_locks (name TEXT PRIMARY KEY, record TEXT NOT NULL, version INTEGER NOT NULL)",
);
afterAll(() => raw.close());

const cutOff = new Set<LockStore>();

/** A store whose calls fail (after a short wait, as a dropped link would) while it is cut off. */
function cuttable(store: SqliteLockStore): LockStore {
  const unreachable = <T>(): Promise<T> =>
    new Promise((_, reject) =>
      setTimeout(() => reject(new UnavailableError("cut off by the test", { backend: "sqlite" })), 200),
    );
  const guarded: LockStore = {
    backend: store.backend,
    capabilities: store.capabilities,
    get: (name, options) => (cutOff.has(guarded) ? unreachable() : store.get(name, options)),
    create: (name, record, options) =>
      cutOff.has(guarded) ? unreachable() : store.create(name, record, options),
    update: (name, record, version, options) =>
      cutOff.has(guarded) ? unreachable() : store.update(name, record, version, options),
    close: () => store.close(),
  };
  return guarded;
}

describeConformance({
  name: "sqlite (example)",
  capabilities: { watch: false, leaseGranularityMs: 1 },
  createStore: () => cuttable(new SqliteLockStore({ path })),
  async readRaw(election) {
    const row = raw.prepare("SELECT record FROM tenure_locks WHERE name = ?").get(election) as
      | { record: string }
      | undefined;
    if (row === undefined) return null;
    try {
      return { record: JSON.parse(row.record) as LeaderRecord };
    } catch {
      return { corruption: "not JSON" };
    }
  },
  async deleteRaw(election) {
    raw.prepare("DELETE FROM tenure_locks WHERE name = ?").run(election);
  },
  async writeCorrupt(election) {
    raw
      .prepare("INSERT OR REPLACE INTO tenure_locks (name, record, version) VALUES (?, '{not json', 1000000)")
      .run(election);
  },
  faults: {
    isolate: async (store) => void cutOff.add(store),
    heal: async (store) => void cutOff.delete(store),
  },
  unavailableWithinMs: 1000,
});
