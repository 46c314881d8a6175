// Error mapping, timeouts and configuration against the real apiserver: every failure comes back as
// a TenureError with the core's code and a message an operator can act on, and nothing hangs.
import { createServer } from "node:net";
import {
  CoordinationV1Api,
  createConfiguration,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  ServerConfiguration,
} from "@kubernetes/client-node";
import { nextEvent, TcpFaultProxy } from "@tenure/conformance";
import { Elector, type ElectorEvent, type LockStore } from "@tenure/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnnotationLock, LeaseLock, MigrationLock } from "../src/index.js";
import {
  Admin,
  failure,
  kubernetesServer,
  loadKubeConfig,
  recordingLogger,
  testRecord,
  viaServer,
} from "./kube-helpers.js";

const server = kubernetesServer();
const admin = new Admin(server);
let namespace = "";
const proxies: TcpFaultProxy[] = [];

beforeAll(async () => {
  namespace = await admin.freshNamespace("errors");
});
afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

const record = testRecord();

/** Each kind of lock object, built for a KubeConfig and a namespace. */
const lockKinds: readonly [
  string,
  (kubeConfig: KubeConfig, namespace: string) => LeaseLock | AnnotationLock,
][] = [
  ["Lease", (kubeConfig, namespace) => new LeaseLock({ kubeConfig, namespace })],
  [
    "Endpoints",
    (kubeConfig, namespace) => new AnnotationLock({ objectKind: "Endpoints", kubeConfig, namespace }),
  ],
  [
    "ConfigMap",
    (kubeConfig, namespace) => new AnnotationLock({ objectKind: "ConfigMap", kubeConfig, namespace }),
  ],
];

function resourceOf(label: string): string {
  return label === "Lease"
    ? "leases.coordination.k8s.io"
    : label === "Endpoints"
      ? "endpoints"
      : "configmaps";
}

