import { join } from "node:path";
import type { ConformanceTarget, RawLock } from "@tenure/conformance";
import type { LeaderRecord } from "@tenure/core";
import { defaultStateDir, type EtcdServer, restartServer, startServers, stopServers } from "@tenure/testing";
import etcd3 from "etcd3";

/** A client of the raw etcd API, independent of the adapter under test. */
export type RawClient = InstanceType<typeof etcd3.Etcd3>;

/** Opens a plain etcd3 client (the backend's own client) on `endpoints`. */
export function rawClient(
  endpoints: readonly string[],
  auth?: { username: string; password: string },
): RawClient {
  return new etcd3.Etcd3({ hosts: [...endpoints], ...(auth === undefined ? {} : { auth }) });
}

/**
 * Reads a lock with etcd3 and JSON.parse alone, so the suite checks what really landed in etcd and
 * not what the adapter believes it wrote.
 */
export async function readRawLock(client: RawClient, key: string): Promise<RawLock | null> {
  const value = await client.get(key).string();
  if (value === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    return { corruption: `not JSON: ${String(error)}` };
  }
  if (typeof parsed !== "object" || parsed === null) return { corruption: "not a JSON object" };
  return { record: parsed as LeaderRecord };
}

/** The suite's raw access to the locks, and `close()` for its client. */
export type RawLocks = Required<Pick<ConformanceTarget, "readRaw" | "deleteRaw" | "writeCorrupt">> & {
  close(): void;
};

/**
 * The conformance suite's hands on etcd, around the adapter: a raw reader, a deleter and a corrupt
 * writer for the locks under `keyPrefix`, through a plain etcd3 client of their own.
 */
export function rawLocks(endpoints: readonly string[], keyPrefix: string): RawLocks {
  const raw = rawClient(endpoints);
  return {
    readRaw: (election) => readRawLock(raw, `${keyPrefix}${election}`),
    async deleteRaw(election) {
      // As `etcdctl del <key>` would: a DeleteRange of the key.
      await raw.delete().key(`${keyPrefix}${election}`).exec();
    },
    async writeCorrupt(election) {
      await raw.put(`${keyPrefix}${election}`).value("{not json");
    },
    close: () => raw.close(),
  };
}

/**
 * Time limit of a hook that starts a private etcd. Generous: with TENURE_ETCD_ENDPOINTS set the
 * global setup builds nothing, and the first private server may have to build etcd from source.
 */
export const SERVER_START_TIMEOUT_MS = 30 * 60_000;

/** An etcd of a test's own, started by the harness in a private state folder. */
export interface PrivateEtcd {
  readonly endpoints: readonly string[];
  /** The one client URL. */
  readonly url: URL;
  readonly version: string;
  /** Stops and starts etcd again on the same port and data folder; resolves when it is ready. */
  restart(): Promise<void>;
  /** Stops etcd and removes its data. */
  stop(): Promise<void>;
}

/**
 * Starts a private single-member etcd through @tenure/testing (the cached binary, free loopback
 * ports, a fresh data folder under `.tenure/test-runs/`). It ignores TENURE_ETCD_ENDPOINTS on
 * purpose: these tests restart the server, enable auth on it or read its counters, which must
 * never happen to a server someone else runs.
 */
export async function startPrivateEtcd(label: string, options: { durable: boolean }): Promise<PrivateEtcd> {
  const stateDir = join(defaultStateDir, "test-runs", `@tenure_etcd-${label}`);
  const file = await startServers(["etcd"], { stateDir, fresh: true, durable: options.durable, env: {} });
  const server: EtcdServer | undefined = file.servers.etcd;
  const endpoint = server?.endpoints[0];
  if (server === undefined || endpoint === undefined) throw new Error("the harness started no etcd");
  return {
    endpoints: server.endpoints,
    url: new URL(endpoint),
    version: server.version,
    async restart() {
      await restartServer("etcd", { stateDir });
    },
    async stop() {
      await stopServers({ stateDir });
    },
  };
}

/** One scrape of etcd's Prometheus /metrics: the value of each series, keyed by its full text. */
export type Metrics = ReadonlyMap<string, number>;

/** Reads etcd's own /metrics endpoint (served on the client URL). */
export async function scrapeMetrics(url: URL): Promise<Metrics> {
  const response = await fetch(new URL("/metrics", url));
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const metrics = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    metrics.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return metrics;
}

/** Sum of every series of `name` whose labels include all of `labels`. */
export function metricSum(
  metrics: Metrics,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const [series, value] of metrics) {
    if (series !== name && !series.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([label, wanted]) => series.includes(`${label}="${wanted}"`)))
      sum += value;
  }
  return sum;
}

/**
 * Closes fault proxies (a `TcpFaultProxy`, or the ones `ProxiedStores` opened), waiting at most
 * `boundMs` for them. `TcpFaultProxy.close()` waits until every connection it accepted has ended,
 * but it does not track connections accepted while blackholed, and grpc-js never abandons an
 * HTTP/2 handshake that gets no answer (the socket stays open even after its channel is closed),
 * so without a bound the hook could wait forever.
 */
export async function closeProxy(proxy: { close(): Promise<void> }, boundMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, boundMs);
    timer.unref();
  });
  try {
    await Promise.race([proxy.close(), bound]);
  } finally {
    clearTimeout(timer);
  }
}
