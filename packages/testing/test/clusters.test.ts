import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Cluster,
  clusterNames,
  openCluster,
  startConsulCluster,
  startEtcdCluster,
  stopServers,
} from "../src/index.ts";

// Clusters are the harness's own feature: each test starts private ones in a temporary state
// folder, whatever the TENURE_* variables say.

/** pids of live (non-zombie) processes whose command line mentions `text` (e.g. a state folder). */
function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Whether `url` answers any HTTP request within `timeoutMs` (a paused server cannot). */
async function answersWithin(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

/** Stops the cluster and checks nothing of it is left: no process, no data, no record. */
async function expectStopsCleanly(cluster: Cluster, stateDir: string): Promise<void> {
  const dataDirs = cluster.members.map((member) => member.dataDir);
  expect(processesMentioning(stateDir).length).toBeGreaterThan(0);
  await cluster.stop();
  expect(processesMentioning(stateDir)).toEqual([]);
  for (const dataDir of dataDirs) expect(existsSync(dataDir)).toBe(false);
  expect(clusterNames(stateDir)).toEqual([]);
  expect(() => cluster.members).toThrow(/was stopped/);
  // The logs stay, one per member.
  expect(readdirSync(join(stateDir, "logs", cluster.name)).sort()).toEqual(
    dataDirs.map((dataDir) => `${dataDir.split("/").at(-1)}.log`).sort(),
  );
}

describe("etcd cluster", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "tenure-etcd-cluster-"));
  let cluster: Cluster;
  const clients: Etcd3[] = [];
  const clientOf = (hosts: string | string[]): Etcd3 => {
    const client = new Etcd3({ hosts });
    clients.push(client);
    return client;
  };
  const memberId = async (url: string): Promise<string> =>
    (await clientOf(url).maintenance.status()).header.member_id;
  /** A serializable read: answered from the member's own replica, never forwarded to the leader. */
  const localRead = (url: string, key: string): Promise<string | null> =>
    clientOf(url).get(key).serializable(true).string();

  beforeAll(async () => {
    cluster = await startEtcdCluster({ stateDir });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  let killed: { name: string; pid: number; id: string };

  it("starts three members with their own ports and data folders", () => {
    expect(cluster.members.map((member) => member.name)).toEqual(["etcd-1", "etcd-2", "etcd-3"]);
    expect(cluster.members.every((member) => member.state === "running")).toBe(true);
    expect(cluster.endpoints).toEqual(cluster.members.map((member) => member.url));
    expect(new Set(cluster.members.map((member) => member.dataDir)).size).toBe(3);
  });

  it("elects a new leader among the others when the leader is killed", async () => {
    await clientOf([...cluster.endpoints])
      .put("chaos/before-kill")
      .value("kept");
    const first = await cluster.leader();
    const member = cluster.member(first);
    killed = { name: first, pid: member.pid, id: await memberId(member.url) };

    await cluster.kill(first);
    expect(cluster.member(first).state).toBe("stopped");
    expect(processesMentioning(member.dataDir)).toEqual([]);
    const second = await cluster.leader();
    expect(second).not.toBe(first);
    // Two of three still make a quorum.
    await clientOf(cluster.member(second).url).put("chaos/while-down").value("replicated");
  });

  it("restarts the killed member on its data folder and ports, and it rejoins", async () => {
    const before = cluster.member(killed.name);
    const restarted = await cluster.restart(killed.name);
    expect(restarted.pid).not.toBe(killed.pid);
    expect(restarted.state).toBe("running");
    expect({ url: restarted.url, dataDir: restarted.dataDir }).toEqual({
      url: before.url,
      dataDir: before.dataDir,
    });
    expect(await memberId(restarted.url)).toBe(killed.id);
    // restart() waited until the member applied what the leader had committed.
    expect(await localRead(restarted.url, "chaos/before-kill")).toBe("kept");
    expect(await localRead(restarted.url, "chaos/while-down")).toBe("replicated");
  });

  it("pauses a member (it answers nothing; the others elect a leader) and resumes it", async () => {
    const paused = await cluster.leader();
    const url = cluster.member(paused).url;
    await cluster.pause(paused);
    expect(cluster.member(paused).state).toBe("paused");
    expect(await answersWithin(`${url}/version`, 500)).toBe(false);
    const during = await cluster.leader();
    expect(during).not.toBe(paused);
    await clientOf(cluster.member(during).url).put("chaos/while-paused").value("caught up");

    await cluster.resume(paused);
    expect(cluster.member(paused).state).toBe("running");
    expect(await localRead(url, "chaos/while-paused")).toBe("caught up");
  });

  it("comes back when every member was killed, restarted member by member", async () => {
    const names = cluster.members.map((member) => member.name);
    for (const name of names) await cluster.kill(name);
    const [first = "", ...others] = names;
    // Alone it cannot even serve clients (etcd first publishes itself through raft): restart()
    // would wait in vain. With waitForCluster: false it waits until its peer port answers.
    await cluster.restart(first, { waitForCluster: false });
    expect(cluster.member(first).state).toBe("running");
    expect(await answersWithin(`${cluster.member(first).url}/health`, 500)).toBe(false);
    for (const name of others) await cluster.restart(name);
    await cluster.waitForRejoin(first);
    await cluster.leader();
    for (const name of names) {
      expect(cluster.member(name).state).toBe("running");
      expect(await localRead(cluster.member(name).url, "chaos/while-paused")).toBe("caught up");
    }
  });

  it("stops every member, leaving no process and no data", async () => {
    for (const client of clients.splice(0)) client.close();
    await expectStopsCleanly(cluster, stateDir);
  });
});

