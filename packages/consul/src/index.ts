export { ConsulLockStore } from "./consul-store.js";
export {
  type ConsulLockStoreOptions,
  type ConsulTlsOptions,
  DEFAULT_KEY_PREFIX,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_WAIT_MS,
} from "./options.js";
export type { ConsistencyMode } from "./transport.js";
