import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, inject, it } from "vitest";
import { restartServer, startServers, stopServers } from "../src/index.ts";

const etcd = inject("tenureServers").servers.etcd;
if (etcd === undefined) throw new Error("the global setup did not provide etcd");

describe("etcd", () => {
  const client = new Etcd3({ hosts: [...etcd.endpoints] });
  afterAll(() => client.close());

  async function modRevision(key: string): Promise<string> {
    const response = await client.get(key).exec();
    const revision = response.kvs[0]?.mod_revision;
    if (revision === undefined) throw new Error(`${key} is missing`);
    return revision;
  }

  it("commits a transaction only while mod_revision is the one compared", async () => {
    const key = `smoke/cas/${Date.now()}`;
    await client.put(key).value("first");
    const staleRevision = await modRevision(key);

    const current = await client
      .if(key, "Mod", "==", staleRevision)
      .then(client.put(key).value("second"))
      .commit();
    expect(current.succeeded).toBe(true);

    const stale = await client
      .if(key, "Mod", "==", staleRevision)
      .then(client.put(key).value("third"))
      .commit();
    expect(stale.succeeded).toBe(false);
    expect(await client.get(key).string()).toBe("second");
  });

  // Restarting is the harness's own feature, so this starts a private etcd (never an external one).
  it("keeps its data and endpoint across restartServer", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "tenure-restart-etcd-"));
    try {
      const started = (await startServers(["etcd"], { stateDir, env: {} })).servers.etcd;
      if (started === undefined) throw new Error("etcd did not start");
      const key = `smoke/restart/${Date.now()}`;
      const before = new Etcd3({ hosts: [...started.endpoints] });
      await before.put(key).value("kept");
      before.close();

      const restarted = await restartServer("etcd", { stateDir });
      expect(restarted.pid).not.toBe(started.pid);
      const after = new Etcd3({ hosts: [...started.endpoints] });
      try {
        expect(await after.get(key).string()).toBe("kept");
      } finally {
        after.close();
      }
    } finally {
      await stopServers({ stateDir });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
