# Sourced by scripts/images.sh and scripts/images/local.sh: a docker daemon to build with.
#
# docker_daemon_start: when `docker info` answers (the user's daemon, or DOCKER_HOST), nothing to do. Otherwise, as
# root with dockerd installed (scripts/install/container_tools.sh) and no systemd to start one, starts a private
# dockerd for the calling script and exports DOCKER_HOST: images and build cache in $NEXUS_TOOLS/docker (kept, so a
# built image outlives the daemon), socket and runtime files in a temp dir, no bridge and no iptables rules (builds
# run with --network none). One private daemon at a time per $NEXUS_TOOLS (flock).
# docker_daemon_stop: stops the daemon docker_daemon_start started (by its PID), if any. Call it from an EXIT trap.

docker_daemon_pid=""
docker_daemon_dir=""
docker_daemon_made=()

docker_daemon_start() {
  docker info >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
    echo "no docker daemon answers; start one (or install docker.io: scripts/install/container_tools.sh)" >&2
    return 1
  fi
  local tools="${NEXUS_TOOLS:-$HOME/.cache/nexus}"
  mkdir -p "$tools/docker"
  exec {docker_daemon_lock}>"$tools/docker.lock"
  flock "$docker_daemon_lock"
  docker_daemon_dir="$(mktemp -d /tmp/nexus-docker.XXXXXX)"
  # dockerd 20.10 writes /etc/docker/key.json and /run/docker/plugins, its containerd's shims /run/containerd/s; they
  # go again with the daemon when they were not there before.
  docker_daemon_made=()
  local dir
  for dir in /etc/docker /run/docker /run/containerd; do [ -e "$dir" ] || docker_daemon_made+=("$dir"); done
  dockerd --data-root "$tools/docker" --exec-root "$docker_daemon_dir/exec" --pidfile "$docker_daemon_dir/dockerd.pid" \
    --host "unix://$docker_daemon_dir/docker.sock" --bridge none --iptables=false --ip-forward=false --ip-masq=false \
    --userland-proxy=false >"$docker_daemon_dir/dockerd.log" 2>&1 &
  docker_daemon_pid=$!
  export DOCKER_HOST="unix://$docker_daemon_dir/docker.sock"
  local _
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$docker_daemon_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "the private dockerd did not start:" >&2
  tail -n 20 "$docker_daemon_dir/dockerd.log" >&2
  return 1
}

docker_daemon_stop() {
  [ -n "$docker_daemon_pid" ] || return 0
  kill "$docker_daemon_pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 60); do kill -0 "$docker_daemon_pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$docker_daemon_pid" 2>/dev/null || true
  wait "$docker_daemon_pid" 2>/dev/null || true
  docker_daemon_pid=""
  [ ${#docker_daemon_made[@]} -eq 0 ] || rm -rf "${docker_daemon_made[@]}"
  # It leaves its network namespace mounted; nothing of it may stay mounted before its runtime directory goes.
  local mount
  for mount in $(awk -v dir="$docker_daemon_dir/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$mount" 2>/dev/null || umount -l "$mount"
  done
  rm -rf "$docker_daemon_dir"
  unset DOCKER_HOST
}
