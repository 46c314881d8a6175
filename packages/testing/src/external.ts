import type { ServerName, ServerRecord } from "./state.ts";
import { findExecutable } from "./system.ts";

/**
 * Environment variables that point the harness at servers someone already runs. When one is set,
 * that server is neither built nor started nor stopped: its record says `external: true`.
 */
export const overrideVariables = {
  kubernetes: "TENURE_KUBECONFIG",
  etcd: "TENURE_ETCD_ENDPOINTS",
  consul: "TENURE_CONSUL_ADDR",
  redis: "TENURE_REDIS_URL",
  toxiproxy: "TENURE_TOXIPROXY_ADDR",
} as const satisfies Record<ServerName, string>;

const externalBase = {
  external: true,
  version: "external",
  pid: null,
  dataDir: null,
  processes: [],
} as const;

/** Splits "host:port" or "http://host:port" into the address and URL forms. */
function addressAndUrl(value: string): { address: string; url: string } {
  const url = /^https?:\/\//.test(value) ? value.replace(/\/+$/, "") : `http://${value}`;
  return { address: new URL(url).host, url };
}

/** The record of `name` given by its environment variable, or undefined when the variable is unset. */
export function externalServer(
  name: ServerName,
  env: NodeJS.ProcessEnv = process.env,
): ServerRecord | undefined {
  const value = env[overrideVariables[name]]?.trim();
  if (value === undefined || value === "") return undefined;
  switch (name) {
    case "kubernetes":
      return {
        ...externalBase,
        name,
        kubeconfig: value,
        server: null,
        kubectl: env.TENURE_KUBECTL || findExecutable("kubectl") || null,
        users: {},
      };
    case "etcd":
      return {
        ...externalBase,
        name,
        endpoints: value
          .split(",")
          .map((endpoint) => endpoint.trim())
          .filter((endpoint) => endpoint !== ""),
      };
    case "consul":
      return { ...externalBase, name, ...addressAndUrl(value) };
    case "redis":
      return { ...externalBase, name, url: value, durable: false };
    case "toxiproxy":
      return { ...externalBase, name, ...addressAndUrl(value) };
  }
}
