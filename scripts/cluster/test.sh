#!/usr/bin/env bash
# `deno task test:cluster`: brings up the local cluster (up.sh: control plane, KWOK GPU nodes, and one real node that
# runs the local images), then
#   1. ct lint-and-install over charts/nexus, every ci/*-values.yaml scenario installed with --wait and the local
#      images (scripts/cluster/local-images-values.yaml), then `helm test`: a real chat completion from a pod through
#      the gateway Service. All but vllm-gpu: its only model server is a simulated GPU pod, so its helm test cannot
#      pass; placement.ts installs it instead (ct lint covers its values in `deno task test`);
#   2. tests/cluster/placement.ts: placement on the real and the KWOK nodes, CRD validation, schema errors;
#      tests/cluster/discovery.ts: EndpointSlice discovery as the gateway does it, on simulated pods;
#   3. tests/cluster/pods.ts: end-to-end on real pods (smoke test, streaming, helm test, upgrade under load, shared
#      rate limit, Redis outage, per-pod routing to a worker Deployment that scales);
#   4. a check that tests/schemas matches this cluster's OpenAPI.
# Tears the cluster down at the end, also on failure. Only one local cluster with a real node runs per machine.
# Needs: root, scripts/install_tools.sh (helm, ct, yamllint, yamale, the cluster binaries, container tools), deno,
# ../shared/ct and ../shared/crds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/../progress.sh"
cd "$NEXUS_ROOT"

for cmd in helm ct yamllint yamale; do
  command -v "$cmd" >/dev/null || { echo "cluster/test.sh: $cmd is missing; run scripts/install_tools.sh" >&2; exit 1; }
done
bash scripts/install/container_tools.sh
bash scripts/install/cluster_tools.sh

# A cluster of its own, so a developer's `deno task cluster:up` state is left alone (its real node must be down).
export NEXUS_CLUSTER_DIR="${NEXUS_CLUSTER_TEST_DIR:-/tmp/nexus-cluster-test}"
stage="$(mktemp -d)"
bash "$here/down.sh" >/dev/null
trap 'bash "$here/down.sh" >/dev/null; rm -rf "$stage"' EXIT
start=$SECONDS
bash "$here/up.sh"
export KUBECONFIG="$NEXUS_CLUSTER_DIR/kubeconfig"

# The scenarios issue 4 asks for; ct installs every ci/*-values.yaml, these must be among them.
for name in mock-clusterip vllm-gpu sglang-canary kserve ingress loadbalancer gatewayapi; do
  [ -f "charts/nexus/ci/$name-values.yaml" ] || { echo "cluster/test.sh: charts/nexus/ci/$name-values.yaml is missing" >&2; exit 1; }
done
cp -r charts/nexus "$stage/nexus"
rm "$stage/nexus/ci/vllm-gpu-values.yaml"
scenarios=("$stage"/nexus/ci/*-values.yaml)
echo "ct lint-and-install: ${#scenarios[@]} scenarios on real pods: ${scenarios[*]##*/}"
timed "cluster tests: ct lint-and-install" ct lint-and-install --config ct.yaml --charts "$stage/nexus" \
  --helm-extra-set-args "--values=$NEXUS_ROOT/scripts/cluster/local-images-values.yaml"
timed "cluster tests: placement" deno test -A --no-check=remote tests/cluster/placement.ts
timed "cluster tests: discovery" deno test -A --no-check=remote tests/cluster/discovery.ts
timed "cluster tests: end to end on real pods" deno test -A --no-check=remote tests/cluster/pods.ts
timed "cluster tests: schemas" bash "$here/gen_schemas.sh" --check
echo "cluster tests passed in $((SECONDS - start))s"
