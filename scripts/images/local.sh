#!/usr/bin/env bash
# Builds every image the local cluster's real node runs, with nothing pulled, into one docker archive that
# scripts/cluster/up.sh imports into containerd (scripts/cluster/local-images-values.yaml points the chart at them):
#   nexus.local/nexus-gateway:local, nexus.local/nexus-model-worker:local   scripts/images.sh build, on the local base
#   nexus.local/redis:local, nexus.local/curl:local, nexus.local/pause:local   rootfs.sh + import_rootfs.sh
# Skipped when the archive was built from the same inputs (a hash of the sources, Dockerfiles, deno.lock, the deno
# version and these scripts). Usage: local.sh [ARCHIVE] (default $NEXUS_TOOLS/images/nexus-local.tar).
# Needs: root, scripts/install/container_tools.sh (dockerd, mmdebstrap), deno, go.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/../progress.sh"
source "$here/docker_daemon.sh"
archive="${1:-$NEXUS_TOOLS/images/nexus-local.tar}"
images=(nexus.local/nexus-gateway:local nexus.local/nexus-model-worker:local nexus.local/redis:local
  nexus.local/curl:local nexus.local/pause:local)

cd "$NEXUS_ROOT"
inputs="$({
  deno --version | head -n 1
  echo "${images[*]}"
  find gateway worker scripts/images scripts/images.sh deno.json deno.lock -type f ! -name '*_test.ts' -print0 |
    sort -z | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1)"
if [ -f "$archive" ] && [ "$(cat "$archive.inputs" 2>/dev/null)" = "$inputs" ]; then
  echo "images: $archive is up to date" >&2
  exit 0
fi

work="$(mktemp -d)"
trap 'docker_daemon_stop; rm -rf "$work"' EXIT
timed "images: root filesystems (Debian bookworm via mmdebstrap, deno, pause)" bash "$here/rootfs.sh" "$work/rootfs"
timed "images: docker daemon" docker_daemon_start
import_all() {
  local name
  for name in redis curl pause; do bash "$here/import_rootfs.sh" "$name" "$work/rootfs" >/dev/null; done
  bash "$here/import_rootfs.sh" deno "$work/rootfs" >"$work/base"
}
timed "images: import nexus.local/{deno,redis,curl,pause}" import_all
# build COMPONENT REPOSITORY: scripts/images.sh build on the local base, in the daemon started above.
build() {
  IMAGE_REPO="$2" IMAGE_TAG=local BASE="$(cat "$work/base")" bash "$NEXUS_ROOT/scripts/images.sh" build "$1" \
    >"$work/build-$1.log" 2>&1 || { cat "$work/build-$1.log" >&2; return 1; }
}
timed "images: nexus.local/nexus-gateway:local" build gateway nexus.local/nexus-gateway
timed "images: nexus.local/nexus-model-worker:local" build worker nexus.local/nexus-model-worker
mkdir -p "$(dirname "$archive")"
timed "images: save $archive" docker save -o "$archive.new" "${images[@]}"
mv "$archive.new" "$archive"
echo "$inputs" >"$archive.inputs"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "nexus.local/*" | sort >&2
# Dangling layers of earlier builds go, so $NEXUS_TOOLS/docker does not grow with every source change.
docker image prune -f >/dev/null
