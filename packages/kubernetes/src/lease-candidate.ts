import { CoordinationV1beta1Api, type V1beta1LeaseCandidate } from "@kubernetes/client-node";
import type { Logger } from "@tenure/core";
import { InvalidArgumentError, TenureError, UnavailableError, UnsupportedError } from "@tenure/core";
import { assertValidElectionName, positiveMs, StoreLifecycle } from "@tenure/core/adapter";
import {
  ApiCalls,
  defaultKubeConfig,
  jsonLines,
  type KubernetesLockOptions,
  lockSettings,
} from "./client.js";
import { apiStatusCode, type CallSite, statusOf } from "./errors.js";
import { ExactMicroTime, toMicroTime } from "./wire.js";

const BACKEND = "kubernetes/leasecandidate";
const RESOURCE = "leasecandidates.coordination.k8s.io";
/** The group/version kube-apiserver 1.33 to 1.36 serves LeaseCandidate at (beta, off by default). */
export const LEASE_CANDIDATE_API_VERSION = "coordination.k8s.io/v1beta1";
/** The one strategy kube-apiserver's coordinator implements (1.31 to 1.36). */
export const OLDEST_EMULATION_VERSION = "OldestEmulationVersion";

/** The API enablement a cluster needs, for messages. */
const ENABLE_REMEDY =
  "Coordinated Leader Election is off by default: start kube-apiserver with --feature-gates=CoordinatedLeaderElection=true and --runtime-config=coordination.k8s.io/v1beta1=true (Kubernetes 1.33 or later)";

export interface LeaseCandidateOptions
  extends Pick<
    KubernetesLockOptions,
    "namespace" | "kubeConfig" | "requestTimeoutMs" | "logger" | "watchTimeoutSeconds"
  > {
  /** An existing client for the `coordination.k8s.io/v1beta1` calls. Default: made from `kubeConfig`. */
  readonly client?: CoordinationV1beta1Api;
  /** The Lease (the election's name) this candidate runs for: `spec.leaseName`. Same namespace. */
  readonly leaseName: string;
  /**
   * The candidate's name, which the coordinator writes as the Lease's `holderIdentity` when it picks
   * this candidate: pass the Elector's `identity`. A DNS-1123 subdomain (it names an object).
   */
  readonly identity: string;
  /** This program's version, semver (`"1.4.2"`): `spec.binaryVersion`. Required. */
  readonly binaryVersion: string;
  /**
   * The version whose behaviour this program emulates: `spec.emulationVersion`. Default
   * `binaryVersion`. `OldestEmulationVersion` picks the lowest, then the lowest binaryVersion, then
   * the candidate created first.
   */
  readonly emulationVersion?: string;
  /**
   * The strategy this candidate asks the coordinator to use: `spec.strategy`. Default
   * `"OldestEmulationVersion"`, the only one kube-apiserver implements; with another, the coordinator
   * creates the Lease without a holder and leaves the choice to a third-party controller.
   */
  readonly strategy?: string;
  /**
   * How often the candidate renews `spec.renewTime` without being asked. Default 300 000 ms, as
   * client-go. The coordinator forces a new election when a candidate has not renewed for 15 minutes
   * and forgets it after 30, so this must stay well below 15 minutes.
   */
  readonly renewIntervalMs?: number;
  /** Called after each ping was answered (the coordinator set `pingTime`, the candidate `renewTime`). */
  readonly onPingAnswered?: (answer: PingAnswer) => void;
}

/** One answered ping of the coordinator. */
export interface PingAnswer {
  /** `spec.pingTime` the coordinator wrote (MicroTime text). */
  readonly pingTime: string;
  /** `spec.renewTime` the candidate answered with (MicroTime text). */
  readonly renewTime: string;
  /** Milliseconds from the moment the watch delivered the ping to the moment the answer was stored. */
  readonly answeredInMs: number;
}

/** The normalized MicroTime text of a spec time (the client hands MicroTime over as the JSON string). */
function microText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value instanceof Date ? value.toISOString() : String(value);
  return toMicroTime(text);
}

