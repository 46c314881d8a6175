import { describe, expect, inject, it } from "vitest";

const toxiproxy = inject("tenureServers").servers.toxiproxy;
if (toxiproxy === undefined) throw new Error("the global setup did not provide toxiproxy");

describe("toxiproxy", () => {
  it("answers on its API and creates a proxy on loopback", async () => {
    const version = await fetch(`${toxiproxy.url}/version`);
    expect(version.status).toBe(200);
    const name = `smoke-${Date.now()}`;
    const created = await fetch(`${toxiproxy.url}/proxies`, {
      method: "POST",
      body: JSON.stringify({ name, listen: "127.0.0.1:0", upstream: "127.0.0.1:9", enabled: true }),
    });
    expect(created.status).toBe(201);
    const proxy = (await created.json()) as { name: string; listen: string };
    expect(proxy.name).toBe(name);
    expect(proxy.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await fetch(`${toxiproxy.url}/proxies/${name}`, { method: "DELETE" })).status).toBe(204);
  });
});
