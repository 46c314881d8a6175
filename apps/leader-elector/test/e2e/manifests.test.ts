/**
 * deploy/ as a hardened cluster sees it, on the real kube-apiserver: rendered by kubectl's kustomize
 * into a fresh namespace labelled `pod-security.kubernetes.io/enforce=restricted`, applied with a
 * server-side dry run. Pod Security admission enforces on Pods, not on Deployments (it only warns
 * about them), so the Deployment's pod template is also submitted as a Pod, the object a ReplicaSet
 * would create; a copy without the seccomp profile must be refused, so the check can fail.
 */

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { kube } from "./kube.js";

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));
const k8s = kube();

interface KubeObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
  subjects?: { kind: string; name: string; namespace?: string }[];
  data?: Record<string, string>;
  spec?: { template?: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

interface Container {
  name: string;
  restartPolicy?: string;
  args?: string[];
  envFrom?: { configMapRef: { name: string } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}

interface PodSpec {
  securityContext?: Record<string, unknown>;
  initContainers?: Container[];
  containers: Container[];
}

/**
 * deploy/ with its two settings changed where kustomization.yaml says to: the namespace and the
 * election (TENURE_ELECTION). Everything else must follow from those two lines.
 */
function configured(namespace: string, election: string): string {
  const dir = mkdtempSync(join(tmpdir(), "leader-elector-deploy-"));
  cpSync(DEPLOY, dir, { recursive: true });
  const file = join(dir, "kustomization.yaml");
  const original = readFileSync(file, "utf8");
  const edited = original
    .replace(/^namespace: default$/m, `namespace: ${namespace}`)
    .replace(/TENURE_ELECTION=example$/m, `TENURE_ELECTION=${election}`);
  expect(edited.split("\n").filter((line, index) => line !== original.split("\n")[index])).toHaveLength(2);
  writeFileSync(file, edited);
  return dir;
}

/** Submits a Pod with the template's spec, server-side dry run; resolves with kubectl's error, or "" when accepted. */
async function dryRunPod(
  namespace: string,
  template: NonNullable<KubeObject["spec"]>["template"],
): Promise<string> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "example-dry-run", namespace, labels: template?.metadata.labels },
    spec: template?.spec,
  };
  try {
    await k8s.exec(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod));
    return "";
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
}

describe("Kubernetes manifests (deploy/)", () => {
  const namespace = `manifests-${Date.now().toString(36)}`;
  let objects: KubeObject[] = [];
  let warnings = "";

  beforeAll(async () => {
    await k8s.exec(["create", "namespace", namespace]);
    await k8s.exec([
      "label",
      "namespace",
      namespace,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/enforce-version=latest",
      "pod-security.kubernetes.io/warn=restricted",
      "pod-security.kubernetes.io/warn-version=latest",
    ]);
    const { execFile } = await import("node:child_process");
    // stdout: the objects as the server would store them; stderr: its warnings.
    const result = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        k8s.kubectl,
        [
          `--kubeconfig=${k8s.kubeconfig}`,
          "apply",
          "--dry-run=server",
          "-k",
          configured(namespace, "reports"),
          "-o",
          "json",
        ],
        (error, stdout, stderr) =>
          error === null ? resolve({ stdout, stderr }) : reject(Object.assign(error, { stderr })),
      );
    });
    const parsed = JSON.parse(result.stdout) as { kind: string; items?: KubeObject[] } & KubeObject;
    objects = parsed.kind === "List" ? (parsed.items ?? []) : [parsed];
    warnings = result.stderr;
  }, 60_000);

  const find = (kind: string): KubeObject => {
    const found = objects.find((object) => object.kind === kind);
    if (found === undefined)
      throw new Error(`no ${kind} in ${objects.map((object) => object.kind).join(", ")}`);
    return found;
  };

  it("are accepted by the apiserver, with the namespace and the election set in one place each", () => {
    expect(objects.map((object) => object.kind).sort()).toEqual(
      ["ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount"].sort(),
    );
    for (const object of objects) expect(object.metadata.namespace).toBe(namespace);
    expect(find("RoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "leader-elector", namespace },
    ]);
    expect(find("ConfigMap").data).toEqual({ TENURE_ELECTION: "reports" });
    // No Pod Security warning for the Deployment's template either.
    expect(warnings).not.toMatch(/PodSecurity/);
  });

  it("grant exactly the calls of the Lease lock, on the one Lease", () => {
    expect(find("Role").rules).toEqual([
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["reports"],
        verbs: ["get", "list", "watch", "update"],
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    ]);
  });

  it("run the sidecar as a native sidecar, hardened, with requests and limits", () => {
    const spec = find("Deployment").spec?.template?.spec;
    const sidecar = spec?.initContainers?.find((container) => container.name === "leader-elector");
    expect(sidecar?.restartPolicy).toBe("Always");
    expect(sidecar?.args).toContain("--lock=lease");
    expect(sidecar?.envFrom?.[0]?.configMapRef.name).toBe(find("ConfigMap").metadata.name);
    expect(spec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    for (const container of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      expect(container.securityContext, container.name).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(Object.keys(container.resources?.requests ?? {}).sort(), container.name).toEqual([
        "cpu",
        "memory",
      ]);
      expect(Object.keys(container.resources?.limits ?? {}).sort(), container.name).toEqual([
        "cpu",
        "memory",
      ]);
    }
  });

  it("make a Pod the restricted namespace admits, and a copy without the seccomp profile it refuses", async () => {
    const template = find("Deployment").spec?.template;
    expect(await dryRunPod(namespace, template)).toBe("");

    const lax = structuredClone(template);
    delete lax?.spec.securityContext?.seccompProfile;
    const refusal = await dryRunPod(namespace, lax);
    expect(refusal).toMatch(/violates PodSecurity "restricted:latest"/);
    expect(refusal).toMatch(/seccompProfile/);
  }, 30_000);
});
