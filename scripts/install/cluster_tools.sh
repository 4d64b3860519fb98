#!/usr/bin/env bash
# Installs the local-cluster tools at pinned versions (scripts/cluster/versions.sh) into $NEXUS_BIN:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy, etcd, kwok and CoreDNS, built
# from source through the Go module proxy (scripts/cluster/build.sh), and openapi2jsonschema (pip) for
# scripts/cluster/gen_schemas.sh. The real node's Debian packages come from container_tools.sh.
# Needs: go (the version k8s.io/kubernetes' go.mod asks for, or newer), python3 with venv, a C compiler for PyYAML.
# Safe to run again: binaries that already carry the pinned version are kept; Go's module and build caches are reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/../cluster/versions.sh"

command -v go >/dev/null || { echo "install/cluster_tools.sh: go is required to build the cluster" >&2; exit 1; }
bash "$here/../cluster/build.sh" all

# openapi2jsonschema pins PyYAML<6, which has no wheel for current Pythons and does not build against Cython 3:
# build it from source against Cython 0.29 in its own venv, apart from the chart tools' venv.
venv="$NEXUS_TOOLS/py-openapi2jsonschema"
installed="$("$venv/bin/python" -m pip show openapi2jsonschema 2>/dev/null || true)"
if ! [ -x "$NEXUS_BIN/openapi2jsonschema" ] || ! grep -qx "Version: $NEXUS_OPENAPI2JSONSCHEMA_VERSION" <<<"$installed"; then
  command -v python3 >/dev/null || { echo "install/cluster_tools.sh: python3 is required" >&2; exit 1; }
  echo "installing openapi2jsonschema $NEXUS_OPENAPI2JSONSCHEMA_VERSION (pip)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" "cython<3" wheel "setuptools<70" >&2
  "${pip[@]}" --no-build-isolation "pyyaml==5.4.1" >&2
  "${pip[@]}" "openapi2jsonschema==$NEXUS_OPENAPI2JSONSCHEMA_VERSION" >&2
  ln -sf "$venv/bin/openapi2jsonschema" "$NEXUS_BIN/openapi2jsonschema"
fi
