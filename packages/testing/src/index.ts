// @tenure/testing: real servers on loopback for Tenure's tests. See README.md and docs/development.md.
export { cachedBinaryPath, ensureGoBinary } from "./build.ts";
export {
  type Cluster,
  type ClusterKind,
  type ClusterMember,
  type ClusterMemberState,
  clusterNames,
  openCluster,
  type RejoinOptions,
  type StartClusterOptions,
  type StartEtcdClusterOptions,
  startConsulCluster,
  startEtcdCluster,
  stopClusters,
} from "./clusters.ts";
export { ServerSetupError } from "./errors.ts";
export { externalServer, overrideVariables } from "./external.ts";
export {
  type ProcessStatus,
  pauseServer,
  readServersFile,
  restartServer,
  resumeServer,
  type ServerStatus,
  type StartServersOptions,
  type StopServersOptions,
  serverStatus,
  startServers,
  stopServers,
} from "./harness.ts";
export { installNpmCopy, type NpmCopy } from "./npm-copy.ts";
export { binaryCacheDir, defaultStateDir, repoRoot } from "./paths.ts";
export { kubernetesTokenUserNames } from "./servers/kubernetes.ts";
export {
  type ConsulServer,
  type EtcdServer,
  isServerName,
  type KubernetesServer,
  type KubernetesTokenUser,
  type ManagedProcess,
  type RedisServer,
  type ServerName,
  type ServerRecord,
  type ServerRecords,
  type ServersFile,
  serverNames,
  type ToxiproxyServer,
} from "./state.ts";
export { type Toxic, type ToxicStream, ToxiproxyClient, ToxiproxyProxy } from "./toxiproxy-client.ts";
export { type GoBinaryName, type GoBinarySpec, goBinaries, redisPackage } from "./versions.ts";
