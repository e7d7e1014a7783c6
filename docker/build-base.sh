#!/usr/bin/env bash
# The base image of every orderquake image, built without a registry: a Debian bookworm
# root file system made by debootstrap (minbase) with Python 3 and PostgreSQL 15, imported
# with 'docker import'. Idempotent: does nothing when the image exists.
#   docker/build-base.sh [TAG]          (default orderquake/base:bookworm)
# Where a registry is reachable, 'docker build -f docker/base.Dockerfile' gives the same image.
set -euo pipefail
TAG="${1:-orderquake/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="${ORDERQUAKE_TOOLS:-$(cd "$(dirname "$0")/.." && pwd)/.tools}/cache/docker-base"

say() { printf 'build-base: %s\n' "$*"; }
die() { printf 'build-base: error: %s\n' "$*" >&2; exit 2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG exists"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: run as root, or build docker/base.Dockerfile where a registry is reachable"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"

ROOTFS="$WORK/rootfs"
TARBALL="$WORK/rootfs.tar"
if [ ! -f "$TARBALL" ]; then
  rm -rf "$ROOTFS"
  mkdir -p "$WORK"
  say "debootstrap --variant=minbase bookworm from $MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || die "debootstrap failed: see $WORK/debootstrap.log"
  # No service starts inside the build root, and PostgreSQL's package makes no cluster: the
  # postgres image makes its own at build time.
  printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"
  chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
  mkdir -p "$ROOTFS/etc/postgresql-common"
  echo "create_main_cluster = false" > "$ROOTFS/etc/postgresql-common/createcluster.conf"
  say "installing postgresql-15 into the root file system"
  chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
    >> "$WORK/debootstrap.log" 2>&1 || die "apt-get install postgresql-15 failed: see $WORK/debootstrap.log"
  chroot "$ROOTFS" apt-get clean
  # Lean, since the vfs storage driver copies the whole image for every container: PostgreSQL's
  # JIT (LLVM and z3, a third of the size; jit = off in the postgres image), locale sources,
  # documentation and apt's lists.
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* \
    "$ROOTFS"/usr/share/i18n "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log \
    "$ROOTFS"/usr/lib/x86_64-linux-gnu/libLLVM-*.so* "$ROOTFS"/usr/lib/x86_64-linux-gnu/libz3.so* \
    "$ROOTFS"/usr/lib/postgresql/*/lib/llvmjit* "$ROOTFS"/usr/lib/postgresql/*/lib/bitcode
  tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  rm -rf "$ROOTFS"
fi
say "docker import $TARBALL as $TAG"
docker import \
  --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --change 'LABEL org.orderquake.base=debootstrap-bookworm' \
  "$TARBALL" "$TAG" >/dev/null
say "built $TAG"
