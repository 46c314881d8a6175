import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureGoBinary } from "../build.ts";
import {
  type CertificateFiles,
  createCertificateAuthority,
  createServiceAccountKeys,
  issueCertificate,
  openssl,
} from "../certs.ts";
import { launchInOrder, type StartContext } from "../launch.ts";
import { freePorts, loopback } from "../ports.ts";
import type { KubernetesServer, KubernetesTokenUser } from "../state.ts";
import { goBinaries } from "../versions.ts";
import { etcdProcessSpec, installEtcd } from "./etcd.ts";

/** Token users created for RBAC tests. They get no permissions here: tests grant what they need. */
export const kubernetesTokenUserNames = ["tenure-elector", "tenure-readonly"] as const;

/** Binaries a standalone kube-apiserver needs. */
export interface KubernetesBinaries {
  readonly apiserver: string;
  readonly kubectl: string;
  readonly etcd: string;
}

/** Builds (or finds in the cache) kube-apiserver, kubectl and the etcd that stores the apiserver's data. */
export async function installKubernetes(context: StartContext): Promise<KubernetesBinaries> {
  const options = { server: "kubernetes", logDir: context.layout.logDir, onBuild: context.log };
  const apiserver = await ensureGoBinary("kube-apiserver", options);
  const kubectl = await ensureGoBinary("kubectl", options);
  const etcd = await installEtcd(context, "kubernetes");
  return { apiserver, kubectl, etcd };
}

type KubeconfigUser = { "client-certificate": string; "client-key": string } | { token: string };

/** A kubeconfig (JSON is valid YAML, and every client reads it) with one cluster, user and context. */
function writeKubeconfig(
  path: string,
  serverUrl: string,
  caFile: string,
  userName: string,
  user: KubeconfigUser,
): void {
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "tenure", cluster: { server: serverUrl, "certificate-authority": caFile } }],
    users: [{ name: userName, user }],
    contexts: [{ name: "tenure", context: { cluster: "tenure", user: userName, namespace: "default" } }],
    "current-context": "tenure",
    preferences: {},
  };
  writeFileSync(path, `${JSON.stringify(kubeconfig, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Starts kube-apiserver standalone, the way controller-runtime's envtest does: its own etcd, its
 * own CA, a serving certificate for 127.0.0.1, service-account keys, RBAC, an admin client
 * certificate (group system:masters) and bearer-token users from a --token-auth-file.
 */
export async function startKubernetes(
  context: StartContext,
  binaries: KubernetesBinaries,
): Promise<KubernetesServer> {
  const dataDir = join(context.layout.dataDir, "kubernetes");
  const pki = join(dataDir, "pki");
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const tool = await openssl("kubernetes", join(context.layout.logDir, "kubernetes-certificates.log"));
  const ca: CertificateFiles = await createCertificateAuthority(tool, pki, "ca", "tenure-kubernetes-ca");
  const serving = await issueCertificate(tool, ca, pki, {
    name: "apiserver",
    commonName: "kube-apiserver",
    subjectAltNames: [
      `IP:${loopback}`,
      "IP:10.0.0.1",
      "DNS:localhost",
      "DNS:kubernetes",
      "DNS:kubernetes.default",
      "DNS:kubernetes.default.svc",
    ],
    usage: "server",
  });
  const admin = await issueCertificate(tool, ca, pki, {
    name: "admin",
    commonName: "tenure-admin",
    organizations: ["system:masters"],
    usage: "client",
  });
  const serviceAccount = await createServiceAccountKeys(tool, pki);

  const tokens = Object.fromEntries(
    kubernetesTokenUserNames.map((user) => [user, randomBytes(24).toString("hex")]),
  );
  const tokenFile = join(pki, "tokens.csv");
  writeFileSync(
    tokenFile,
    kubernetesTokenUserNames.map((user) => `${tokens[user]},${user},${user}-uid\n`).join(""),
    { mode: 0o600 },
  );

  const storage = await etcdProcessSpec({
    binary: binaries.etcd,
    label: "etcd (kube-apiserver storage)",
    dataDir: join(dataDir, "etcd"),
    logFile: join(context.layout.logDir, "kubernetes-etcd.log"),
    unsafeNoFsync: true,
  });
  const [securePort] = await freePorts(1);
  const serverUrl = `https://${loopback}:${securePort}`;
  const apiserverArgs = [
    `--etcd-servers=${storage.clientUrl}`,
    `--cert-dir=${pki}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--secure-port=${securePort}`,
    `--bind-address=${loopback}`,
    `--advertise-address=${loopback}`,
    `--client-ca-file=${ca.cert}`,
    `--token-auth-file=${tokenFile}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=${serverUrl}`,
    `--service-account-key-file=${serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${serviceAccount.privateKey}`,
    "--disable-admission-plugins=ServiceAccount",
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
    // Coordinated Leader Election (KEP-4355) is beta and off by default in 1.36: the coordinator
    // runs inside kube-apiserver only with the gate, and its LeaseCandidate API is a beta version.
    ...(context.coordinatedLeaderElection === true
      ? [
          "--feature-gates=CoordinatedLeaderElection=true",
          "--runtime-config=coordination.k8s.io/v1beta1=true",
        ]
      : []),
  ];
  const processes = await launchInOrder("kubernetes", [
    storage.spec,
    {
      label: "kube-apiserver",
      binary: binaries.apiserver,
      args: apiserverArgs,
      logFile: join(context.layout.logDir, "kube-apiserver.log"),
      probe: {
        kind: "http",
        url: `${serverUrl}/readyz`,
        bodyPattern: "^ok$",
        tls: { ca: ca.cert, cert: admin.cert, key: admin.key },
      },
      readyTimeoutMs: 180_000,
    },
  ]);

  const kubeconfig = join(dataDir, "admin.kubeconfig");
  writeKubeconfig(kubeconfig, serverUrl, ca.cert, "tenure-admin", {
    "client-certificate": admin.cert,
    "client-key": admin.key,
  });
  const users: Record<string, KubernetesTokenUser> = {};
  for (const user of kubernetesTokenUserNames) {
    const token = tokens[user] ?? "";
    const path = join(dataDir, `${user}.kubeconfig`);
    writeKubeconfig(path, serverUrl, ca.cert, user, { token });
    users[user] = { token, kubeconfig: path };
  }
  return {
    name: "kubernetes",
    version: goBinaries["kube-apiserver"].version,
    external: false,
    pid: processes.at(-1)?.pid ?? null,
    dataDir,
    processes,
    kubeconfig,
    server: serverUrl,
    kubectl: binaries.kubectl,
    users,
  };
}
