#!/usr/bin/env bash
# Idempotent set-up of everything orderquake needs on this machine:
#   .venv with the project and its dev tools, PostgreSQL server binaries, toxiproxy-server,
#   and Chromium for the report's browser tests where apt-get can install it (never required).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOOLS="${ORDERQUAKE_TOOLS:-$ROOT/.tools}"
TOXIPROXY_VERSION=v2.12.0
PYTHON="${PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

# --- Python ---------------------------------------------------------------------------------
# apt_install PACKAGE...: as root, or through sudo; says what to install where neither works.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install $*: run 'apt-get install $*' as root, then 'make setup' again"
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v "$PYTHON" >/dev/null || die "python3 not found: install Python 3.11 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$("$PYTHON" --version) is too old: install Python 3.11 or newer (or set PYTHON to one)"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    command -v apt-get >/dev/null || die "'$PYTHON -m venv' failed: install Python's venv module (ensurepip)"
    say "installing Python's venv module (Debian package 'python3-venv')"
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi
stamp=.venv/.orderquake-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing the project and its dev tools into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi

# --- stripe-python 14, beside the venv's 16 -------------------------------------------------
# The last major whose objects are dicts, for the Stripe dialect's tests of an older SDK
# (tests/integration/provider/test_stripe_sdk_major_14.py runs it with PYTHONPATH=$STRIPE_OLD).
# --no-deps: what it imports (requests, typing_extensions) is in .venv already, needed by locust and stripe 16.
STRIPE_OLD="$TOOLS/stripe-old"
if [ ! -d "$STRIPE_OLD/stripe" ]; then
  say "installing stripe 14.x into $STRIPE_OLD"
  rm -rf "$STRIPE_OLD.partial"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --target "$STRIPE_OLD.partial" 'stripe==14.*'
  PYTHONPATH="$STRIPE_OLD.partial" .venv/bin/python -c 'import requests, stripe' \
    || die "stripe 14 in $STRIPE_OLD.partial does not import with .venv/bin/python: see the error above"
  rm -rf "$STRIPE_OLD"
  mv "$STRIPE_OLD.partial" "$STRIPE_OLD"
fi

# --- PostgreSQL server binaries -------------------------------------------------------------
find_pg() {
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && command -v postgres >/dev/null; then
    return 0
  fi
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
if ! find_pg; then
  if command -v apt-get >/dev/null; then
    say "installing PostgreSQL server binaries (Debian package 'postgresql')"
    apt_install postgresql
  else
    die "PostgreSQL server binaries (pg_ctl, initdb, postgres) not found and no apt-get here: install PostgreSQL 13 or newer and put its bin folder on PATH"
  fi
fi
find_pg || die "PostgreSQL was installed but pg_ctl is still not found: put its bin folder on PATH"

# --- Toxiproxy ------------------------------------------------------------------------------
if [ -n "${TOXIPROXY_SERVER:-}" ]; then
  [ -x "$TOXIPROXY_SERVER" ] || die "TOXIPROXY_SERVER=$TOXIPROXY_SERVER is not an executable file"
elif command -v toxiproxy-server >/dev/null; then
  :
elif [ -x "$TOOLS/bin/toxiproxy-server" ]; then
  :
else
  # The official Go tarball installs to /usr/local/go without touching PATH.
  GO=$(command -v go || true)
  [ -n "$GO" ] || [ ! -x /usr/local/go/bin/go ] || GO=/usr/local/go/bin/go
  [ -n "$GO" ] || die "toxiproxy-server not found and no Go toolchain: install Go 1.22+ from https://go.dev/dl (Debian's golang-go is too old on bookworm), then run 'make setup' again; or set TOXIPROXY_SERVER to a Toxiproxy $TOXIPROXY_VERSION server binary"
  say "building toxiproxy-server $TOXIPROXY_VERSION with go install"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" "$GO" install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$TOOLS/bin/server" "$TOOLS/bin/toxiproxy-server"
fi
# --- Chromium (optional) --------------------------------------------------------------------
# Only the report's browser tests use it; without it they skip (and fail under CI=true).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; }; then
    say "installing Chromium for the report's browser tests (Debian package 'chromium')"
    ( apt_install chromium ) || say "could not install chromium: the report's browser tests will skip"
  else
    say "chromium not found and no apt-get (or root): the report's browser tests will skip"
  fi
fi
say "ready"
