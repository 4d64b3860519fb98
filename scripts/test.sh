#!/usr/bin/env bash
# Installs every tool the tests need, then runs every test: `deno task test` (unit, integration, chart),
# then `deno task test:cluster` (ct lint-and-install on a local control plane).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
bash "$here/install_tools.sh"
cd "$NEXUS_ROOT"
deno task test
deno task test:cluster
