#!/usr/bin/env bash
# Idempotent set-up of the compose stage (harness/stage/compose.py, docker-compose.yml):
#   1. a Docker engine: Debian's docker.io installed where no docker client is found, and
#      'dockerd --storage-driver=vfs' started where none answers (its log: $TOOLS/dockerd.log);
#   2. the images, from local parts only (no registry is needed):
#        orderquake/base:bookworm      debootstrap root file system, 'docker import' (docker/build-base.sh)
#        orderquake/toxiproxy:2.12.0   FROM scratch, a static toxiproxy-server built with CGO_ENABLED=0
#        orderquake/postgres:dev       FROM the base, a cluster made at build time
#        orderquake/app:dev            FROM the base, wheels made here by 'pip wheel'
# Each step says how long it took. Where a registry is reachable, BASE_IMAGE=<image> builds
# over that image instead of the debootstrap one (see docker/base.Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="${ORDERQUAKE_TOOLS:-$ROOT/.tools}"
CACHE="$TOOLS/cache"
TOXIPROXY_VERSION=v2.12.0
BASE_IMAGE="${BASE_IMAGE:-orderquake/base:bookworm}"
PIP="$ROOT/.venv/bin/pip"

say() { printf 'compose-setup: %s\n' "$*"; }
die() { printf 'compose-setup: error: %s\n' "$*" >&2; exit 2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# build TAG DOCKERFILE CONTEXT: a rebuilt image leaves the previous one untagged, and with vfs
# each of its layers is a full copy of the file system: the previous one is removed.
build() {
  local tag=$1 file=$2 context=$3 old
  mkdir -p "$TOOLS"
  old=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  docker build --quiet --build-arg BASE="$BASE_IMAGE" -t "$tag" -f "$file" "$context" >/dev/null 2>>"$TOOLS/docker-build.log" \
    || die "docker build of $tag failed: see $TOOLS/docker-build.log"
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
}

# --- 1. the engine --------------------------------------------------------------------------
t=$(now)
if ! command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  command -v apt-get >/dev/null || die "no Docker engine and no apt-get: install Docker, start it, and run this again"
  say "installing Debian's docker.io"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  if pgrep -x dockerd >/dev/null; then
    say "a dockerd runs but does not answer yet"
  else
    mkdir -p "$TOOLS"
    say "starting dockerd --storage-driver=vfs (log: $TOOLS/dockerd.log)"
    as_root setsid nohup dockerd --storage-driver=vfs >"$TOOLS/dockerd.log" 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || die "the Docker engine did not answer within 60 s: see $TOOLS/dockerd.log"
fi
say "engine ready ($(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}')) in $(took "$t")"

# --- 2a. the base image ---------------------------------------------------------------------
t=$(now)
if [ "$BASE_IMAGE" = orderquake/base:bookworm ]; then
  docker/build-base.sh "$BASE_IMAGE"
fi
say "base image $BASE_IMAGE in $(took "$t")"

# --- 2b. Toxiproxy --------------------------------------------------------------------------
t=$(now)
TOXI="$CACHE/docker-toxiproxy"
if [ ! -x "$TOXI/toxiproxy-server" ]; then
  command -v go >/dev/null || die "go not found: the Toxiproxy image needs a static build of github.com/Shopify/toxiproxy/v2 $TOXIPROXY_VERSION"
  say "building a static toxiproxy-server $TOXIPROXY_VERSION (CGO_ENABLED=0)"
  mkdir -p "$TOXI"
  CGO_ENABLED=0 GOBIN="$TOXI" go install -trimpath -ldflags='-s -w' "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$TOXI/server" "$TOXI/toxiproxy-server"
fi
cp docker/toxiproxy.Dockerfile docker/toxiproxy.json "$TOXI/"
build "orderquake/toxiproxy:${TOXIPROXY_VERSION#v}" "$TOXI/toxiproxy.Dockerfile" "$TOXI"
say "image orderquake/toxiproxy:${TOXIPROXY_VERSION#v} in $(took "$t")"

# --- 2c. PostgreSQL -------------------------------------------------------------------------
t=$(now)
build orderquake/postgres:dev docker/postgres.Dockerfile docker
say "image orderquake/postgres:dev in $(took "$t")"

# --- 2d. the Python parts -------------------------------------------------------------------
t=$(now)
[ -x "$PIP" ] || die ".venv not found: run 'make setup' first"
APP="$CACHE/docker-app"
stamp="$APP/deps/.dependencies.sha256"
want=$("$ROOT/.venv/bin/python" -c 'import hashlib, json, tomllib
print(hashlib.sha256(json.dumps(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]).encode()).hexdigest())')
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "collecting the dependencies' wheels (pip wheel)"
  rm -rf "$APP/deps"
  mkdir -p "$APP/deps"
  "$PIP" wheel --quiet --disable-pip-version-check --wheel-dir "$APP/deps" .
  rm -f "$APP"/deps/orderquake-*.whl
  echo "$want" > "$stamp"
fi
rm -rf "$APP/src"
mkdir -p "$APP/src"
tar --exclude=__pycache__ -cf - harness mock_provider order_service contract | tar -C "$APP/src" -xf -
# Compiled here, since the image's user cannot write beside the source; the same source gives
# the same bytes, so an unchanged tree reuses the cached layer.
"$ROOT/.venv/bin/python" -m compileall -q --invalidation-mode unchecked-hash "$APP/src" >/dev/null
cp docker/app.Dockerfile "$APP/"
build orderquake/app:dev "$APP/app.Dockerfile" "$APP"
say "image orderquake/app:dev in $(took "$t")"
say "ready"
