export type { EtcdAuth, EtcdCredentials, EtcdLockStoreOptions } from "./etcd-lock-store.js";
export { DEFAULT_KEY_PREFIX, DEFAULT_REQUEST_TIMEOUT_MS, EtcdLockStore } from "./etcd-lock-store.js";
