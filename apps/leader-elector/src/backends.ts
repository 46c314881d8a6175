import { readFileSync } from "node:fs";
import type { LockStore, Logger } from "@tenure/core";
import { InvalidArgumentError } from "@tenure/core";
import { createMemoryStore } from "@tenure/memory";
import type { BackendSettings, SidecarFlags, TlsFiles } from "./flags.js";

/**
 * Opens the store the flags ask for: the one place that knows every backend. Adapters are loaded
 * on demand, so a replica only loads the client library of its own store. `memory` holds the lock
 * inside this process, so it only elects among candidates of one process (the demo, tests).
 */
export async function openStore(flags: SidecarFlags, logger: Logger): Promise<LockStore> {
  const settings: BackendSettings = flags.store;
  switch (settings.kind) {
    case "memory":
      logger.warn("the memory backend elects only among candidates inside this process");
      return createMemoryStore();
    case "kubernetes": {
      const { openKubernetesLock } = await import("./kubernetes-lock.js");
      return openKubernetesLock(settings, flags.electionNamespace, logger);
    }
    case "etcd": {
      const { EtcdLockStore } = await import("@tenure/etcd");
      const ca = readPem("--etcd-ca", settings.tls.caFile);
      return new EtcdLockStore({
        hosts: settings.endpoints,
        ...(settings.username === undefined
          ? {}
          : { auth: { username: settings.username, password: settings.password ?? "" } }),
        ...(ca === undefined
          ? {}
          : {
              credentials: {
                rootCertificate: ca,
                ...optionalBuffer("privateKey", readPem("--etcd-key", settings.tls.keyFile)),
                ...optionalBuffer("certChain", readPem("--etcd-cert", settings.tls.certFile)),
              },
            }),
      });
    }
    case "consul": {
      const { ConsulLockStore } = await import("@tenure/consul");
      const tls = tlsOptions("consul", settings.tls);
      return new ConsulLockStore({
        address: settings.address,
        ...(settings.token === undefined ? {} : { token: settings.token }),
        ...(settings.datacenter === undefined ? {} : { datacenter: settings.datacenter }),
        ...(tls === undefined ? {} : { tls }),
      });
    }
    case "redis": {
      const { RedisLockStore } = await import("@tenure/redis");
      const tls = tlsOptions("redis", settings.tls);
      return new RedisLockStore({
        url: settings.url,
        ...(settings.username === undefined ? {} : { username: settings.username }),
        ...(settings.password === undefined ? {} : { password: settings.password }),
        ...(tls === undefined ? {} : { tls }),
      });
    }
  }
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new InvalidArgumentError(
      flag,
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function optionalBuffer<Key extends string>(key: Key, value: Buffer | undefined): { [K in Key]?: Buffer } {
  return (value === undefined ? {} : { [key]: value }) as { [K in Key]?: Buffer };
}

function tlsOptions(
  prefix: string,
  files: TlsFiles,
): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (files.caFile === undefined && files.certFile === undefined && files.keyFile === undefined)
    return undefined;
  return {
    ...optionalBuffer("ca", readPem(`--${prefix}-ca`, files.caFile)),
    ...optionalBuffer("cert", readPem(`--${prefix}-cert`, files.certFile)),
    ...optionalBuffer("key", readPem(`--${prefix}-key`, files.keyFile)),
  };
}