/** A loopback port nobody listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const address = listener.address();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function blackholed(): Promise<KubeConfig> {
  const url = new URL(admin.config.getCurrentCluster()?.server ?? "");
  const proxy = await TcpFaultProxy.start({ host: url.hostname, port: Number(url.port) });
  proxies.push(proxy);
  proxy.cut("blackhole");
  return viaServer(admin.config, `https://${proxy.address}`);
}

describe("errors", () => {
  for (const [label, make] of lockKinds) {
    it(`${label}: a missing namespace is INVALID_ARGUMENT naming the field and the rule; a missing lock reads as null`, async () => {
      const store = make(admin.config, "no-such-namespace");
      // The apiserver answers a read of a missing object the same in a missing namespace: absent.
      expect(await store.get("lock")).toBeNull();
      const error = await failure(store.create("lock", record));
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT", field: "namespace" });
      expect(error.message).toContain("must name an existing namespace");
      expect(error.message).toContain('namespace "no-such-namespace" does not exist');
      // In a namespace that exists, a missing lock is just absent.
      expect(await make(admin.config, namespace).get("lock")).toBeNull();
    });

    it(`${label}: a namespace being deleted is INVALID_ARGUMENT, not a missing permission`, async () => {
      const doomed = await admin.freshNamespace("doomed");
      // No controller-manager runs here: the namespace stays Terminating, as it does for a while
      // (or for good, with a stuck finalizer) on a real cluster.
      await admin.core.deleteNamespace({ name: doomed });
      const error = await failure(make(admin.config, doomed).create("lock", record));
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT", field: "namespace" });
      expect(error.message).toContain(`"${doomed}" is being deleted`);
    });

    it(`${label}: a user without RBAC gets PERMISSION_DENIED naming the verb, resource and namespace`, async () => {
      const user = server.users["tenure-elector"];
      if (user === undefined) throw new Error("the harness provided no token user");
      // No Role is bound in this namespace: the user may do nothing here.
      const store = make(loadKubeConfig(user.kubeconfig), namespace);
      const resource = resourceOf(label);
      const read = await failure(store.get("lock"));
      expect(read.code).toBe("PERMISSION_DENIED");
      expect(read.message).toContain(`cannot get ${resource} "lock" in namespace "${namespace}"`);
      const create = await failure(store.create("lock", record));
      expect(create.code).toBe("PERMISSION_DENIED");
      expect(create.message).toContain(`cannot create ${resource} "lock" in namespace "${namespace}"`);
      const watch = await failure(
        (async () => {
          for await (const _ of store.watch("lock", AbortSignal.timeout(5000))) break;
        })(),
      );
      expect(watch.code).toBe("PERMISSION_DENIED");
    });
  }

  it("an elector whose namespace is missing reports INVALID_ARGUMENT on every attempt and never leads", async () => {
    const store = new LeaseLock({ kubeConfig: admin.config, namespace: "no-such-namespace" });
    const elector = new Elector({
      store,
      name: "lock",
      identity: "misconfigured",
      leaseDurationMs: 2000,
      renewDeadlineMs: 1400,
      retryPeriodMs: 300,
    });
    const events: ElectorEvent[] = [];
    elector.subscribe((event) => events.push(event));
    elector.start();
    try {
      await nextEvent(
        [elector],
        () =>
          events.filter((event) => event.type === "store-error" && event.error.code === "INVALID_ARGUMENT")
            .length >= 2,
        10_000,
        "two INVALID_ARGUMENT store errors",
      );
      expect(elector.isLeader()).toBe(false);
      expect(events.some((event) => event.type === "started-leading")).toBe(false);
    } finally {
      await elector.stop({ release: false });
    }
  });

  it("refuses a malformed namespace, and a non-integral lease duration, with INVALID_ARGUMENT", async () => {
    expect(() => new LeaseLock({ kubeConfig: admin.config, namespace: "Not_A_Namespace" })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", field: "namespace" }),
    );
    const store = new LeaseLock({ kubeConfig: admin.config, namespace });
    const error = await failure(store.create("fractional", { ...record, leaseDurationSeconds: 2.5 }));
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT", field: "record.leaseDurationSeconds" });
    expect(error.message).toContain("whole number of seconds");
    expect(await store.get("fractional")).toBeNull();
  });

  it("maps a refused connection to UNAVAILABLE at once", async () => {
    const store = new LeaseLock({
      kubeConfig: viaServer(admin.config, `https://127.0.0.1:${await closedPort()}`),
      namespace,
    });
    const started = performance.now();
    const error = await failure(store.get("lock"));
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain("cannot reach the apiserver");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("bounds a call to an apiserver that never answers by the request timeout", async () => {
    const store = new LeaseLock({ kubeConfig: await blackholed(), namespace, requestTimeoutMs: 400 });
    const started = performance.now();
    const error = await failure(store.update("lock", record, "1"));
    const elapsed = performance.now() - started;
    expect(error.code).toBe("UNAVAILABLE");
    // The kit's wording for every adapter (boundedCall): "no answer within <timeoutMs> ms".
    expect(error.message).toContain("no answer within 400 ms");
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(1500);
  });

  it("honours the caller's abort signal", async () => {
    const store = new LeaseLock({ kubeConfig: await blackholed(), namespace, requestTimeoutMs: 30_000 });
    const started = performance.now();
    const error = await failure(store.get("lock", { signal: AbortSignal.timeout(150) }));
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain("aborted");
    expect(performance.now() - started).toBeLessThan(1500);
    const watchAbort = new AbortController();
    const watch = store.watch("lock", watchAbort.signal)[Symbol.asyncIterator]();
    const pending = watch.next();
    watchAbort.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it("maps rejected credentials to PERMISSION_DENIED", async () => {
    const config = new KubeConfig();
    const cluster = admin.config.getCurrentCluster();
    if (cluster === null) throw new Error("no cluster");
    config.loadFromClusterAndUser(cluster, { name: "intruder", token: "not-a-valid-token" });
    const error = await failure(new LeaseLock({ kubeConfig: config, namespace }).get("lock"));
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toContain("rejected the credentials");
  });

  it("rejects calls after close with CLOSED", async () => {
    const store = new LeaseLock({ kubeConfig: admin.config, namespace });
    await store.close();
    expect((await failure(store.get("lock"))).code).toBe("CLOSED");
  });
});

/** The watch of a store that declares one. */
function watchOf(store: LockStore, name: string): AsyncIterable<unknown> {
  if (store.watch === undefined) throw new Error(`${store.backend} has no watch`);
  return store.watch(name, new AbortController().signal);
}

/** Versions no lock ever hands out for a lock that exists. */
const UNISSUED = ["999999999999", "1", "not-a-version", ""];

/**
 * Every lock kind, the migration lock included, as a LockStore, with the versions it never issues.
 * A migration lock's versions are pairs: add a pair of versions never issued, and the pair of two
 * missing halves (which no lock that exists hands out).
 */
type ContractKind = readonly [
  label: string,
  make: (kubeConfig: KubeConfig, namespace: string) => LockStore,
  unissued: readonly string[],
];
const contractKinds: readonly ContractKind[] = [
  ...lockKinds.map(([label, make]): ContractKind => [label, make, UNISSUED]),
  [
    "Migration",
    (kubeConfig, namespace) => new MigrationLock({ kubeConfig, namespace }),
    [...UNISSUED, '["999999999999","999999999999"]', "[null,null]"],
  ],
];

