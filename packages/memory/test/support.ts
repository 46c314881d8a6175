import type { ConformanceTarget, FaultHook } from "@tenure/conformance";
import type { LeaderRecord } from "@tenure/core";
import type { MemoryServer, MemoryStore } from "@tenure/memory";

/** The suite's raw access to the locks of `server`, around the store clients. */
export function rawLocks(
  server: MemoryServer,
): Required<Pick<ConformanceTarget, "readRaw" | "deleteRaw" | "writeCorrupt">> {
  return {
    async readRaw(election) {
      const value = server.readRaw(election);
      if (value === undefined) return null;
      // The memory server keeps exactly what the adapter wrote; decode it with JSON.parse alone.
      const parsed = JSON.parse(value) as unknown;
      if (typeof parsed !== "object" || parsed === null) return { corruption: "not an object" };
      return { record: parsed as LeaderRecord };
    },
    async deleteRaw(election) {
      server.delete(election);
    },
    async writeCorrupt(election) {
      server.writeRaw(election, "{not json");
    },
  };
}

/** Cuts a memory store off its server as dropped packets would (calls hang until `requestTimeoutMs`). */
export const blackholeFaults: FaultHook = {
  async isolate(store) {
    (store as MemoryStore).disconnect("blackhole");
  },
  async heal(store) {
    (store as MemoryStore).reconnect();
  },
};
