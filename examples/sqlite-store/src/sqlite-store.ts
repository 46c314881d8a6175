/**
 * A complete small adapter: Tenure locks in a SQLite file (Node's built-in `node:sqlite`), for
 * processes of one machine sharing a disk. It holds the store's protocol only; the rules every
 * adapter shares (bounded calls, the closed state, decode-to-snapshot, option checks) come from
 * `@tenure/core/adapter`. docs/writing-an-adapter.md walks through it.
 *
 * Schema: `tenure_locks(name, record, version)` holds the locks; `tenure_versions(name, last)` holds
 * the last version each election was given and outlives its lock, so versions never repeat (no ABA),
 * a deleted lock is reported as a tombstone, and a created lock's token is raised to its version.
 */
import { DatabaseSync } from "node:sqlite";
import type { LeaderRecord, LockStore, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ConflictError, TenureError, toTenureError, UnavailableError } from "@tenure/core";
import {
  assertValidElectionName,
  assertValidRecord,
  boundedCall,
  decodeRecord,
  encodeRecord,
  nonEmptyString,
  positiveMs,
  StoreLifecycle,
  snapshotOf,
} from "@tenure/core/adapter";

const BACKEND = "sqlite";

export interface SqliteLockStoreOptions {
  /** The database file, shared by every candidate. Required. */
  readonly path: string;
  /**
   * How long a write waits for another process's write lock before UNAVAILABLE. SQLite waits
   * synchronously, blocking the event loop, so keep it short: a write takes microseconds, and a
   * candidate that finds the file busy simply tries again after its retry period. Default 50.
   */
  readonly busyTimeoutMs?: number;
}

type Row = { readonly record: string; readonly version: number };

export class SqliteLockStore implements LockStore {
  readonly backend = BACKEND;
  /** No watch: SQLite cannot push changes, so followers read every retry period. */
  readonly capabilities: StoreCapabilities = { watch: false, leaseGranularityMs: 1 };
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #lifecycle = new StoreLifecycle(BACKEND);

  constructor(options: SqliteLockStoreOptions) {
    const context = { backend: BACKEND };
    const path = nonEmptyString("path", options.path, "", context);
    this.#busyTimeoutMs = positiveMs("busyTimeoutMs", options.busyTimeoutMs, 50, context);
    this.#db = new DatabaseSync(path, { timeout: this.#busyTimeoutMs });
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS tenure_locks (name TEXT PRIMARY KEY, record TEXT NOT NULL, version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS tenure_versions (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
    `);
  }

  get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return this.#call("get", name, options, () => {
      const row = this.#db.prepare("SELECT record, version FROM tenure_locks WHERE name = ?").get(name) as
        | Row
        | undefined;
      if (row !== undefined) return snapshotOf(String(row.version), decodeRecord(row.record));
      const last = this.#lastVersion(name);
      return last === undefined ? null : { version: `deleted-${last}`, record: null, deleted: true };
    });
  }

  create(name: string, record: LeaderRecord, options?: OperationOptions): Promise<Snapshot> {
    return this.#write("create", name, record, options, () => {
      // A lock that existed is brought back by update() on its tombstone, never created blindly.
      if (this.#exists(name) || this.#lastVersion(name) !== undefined) return "conflict";
      return this.#commit(name, record, true);
    });
  }

  update(
    name: string,
    record: LeaderRecord,
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    return this.#write("update", name, record, options, () => {
      const row = this.#db.prepare("SELECT version FROM tenure_locks WHERE name = ?").get(name) as
        | Pick<Row, "version">
        | undefined;
      if (row === undefined) {
        const last = this.#lastVersion(name);
        const onTombstone = last !== undefined && expectedVersion === `deleted-${last}`;
        return onTombstone ? this.#commit(name, record, true) : "conflict";
      }
      return String(row.version) === expectedVersion ? this.#commit(name, record, false) : "conflict";
    });
  }

  async close(): Promise<void> {
    if (this.#lifecycle.close()) this.#db.close();
  }

  /** One write: a transaction that reads, decides, and writes, or reports the lost race. */
  #write(
    operation: "create" | "update",
    name: string,
    record: LeaderRecord,
    options: OperationOptions | undefined,
    decide: () => Snapshot | "conflict",
  ): Promise<Snapshot> {
    return this.#call(operation, name, options, () => {
      assertValidRecord(record, { backend: BACKEND, election: name });
      this.#db.exec("BEGIN IMMEDIATE");
      let outcome: Snapshot | "conflict";
      try {
        outcome = decide();
        this.#db.exec("COMMIT");
      } catch (error) {
        this.#db.exec("ROLLBACK");
        throw error;
      }
      if (outcome === "conflict") {
        throw new ConflictError("the lock exists, or its version moved", {
          backend: BACKEND,
          election: name,
          operation,
        });
      }
      return outcome;
    });
  }

  /** Writes `record` at the election's next version; `raiseToken` for a create (see LockStore.create). */
  #commit(name: string, record: LeaderRecord, raiseToken: boolean): Snapshot {
    const version = (this.#lastVersion(name) ?? 0) + 1;
    const stored = raiseToken
      ? { ...record, leaderTransitions: Math.max(record.leaderTransitions, version) }
      : record;
    const text = encodeRecord(stored);
    this.#db
      .prepare(
        "INSERT INTO tenure_locks (name, record, version) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET record = excluded.record, version = excluded.version",
      )
      .run(name, text, version);
    this.#db
      .prepare(
        "INSERT INTO tenure_versions (name, last) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET last = excluded.last",
      )
      .run(name, version);
    return { version: String(version), record: stored };
  }

  #exists(name: string): boolean {
    return this.#db.prepare("SELECT 1 FROM tenure_locks WHERE name = ?").get(name) !== undefined;
  }

  #lastVersion(name: string): number | undefined {
    const row = this.#db.prepare("SELECT last FROM tenure_versions WHERE name = ?").get(name) as
      | { readonly last: number }
      | undefined;
    return row?.last;
  }

  /**
   * The kit's bounded call around one synchronous SQLite step: the name checked first, CLOSED after
   * close(), a caller's abort honoured, and SQLite's "database is locked" (another process holds
   * the write lock past busyTimeoutMs) reported as UNAVAILABLE, as any unreachable store.
   */
  #call<T>(
    operation: string,
    name: string,
    options: OperationOptions | undefined,
    step: () => T,
  ): Promise<T> {
    const context = { backend: BACKEND, election: name, operation };
    try {
      assertValidElectionName(name, context);
    } catch (error) {
      return Promise.reject(error);
    }
    return boundedCall(
      {
        timeoutMs: this.#busyTimeoutMs + 1000,
        signal: options?.signal,
        closing: this.#lifecycle.signal,
        context,
        mapError: (error) =>
          TenureError.is(error)
            ? error
            : isBusy(error)
              ? new UnavailableError("the database is locked by another process", {
                  ...context,
                  cause: error,
                })
              : toTenureError(error, context),
      },
      async () => step(),
    );
  }
}

function isBusy(error: unknown): boolean {
  return error instanceof Error && /database is locked|SQLITE_BUSY/i.test(error.message);
}
