#!/usr/bin/env bash
# Installs redis-server (Debian package) for the integration tests and benchmarks. Needs: apt-get, root.
set -euo pipefail
command -v redis-server >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install/redis.sh: redis-server is missing; install it with your package manager (Debian: apt-get install redis-server)" >&2
  exit 1
fi
echo "installing redis-server (apt)" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
# The package starts a system instance; the tests start their own on free ports.
(service redis-server stop || true) >/dev/null 2>&1