/** True when the coordinator asked and the candidate has not answered yet: renewTime before pingTime. */
function pinged(candidate: V1beta1LeaseCandidate): string | undefined {
  const ping = microText(candidate.spec?.pingTime);
  if (ping === undefined) return undefined;
  const renew = microText(candidate.spec?.renewTime);
  // Both are "YYYY-MM-DDTHH:MM:SS.ffffffZ": text order is time order.
  return renew === undefined || renew < ping ? ping : undefined;
}

/**
 * A candidate of Kubernetes Coordinated Leader Election (KEP-4355): publishes a `LeaseCandidate`
 * (`coordination.k8s.io/v1beta1`) naming the Lease it runs for, its versions and strategy, answers
 * the coordinator's pings (`spec.pingTime`) at once by setting `spec.renewTime`, and renews it every
 * `renewIntervalMs`. The coordinator inside kube-apiserver then picks the holder and writes it into
 * the Lease; run an `Elector` with `coordinated: true` and the same identity to take the term up.
 *
 * Compared with client-go's candidate: it answers with `renewTime` no earlier than the ping it
 * answers (the coordinator compares the two, and a candidate whose clock runs behind the
 * apiserver's would otherwise never count as having answered), and `stop()` deletes the object so
 * the coordinator stops considering a candidate that is gone.
 */
export class LeaseCandidate {
  /** The namespace of the LeaseCandidate and of its Lease. */
  readonly namespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly #api: CoordinationV1beta1Api;
  readonly #calls: ApiCalls;
  readonly #lifecycle: StoreLifecycle;
  readonly #logger: Logger | undefined;
  readonly #spec: { binaryVersion: string; emulationVersion: string; strategy: string };
  readonly #renewIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #watchTimeoutSeconds: number;
  readonly #onPingAnswered: ((answer: PingAnswer) => void) | undefined;
  /** The newest candidate object this process wrote or saw. */
  #current: V1beta1LeaseCandidate | undefined;
  /** Writes go one at a time, in order. */
  #writes: Promise<unknown> = Promise.resolve();
  #running: Promise<void> | undefined;
  /** Ends the watch loop; aborted first on stop(), so nothing re-creates the object being deleted. */
  readonly #following = new AbortController();
  #renewTimer: NodeJS.Timeout | undefined;

