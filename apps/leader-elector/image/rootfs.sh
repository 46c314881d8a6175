#!/bin/sh
# The runtime root filesystem of the leader-elector image, from Debian bookworm's packages only:
# glibc, libstdc++ and libgcc (what the official Node.js linux-x64 binary links against), tini (PID 1:
# forwards signals, reaps orphans of supervise mode's children), base-files (/etc/os-release, the
# directory tree) and netbase (/etc/services, /etc/protocols). No shell, no package manager, no
# maintainer script run: mmdebstrap's `extract` variant only unpacks the .debs. A dpkg status file
# lists them, so image scanners see the Debian versions.
#
#   rootfs.sh OUTDIR     (as root; needs mmdebstrap and dpkg-deb, reaches a Debian mirror)
#
# Run by the `rootfs` stage of ../Dockerfile, both under `docker build` and under ./build.sh.
# ROOTFS_SUITE (default bookworm) and ROOTFS_MIRROR (default: mmdebstrap's, deb.debian.org) override.
set -eu

out=${1:?usage: rootfs.sh OUTDIR}
suite=${ROOTFS_SUITE:-bookworm}
packages=base-files,netbase,libc6,libgcc-s1,libstdc++6,tini
# The uid/gid the image runs as (the manifests' runAsUser/runAsGroup).
uid=1000
gid=1000

# shellcheck disable=SC2086 # ROOTFS_MIRROR is empty or one URL
mmdebstrap --variant=extract --include="$packages" --skip=cleanup/apt/cache \
  "$suite" "$out" ${ROOTFS_MIRROR:-}

cd "$out"

# What dpkg would have recorded, for scanners (Trivy, Syft, grype read /var/lib/dpkg/status).
mkdir -p var/lib/dpkg
: >var/lib/dpkg/status
for deb in var/cache/apt/archives/*.deb; do
  {
    dpkg-deb --field "$deb" Package | sed 's/^/Package: /'
    echo "Status: install ok installed"
    dpkg-deb --field "$deb" | grep -v '^Package:'
    echo
  } >>var/lib/dpkg/status
done

# Setup files of mmdebstrap and apt, device nodes (the runtime mounts /dev), and what a
# container without a shell never reads: documentation (the copyright files stay), manuals,
# lintian overrides, gdb's pretty-printers for libstdc++.
rm -rf var/cache/apt var/lib/apt etc/apt var/log/* etc/hostname etc/resolv.conf etc/fstab \
  etc/dpkg dev/* usr/share/man usr/share/info usr/share/lintian usr/share/gdb usr/share/gcc \
  usr/share/doc-base
find usr/share/doc -mindepth 2 ! -name copyright ! -type d -exec rm -f {} +
find usr/share/doc -mindepth 1 -type d -empty -delete

# Users, without the passwd package: root and the one the image runs as.
cat >etc/passwd <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
tenure:x:$uid:$gid:leader-elector:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >etc/group <<EOF
root:x:0:
tenure:x:$gid:
nogroup:x:65534:
EOF
chmod 644 etc/passwd etc/group
# Without this file glibc asks DNS before /etc/hosts, and a DNS answer for "localhost" wins.
cat >etc/nsswitch.conf <<'EOF'
passwd:    files
group:     files
shadow:    files
hosts:     files dns
networks:  files
protocols: files
services:  files
EOF
# libc-bin (ldconfig) is not installed: build the loader's cache from outside.
echo 'include /etc/ld.so.conf.d/*.conf' >etc/ld.so.conf
ldconfig -r "$PWD"
# Runtimes mount these; empty files keep a read-only root from needing them created.
: >etc/hosts
: >etc/resolv.conf
