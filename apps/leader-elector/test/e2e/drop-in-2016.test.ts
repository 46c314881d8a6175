/**
 * The image swap in a running 2016 deployment, on the real apiserver. A 2016-style candidate
 * (interop/endpoints-elector: client-go v0.23's Endpoints annotation lock, timed as the 2016 sidecar)
 * holds the lock; a sidecar started with the 2016 command line exactly — no --lock, no --kubeconfig,
 * `--use-cluster-credentials` — must follow the annotation and never take a Lease of its own.
 * Every candidate's leadership is recorded on one monotonic clock and checked for overlap; the same
 * check is shown to fail when a sidecar is forced onto a Lease beside the 2016 holder.
 */

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureEndpointsElector } from "../../../../packages/kubernetes/test/support/endpoints-elector.js";
import { kube } from "./kube.js";
import { LeadershipRecorder } from "./leadership.js";
import { agreedLeader, Replica } from "./replica.js";

const TTL_MS = 4000;
const SLACK_MS = 3000;
const NAMESPACE = "default";
const k8s = kube();
let binary = "";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

beforeAll(async () => {
  binary = await ensureEndpointsElector((message) => console.error(message));
}, 25 * 60_000);

function setup(election: string) {
  const recorder = new LeadershipRecorder();
  const legacy: ReturnType<LeadershipRecorder["legacy"]>[] = [];
  const sidecars: Replica[] = [];
  cleanups.push(() => {
    recorder.close();
    for (const candidate of legacy) candidate.signal("SIGKILL");
    for (const sidecar of sidecars) sidecar.kill("SIGKILL");
  });
  return {
    recorder,
    /** A pod of the 2016 deployment. */
    old(id: string) {
      const candidate = recorder.legacy({
        binary,
        kubeconfig: k8s.kubeconfig,
        election,
        namespace: NAMESPACE,
        id,
        ttl: `${TTL_MS / 1000}s`,
      });
      legacy.push(candidate);
      return candidate;
    },
    /** A pod with the image swapped: the sidecar with the 2016 command line (plus `extra`). */
    async swapped(id: string, extra: readonly string[] = []) {
      const sidecar = await Replica.start(
        id,
        [
          `--election=${election}`,
          `--election-namespace=${NAMESPACE}`,
          `--ttl=${TTL_MS / 1000}s`,
          "--use-cluster-credentials",
          ...extra,
        ],
        20_000,
        k8s.podEnv(),
      );
      sidecars.push(sidecar);
      recorder.follow(sidecar);
      return sidecar;
    },
  };
}

describe("the 2016 image swapped for leader-elector, its flags unchanged", () => {
  it("follows the held annotation lock, never takes a Lease, and takes over only when the 2016 holder is gone", async () => {
    const election = `drop-in-${Date.now().toString(36)}`;
    const { recorder, old, swapped } = setup(election);
    const holder = old("old-1");
    const first = await recorder.nextLeader((who) => who === "old-1", TTL_MS * 2 + SLACK_MS);
    expect(first.kind).toBe("2016");

    const sidecar = await swapped("new-1");
    await sidecar.waitForLog(/--lock=auto: the 2016 Endpoints object of this election exists/, SLACK_MS);
    expect(sidecar.log.match(/--use-cluster-credentials is accepted/g)).toHaveLength(1);
    expect(await agreedLeader([sidecar], SLACK_MS)).toBe("old-1");
    await sidecar.ready(SLACK_MS);
    expect(await k8s.leaseHolder(NAMESPACE, election)).toBeNull();

    // The rollout deletes the 2016 pod: SIGTERM, and the 2016 sidecar never released its lock.
    const takeover = recorder.nextLeader((who) => who === "new-1", TTL_MS * 2 + SLACK_MS);
    holder.signal("SIGTERM");
    await holder.exited;
    await takeover;
    expect(await k8s.annotationHolder(NAMESPACE, election)).toBe("new-1");
    expect(await k8s.leaseHolder(NAMESPACE, election)).toBeNull();

    // A 2016 pod that comes (back) now follows the sidecar's record, and the sidecar keeps leading.
    old("old-2");
    await agreedLeader([sidecar], SLACK_MS);
    expect(recorder.failures).toEqual([]);
    expect(recorder.overlaps(), recorder.describe()).toEqual([]);
  }, 60_000);

  it("the migration lock (the guide's step 2) beside a live 2016 holder: waits, then takes both objects", async () => {
    const election = `drop-in-migrate-${Date.now().toString(36)}`;
    const { recorder, old, swapped } = setup(election);
    const holder = old("old-1");
    await recorder.nextLeader((who) => who === "old-1", TTL_MS * 2 + SLACK_MS);
    const migrating = await swapped("mig-1", ["--lock=migrate"]);
    await migrating.ready(SLACK_MS);
    // The Lease does not exist yet: the merged view is the annotation's, held by the 2016 candidate.
    expect(await agreedLeader([migrating], SLACK_MS)).toBe("old-1");
    expect(await k8s.leaseHolder(NAMESPACE, election)).toBeNull();

    const takeover = recorder.nextLeader((who) => who === "mig-1", TTL_MS * 2 + SLACK_MS);
    holder.signal("SIGTERM");
    await holder.exited;
    await takeover;
    expect(await k8s.annotationHolder(NAMESPACE, election)).toBe("mig-1");
    expect(await k8s.leaseHolder(NAMESPACE, election)).toBe("mig-1");
    expect(recorder.failures).toEqual([]);
    expect(recorder.overlaps(), recorder.describe()).toEqual([]);
  }, 60_000);

  it("negative control: forced onto a Lease (the old default), a sidecar leads beside the 2016 holder, and the check sees it", async () => {
    const election = `drop-in-lease-${Date.now().toString(36)}`;
    const { recorder, old, swapped } = setup(election);
    old("old-1");
    await recorder.nextLeader((who) => who === "old-1", TTL_MS * 2 + SLACK_MS);
    const second = recorder.nextLeader((who) => who === "new-1", SLACK_MS * 2);
    await swapped("new-1", ["--lock=lease"]);
    await second;
    expect(await k8s.leaseHolder(NAMESPACE, election)).toBe("new-1");
    expect(await k8s.annotationHolder(NAMESPACE, election)).toBe("old-1");
    expect(recorder.overlaps().length).toBeGreaterThan(0);
  }, 60_000);
});
