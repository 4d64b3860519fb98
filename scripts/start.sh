#!/usr/bin/env bash
# Runs the gateway on :8000 in front of a mock worker on :8001, in-memory rate limiting, dev key `dev-key`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
bash "$here/install/deno.sh"
cd "$NEXUS_ROOT"
exec deno task start "$@"
