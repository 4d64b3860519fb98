#!/usr/bin/env bash
# Installs the chart tools at pinned versions: helm, ct (chart-testing) and kubeconform with `go install` into
# $NEXUS_BIN, and yamllint and yamale (which ct runs) with pip. Needs: go 1.24+, python3 with pip.
# Safe to run again: a tool already at its pinned version is skipped.
set -euo pipefail
source "$(dirname "$0")/../env.sh"

HELM_VERSION=v3.19.5
CT_VERSION=v3.14.0
KUBECONFORM_VERSION=v0.7.0
YAMLLINT_VERSION=1.37.1
YAMALE_VERSION=6.0.0

# module_version BIN prints the main module version that `go install` recorded in BIN (empty when absent).
module_version() {
  [ -x "$1" ] || return 0
  go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

# go_tool NAME PACKAGE VERSION [LDFLAGS] installs PACKAGE@VERSION as $NEXUS_BIN/NAME unless it is there already.
go_tool() {
  local name="$1" pkg="$2" version="$3" ldflags="${4:-}"
  if [ "$(module_version "$NEXUS_BIN/$name")" = "$version" ]; then return 0; fi
  command -v go >/dev/null || { echo "install/chart_tools.sh: go is required to install $name" >&2; exit 1; }
  echo "installing $name $version (go install)" >&2
  GOBIN="$NEXUS_BIN" CGO_ENABLED=0 go install -ldflags "-s -w $ldflags" "$pkg@$version"
}

# The -X flags do what helm's Makefile does: report the real version and default to a current Kubernetes.
helm_k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34"
helm_lint_k8s="-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34"
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $helm_k8s $helm_lint_k8s"
# ct: `go install ct@version` fails here (the proxy refuses the module's version list, which go install reads
# for deprecations), so build it inside a throwaway module that requires the exact version.
if [ "$(module_version "$NEXUS_BIN/ct")" != "$CT_VERSION" ]; then
  echo "installing ct $CT_VERSION (go build)" >&2
  wrapper="$(mktemp -d)"
  printf 'module nexus.local/cttools\n\ngo 1.24\n\nrequire github.com/helm/chart-testing/v3 %s\n' "$CT_VERSION" >"$wrapper/go.mod"
  (cd "$wrapper" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$CT_VERSION" \
    -o "$NEXUS_BIN/ct" github.com/helm/chart-testing/v3/ct)
  rm -rf "$wrapper"
fi
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" "-X main.version=$KUBECONFORM_VERSION"

# pip_tool NAME VERSION installs the Python package NAME==VERSION and links its command into $NEXUS_BIN.
pip_tool() {
  local name="$1" version="$2" venv="$NEXUS_TOOLS/py"
  if [ -x "$NEXUS_BIN/$name" ] && "$venv/bin/python" -m pip show "$name" 2>/dev/null | grep -x "Version: $version" >/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null || { echo "install/chart_tools.sh: python3 is required to install $name" >&2; exit 1; }
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "installing $name $version (pip)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$name==$version" >&2
  ln -sf "$venv/bin/$name" "$NEXUS_BIN/$name"
}

pip_tool yamllint "$YAMLLINT_VERSION"
pip_tool yamale "$YAMALE_VERSION"
