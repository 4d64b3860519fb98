#!/usr/bin/env bash
# Installs every tool the tests need, each at a pinned version, into $NEXUS_BIN (see scripts/env.sh), and the Debian
# packages the local cluster's real node and image builds need (scripts/install/container_tools.sh).
# Safe to run again: each step skips what is already there at the right version. One progress line per step.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/progress.sh"
for step in deno redis chart_tools container_tools cluster_tools; do
  timed "install: $step" bash "$here/install/$step.sh"
done
