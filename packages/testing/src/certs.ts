import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ServerSetupError } from "./errors.ts";
import { describeResult, runCommand } from "./process.ts";
import { ensureDebianPackage } from "./system.ts";

const opensslTimeoutMs = 30_000;

/** A PEM certificate and its private key on disk. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Runs openssl for certificate work; `server` and the log file are named when it fails. */
export interface Openssl {
  run(step: string, args: readonly string[]): Promise<void>;
}

/** Finds (installing Debian's `openssl` if needed) the openssl command for `server`'s certificates. */
export async function openssl(server: string, logFile: string): Promise<Openssl> {
  const binary = await ensureDebianPackage({ server, binary: "openssl", debianPackage: "openssl", logFile });
  return {
    async run(step, args) {
      const result = await runCommand(binary, args, { logFile, timeoutMs: opensslTimeoutMs });
      if (result.exitCode !== 0) {
        throw new ServerSetupError(
          server,
          `certificates: ${step}`,
          describeResult(result, opensslTimeoutMs),
          logFile,
        );
      }
    },
  };
}

/** Creates a self-signed certificate authority in `dir` as `<name>.crt` / `<name>.key`. */
export async function createCertificateAuthority(
  tool: Openssl,
  dir: string,
  name: string,
  commonName: string,
): Promise<CertificateFiles> {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await tool.run(`create CA ${commonName}`, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-sha256",
    "-days",
    "3650",
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    "-keyout",
    files.key,
    "-out",
    files.cert,
  ]);
  return files;
}

/** What {@link issueCertificate} puts in a certificate. */
export interface CertificateRequest {
  readonly name: string;
  readonly commonName: string;
  /** Organisations (Kubernetes reads them as groups, e.g. `system:masters`). */
  readonly organizations?: readonly string[];
  /** Subject alternative names for a serving certificate, e.g. `IP:127.0.0.1`, `DNS:localhost`. */
  readonly subjectAltNames?: readonly string[];
  readonly usage: "server" | "client";
}

/** Issues a certificate signed by `ca` into `dir` as `<name>.crt` / `<name>.key`. */
export async function issueCertificate(
  tool: Openssl,
  ca: CertificateFiles,
  dir: string,
  request: CertificateRequest,
): Promise<CertificateFiles> {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, `${request.name}.crt`), key: join(dir, `${request.name}.key`) };
  const csr = join(dir, `${request.name}.csr`);
  const extensionsFile = join(dir, `${request.name}.ext`);
  const subject = [
    ...(request.organizations ?? []).map((organization) => `/O=${organization}`),
    `/CN=${request.commonName}`,
  ].join("");
  const extensions = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${request.usage === "server" ? "serverAuth" : "clientAuth"}`,
    ...(request.subjectAltNames === undefined ? [] : [`subjectAltName=${request.subjectAltNames.join(",")}`]),
  ];
  writeFileSync(extensionsFile, `${extensions.join("\n")}\n`);
  await tool.run(`key and request for ${request.commonName}`, [
    "req",
    "-new",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    subject,
    "-keyout",
    files.key,
    "-out",
    csr,
  ]);
  await tool.run(`sign ${request.commonName}`, [
    "x509",
    "-req",
    "-sha256",
    "-days",
    "3650",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-extfile",
    extensionsFile,
    "-out",
    files.cert,
  ]);
  return files;
}

/** An RSA key pair for signing and verifying service-account tokens. */
export interface ServiceAccountKeys {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** Creates `sa.key` / `sa.pub` in `dir`. */
export async function createServiceAccountKeys(tool: Openssl, dir: string): Promise<ServiceAccountKeys> {
  mkdirSync(dir, { recursive: true });
  const keys = { privateKey: join(dir, "sa.key"), publicKey: join(dir, "sa.pub") };
  await tool.run("service-account key", ["genrsa", "-out", keys.privateKey, "2048"]);
  await tool.run("service-account public key", [
    "rsa",
    "-in",
    keys.privateKey,
    "-pubout",
    "-out",
    keys.publicKey,
  ]);
  return keys;
}
