import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { InvalidArgumentError } from "@tenure/core";
import { parseDuration } from "./duration.js";

/** The backends this build of the sidecar can use. More arrive as their adapters land. */
export const BACKENDS = ["memory"] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Everything the sidecar was told on its command line (or through environment variables). */
export interface SidecarFlags {
  /** The election (lock) name. Required. */
  readonly election: string;
  /** Namespace of the lock object on Kubernetes. Default "default". */
  readonly electionNamespace: string;
  /** This replica's identity. Default: the hostname (the pod name in Kubernetes). */
  readonly id: string;
  /** Lease duration. Default 10 s, as in the 2016 sidecar. */
  readonly ttlMs: number;
  /** Renew deadline. Default ttl / 2. */
  readonly renewDeadlineMs: number;
  /** Retry period. Default ttl / 4. */
  readonly retryPeriodMs: number;
  /** host:port to serve HTTP on; omitted means no HTTP server. */
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly backend: BackendName;
  /** "text" (default) or "json" log lines. */
  readonly logFormat: "text" | "json";
  readonly logLevel: "debug" | "info" | "warn" | "error";
}

export const USAGE = `Usage: leader-elector --election=<name> [options]
       leader-elector demo

Runs one candidate in a leader election and answers, over HTTP, who leads.

Options:
  --election <name>            election (lock) name, a DNS-1123 subdomain (required)
  --election-namespace <ns>    Kubernetes namespace of the lock (default "default")
  --id <identity>              this replica's identity (default: hostname)
  --ttl <duration>             lease duration (default 10s)
  --renew-deadline <duration>  leader gives up after this long without renewing (default ttl/2)
  --retry-period <duration>    renew and retry interval (default ttl/4)
  --http <host:port>           serve GET / {"name":"<leader>"}, /healthz, /readyz, /metrics
  --backend <name>             store: ${BACKENDS.join(", ")} (default memory)
  --log-format <text|json>     log line format (default text)
  --log-level <level>          debug, info, warn or error (default info)
  -h, --help                   show this help

Environment: TENURE_ELECTION, TENURE_ID, TENURE_HTTP, TENURE_BACKEND stand in for the flags.
`;

/** Parses the command line. Throws InvalidArgumentError naming the flag and the rule. */
export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SidecarFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        election: { type: "string" },
        "election-namespace": { type: "string" },
        id: { type: "string" },
        ttl: { type: "string" },
        "renew-deadline": { type: "string" },
        "retry-period": { type: "string" },
        http: { type: "string" },
        backend: { type: "string" },
        "log-format": { type: "string" },
        "log-level": { type: "string" },
      },
    }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new InvalidArgumentError("arguments", `${message ?? "unreadable"}; see --help`);
  }
  const text = (name: string, fallback?: string): string | undefined => {
    const value = values[name];
    return typeof value === "string" ? value : fallback;
  };

  const election = text("election", env.TENURE_ELECTION);
  if (election === undefined || election === "") throw new InvalidArgumentError("--election", "is required");
  const ttlMs = parseDuration("--ttl", text("ttl", "10s") ?? "10s");
  const renewText = text("renew-deadline");
  const retryText = text("retry-period");
  const backend = text("backend", env.TENURE_BACKEND ?? "memory") ?? "memory";
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new InvalidArgumentError("--backend", `must be one of ${BACKENDS.join(", ")}, got "${backend}"`);
  }
  const logFormat = text("log-format", "text");
  if (logFormat !== "text" && logFormat !== "json") {
    throw new InvalidArgumentError("--log-format", `must be text or json, got "${logFormat}"`);
  }
  const logLevel = text("log-level", "info");
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new InvalidArgumentError("--log-level", `must be debug, info, warn or error, got "${logLevel}"`);
  }
  const httpText = text("http", env.TENURE_HTTP);
  return {
    election,
    electionNamespace: text("election-namespace", "default") ?? "default",
    id: text("id", env.TENURE_ID ?? hostname()) ?? hostname(),
    ttlMs,
    renewDeadlineMs: renewText === undefined ? ttlMs / 2 : parseDuration("--renew-deadline", renewText),
    retryPeriodMs: retryText === undefined ? ttlMs / 4 : parseDuration("--retry-period", retryText),
    http: httpText === undefined ? undefined : parseHostPort(httpText),
    backend: backend as BackendName,
    logFormat,
    logLevel,
  };
}

/** "0.0.0.0:4040", ":4040" (all interfaces) or "[::1]:4040". */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65_535) {
    throw new InvalidArgumentError(
      "--http",
      `"${text}" is not host:port (for example 0.0.0.0:4040 or :4040)`,
    );
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}
