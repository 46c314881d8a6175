// @tenure/testing: real servers on loopback for Tenure's tests. See README.md and docs/development.md.
export { cachedBinaryPath, ensureGoBinary } from "./build.ts";
export { ServerSetupError } from "./errors.ts";
export { externalServer, overrideVariables } from "./external.ts";
export {
  type ProcessStatus,
  readServersFile,
  restartServer,
  type ServerStatus,
  type StartServersOptions,
  type StopServersOptions,
  serverStatus,
  startServers,
  stopServers,
} from "./harness.ts";
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
export { type GoBinaryName, type GoBinarySpec, goBinaries, redisPackage } from "./versions.ts";
