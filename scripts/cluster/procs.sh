# Sourced by up.sh and node.sh: start the cluster's processes and wait for them. Both use $state (the cluster's
# state directory): logs go to $state/logs/NAME.log, and every PID to $state/pids, which down.sh stops.

# free_port: a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME ARGS...: runs a component in the background with its log in $state/logs/NAME.log.
start() {
  local name="$1"
  shift
  "$@" >"$state/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$state/pids"
}

# wait_for WHAT COMMAND...: retries COMMAND for up to two minutes.
wait_for() {
  local what="$1"
  shift
  for _ in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "cluster: $what did not come up; logs in $state/logs" >&2
  tail -n 30 "$state"/logs/*.log >&2 || true
  exit 1
}
