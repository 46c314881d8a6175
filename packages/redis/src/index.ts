export type { IoRedisClient } from "./connection.js";
export type { ElectionKeys } from "./keys.js";
export { electionKeys, electionSlot } from "./keys.js";
export type { RedisLockStoreOptions } from "./redis-store.js";
export {
  DEFAULT_KEY_PREFIX,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_HEARTBEAT_MS,
  RedisLockStore,
} from "./redis-store.js";
