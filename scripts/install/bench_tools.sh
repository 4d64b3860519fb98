#!/usr/bin/env bash
# Installs the benchmark tools (not needed by the tests; `deno task bench` runs this itself):
#   wrk and nginx (Debian packages), vegeta (Go module, open-loop load), LiteLLM proxy (PyPI, in a venv),
#   redis-server (scripts/install/redis.sh). Needs: root + apt-get, go, python3 with venv.
# Safe to run again: each step skips what is already there at the pinned version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
VEGETA_VERSION=v12.13.0
# 1.108+ needs a litellm-proxy package PyPI does not serve; 1.107.0 was a compromised release (withdrawn).
LITELLM_VERSION=1.106.12

bash "$here/redis.sh"

missing_apt=()
command -v wrk >/dev/null || missing_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing_apt+=(nginx-light)
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install/bench_tools.sh: ${missing_apt[*]} missing; install with your package manager (Debian: apt-get install ${missing_apt[*]})" >&2
    exit 1
  fi
  echo "installing ${missing_apt[*]} (apt)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >&2
  # The nginx package may start a system instance; the bench starts its own with its own config.
  (service nginx stop || true) >/dev/null 2>&1
fi

if ! "$NEXUS_BIN/vegeta" -version 2>/dev/null | grep -q "${VEGETA_VERSION#v}"; then
  command -v go >/dev/null || { echo "install/bench_tools.sh: go is required to install vegeta" >&2; exit 1; }
  echo "installing vegeta $VEGETA_VERSION (go install)" >&2
  GOBIN="$NEXUS_BIN" go install -ldflags "-X main.Version=${VEGETA_VERSION#v}" "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" >&2
fi

venv="$NEXUS_TOOLS/litellm-$LITELLM_VERSION"
if ! [ -x "$venv/bin/litellm" ]; then
  command -v python3 >/dev/null || { echo "install/bench_tools.sh: python3 is required for the LiteLLM proxy" >&2; exit 1; }
  echo "installing litellm[proxy]==$LITELLM_VERSION (pip, venv at $venv)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION" >&2
fi
ln -sf "$venv/bin/litellm" "$NEXUS_BIN/litellm"
