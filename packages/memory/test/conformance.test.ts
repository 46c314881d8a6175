import { describeConformance } from "@tenure/conformance";
import { MemoryServer, type MemoryStore } from "@tenure/memory";

const server = new MemoryServer();

describeConformance({
  name: "memory",
  capabilities: { watch: true, leaseGranularityMs: 1 },
  createStore: () => server.connect({ timeoutMs: 500 }),
  async readRaw(election) {
    const value = server.readRaw(election);
    if (value === undefined) return null;
    // The memory server keeps exactly what the adapter wrote; decode it with JSON.parse alone.
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
    return { record: parsed as import("@tenure/core").LeaderRecord };
  },
  async deleteRaw(election) {
    server.delete(election);
  },
  async writeCorrupt(election) {
    server.writeRaw(election, "{not json");
  },
  faults: {
    async isolate(store) {
      (store as MemoryStore).disconnect("blackhole");
    },
    async heal(store) {
      (store as MemoryStore).reconnect();
    },
  },
});
