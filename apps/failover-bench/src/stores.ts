/**
 * Opens a LockStore from a StoreConfig. Each adapter is loaded with a dynamic import, so a
 * backend whose package is missing, unbuilt or changed makes only that backend fail (and the
 * bench skips it, saying why) instead of breaking the whole program.
 */
import type { LockStore } from "@tenure/core";
import type { StoreConfig } from "./types.js";

/** A store class as the bench needs it: constructed from one options object. */
type StoreConstructor = new (options: Record<string, unknown>) => LockStore;

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}

/** Imports `specifier` and returns its export `name`, checked to be a class. */
export async function loadStoreClass(specifier: string, name: string): Promise<StoreConstructor> {
  let module: unknown;
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(`cannot import ${specifier}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const value = isObject(module) ? module[name] : undefined;
  if (typeof value !== "function") throw new Error(`${specifier} does not export ${name} (yet)`);
  return value as StoreConstructor;
}

/** Imports `specifier` and returns the module namespace, checked to be an object. */
export async function loadModule(specifier: string): Promise<Record<string, unknown>> {
  const module: unknown = await import(specifier);
  if (!isObject(module)) throw new Error(`${specifier} did not load as a module`);
  return module;
}

/** A LockStore for the config; `shared` lets one memory server back every in-process candidate. */
export async function openStore(config: StoreConfig, shared?: unknown): Promise<LockStore> {
  switch (config.backend) {
    case "memory": {
      const memory = await loadModule("@tenure/memory");
      const Server = memory.MemoryServer;
      if (typeof Server !== "function") throw new Error("@tenure/memory does not export MemoryServer");
      const server = shared ?? new (Server as new () => unknown)();
      const connect = isObject(server) ? server.connect : undefined;
      if (typeof connect !== "function") throw new Error("MemoryServer has no connect()");
      return (connect as (this: unknown) => LockStore).call(server);
    }
    case "redis": {
      const Store = await loadStoreClass("@tenure/redis", "RedisLockStore");
      return new Store({ url: config.url, keyPrefix: "failover-bench" });
    }
    case "etcd": {
      const Store = await loadStoreClass("@tenure/etcd", "EtcdLockStore");
      return new Store({ hosts: [...config.hosts], keyPrefix: "failover-bench/" });
    }
    case "consul": {
      const Store = await loadStoreClass("@tenure/consul", "ConsulLockStore");
      return new Store({ address: config.address, keyPrefix: "failover-bench/" });
    }
    case "kubernetes": {
      const kubernetes = await loadModule("@tenure/kubernetes");
      const Store = kubernetes.LeaseLock;
      if (typeof Store !== "function") throw new Error("@tenure/kubernetes does not export LeaseLock (yet)");
      const client = await loadModule("@kubernetes/client-node");
      const KubeConfig = client.KubeConfig;
      if (typeof KubeConfig !== "function") throw new Error("@kubernetes/client-node has no KubeConfig");
      const kubeConfig = new (KubeConfig as new () => { loadFromFile(path: string): void })();
      kubeConfig.loadFromFile(config.kubeconfig);
      return new (Store as StoreConstructor)({ kubeConfig, namespace: config.namespace });
    }
  }
}
