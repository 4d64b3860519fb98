#!/usr/bin/env bash
# Regenerates the offline kubeconform schemas in tests/schemas/ from the local cluster, so `deno task test`
# validates the chart against the same Kubernetes version that `deno task test:cluster` installs it on:
#   tests/schemas/kubernetes/<version>-standalone-strict/<kind>-<group>-<version>.json  from the apiserver's
#     /openapi/v2, converted by openapi2jsonschema (kubeconform's own layout and file names), only the KINDS below;
#   tests/schemas/crds/<group>/<kind>_<version>.json  from ../shared/crds, converted by crd_schemas.ts.
# Usage: gen_schemas.sh [--check]. --check writes to a temp dir and fails when the committed files differ.
# Uses the running cluster ($KUBECONFIG, else $NEXUS_CLUSTER_DIR/kubeconfig); starts one (and stops it) if none runs.
# Needs: scripts/install/cluster_tools.sh (kubectl, openapi2jsonschema), deno.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"

# The kinds the chart renders, as "Kind group/version" (core group: "Kind version"). Extend here.
KINDS=(
  "ConfigMap v1"
  "Secret v1"
  "Service v1"
  "ServiceAccount v1"
  "PersistentVolumeClaim v1"
  "Pod v1"
  "Deployment apps/v1"
  "HorizontalPodAutoscaler autoscaling/v2"
  "PodDisruptionBudget policy/v1"
  "Ingress networking.k8s.io/v1"
  "NetworkPolicy networking.k8s.io/v1"
  "Role rbac.authorization.k8s.io/v1"
  "RoleBinding rbac.authorization.k8s.io/v1"
)

check=false
[ "${1:-}" = "--check" ] && check=true
dest="$NEXUS_ROOT/tests/schemas"
work="$(mktemp -d)"
started=false
cleanup() {
  [ -n "${KEEP_WORK:-}" ] && echo "work dir: $work" >&2 || rm -rf "$work"
  if $started; then bash "$here/down.sh" >/dev/null; fi
}
trap cleanup EXIT

export KUBECONFIG="${KUBECONFIG:-${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}/kubeconfig}"
if ! kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "gen_schemas.sh: no cluster running, starting one" >&2
  started=true
  bash "$here/up.sh" >&2
fi
version="$(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
kubectl get --raw /openapi/v2 >"$work/openapi.json"

# Only the definitions the listed kinds reach, so the conversion takes seconds instead of minutes.
kinds_json="$(printf '%s\n' "${KINDS[@]}" | python3 -c 'import json,sys; print(json.dumps([l.split() for l in sys.stdin if l.strip()]))')"
python3 - "$work/openapi.json" "$kinds_json" <<'PY'
import json, sys
path, kinds = sys.argv[1], json.loads(sys.argv[2])
spec = json.load(open(path))
defs = spec["definitions"]
def gvk_matches(d, kind, gv):
    group, _, version = gv.rpartition("/")
    return any(x.get("kind") == kind and x.get("group", "") == group and x.get("version") == version
               for x in d.get("x-kubernetes-group-version-kind", []))
keep, todo = set(), []
for kind, gv in kinds:
    names = [n for n, d in defs.items() if gvk_matches(d, kind, gv)]
    if not names:
        sys.exit(f"gen_schemas.sh: the apiserver publishes no {kind} {gv}")
    todo += names
while todo:
    name = todo.pop()
    if name in keep:
        continue
    keep.add(name)
    stack = [defs[name]]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                todo.append(ref[len("#/definitions/"):])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
spec["definitions"] = {n: defs[n] for n in sorted(keep)}
spec["paths"] = {}
json.dump(spec, open(path, "w"))
PY
# openapi2jsonschema resolves its output dir against the current directory even when it is absolute: run it there.
(cd "$work" && "$NEXUS_BIN/openapi2jsonschema" --kubernetes --stand-alone --strict --expanded -o all openapi.json \
  >openapi2jsonschema.log 2>&1) || { cat "$work/openapi2jsonschema.log" >&2; exit 1; }

out="$work/out"
k8s_dir="$out/kubernetes/$version-standalone-strict"
mkdir -p "$k8s_dir"
for entry in "${KINDS[@]}"; do
  read -r kind gv <<<"$entry"
  group="${gv%/*}"
  [ "$group" = "$gv" ] && group=""
  file="$(echo "$kind" | tr '[:upper:]' '[:lower:]')${group:+-${group%%.*}}-${gv##*/}.json"
  if [ ! -f "$work/all/$file" ]; then echo "gen_schemas.sh: openapi2jsonschema wrote no $file" >&2; exit 1; fi
  cp "$work/all/$file" "$k8s_dir/$file"
done
(cd "$NEXUS_ROOT" && deno run -A scripts/cluster/crd_schemas.ts "$out/crds" ../shared/crds/*.yaml >/dev/null)
# Committed as `deno fmt` would write them, so `deno task check` stays green.
(cd "$NEXUS_ROOT" && deno fmt --config deno.json --quiet "$out")

if $check; then
  if ! diff -r "$dest" "$out" >/dev/null; then
    diff -r "$dest" "$out" | head -n 20 >&2
    echo "gen_schemas.sh: tests/schemas is stale for $version; run scripts/cluster/gen_schemas.sh and commit" >&2
    exit 1
  fi
  echo "tests/schemas matches $version"
else
  rm -rf "$dest/kubernetes" "$dest/crds"
  mkdir -p "$dest"
  cp -r "$out/kubernetes" "$out/crds" "$dest/"
  echo "wrote tests/schemas for $version ($(find "$dest" -name '*.json' | wc -l) files)"
fi
