#!/usr/bin/env bash
# Installs every tool the tests need, each at a pinned version, into $NEXUS_BIN (see scripts/env.sh).
# Safe to run again: each step skips what is already there at the right version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for step in deno redis chart_tools cluster_tools; do
  bash "$here/install/$step.sh"
done
