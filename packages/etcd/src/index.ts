export { EtcdLockStore } from "./etcd-lock-store.js";
export type { EtcdAuth, EtcdCredentials, EtcdLockStoreOptions } from "./options.js";
export { DEFAULT_KEY_PREFIX, DEFAULT_REQUEST_TIMEOUT_MS } from "./options.js";
