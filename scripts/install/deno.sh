#!/usr/bin/env bash
# Installs the pinned Deno from the npm registry into $NEXUS_BIN. Needs: node and npm.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
DENO_VERSION=2.9.6
if "$NEXUS_BIN/deno" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; then exit 0; fi
command -v npm >/dev/null || { echo "install/deno.sh: npm is required (Node.js 18 or newer)" >&2; exit 1; }
echo "installing deno $DENO_VERSION from npm" >&2
npm install --silent --no-audit --no-fund --prefix "$NEXUS_TOOLS/deno" "deno@$DENO_VERSION" >&2
ln -sf "$(readlink -f "$NEXUS_TOOLS/deno/node_modules/.bin/deno")" "$NEXUS_BIN/deno"
"$NEXUS_BIN/deno" --version | head -1 >&2
