#!/usr/bin/env bash
# Installs the live issuers the test suite starts (conformance-tests/tests/live_issuers.rs):
#   oidc-provider/  node-oidc-provider 9 (npm ci from package-lock.json)
#   pico-auth/      pico-auth from PyPI, in the virtualenv live-issuers/.venv
# Idempotent: a second run checks what is installed against the lock files and returns.
# Needs Node.js 20+ with npm, and Python 3.11+ with the venv module.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "live-issuers/setup.sh: '$1' is not installed (needed: $2)" >&2
    exit 1
  }
}
need node "Node.js 20 or newer, for oidc-provider"
need npm "npm, for oidc-provider"

# --- oidc-provider: npm ci, unless node_modules already matches the lock file ---------------
op="$here/oidc-provider"
stamp="$op/node_modules/.portcullis-lock.sha256"
want="$(sha256sum "$op/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$op/node_modules/oidc-provider" ]; then
  echo "oidc-provider: up to date"
else
  echo "oidc-provider: npm ci"
  (cd "$op" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

# --- pico-auth: a virtualenv with requirements.txt ------------------------------------------
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
fi
[ -n "$python" ] || {
  echo "live-issuers/setup.sh: no Python 3.11 or newer found (set PYTHON=...)" >&2
  exit 1
}
venv="$here/.venv"
stamp="$venv/.portcullis-requirements.sha256"
want="$(sha256sum "$here/pico-auth/requirements.txt" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ] \
  && "$venv/bin/python" -c 'import pico_auth' 2>/dev/null; then
  echo "pico-auth: up to date"
else
  echo "pico-auth: pip install into live-issuers/.venv"
  if [ ! -d "$venv/site-packages" ] \
    && { [ -x "$venv/bin/pip" ] || { rm -rf "$venv" && "$python" -m venv "$venv"; }; }; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$here/pico-auth/requirements.txt"
  else
    # No venv module (Debian's python3 without python3-venv): install into a directory with
    # the interpreter's own pip, behind a .venv/bin/python that puts it on the path.
    echo "pico-auth: no venv module; pip install --target live-issuers/.venv/site-packages"
    rm -rf "$venv"
    mkdir -p "$venv/bin"
    "$python" -m pip install --quiet --disable-pip-version-check \
      --target "$venv/site-packages" -r "$here/pico-auth/requirements.txt"
    real="$(command -v "$python")"
    printf '#!/bin/sh\nPYTHONPATH="%s/site-packages${PYTHONPATH:+:$PYTHONPATH}" exec "%s" "$@"\n' \
      "$venv" "$real" >"$venv/bin/python"
    chmod +x "$venv/bin/python"
  fi
  echo "$want" >"$stamp"
fi

# --- redis-server: the DPoP replay store's tests (auth-core/tests/dpop_redis.rs) ---------------
# The Debian package; each test starts its own server on a free loopback port.
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server: $(redis-server --version | cut -d' ' -f3)"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "redis-server: apt-get install redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }
  # Debian may start the packaged service; the tests use their own servers, never it.
  command -v redis-server >/dev/null 2>&1 || { echo "live-issuers/setup.sh: redis-server did not install" >&2; exit 1; }
else
  echo "live-issuers/setup.sh: redis-server is not installed; install the redis-server package (as root: apt-get install redis-server)" >&2
  exit 1
fi
