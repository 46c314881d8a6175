import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureGoBinary } from "@tenure/testing";

const run = promisify(execFile);

/** PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
}

/** An etcd serving clients over TLS with client-certificate auth, on loopback. */
export interface TlsEtcd {
  /** `https://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly tls: TlsMaterial;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Makes a CA, a server certificate (SAN IP 127.0.0.1) and a client certificate with openssl. */
async function makeCertificates(dir: string): Promise<void> {
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  await openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=tenure-test-ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  for (const [name, extension] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"],
    ["client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    await openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=tenure-${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    await run("sh", ["-c", `printf '${extension}\\n' > ${name}.ext`], { cwd: dir });
    await openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    );
  }
}

/**
 * Starts the harness's cached etcd binary with TLS on the client port and `--client-cert-auth`,
 * in a temporary folder (certificates, data, log), and resolves once it logs that it serves
 * clients. The harness has no TLS etcd, and this one is only for the TLS test.
 */
export async function startTlsEtcd(): Promise<TlsEtcd> {
  const dir = await mkdtemp(join(tmpdir(), "tenure-etcd-tls-"));
  let child: ChildProcess | undefined;
  try {
    await makeCertificates(dir);
    const binary = await ensureGoBinary("etcd", { server: "etcd", logDir: dir });
    const clientPort = await freePort();
    const peerPort = await freePort();
    const endpoint = `https://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const started = spawn(
      binary,
      [
        "--name=tls",
        `--data-dir=${join(dir, "data")}`,
        `--listen-client-urls=${endpoint}`,
        `--advertise-client-urls=${endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=tls=${peer}`,
        `--cert-file=${join(dir, "server.crt")}`,
        `--key-file=${join(dir, "server.key")}`,
        `--trusted-ca-file=${join(dir, "ca.crt")}`,
        "--client-cert-auth",
        "--unsafe-no-fsync",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child = started;
    await new Promise<void>((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => reject(new Error(`etcd (TLS) not ready within 30 s:\n${log}`)), 30_000);
      started.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`etcd (TLS) exited with ${code}:\n${log}`));
      });
      started.stderr?.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("serving client traffic securely")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Keep draining the log so etcd never blocks on a full pipe.
    started.stderr?.resume();
    const tls = {
      ca: await readFile(join(dir, "ca.crt")),
      clientCert: await readFile(join(dir, "client.crt")),
      clientKey: await readFile(join(dir, "client.key")),
    };
    return {
      endpoint,
      tls,
      async stop() {
        const exited = new Promise((resolve) => started.once("exit", resolve));
        started.kill("SIGTERM");
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child?.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
