#!/usr/bin/env bash
# Builds and pushes the Nexus images, and points a running release at a new one (the seed's ops scripts).
# Needs: docker (or podman via DOCKER=podman) for build/push, deno for build; helm or kubectl for deploy.
#
#   IMAGE_REPO=ghcr.io/your-org/nexus-gateway IMAGE_TAG=0.1.0 scripts/images.sh build gateway
#   IMAGE_REPO=nexus.local/nexus-gateway IMAGE_TAG=dev BASE=local scripts/images.sh build gateway   # nothing pulled
#   IMAGE_REPO=ghcr.io/your-org/nexus-gateway IMAGE_TAG=0.1.0 scripts/images.sh push gateway
#   IMAGE_REPO=ghcr.io/your-org/nexus-gateway IMAGE_TAG=0.1.0 scripts/images.sh deploy gateway
#   IMAGE_REPO=... IMAGE_TAG=... METHOD=kubectl scripts/images.sh deploy gateway   # kubectl set image instead
#
# COMPONENT is gateway or worker (the mock worker; its values live under workers.<WORKER>, default mock).
# build is hermetic: scripts/images/stage.ts stages the context (the component's module graph, the npm packages it
# imports, installed here by `deno install`) and `docker build --network none` downloads nothing. BASE is the image
# with deno (default: the Dockerfile's, denoland/deno:<pinned version>); BASE=local builds a Debian-based one first from
# packages (scripts/images/rootfs.sh, needs root and mmdebstrap), which is also what happens when the default cannot be
# pulled (no registry). With no docker daemon running,
# root with dockerd installed gets a private one for the run (scripts/images/docker_daemon.sh).
# deploy defaults: RELEASE=nexus, NAMESPACE=nexus, METHOD=helm (helm upgrade --reuse-values --set ...,
# which keeps the new image in the release's values) or kubectl (kubectl set image; the next helm upgrade
# puts the chart's image back unless you also change the values).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/images/docker_daemon.sh

usage() { echo "usage: IMAGE_REPO=... IMAGE_TAG=... $0 build|push|deploy gateway|worker" >&2; exit 2; }
[ $# -eq 2 ] || usage
action="$1" component="$2"
case "$component" in gateway | worker) ;; *) usage ;; esac
: "${IMAGE_REPO:?set IMAGE_REPO, e.g. ghcr.io/your-org/nexus-$component}"
: "${IMAGE_TAG:?set IMAGE_TAG, e.g. 0.1.0 or a git sha}"
image="$IMAGE_REPO:$IMAGE_TAG"
docker="${DOCKER:-docker}"
release="${RELEASE:-nexus}" namespace="${NAMESPACE:-nexus}" worker="${WORKER:-mock}"

case "$action" in
  build)
    ctx="$(mktemp -d)"
    trap 'docker_daemon_stop; rm -rf "$ctx"' EXIT
    deno="$(command -v deno || echo "${NEXUS_TOOLS:-$HOME/.cache/nexus}/bin/deno")"
    "$deno" run -A scripts/images/stage.ts "$component" "$ctx/context" >&2
    [ "$docker" != docker ] || docker_daemon_start
    base="${BASE:-}"
    if [ -z "$base" ]; then
      # The Dockerfile's default base, unless it cannot be had here (no registry): then the local one.
      default="$(sed -n 's/^ARG BASE=//p' "$component/Dockerfile")"
      if ! "$docker" image inspect "$default" >/dev/null 2>&1 && ! "$docker" pull "$default" >/dev/null 2>&1; then
        echo "images.sh: cannot pull $default; building on a local Debian-based base instead (BASE=local)" >&2
        base=local
      fi
    fi
    if [ "$base" = local ]; then
      bash scripts/images/rootfs.sh "$ctx/rootfs"
      base="$(bash scripts/images/import_rootfs.sh deno "$ctx/rootfs")"
    fi
    "$docker" build --network none ${base:+--build-arg "BASE=$base"} -t "$image" "$ctx/context"
    ;;
  push)
    trap docker_daemon_stop EXIT
    [ "$docker" != docker ] || docker_daemon_start
    "$docker" push "$image"
    ;;
  deploy)
    if [ "$component" = gateway ]; then
      key=gateway.image deployment="$release-gateway" container=gateway
    else
      key="workers.$worker.image" deployment="$release-$worker" container=mock
    fi
    if [ "${METHOD:-helm}" = kubectl ]; then
      kubectl -n "$namespace" set image "deployment/$deployment" "$container=$image"
    else
      helm upgrade "$release" charts/nexus -n "$namespace" --reuse-values \
        --set "$key.repository=$IMAGE_REPO" --set "$key.tag=$IMAGE_TAG"
    fi
    kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout=300s
    ;;
  *) usage ;;
esac