  /** Validates the options; throws InvalidArgumentError naming the field and the rule. */
  constructor(options: LeaseCandidateOptions) {
    const settings = lockSettings(options, BACKEND);
    const context = { backend: BACKEND, election: String(options.leaseName) };
    assertValidElectionName(options.leaseName, { backend: BACKEND });
    if (
      typeof options.identity !== "string" ||
      !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(options.identity)
    ) {
      throw new InvalidArgumentError(
        "identity",
        `must be a DNS-1123 subdomain (it names the LeaseCandidate, and the coordinator writes it as holderIdentity), got ${JSON.stringify(options.identity)}`,
        context,
      );
    }
    for (const field of ["binaryVersion", "emulationVersion"] as const) {
      const value = options[field];
      if (value === undefined && field === "emulationVersion") continue;
      if (typeof value !== "string" || !/^v?\d+\.\d+(\.\d+)?([-+].*)?$/.test(value)) {
        throw new InvalidArgumentError(
          field,
          `must be a version like "1.4.2" (the coordinator ignores candidates whose versions are not semver), got ${JSON.stringify(value)}`,
          context,
        );
      }
    }
    this.namespace = settings.namespace;
    this.leaseName = options.leaseName;
    this.identity = options.identity;
    this.#renewIntervalMs = positiveMs("renewIntervalMs", options.renewIntervalMs, 300_000, context);
    this.#requestTimeoutMs = settings.requestTimeoutMs;
    this.#watchTimeoutSeconds = settings.watchTimeoutSeconds;
    this.#logger = settings.logger;
    this.#onPingAnswered = options.onPingAnswered;
    this.#spec = {
      binaryVersion: options.binaryVersion,
      emulationVersion: options.emulationVersion ?? options.binaryVersion,
      strategy: options.strategy ?? OLDEST_EMULATION_VERSION,
    };
    this.#lifecycle = new StoreLifecycle(BACKEND);
    this.#calls = new ApiCalls(BACKEND, settings.requestTimeoutMs, settings.logger, this.#lifecycle.signal);
    this.#api =
      options.client ??
      (options.kubeConfig ?? defaultKubeConfig(BACKEND)).makeApiClient(CoordinationV1beta1Api);
  }

  /**
   * Checks that the apiserver serves LeaseCandidate, publishes this candidate (creates it, or takes
   * over the object a previous run left), and from then on answers pings and renews in the
   * background until `stop()`. Rejects with UNSUPPORTED when the API is not enabled, and as any call
   * does otherwise (PERMISSION_DENIED without RBAC on leasecandidates, UNAVAILABLE, ...).
   */
  async start(): Promise<void> {
    this.#lifecycle.assertOpen({ election: this.leaseName, operation: "start" });
    if (this.#running !== undefined) return;
    await this.#assertServed();
    await this.#publish();
    const signal = AbortSignal.any([this.#following.signal, this.#lifecycle.signal]);
    this.#running = this.#follow(signal);
    this.#scheduleRenewal();
  }

  /**
   * Stops answering pings. By default also deletes the LeaseCandidate, so the coordinator no longer
   * considers this candidate (client-go leaves it to expire after 30 minutes). Pair it with the
   * Elector's `stop()`, which releases the Lease if this candidate holds it.
   */
  async stop(options: { readonly remove?: boolean } = {}): Promise<void> {
    if (this.#lifecycle.closed) return;
    clearTimeout(this.#renewTimer);
    this.#following.abort();
    await this.#running;
    await this.#writes.catch(() => {});
    if (options.remove ?? true) {
      // Before closing: the calls run under the lifecycle's signal.
      await this.#calls
        .run(this.#site("delete", "delete"), undefined, (call) =>
          this.#api.deleteNamespacedLeaseCandidate({ name: this.identity, namespace: this.namespace }, call),
        )
        .catch((error: unknown) => {
          if (apiStatusCode(TenureError.is(error) ? error.cause : error) === 404) return;
          this.#logger?.warn(`could not delete LeaseCandidate ${this.identity}`, {
            backend: BACKEND,
            election: this.leaseName,
            cause: error instanceof Error ? error.message : String(error),
          });
        });
    }
    this.#lifecycle.close();
  }

  /** Discovery of `coordination.k8s.io/v1beta1`: absent, or without leasecandidates, is UNSUPPORTED. */
  async #assertServed(): Promise<void> {
    const resources = await this.#calls.run(this.#site("start", "get"), undefined, (call) =>
      this.#api.getAPIResources(call).catch((error: unknown) => {
        if (apiStatusCode(error) === 404) return null;
        throw error;
      }),
    );
    const served = resources?.resources.some((resource) => resource.name === "leasecandidates") === true;
    if (!served) {
      throw new UnsupportedError(
        `the apiserver does not serve ${RESOURCE} at ${LEASE_CANDIDATE_API_VERSION} (${resources === null ? "404 on the group/version" : "the group/version has no leasecandidates"})`,
        { backend: BACKEND, election: this.leaseName, operation: "start", remedy: ENABLE_REMEDY },
      );
    }
  }

  /** Creates the candidate, or renews the one that exists (a previous run's, or a restart's). */
  #publish(): Promise<void> {
    return this.#serialized(async () => {
      const existing = await this.#read();
      if (existing === null) {
        this.#current = await this.#calls.run(this.#site("start", "create"), undefined, (call) =>
          this.#api.createNamespacedLeaseCandidate(
            { namespace: this.namespace, body: this.#object(undefined, this.#now()) },
            call,
          ),
        );
        return;
      }
      await this.#renewFrom(existing);
    });
  }

  /** The object to write: `base` (its metadata and resourceVersion kept) with this candidate's spec. */
  #object(base: V1beta1LeaseCandidate | undefined, renewTime: string): V1beta1LeaseCandidate {
    return {
      apiVersion: LEASE_CANDIDATE_API_VERSION,
      kind: "LeaseCandidate",
      metadata: base?.metadata ?? { name: this.identity, namespace: this.namespace },
      spec: {
        ...base?.spec,
        leaseName: this.leaseName,
        ...this.#spec,
        renewTime: new ExactMicroTime(renewTime),
      },
    };
  }

  /**
   * Writes `renewTime` onto `base` (a replace carrying its resourceVersion). After a conflict (the
   * coordinator pinged in between), reads and writes once more: bounded, and a ping that still
   * arrives later comes through the watch.
   */
  async #renewFrom(base: V1beta1LeaseCandidate): Promise<string | undefined> {
    let current = base;
    for (let attempt = 0; ; attempt++) {
      // Never earlier than the ping being answered: the coordinator compares renewTime with pingTime.
      const ping = microText(current.spec?.pingTime);
      const now = this.#now();
      const renewTime = ping !== undefined && ping > now ? ping : now;
      try {
        this.#current = await this.#calls.run(this.#site("renew", "update"), undefined, (call) =>
          this.#api.replaceNamespacedLeaseCandidate(
            { name: this.identity, namespace: this.namespace, body: this.#object(current, renewTime) },
            call,
          ),
        );
        return renewTime;
      } catch (error) {
        if (!TenureError.is(error, "CONFLICT") || attempt >= 2) throw error;
        const read = await this.#read();
        if (read === null) {
          this.#current = await this.#calls.run(this.#site("renew", "create"), undefined, (call) =>
            this.#api.createNamespacedLeaseCandidate(
              { namespace: this.namespace, body: this.#object(undefined, this.#now()) },
              call,
            ),
          );
          return undefined;
        }
        current = read;
      }
    }
  }

  /** Answers a ping seen on `object`, unless a newer write of ours answered it already. */
  #answer(object: V1beta1LeaseCandidate, seenAtMs: number): Promise<void> {
    return this.#serialized(async () => {
      const base = this.#newer(object);
      const pingTime = pinged(base);
      if (pingTime === undefined) return;
      const renewTime = await this.#renewFrom(base);
      if (renewTime === undefined) return;
      this.#logger?.debug("answered the coordinator's ping", {
        backend: BACKEND,
        election: this.leaseName,
        pingTime,
        renewTime,
      });
      try {
        this.#onPingAnswered?.({ pingTime, renewTime, answeredInMs: performance.now() - seenAtMs });
      } catch (error) {
        this.#logger?.warn("onPingAnswered threw; the candidate goes on", {
          backend: BACKEND,
          cause: error instanceof Error ? error.message : String(error),
        });
      }
    });
  }

  /** The newer of `object` and the last object this candidate wrote (by resourceVersion). */
  #newer(object: V1beta1LeaseCandidate): V1beta1LeaseCandidate {
    const mine = this.#current;
    const theirs = BigInt(object.metadata?.resourceVersion ?? "0");
    const ours = BigInt(mine?.metadata?.resourceVersion ?? "0");
    return mine !== undefined && ours > theirs ? mine : object;
  }

  #scheduleRenewal(): void {
    this.#renewTimer = setTimeout(() => {
      if (this.#following.signal.aborted || this.#lifecycle.closed) return;
      this.#serialized(async () => {
        const base = this.#current ?? (await this.#read());
        if (base === null) return;
        await this.#renewFrom(base);
      })
        .catch((error: unknown) => this.#warn("renewing the LeaseCandidate failed", error))
        .finally(() => this.#scheduleRenewal());
    }, this.#renewIntervalMs);
    this.#renewTimer.unref();
  }

  /**
   * Follows the one LeaseCandidate (fieldSelector `metadata.name=<identity>`) from the last
   * resourceVersion known, answering every ping; reopens at the server's timeout, reads again after
   * a 410 or a break (after a growing pause, at most 30 s), and re-creates the object if it is
   * deleted (by the coordinator's garbage collection, or by hand).
   */
  async #follow(signal: AbortSignal): Promise<void> {
    let pauseMs = 0;
    while (!signal.aborted) {
      try {
        if (pauseMs > 0) await sleep(pauseMs, signal);
        if (signal.aborted) return;
        const since = this.#current?.metadata?.resourceVersion;
        if (since === undefined) {
          await this.#publish();
          continue;
        }
        const progressed = await this.#watchOnce(since, signal);
        pauseMs = progressed ? 0 : Math.min(30_000, Math.max(1000, pauseMs * 2));
      } catch (error) {
        if (signal.aborted) return;
        this.#warn("following the LeaseCandidate broke; reading it again", error);
        this.#current = undefined;
        pauseMs = Math.min(30_000, Math.max(1000, pauseMs * 2));
      }
    }
  }

  /** One watch stream. Resolves whether it delivered anything (a stream ended empty is paced). */
  async #watchOnce(since: string, signal: AbortSignal): Promise<boolean> {
    const idleMs = this.#watchTimeoutSeconds * 1000 + this.#requestTimeoutMs;
    const streamSignal = AbortSignal.any([signal, AbortSignal.timeout(idleMs)]);
    const stream = await this.#calls.openStream(
      this.#site("watch", "watch"),
      streamSignal,
      this.#requestTimeoutMs,
      (call) =>
        this.#api.listNamespacedLeaseCandidate(
          {
            namespace: this.namespace,
            fieldSelector: `metadata.name=${this.identity}`,
            watch: true,
            allowWatchBookmarks: true,
            resourceVersion: since,
            timeoutSeconds: this.#watchTimeoutSeconds,
          },
          call,
        ),
    );
    let progressed = false;
    try {
      for await (const line of jsonLines(stream, () => {})) {
        const event = line as { type?: string; object?: V1beta1LeaseCandidate };
        const object = event.object;
        if (event.type === "ERROR") {
          // 410: too old to resume from; anything else: a break. Either way, read afresh.
          this.#current = undefined;
          if (statusOf(object).code !== 410) {
            throw new UnavailableError(`the LeaseCandidate watch failed: ${JSON.stringify(object)}`, {
              backend: BACKEND,
              election: this.leaseName,
              operation: "watch",
            });
          }
          return true;
        }
        progressed = true;
        if (object === undefined) continue;
        if (event.type === "DELETED") {
          this.#current = undefined;
          return true;
        }
        if (event.type === "BOOKMARK" || event.type === "ADDED" || event.type === "MODIFIED") {
          if (this.#current === undefined || this.#newer(object) === object) {
            if (event.type !== "BOOKMARK") this.#current = object;
            else if (this.#current?.metadata && object.metadata?.resourceVersion) {
              this.#current = {
                ...this.#current,
                metadata: { ...this.#current.metadata, resourceVersion: object.metadata.resourceVersion },
              };
            }
          }
          if (event.type !== "BOOKMARK" && pinged(object) !== undefined) {
            await this.#answer(object, performance.now());
          }
        }
      }
    } catch (error) {
      if (streamSignal.aborted && !signal.aborted) return true; // the idle limit: reopen
      throw error;
    }
    return progressed;
  }

  async #read(): Promise<V1beta1LeaseCandidate | null> {
    return this.#calls.run(this.#site("read", "get"), undefined, (call) =>
      this.#api
        .readNamespacedLeaseCandidate({ name: this.identity, namespace: this.namespace }, call)
        .catch((error: unknown) => {
          if (apiStatusCode(error) === 404) return null;
          throw error;
        }),
    );
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#writes.then(work, work);
    this.#writes = next.catch(() => {});
    return next;
  }

  #now(): string {
    return toMicroTime(new Date().toISOString()) ?? "";
  }

  #warn(message: string, error: unknown): void {
    this.#logger?.warn(message, {
      backend: BACKEND,
      election: this.leaseName,
      candidate: this.identity,
      cause: error instanceof Error ? error.message : String(error),
    });
  }

  #site(operation: string, verb: string): CallSite {
    return {
      backend: BACKEND,
      election: this.leaseName,
      operation,
      verb,
      resource: RESOURCE,
      namespace: this.namespace,
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
