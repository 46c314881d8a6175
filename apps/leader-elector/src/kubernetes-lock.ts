import type { LockStore, Logger, OperationOptions, Snapshot, StoreCapabilities } from "@tenure/core";
import { ClosedError, PermissionDeniedError, TenureError } from "@tenure/core";
import { MigrationLock } from "@tenure/kubernetes";

/**
 * The lock of `--lock=auto` over the election's Endpoints annotation lock and its Lease lock (both
 * opened through the registry of backends): it picks one on its first read (see {@link chooseLock}).
 */
export function openAutoLock(
  annotation: LockStore,
  lease: LockStore,
  namespace: string,
  logger: Logger,
): LockStore {
  return new AutoLock({ annotation, lease, namespace, logger });
}

/** What `--lock=auto` found in the cluster: `forbidden` when the sidecar may not read it. */
export type ObjectPresence = "absent" | "present" | "forbidden";

/** The lock `--lock=auto` settles on, and why, in words for the log. */
export interface LockChoice {
  readonly kind: "lease" | "endpoints" | "migrate";
  readonly reason: string;
}

/**
 * The rule of `--lock=auto`, from what the sidecar could read of `endpoints/<election>` and
 * `leases/<election>`. The 2016 sidecar created that Endpoints object before it campaigned and keeps
 * its lock in the object's annotation; a fleet on it never looks at a Lease. So:
 *
 * - no Endpoints object: no 2016 sidecar of this election has ever started: a Lease;
 * - an Endpoints object and no Lease: the 2016 lock may be held right now, by pods a rollout has not
 *   replaced yet: follow it (the annotation lock), never a Lease of our own;
 * - both: a migration is under way, or finished with the Endpoints object left behind: the migration
 *   lock, which is safe beside a fleet on either lock alone and beside itself;
 * - the Endpoints object cannot be read: whether a 2016 lock is in use cannot be told, so no choice
 *   is made (the caller reports PERMISSION_DENIED, which readiness shows);
 * - the Lease cannot be read (a 2016 Role grants endpoints only): the annotation lock.
 */
export function chooseLock(endpoints: ObjectPresence, lease: ObjectPresence): LockChoice | undefined {
  if (endpoints === "forbidden") return undefined;
  if (endpoints === "absent") {
    return { kind: "lease", reason: "no Endpoints object of this election exists: using a Lease" };
  }
  if (lease === "present") {
    return {
      kind: "migrate",
      reason:
        "both the 2016 Endpoints object and a Lease of this election exist: using the migration lock, which holds both",
    };
  }
  return {
    kind: "endpoints",
    reason: `the 2016 Endpoints object of this election exists and ${lease === "forbidden" ? "the Lease cannot be read" : "no Lease does"}: following its annotation lock, never taking a Lease of our own (see docs/upgrade-from-2016.md to move to a Lease)`,
  };
}

export interface AutoLockOptions {
  /** The annotation lock on the election's Endpoints object (an AnnotationLock). */
  readonly annotation: LockStore;
  /** The Lease lock of the election (a LeaseLock). */
  readonly lease: LockStore;
  /** For messages. */
  readonly namespace: string;
  readonly logger: Logger;
}

/**
 * `--lock=auto`: the lock is chosen by {@link chooseLock} on the first call (which is a read), from
 * the objects as the apiserver has them then, and kept for the life of the process. Until the choice
 * is made every call makes it first; a failure to choose fails that call with the store's error
 * (UNAVAILABLE, PERMISSION_DENIED), which the Elector reports and retries after a retry period.
 */
export class AutoLock implements LockStore {
  /** The same for all three locks: a watch, and whole-second leases. */
  readonly capabilities: StoreCapabilities = { watch: true, leaseGranularityMs: 1000 };
  readonly #annotation: LockStore;
  readonly #lease: LockStore;
  readonly #namespace: string;
  readonly #logger: Logger;
  #chosen: { readonly store: LockStore; readonly choice: LockChoice } | undefined;
  #choosing: Promise<LockStore> | undefined;
  #closed = false;

  constructor(options: AutoLockOptions) {
    this.#annotation = options.annotation;
    this.#lease = options.lease;
    this.#namespace = options.namespace;
    this.#logger = options.logger;
  }

  /** `kubernetes/auto` until the lock is chosen, then the chosen lock's name. */
  get backend(): string {
    return this.#chosen?.store.backend ?? "kubernetes/auto";
  }

  /** The choice, once made. */
  get choice(): LockChoice | undefined {
    return this.#chosen?.choice;
  }

  async get(name: string, options?: OperationOptions): Promise<Snapshot | null> {
    return (await this.#resolve(name, options)).get(name, options);
  }

  async create(
    name: string,
    record: Parameters<LockStore["create"]>[1],
    options?: OperationOptions,
  ): Promise<Snapshot> {
    return (await this.#resolve(name, options)).create(name, record, options);
  }

  async update(
    name: string,
    record: Parameters<LockStore["update"]>[1],
    expectedVersion: string,
    options?: OperationOptions,
  ): Promise<Snapshot> {
    return (await this.#resolve(name, options)).update(name, record, expectedVersion, options);
  }

  async *watch(name: string, signal: AbortSignal): AsyncIterable<Snapshot | null> {
    const store = await this.#resolve(name, { signal });
    if (store.watch === undefined) return;
    yield* store.watch(name, signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const chosen = this.#chosen?.store;
    // The migration lock closes both of its halves; otherwise close each.
    if (chosen instanceof MigrationLock) await chosen.close();
    else await Promise.all([this.#annotation.close(), this.#lease.close()]);
  }

  #resolve(name: string, options?: OperationOptions): Promise<LockStore> {
    if (this.#closed) {
      return Promise.reject(
        new ClosedError("the lock was closed", { backend: this.backend, election: name }),
      );
    }
    if (this.#chosen !== undefined) return Promise.resolve(this.#chosen.store);
    this.#choosing ??= this.#choose(name, options).finally(() => {
      this.#choosing = undefined;
    });
    return this.#choosing;
  }

  async #choose(name: string, options?: OperationOptions): Promise<LockStore> {
    const endpoints = await presence(() => this.#annotation.get(name, options));
    const lease = endpoints === "present" ? await presence(() => this.#lease.get(name, options)) : "absent";
    const choice = chooseLock(endpoints, lease);
    if (choice === undefined) {
      throw new PermissionDeniedError(
        `--lock=auto cannot tell whether the 2016 sidecar's lock is in use: reading endpoints "${name}" in namespace "${this.#namespace}" is forbidden`,
        {
          backend: "kubernetes/auto",
          election: name,
          remedy: `grant "get" on endpoints "${name}" (resourceNames) to this service account, or pass --lock=lease when no 2016 sidecar runs this election`,
        },
      );
    }
    const store =
      choice.kind === "lease"
        ? this.#lease
        : choice.kind === "endpoints"
          ? this.#annotation
          : new MigrationLock({ primary: this.#annotation, secondary: this.#lease });
    this.#chosen = { store, choice };
    this.#logger.info(`--lock=auto: ${choice.reason}`, { election: name, lock: choice.kind });
    return store;
  }
}

/** Reads one object: whether it exists, or `forbidden`. Any other failure is thrown. */
async function presence(read: () => Promise<Snapshot | null>): Promise<ObjectPresence> {
  try {
    return (await read()) === null ? "absent" : "present";
  } catch (error) {
    if (TenureError.is(error) && error.code === "PERMISSION_DENIED") return "forbidden";
    throw error;
  }
}
