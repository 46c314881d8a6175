/**
 * The one place that pins every real server the tests run against.
 *
 * Go-built servers are compiled from the wrapper modules in `packages/testing/go/<module>`; each
 * wrapper's go.mod requires the same version as below (checked before every build, so the two
 * cannot drift apart silently). Redis comes from Debian's package, whatever version the release
 * ships (bookworm: 7.0.x), and is only checked for its major version.
 */

/** How one binary is built from a wrapper Go module kept in this repository. */
export interface GoBinarySpec {
  /** Name of the binary, also the prefix of its cache file `<name>-<version>`. */
  readonly binary: string;
  /** Version the binary reports, used as the cache key. */
  readonly version: string;
  /** Folder under packages/testing/go holding the wrapper module. */
  readonly module: string;
  /** Go module whose version must match `version` in the wrapper's go.mod. */
  readonly pinnedModule: string;
  /** Version of `pinnedModule` required by the wrapper's go.mod. */
  readonly pinnedModuleVersion: string;
  /** Main package to build. */
  readonly mainPackage: string;
  /** `-X importpath.name=value` link-time settings so the binary reports a truthful version. */
  readonly linkerVariables: Readonly<Record<string, string>>;
}

const kubernetesVersion = "1.36.3";
const componentBaseVersion = "k8s.io/component-base/version";
const kubernetesLinkerVariables = {
  [`${componentBaseVersion}.gitVersion`]: `v${kubernetesVersion}`,
  [`${componentBaseVersion}.gitMajor`]: "1",
  [`${componentBaseVersion}.gitMinor`]: "36",
  [`${componentBaseVersion}.gitTreeState`]: "clean",
};

/** Every Go-built binary, by the name the harness uses for it. */
export const goBinaries = {
  "kube-apiserver": {
    binary: "kube-apiserver",
    version: kubernetesVersion,
    module: "kubernetes",
    pinnedModule: "k8s.io/kubernetes",
    pinnedModuleVersion: `v${kubernetesVersion}`,
    mainPackage: "k8s.io/kubernetes/cmd/kube-apiserver",
    linkerVariables: kubernetesLinkerVariables,
  },
  kubectl: {
    binary: "kubectl",
    version: kubernetesVersion,
    module: "kubernetes",
    pinnedModule: "k8s.io/kubernetes",
    pinnedModuleVersion: `v${kubernetesVersion}`,
    mainPackage: "k8s.io/kubernetes/cmd/kubectl",
    linkerVariables: kubernetesLinkerVariables,
  },
  // The etcd that Kubernetes 1.36.3 itself requires (go.etcd.io/etcd/client/v3 v3.6.8), and the
  // pair controller-runtime's envtest uses. One build serves both the apiserver's private etcd
  // and the etcd the etcd adapter is tested against.
  etcd: {
    binary: "etcd",
    version: "3.6.8",
    module: "etcd",
    pinnedModule: "go.etcd.io/etcd/server/v3",
    pinnedModuleVersion: "v3.6.8",
    mainPackage: "go.etcd.io/etcd/server/v3",
    linkerVariables: {},
  },
  // Consul 1.14 is the newest line that needs neither github.com/hashicorp/consul/envoyextensions
  // nor .../troubleshoot (see go/consul/go.mod), and it is MPL-2.0.
  consul: {
    binary: "consul",
    version: "1.14.11",
    module: "consul",
    pinnedModule: "github.com/hashicorp/consul",
    pinnedModuleVersion: "v1.14.11",
    mainPackage: "github.com/hashicorp/consul",
    linkerVariables: {},
  },
  toxiproxy: {
    binary: "toxiproxy-server",
    version: "2.12.0",
    module: "toxiproxy",
    pinnedModule: "github.com/Shopify/toxiproxy/v2",
    pinnedModuleVersion: "v2.12.0",
    mainPackage: "github.com/Shopify/toxiproxy/v2/cmd/server",
    linkerVariables: { "github.com/Shopify/toxiproxy/v2.Version": "2.12.0" },
  },
} as const satisfies Record<string, GoBinarySpec>;

/** Name of a Go-built binary in {@link goBinaries}. */
export type GoBinaryName = keyof typeof goBinaries;

/** Oldest Go toolchain that builds every wrapper module (Kubernetes 1.36 needs go 1.26). */
export const minimumGoVersion = "1.26";

/** Redis comes from Debian; the harness installs this package when `redis-server` is missing. */
export const redisPackage = { debianPackage: "redis-server", binary: "redis-server", major: 7 } as const;
