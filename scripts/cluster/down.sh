#!/usr/bin/env bash
# Stops the local test cluster that up.sh started (by the PIDs it recorded) and removes its state directory.
# --keep-logs leaves $NEXUS_CLUSTER_DIR/logs in place for debugging. Safe to run when nothing runs.
set -euo pipefail
state="${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}"
keep_logs=false
[ "${1:-}" = "--keep-logs" ] && keep_logs=true

if [ -f "$state/pids" ]; then
  # Reverse start order: kwok and the controllers first, etcd last.
  tac "$state/pids" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  tac "$state/pids" | while read -r name pid; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster/down.sh: $name ($pid) did not stop, killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
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
