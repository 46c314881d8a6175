// coordinated.mjs — one candidate of a Coordinated Leader Election (Kubernetes 1.33+, KEP-4355).
//
//   POD_NAME=reports-1 APP_VERSION=1.4.2 node coordinated.mjs
//
// kube-apiserver must run with --feature-gates=CoordinatedLeaderElection=true and
// --runtime-config=coordination.k8s.io/v1beta1=true. The coordinator inside it picks the leader among
// the published candidates (OldestEmulationVersion: the lowest emulationVersion, then the lowest
// binaryVersion, then the candidate created first), so during a rolling upgrade the old version
// keeps leading until every replica can run the new one.
import { Elector } from "@tenure/core";
import { LeaseCandidate, LeaseLock } from "@tenure/kubernetes";

const namespace = process.env.POD_NAMESPACE ?? "default";
const identity = process.env.POD_NAME ?? `reports-${process.pid}`; // a DNS-1123 name
const election = "report-generator";
const version = process.env.APP_VERSION ?? "1.0.0";

// Publishes coordination.k8s.io/v1beta1 LeaseCandidate `identity` and answers the coordinator's pings.
const candidate = new LeaseCandidate({
  namespace,
  leaseName: election,
  identity,
  binaryVersion: version,
  emulationVersion: process.env.EMULATION_VERSION ?? version,
});

const store = new LeaseLock({ namespace });
const elector = new Elector({
  store,
  name: election,
  identity, // must be the candidate's name: the coordinator writes it as holderIdentity
  coordinated: true, // never takes the Lease itself; yields at once when asked (preferredHolder)
  onStartedLeading: async ({ signal, fencingToken }) => {
    console.log(`${identity} leads (fencing token ${fencingToken})`);
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  },
  onStoppedLeading: ({ reason }) => console.log(`${identity} stopped leading: ${reason}`),
  onNewLeader: (leader) => console.log(`leader: ${leader}`),
});

try {
  await candidate.start(); // UNSUPPORTED when the cluster does not serve LeaseCandidate
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
elector.start();

process.on("SIGTERM", async () => {
  await elector.stop(); // releases the Lease if held: the coordinator picks the next leader at once
  await candidate.stop(); // deletes the LeaseCandidate
  await store.close();
});
