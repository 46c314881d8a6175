/**
 * The 2016 walkthrough, replayed on every backend with real `leader-elector` processes: three
 * replicas of `--election=example`; every replica's `GET /` names the same leader; the lock, read
 * as an operator would, names it too; SIGKILL the leader and the survivors agree on a new one within
 * ttl plus a retry period; SIGTERM the next one and the last takes over at once (release + watch).
 */

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ConsulLockStore } from "@tenure/consul";
import type { LockStore } from "@tenure/core";
import { EtcdLockStore } from "@tenure/etcd";
import { RedisLockStore } from "@tenure/redis";
import type {} from "@tenure/testing/global-setup";
import { afterEach, describe, expect, inject, it } from "vitest";
import { agreedLeader, Replica } from "./replica.js";

const run = promisify(execFile);
const servers = inject("tenureServers").servers;

const TTL_MS = 2000;
const RETRY_MS = TTL_MS / 4;
/** Process start-up, HTTP polling and a loaded two-core machine. */
const SLACK_MS = 2000;

interface Backend {
  readonly name: string;
  /** The election: "example" as in the walkthrough, unless another variant already holds it. */
  readonly election: string;
  readonly args: readonly string[];
  /** The holder as an operator would read it: kubectl on Kubernetes, the store's own reading elsewhere. */
  holder(election: string): Promise<string>;
}

function kubernetes(lock: "lease" | "endpoints" | "migrate"): Backend {
  const server = servers.kubernetes;
  if (server === undefined || server.kubectl === null)
    throw new Error("the harness did not start kubernetes with kubectl");
  const { kubeconfig, kubectl } = server;
  return {
    name: `kubernetes (${lock})`,
    // The migration lock holds both the Endpoints and the Lease the other two variants used.
    election: lock === "migrate" ? "example-migration" : "example",
    args: ["--backend=kubernetes", `--lock=${lock}`, `--kubeconfig=${kubeconfig}`],
    async holder(election) {
      // The migration lock holds both objects; the Lease is what the new fleet reads.
      if (lock === "lease" || lock === "migrate") {
        const { stdout } = await run(kubectl, [
          `--kubeconfig=${kubeconfig}`,
          "get",
          "lease",
          election,
          "-o",
          "jsonpath={.spec.holderIdentity}",
        ]);
        return stdout;
      }
      // As `kubectl get endpoints example -o yaml` shows it: the 2016 annotation holds the record.
      const { stdout } = await run(kubectl, [
        `--kubeconfig=${kubeconfig}`,
        "get",
        "endpoints",
        election,
        "-o",
        "jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}",
      ]);
      return (JSON.parse(stdout) as { holderIdentity: string }).holderIdentity;
    },
  };
}

function throughStore(name: string, args: readonly string[], open: () => LockStore): Backend {
  return {
    name,
    election: "example",
    args,
    async holder(election) {
      const store = open();
      try {
        return (await store.get(election))?.record?.holderIdentity ?? "";
      } finally {
        await store.close();
      }
    },
  };
}

function backends(): Backend[] {
  const { etcd, consul, redis } = servers;
  if (etcd === undefined || consul === undefined || redis === undefined) {
    throw new Error("the harness did not start etcd, consul and redis");
  }
  return [
    kubernetes("lease"),
    kubernetes("endpoints"),
    kubernetes("migrate"),
    throughStore(
      "etcd",
      ["--backend=etcd", `--etcd-endpoints=${etcd.endpoints.join(",")}`],
      () => new EtcdLockStore({ hosts: etcd.endpoints }),
    ),
    throughStore(
      "consul",
      ["--backend=consul", `--consul-addr=${consul.address}`],
      () => new ConsulLockStore({ address: consul.address }),
    ),
    throughStore(
      "redis",
      ["--backend=redis", `--redis-url=${redis.url}`],
      () => new RedisLockStore({ url: redis.url }),
    ),
  ];
}

const running: Replica[] = [];
afterEach(async () => {
  for (const replica of running.splice(0)) replica.kill("SIGKILL");
});

describe.each(backends())("leader-elector walkthrough on $name", (backend) => {
  it("elects one leader, survives SIGKILL within ttl + retry, and fails over at once on SIGTERM", async () => {
    const { election } = backend;
    const args = [`--election=${election}`, `--ttl=${TTL_MS}ms`, ...backend.args];
    const replicas = await Promise.all(
      ["replica-1", "replica-2", "replica-3"].map((id) => Replica.start(id, args)),
    );
    running.push(...replicas);

    const first = await agreedLeader(replicas, TTL_MS * 3 + SLACK_MS);
    expect(await backend.holder(election)).toBe(first);
    for (const replica of replicas) await replica.waitForLog(new RegExp(`${first} is the leader`), SLACK_MS);

    const killed = replicas.find((replica) => replica.id === first);
    if (killed === undefined) throw new Error(`no replica named ${first}`);
    const survivors = replicas.filter((replica) => replica !== killed);
    const killedAt = performance.now();
    killed.kill("SIGKILL");
    const second = await agreedLeader(survivors, TTL_MS + RETRY_MS + SLACK_MS, first);
    expect(performance.now() - killedAt).toBeLessThan(TTL_MS + RETRY_MS + SLACK_MS);
    expect(await backend.holder(election)).toBe(second);

    const stopped = survivors.find((replica) => replica.id === second);
    const last = survivors.filter((replica) => replica !== stopped);
    if (stopped === undefined) throw new Error(`no replica named ${second}`);
    const terminatedAt = performance.now();
    stopped.kill("SIGTERM");
    expect(await stopped.exited).toBe(0);
    const third = await agreedLeader(last, RETRY_MS + SLACK_MS, second);
    // A release is seen through watch: far sooner than a lease.
    expect(performance.now() - terminatedAt).toBeLessThan(TTL_MS);
    expect(await backend.holder(election)).toBe(third);
  }, 60_000);
});
