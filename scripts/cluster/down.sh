#!/usr/bin/env bash
# Stops the local test cluster that up.sh started (by the PIDs it recorded) and removes its state directory; first
# the real node (node.sh down: its containers, mounts, cgroups, iptables chains, bridge and state).
# --keep-logs leaves $NEXUS_CLUSTER_DIR/logs in place for debugging. Safe to run when nothing runs, and twice.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}"
keep_logs=false
[ "${1:-}" = "--keep-logs" ] && keep_logs=true

bash "$here/node.sh" down

if [ -f "$state/pids" ]; then
  # One at a time in reverse start order (kwok and the controllers first, etcd last), so the apiserver has no
  # clients left. An ephemeral cluster need not shut down gracefully: what ignores SIGTERM for 10 s is killed.
  tac "$state/pids" | while read -r name pid; do
    # Only the process up.sh started: the PID must still run the binary of that name.
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$name" ]] || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$state/pids"
fi
if [ -d "$state" ]; then
  if $keep_logs; then
    find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  else
    rm -rf "$state"
  fi
fi
echo "cluster down"
