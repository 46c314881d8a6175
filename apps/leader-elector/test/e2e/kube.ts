// The real apiserver as an operator sees it, through the harness's kubectl, for the 2016 tests.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type {} from "@tenure/testing/global-setup";
import { inject } from "vitest";

const run = promisify(execFile);

export interface Kube {
  readonly kubeconfig: string;
  readonly kubectl: string;
  /** Runs kubectl with the admin kubeconfig; resolves with stdout. */
  exec(args: readonly string[], input?: string): Promise<string>;
  /** `spec.holderIdentity` of the Lease, or `null` when there is no such Lease. */
  leaseHolder(namespace: string, name: string): Promise<string | null>;
  /** The leader annotation's holder on the Endpoints object, or `null` without object or annotation. */
  annotationHolder(namespace: string, name: string): Promise<string | null>;
  /**
   * The environment of a sidecar as if it ran in a pod, for the 2016 command line that has no
   * --kubeconfig: KUBERNETES_SERVICE_HOST set (so the backend defaults to kubernetes), and the
   * kubeconfig found through KUBECONFIG (no service account token on this machine).
   */
  podEnv(): NodeJS.ProcessEnv;
}

export function kube(): Kube {
  const server = inject("tenureServers").servers.kubernetes;
  if (server === undefined || server.kubectl === null)
    throw new Error("the harness did not start kubernetes with kubectl");
  const { kubeconfig, kubectl } = server;
  const exec = async (args: readonly string[], input?: string): Promise<string> => {
    if (input === undefined) return (await run(kubectl, [`--kubeconfig=${kubeconfig}`, ...args])).stdout;
    return new Promise((resolve, reject) => {
      const child = execFile(kubectl, [`--kubeconfig=${kubeconfig}`, ...args], (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(Object.assign(error, { stdout, stderr })),
      );
      child.stdin?.end(input);
    });
  };
  const getOrNull = async (args: readonly string[]): Promise<string | null> => {
    try {
      return await exec(args);
    } catch (error) {
      if (/NotFound/.test(String((error as { stderr?: string }).stderr))) return null;
      throw error;
    }
  };
  return {
    kubeconfig,
    kubectl,
    exec,
    async leaseHolder(namespace, name) {
      return getOrNull(["get", "lease", name, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}"]);
    },
    async annotationHolder(namespace, name) {
      const value = await getOrNull([
        "get",
        "endpoints",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}",
      ]);
      if (value === null || value === "") return null;
      return (JSON.parse(value) as { holderIdentity: string }).holderIdentity;
    },
    podEnv() {
      return {
        ...process.env,
        KUBERNETES_SERVICE_HOST: "127.0.0.1",
        KUBERNETES_SERVICE_PORT: "443",
        KUBECONFIG: kubeconfig,
      };
    },
  };
}
