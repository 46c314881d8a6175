import Consul from "consul";
import { describe, expect, inject, it } from "vitest";

const consulServer = inject("tenureServers").servers.consul;
if (consulServer === undefined) throw new Error("the global setup did not provide consul");

describe("consul", () => {
  const url = new URL(consulServer.url);
  const consul = new Consul({ host: url.hostname, port: Number(url.port) });

  // Consul answers a refused CAS write with the JSON body `false`, but consul@2.0.1's kv.set then
  // resolves `undefined` (papi's pipeline drops a falsy result), not `false`: an adapter must treat
  // anything but `true` as a lost race. Both layers are checked here.
  it("refuses a KV write whose cas index is stale", async () => {
    const key = `smoke/cas/${Date.now()}`;
    expect(await consul.kv.set({ key, value: "first", cas: 0 })).toBe(true);
    expect(await consul.kv.set({ key, value: "again", cas: 0 })).toBeUndefined();
    const created = await consul.kv.get({ key });
    if (created === null) throw new Error(`${key} is missing`);
    const staleIndex = created.ModifyIndex;

    expect(await consul.kv.set({ key, value: "second", cas: staleIndex })).toBe(true);
    expect(await consul.kv.set({ key, value: "third", cas: staleIndex })).toBeUndefined();
    const raw = await fetch(`${consulServer.url}/v1/kv/${key}?cas=${staleIndex}`, {
      method: "PUT",
      body: "fourth",
    });
    expect(raw.status).toBe(200);
    expect((await raw.text()).trim()).toBe("false");
    expect((await consul.kv.get({ key }))?.Value).toBe("second");
  });
});