describe("consul cluster", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "tenure-consul-cluster-"));
  let cluster: Cluster;

  async function put(url: string, key: string, value: string): Promise<void> {
    const response = await fetch(`${url}/v1/kv/${key}`, { method: "PUT", body: value });
    expect(await response.text()).toBe("true");
  }
  /** A stale read: answered from the server's own replica, never forwarded to the leader. */
  async function localRead(url: string, key: string): Promise<string> {
    const response = await fetch(`${url}/v1/kv/${key}?stale&raw`);
    return `${response.status} ${await response.text()}`;
  }
  async function nodeId(url: string): Promise<string> {
    const self = (await (await fetch(`${url}/v1/agent/self`)).json()) as { Config: { NodeID: string } };
    return self.Config.NodeID;
  }
  async function raftLeader(url: string): Promise<string> {
    return (await (await fetch(`${url}/v1/status/leader`)).json()) as string;
  }

  beforeAll(async () => {
    cluster = await startConsulCluster({ stateDir });
  });
  afterAll(async () => {
    await cluster?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  let killed: { name: string; pid: number; nodeId: string };

  it("starts three servers with real data folders, all on 127.0.0.1", async () => {
    expect(cluster.members.map((member) => member.name)).toEqual(["consul-1", "consul-2", "consul-3"]);
    expect(cluster.members.every((member) => member.state === "running")).toBe(true);
    const peers = (await (await fetch(`${cluster.endpoints[0]}/v1/status/peers`)).json()) as string[];
    expect(peers.sort()).toEqual(cluster.members.map((member) => member.peerAddress).sort());
    const leader = cluster.member(await cluster.leader());
    expect(await raftLeader(cluster.endpoints[1] ?? "")).toBe(leader.peerAddress);
  });

  it("elects a new leader among the others when the leader is killed", async () => {
    await put(cluster.endpoints[0] ?? "", "chaos/before-kill", "kept");
    const first = await cluster.leader();
    const member = cluster.member(first);
    killed = { name: first, pid: member.pid, nodeId: await nodeId(member.url) };

    await cluster.kill(first);
    expect(cluster.member(first).state).toBe("stopped");
    const second = await cluster.leader();
    expect(second).not.toBe(first);
    await put(cluster.member(second).url, "chaos/while-down", "replicated");
  });

  it("restarts the killed member on its data folder and ports, and it rejoins", async () => {
    const before = cluster.member(killed.name);
    const restarted = await cluster.restart(killed.name);
    expect(restarted.pid).not.toBe(killed.pid);
    expect({ url: restarted.url, dataDir: restarted.dataDir }).toEqual({
      url: before.url,
      dataDir: before.dataDir,
    });
    // Its node ID lives in its data folder: the same server came back, not a new one.
    expect(await nodeId(restarted.url)).toBe(killed.nodeId);
    expect(await localRead(restarted.url, "chaos/before-kill")).toBe("200 kept");
    expect(await localRead(restarted.url, "chaos/while-down")).toBe("200 replicated");
  });

  it("pauses a member (it answers nothing; the others elect a leader) and resumes it", async () => {
    const paused = await cluster.leader();
    const url = cluster.member(paused).url;
    await cluster.pause(paused);
    expect(cluster.member(paused).state).toBe("paused");
    expect(await answersWithin(`${url}/v1/status/leader`, 500)).toBe(false);
    const during = await cluster.leader();
    expect(during).not.toBe(paused);
    await put(cluster.member(during).url, "chaos/while-paused", "caught up");

    await cluster.resume(paused);
    expect(cluster.member(paused).state).toBe("running");
    expect(await localRead(url, "chaos/while-paused")).toBe("200 caught up");
  });

  it("comes back when every member was killed, restarted member by member", async () => {
    const names = cluster.members.map((member) => member.name);
    for (const name of names) await cluster.kill(name);
    const [first = "", ...others] = names;
    // Alone it answers HTTP but knows no leader: restart() would wait for one in vain.
    await cluster.restart(first, { waitForCluster: false });
    expect(await raftLeader(cluster.member(first).url)).toBe("");
    for (const name of others) await cluster.restart(name);
    await cluster.waitForRejoin(first);
    await cluster.leader();
    for (const name of names) {
      expect(cluster.member(name).state).toBe("running");
      expect(await localRead(cluster.member(name).url, "chaos/while-paused")).toBe("200 caught up");
    }
  });

  it("stops every member, leaving no process and no data", async () => {
    await expectStopsCleanly(cluster, stateDir);
  });
});

describe("a cluster whose test process was interrupted", () => {
  it("is stopped by stopServers (npm run servers -- down) from its record", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tenure-orphan-cluster-"));
    try {
      // A separate Node process starts a one-member cluster and dies by SIGKILL: no cleanup runs.
      const clusters = pathToFileURL(join(import.meta.dirname, "..", "src", "clusters.ts")).href;
      const script = `
        const { startEtcdCluster } = await import(${JSON.stringify(clusters)});
        await startEtcdCluster({ stateDir: ${JSON.stringify(stateDir)}, name: "orphan", size: 1 });
        process.kill(process.pid, "SIGKILL");`;
      expect(() =>
        execFileSync(process.execPath, ["--input-type=module", "--eval", script], { stdio: "pipe" }),
      ).toThrow();
      expect(clusterNames(stateDir)).toEqual(["orphan"]);
      const orphan = openCluster("orphan", { stateDir });
      expect(orphan.members.map((member) => member.state)).toEqual(["running"]);
      expect(processesMentioning(stateDir)).toHaveLength(1);

      await stopServers({ stateDir });
      expect(processesMentioning(stateDir)).toEqual([]);
      expect(clusterNames(stateDir)).toEqual([]);
      expect(existsSync(join(stateDir, "data"))).toBe(false);
    } finally {
      await stopServers({ stateDir });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
