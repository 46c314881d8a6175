export type { Delay, MemoryServerStats, MemoryStoreOptions, Unreachability } from "./memory-server.js";
export { createMemoryStore, MemoryServer, MemoryStore } from "./memory-server.js";
