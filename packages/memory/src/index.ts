export type { MemoryServerStats } from "./memory-server.js";
export { createMemoryStore, MemoryServer, MemoryStore } from "./memory-server.js";
export type { Delay, MemoryStoreOptions, Unreachability } from "./network.js";
