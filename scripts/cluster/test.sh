#!/usr/bin/env bash
# `deno task test:cluster`: brings up the local cluster (up.sh), runs `ct lint-and-install` over charts/nexus with
# every ci/*-values.yaml scenario (each installed with --wait, then `helm test`), then the placement and API
# assertions (tests/cluster/placement.ts), then checks that tests/schemas matches this cluster's OpenAPI.
# Tears the cluster down at the end, also on failure. Needs: scripts/install_tools.sh (helm, ct, yamllint, yamale,
# the cluster binaries), deno, ../shared/ct and ../shared/crds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
cd "$NEXUS_ROOT"

for cmd in helm ct yamllint yamale; do
  command -v "$cmd" >/dev/null || { echo "cluster/test.sh: $cmd is missing; run scripts/install_tools.sh" >&2; exit 1; }
done
bash scripts/install/cluster_tools.sh

# A cluster of its own, so a developer's `deno task cluster:up` is left alone.
export NEXUS_CLUSTER_DIR="${NEXUS_CLUSTER_TEST_DIR:-/tmp/nexus-cluster-test}"
bash "$here/down.sh" >/dev/null
trap 'bash "$here/down.sh" >/dev/null' EXIT
start=$SECONDS
bash "$here/up.sh"
export KUBECONFIG="$NEXUS_CLUSTER_DIR/kubeconfig"
echo "cluster ready in $((SECONDS - start))s"

# The scenarios issue 4 asks for; ct installs every ci/*-values.yaml, these must be among them.
for name in mock-clusterip vllm-gpu sglang-canary kserve ingress loadbalancer gatewayapi; do
  [ -f "charts/nexus/ci/$name-values.yaml" ] || { echo "cluster/test.sh: charts/nexus/ci/$name-values.yaml is missing" >&2; exit 1; }
done
scenarios=(charts/nexus/ci/*-values.yaml)
echo "ct lint-and-install: ${#scenarios[@]} scenarios: ${scenarios[*]##*/}"
ct lint-and-install --config ct.yaml --charts charts/nexus
deno test -A --no-check=remote tests/cluster/placement.ts
deno test -A --no-check=remote tests/cluster/discovery.ts
bash "$here/gen_schemas.sh" --check
echo "cluster tests passed in $((SECONDS - start))s"
