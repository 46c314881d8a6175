/**
 * docs/upgrade-from-2016.md, executed: a 2016 deployment (three 2016-style candidates) moved to
 * Tenure's sidecar on a Lease through the guide's three rolling updates, on the real kube-apiserver,
 * with the guide's RBAC blocks applied as written to a user without other permissions. A 2016
 * candidate keeps campaigning through steps 1 and 2; every candidate's leadership is recorded on one
 * monotonic clock, and no two may overlap across all steps.
 */

import { readFileSync } from "node:fs";
import type {} from "@tenure/testing/global-setup";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { ensureEndpointsElector } from "../../../../packages/kubernetes/test/support/endpoints-elector.js";
import { kube } from "./kube.js";
import { type Interval, LeadershipRecorder } from "./leadership.js";
import { agreedLeader, Replica } from "./replica.js";

const TTL_MS = 4000;
const SLACK_MS = 3000;
/** A takeover after a leader that did not release: a lease, a retry period, and start-up. */
const TAKEOVER_MS = TTL_MS + TTL_MS / 4 + SLACK_MS;
const GUIDE = readFileSync(new URL("../../../../docs/upgrade-from-2016.md", import.meta.url), "utf8");
const k8s = kube();
const cluster = inject("tenureServers").servers.kubernetes;

/** The guide's YAML block whose info string names `tag` (```yaml rbac-step-1). */
function guideBlock(tag: string): string {
  const match = new RegExp(`\`\`\`yaml ${tag}\\n([\\s\\S]*?)\`\`\``).exec(GUIDE);
  if (match?.[1] === undefined) throw new Error(`docs/upgrade-from-2016.md has no \`\`\`yaml ${tag} block`);
  return match[1];
}

let binary = "";
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
beforeAll(async () => {
  binary = await ensureEndpointsElector((message) => console.error(message));
}, 25 * 60_000);

describe("docs/upgrade-from-2016.md, step by step", () => {
  it("moves a 2016 deployment to a Lease, a 2016 candidate campaigning until the last step, never two leaders", async () => {
    const user = cluster?.users["tenure-elector"];
    if (user === undefined) throw new Error("the harness provided no token user tenure-elector");
    const id = Date.now().toString(36);
    const namespace = `upgrade-${id}`;
    const election = `example-${id}`;
    await k8s.exec(["create", "namespace", namespace]);
    const applyGuideRbac = (tag: string) =>
      k8s.exec(
        ["apply", "-f", "-"],
        guideBlock(tag)
          .replaceAll("namespace: default", `namespace: ${namespace}`)
          .replaceAll('["example"]', `["${election}"]`),
      );
    await applyGuideRbac("rbac-step-1");
    await k8s.exec([
      "create",
      "rolebinding",
      "leader-elector-user",
      "--role=leader-elector",
      "--user=tenure-elector",
      "-n",
      namespace,
    ]);

    const recorder = new LeadershipRecorder();
    const legacy = new Map<string, ReturnType<LeadershipRecorder["legacy"]>>();
    const sidecars = new Map<string, Replica>();
    cleanups.push(() => {
      recorder.close();
      for (const candidate of legacy.values()) candidate.signal("SIGKILL");
      for (const sidecar of sidecars.values()) sidecar.kill("SIGKILL");
    });
    /** A pod of the 2016 deployment. */
    const old = (name: string): void => {
      legacy.set(
        name,
        recorder.legacy({
          binary,
          kubeconfig: user.kubeconfig,
          election,
          namespace,
          id: name,
          ttl: `${TTL_MS / 1000}s`,
        }),
      );
    };
    /** A pod of Tenure's image with the 2016 command line, plus `extra`; resolves once it is ready. */
    const pod = async (name: string, extra: readonly string[] = []): Promise<Replica> => {
      const args = [
        `--election=${election}`,
        `--election-namespace=${namespace}`,
        `--ttl=${TTL_MS / 1000}s`,
        "--use-cluster-credentials",
        ...extra,
      ];
      const sidecar = await Replica.start(name, args, 20_000, {
        ...k8s.podEnv(),
        KUBECONFIG: user.kubeconfig,
      });
      sidecars.set(name, sidecar);
      recorder.follow(sidecar);
      await sidecar.ready(SLACK_MS);
      return sidecar;
    };
    /** The rollout deletes a pod: SIGTERM, and it is gone. */
    const remove = async (name: string): Promise<void> => {
      const candidate = legacy.get(name);
      const sidecar = sidecars.get(name);
      if (candidate !== undefined) {
        candidate.signal("SIGTERM");
        await candidate.exited;
        legacy.delete(name);
      } else if (sidecar !== undefined) {
        sidecar.kill("SIGTERM");
        expect(await sidecar.exited).toBe(0);
        sidecars.delete(name);
      }
    };
    /** Whoever leads now, or the next to lead. */
    const leader = async (among: (who: string) => boolean): Promise<Interval> => {
      const current = recorder.current();
      if (current !== undefined && among(current.who)) return current;
      return recorder.nextLeader(among, TAKEOVER_MS);
    };

    // Step 0: the 2016 deployment.
    const firstLeader = recorder.nextLeader((who) => who === "old-1", TAKEOVER_MS);
    old("old-1");
    await firstLeader;
    old("old-2");
    old("old-3");

    // Step 1: the image swapped, flags unchanged, one pod at a time; old-3 is not replaced yet.
    for (const n of [1, 2]) {
      const sidecar = await pod(`new-${n}`);
      expect(sidecar.log).toMatch(/--lock=auto: the 2016 Endpoints object of this election exists/);
      await remove(`old-${n}`);
    }
    const afterStep1 = await leader(() => true);
    expect(await k8s.leaseHolder(namespace, election)).toBeNull();
    expect(await k8s.annotationHolder(namespace, election)).toBe(afterStep1.who);

    // Step 2: the Lease verbs granted, then --lock=migrate rolled out while old-3 still campaigns.
    await applyGuideRbac("rbac-step-2");
    for (const n of [1, 2]) {
      await pod(`mig-${n}`, ["--lock=migrate"]);
      await remove(`new-${n}`);
    }
    expect(legacy.has("old-3")).toBe(true);
    await pod("mig-3", ["--lock=migrate"]);
    await remove("old-3");
    const afterStep2 = await leader((who) => who.startsWith("mig-"));
    await agreedLeader([...sidecars.values()], TAKEOVER_MS);
    expect(await k8s.leaseHolder(namespace, election)).toBe(afterStep2.who);
    expect(await k8s.annotationHolder(namespace, election)).toBe(afterStep2.who);

    // Step 3: --lock=lease rolled out; then the Endpoints object deleted and the endpoints rules dropped.
    for (const n of [1, 2, 3]) {
      await pod(`lease-${n}`, ["--lock=lease"]);
      await remove(`mig-${n}`);
    }
    const afterStep3 = await leader((who) => who.startsWith("lease-"));
    expect(await k8s.leaseHolder(namespace, election)).toBe(afterStep3.who);
    await k8s.exec(["delete", "endpoints", election, "-n", namespace]);
    await applyGuideRbac("rbac-step-3");
    expect(await agreedLeader([...sidecars.values()], SLACK_MS)).toBe(afterStep3.who);
    expect(await k8s.leaseHolder(namespace, election)).toBe(afterStep3.who);

    expect(recorder.failures).toEqual([]);
    const overlaps = recorder.overlaps();
    expect(overlaps, `leadership intervals:\n${recorder.describe()}`).toEqual([]);
    // Leadership changed hands along the way, between both kinds of candidate or within one.
    expect(recorder.intervals.length).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
