import { readFileSync } from "node:fs";
import { type BackendConfig, openStore as openBackend, type TlsPem } from "@tenure/backends";
import type { LockStore, Logger } from "@tenure/core";
import { InvalidArgumentError } from "@tenure/core";
import type { BackendSettings, SidecarFlags, TlsFiles } from "./flags.js";

/**
 * Opens the store the flags ask for, through the one registry of backends (`@tenure/backends`);
 * what is the sidecar's own is here: reading the PEM files the flags name, and `--lock=auto`.
 * `memory` holds the lock inside this process, so it only elects among candidates of one process
 * (the demo, tests).
 */
export async function openStore(flags: SidecarFlags, logger: Logger): Promise<LockStore> {
  const settings: BackendSettings = flags.store;
  if (settings.kind === "memory") {
    logger.warn("the memory backend elects only among candidates inside this process");
  }
  if (settings.kind === "kubernetes" && settings.lock === "auto") {
    const { openAutoLock } = await import("./kubernetes-lock.js");
    const open = (lock: "endpoints" | "lease"): Promise<LockStore> =>
      openBackend({ ...kubernetesConfig(settings, flags.electionNamespace), lock }, { logger });
    return openAutoLock(await open("endpoints"), await open("lease"), flags.electionNamespace, logger);
  }
  return openBackend(backendConfig(flags), { logger });
}

/** The registry's description of the store the flags name (PEM files read here). */
export function backendConfig(flags: SidecarFlags): BackendConfig {
  const settings = flags.store;
  switch (settings.kind) {
    case "memory":
      return { backend: "memory" };
    case "kubernetes":
      if (settings.lock === "auto") throw new Error("--lock=auto picks its lock itself (openStore)");
      return { ...kubernetesConfig(settings, flags.electionNamespace), lock: settings.lock };
    case "etcd":
      return {
        backend: "etcd",
        hosts: settings.endpoints,
        username: settings.username,
        password: settings.password,
        tls: readTls("etcd", settings.tls),
      };
    case "consul":
      return {
        backend: "consul",
        address: settings.address,
        token: settings.token,
        datacenter: settings.datacenter,
        tls: readTls("consul", settings.tls),
      };
    case "redis":
      return {
        backend: "redis",
        url: settings.url,
        username: settings.username,
        password: settings.password,
        tls: readTls("redis", settings.tls),
      };
  }
}

function kubernetesConfig(
  settings: Extract<BackendSettings, { kind: "kubernetes" }>,
  namespace: string,
): Extract<BackendConfig, { backend: "kubernetes" }> {
  return { backend: "kubernetes", kubeconfig: settings.kubeconfig, namespace };
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

/** The PEM files of `--<prefix>-ca/-cert/-key`, read; undefined when none is given. */
function readTls(prefix: string, files: TlsFiles): TlsPem | undefined {
  if (files.caFile === undefined && files.certFile === undefined && files.keyFile === undefined)
    return undefined;
  return {
    ca: readPem(`--${prefix}-ca`, files.caFile),
    cert: readPem(`--${prefix}-cert`, files.certFile),
    key: readPem(`--${prefix}-key`, files.keyFile),
  };
}
