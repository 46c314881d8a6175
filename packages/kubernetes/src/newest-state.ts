import type { Snapshot } from "@tenure/core";
import { toTenureError } from "@tenure/core";
import { snapshotOf } from "@tenure/core/adapter";
import type { KubeObject, ObjectKind } from "./object-kind.js";

/**
 * The newest state of each lock one store has seen (from its own writes, its reads and its watch),
 * and the highest resourceVersion it has handed out. Answers that come back out of order (a read
 * overtaken by the store's own write, a watch event older than a write) are never reported as the
 * current state: a caller never acts on a state older than one it could have known.
 */
export class NewestStates<T extends KubeObject> {
  readonly #kind: ObjectKind<T>;
  /**
   * The last object seen per election. A replace sends the whole object, so it is built on the
   * object the caller's version came from: fields this lock does not own survive.
   */
  readonly #objects = new Map<string, T>();
  /** The highest resourceVersion handed out per election (see {@link versionOrder}). */
  readonly #highest = new Map<string, bigint>();

  constructor(kind: ObjectKind<T>) {
    this.#kind = kind;
  }

  /** The highest resourceVersion handed out for `name`: compared before and after a call, it says whether anything newer was seen meanwhile. */
  highest(name: string): bigint | undefined {
    return this.#highest.get(name);
  }

  /** The newest object seen of `name`. */
  object(name: string): T | undefined {
    return this.#objects.get(name);
  }

  /** The snapshot of `object`, kept as the newest state unless a newer one was seen. */
  remember(name: string, object: T): Snapshot {
    const version = object.metadata?.resourceVersion;
    if (version === undefined || version === "") {
      throw toTenureError(new Error("the apiserver returned an object without metadata.resourceVersion"), {
        backend: this.#kind.backend,
        election: name,
      });
    }
    const order = versionOrder(version);
    const highest = this.#highest.get(name);
    // The cache keeps the newest object seen: a late read or event must not replace a newer write.
    if (order === undefined || highest === undefined || order >= highest) this.#objects.set(name, object);
    if (order !== undefined && (highest === undefined || order > highest)) this.#highest.set(name, order);
    return this.#snapshot(version, object);
  }

  /** The snapshot of an object: its record, and the holder it asks for when the kind has one. */
  #snapshot(version: string, object: T): Snapshot {
    const snapshot = snapshotOf(version, this.#kind.decode(object));
    const preferredHolder = this.#kind.preferredHolder?.(object);
    if (snapshot.record === null || preferredHolder === undefined) return snapshot;
    return { ...snapshot, preferredHolder };
  }

  /** The newest state seen (undefined when none, or when the lock was seen to disappear). */
  known(name: string): Snapshot | undefined {
    const cached = this.#objects.get(name);
    const version = cached?.metadata?.resourceVersion;
    return cached === undefined || version === undefined ? undefined : this.#snapshot(version, cached);
  }

  /**
   * What to report as the current state, given the state a call read: that state, unless this
   * store has since handed out a newer one (its own write, typically, racing the read), which is
   * then reported instead. `highestBefore` is {@link highest} from before the call.
   */
  newest(name: string, read: Snapshot | null, highestBefore: bigint | undefined): Snapshot | null {
    const overtaken =
      read === null ? this.#highest.get(name) !== highestBefore : this.isStale(name, read.version);
    if (!overtaken) return read;
    return this.known(name) ?? read;
  }

  /**
   * Whether a state about to be reported is older than one this store has already handed out.
   * Reporting it would tell a leader that someone else holds the lock when that is no longer true.
   */
  isStale(name: string, version: string | undefined): boolean {
    const order = version === undefined ? undefined : versionOrder(version);
    const highest = this.#highest.get(name);
    return order !== undefined && highest !== undefined && order < highest;
  }

  /** The lock was seen to be absent: no object to build on (the highest version stays). */
  forget(name: string): void {
    this.#objects.delete(name);
  }

  clear(): void {
    this.#objects.clear();
  }
}

/**
 * The commit order of a resourceVersion, when it has one. The API conventions call resourceVersion
 * opaque; every etcd-backed apiserver uses the etcd revision, a decimal integer, which orders
 * commits. A version that is not one is never compared (nothing is then treated as stale).
 */
export function versionOrder(version: string): bigint | undefined {
  return /^\d{1,30}$/.test(version) ? BigInt(version) : undefined;
}