// The codes the store contract asks for (the conformance suite checks them too; pinned here for every
// lock kind, with what this package adds: a call in flight, a migration lock's own versions).
describe("the store contract's codes", () => {
  for (const [label, make, unissued] of contractKinds) {
    it(`${label}: every call after close() rejects with CLOSED, a watch's first next() included`, async () => {
      const store = make(admin.config, namespace);
      const name = `closed-${label.toLowerCase()}`;
      const created = await store.create(name, record);
      await store.close();
      await store.close(); // closing twice is harmless
      const calls: [string, () => Promise<unknown>][] = [
        ["get", () => store.get(name)],
        ["create", () => store.create(`${name}-new`, record)],
        ["update", () => store.update(name, { ...record, holderIdentity: "late" }, created.version)],
        ["watch", () => watchOf(store, name)[Symbol.asyncIterator]().next()],
      ];
      for (const [operation, call] of calls) {
        const error = await failure(call());
        expect(error.code, operation).toBe("CLOSED");
        expect(error.message, operation).toContain("the store was closed");
      }
      // Nothing was written.
      const reader = make(admin.config, namespace);
      expect(await reader.get(name)).toEqual(created);
      expect(await reader.get(`${name}-new`)).toBeNull();
    });

    it(`${label}: a call in flight when the store closes rejects with CLOSED at once`, async () => {
      const store = make(await blackholed(), namespace);
      const started = performance.now();
      const pending = failure(store.get("in-flight"));
      await store.close();
      expect((await pending).code).toBe("CLOSED");
      expect(performance.now() - started).toBeLessThan(1000);
    });

    it(`${label}: an update on a version the store never issued is CONFLICT, and writes nothing`, async () => {
      const store = make(admin.config, namespace);
      const name = `unissued-${label.toLowerCase()}`;
      const created = await store.create(name, record);
      for (const version of unissued) {
        const error = await failure(store.update(name, { ...record, holderIdentity: "intruder" }, version));
        expect(error.code, version).toBe("CONFLICT");
      }
      expect(await make(admin.config, namespace).get(name)).toEqual(created);
      await store.close();
    });
  }
});

describe("the Endpoints deprecation warning", () => {
  it("is logged once per store, not once per request", async () => {
    const logger = recordingLogger();
    const store = new AnnotationLock({ kubeConfig: admin.config, namespace, logger });
    let snapshot = await store.create("deprecated", record);
    for (let i = 1; i <= 3; i++) {
      snapshot = await store.update("deprecated", { ...record, leaderTransitions: i }, snapshot.version);
      await store.get("deprecated");
    }
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]?.message).toMatch(/Endpoints is deprecated/);
    expect(logger.warnings[0]?.fields).toMatchObject({ backend: "kubernetes/endpoints" });

    const another = recordingLogger();
    await new AnnotationLock({ kubeConfig: admin.config, namespace, logger: another }).get("deprecated");
    expect(another.warnings).toHaveLength(1);

    const quiet = recordingLogger();
    const configMaps = new AnnotationLock({
      objectKind: "ConfigMap",
      kubeConfig: admin.config,
      namespace,
      logger: quiet,
    });
    await configMaps.create("not-deprecated", record);
    expect(quiet.warnings).toEqual([]);
  });
});

describe("configuration", () => {
  it("uses an existing API client, keeping its own middleware", async () => {
    const seen: string[] = [];
    const counting: ObservableMiddleware = {
      pre: (request) => {
        seen.push(`${request.getHttpMethod()} ${new URL(request.getUrl()).pathname}`);
        return new Observable(Promise.resolve(request));
      },
      post: (response) => new Observable(Promise.resolve(response)),
    };
    const cluster = admin.config.getCurrentCluster();
    if (cluster === null) throw new Error("no cluster");
    // A client set up the way makeApiClient does it, with one more middleware of the user's.
    const client = new CoordinationV1Api(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: admin.config },
        middleware: [counting],
      }),
    );
    const store = new LeaseLock({ client, namespace });
    await store.create("own-client", record);
    // A create lists the one Lease first (the fencing-token floor, see LeaseLock.create), then posts it.
    expect(seen).toEqual([
      `GET /apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      `POST /apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    ]);
  });

  it("says so when no configuration can be found, instead of trying localhost:8080", () => {
    const saved = {
      KUBECONFIG: process.env.KUBECONFIG,
      HOME: process.env.HOME,
      KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST,
    };
    process.env.KUBECONFIG = "";
    process.env.HOME = "/nonexistent-home";
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => new LeaseLock({ namespace })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT", field: "kubeConfig" }),
      );
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it("loads the usual kubeconfig (KUBECONFIG) when given none", async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = server.kubeconfig;
    try {
      const store = new LeaseLock({ namespace });
      expect(await store.get("default-config")).toBeNull();
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});
