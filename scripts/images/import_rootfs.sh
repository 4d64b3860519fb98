#!/usr/bin/env bash
# Imports one root filesystem that rootfs.sh made into docker as a local image, with the image settings it needs,
# and prints the image's name:
#   deno   nexus.local/deno:<deno version>   the base of gateway/ and worker/Dockerfile (BASE), deno on PATH
#   redis  nexus.local/redis:local           entrypoint redis-server --protected-mode no (as the official image,
#                                            which Redis in a pod needs to answer other pods; the chart passes only
#                                            args), uid 999, /data
#   curl   nexus.local/curl:local            entrypoint curl (as curlimages/curl), uid 100; the helm test's image
#   pause  nexus.local/pause:local           the real node's pod sandbox image (containerd's sandbox_image)
# Usage: import_rootfs.sh NAME ROOTFS_DIR. Needs: a docker daemon (DOCKER_HOST).
set -euo pipefail
name="$1" dir="$2"
version() { sed -n "s/^$1=//p" "$dir/versions"; }

path="ENV PATH=/usr/local/bin:/usr/bin:/bin"
case "$name" in
  deno)
    image="nexus.local/deno:$(version deno)"
    changes=("$path" "ENV DENO_DIR=/deno-dir" "ENTRYPOINT [\"deno\"]"
      "LABEL org.opencontainers.image.version=$(version deno)")
    ;;
  redis)
    image=nexus.local/redis:local
    changes=("$path" "USER 999:999" "WORKDIR /data" "EXPOSE 6379" "ENTRYPOINT [\"redis-server\", \"--protected-mode\", \"no\"]"
      "LABEL org.opencontainers.image.version=$(version redis)")
    ;;
  curl)
    image=nexus.local/curl:local
    changes=("$path" "USER 100:100" "ENTRYPOINT [\"curl\"]" "LABEL org.opencontainers.image.version=$(version curl)")
    ;;
  pause)
    image=nexus.local/pause:local
    changes=("USER 65535:65535" "ENTRYPOINT [\"/pause\"]")
    ;;
  *) echo "usage: import_rootfs.sh deno|redis|curl|pause ROOTFS_DIR" >&2; exit 2 ;;
esac
args=()
for change in "${changes[@]}"; do args+=(--change "$change"); done
docker import "${args[@]}" "$dir/$name.tar" "$image" >/dev/null
echo "$image"
