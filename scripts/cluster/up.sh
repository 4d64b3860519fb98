#!/usr/bin/env bash
# Starts the local test cluster on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kwok, which simulates two CPU nodes and two GPU nodes (nodepool=gpu, taint nvidia.com/gpu=true:NoSchedule,
# nvidia.com/gpu: 4). Then installs the third-party CRDs from ../shared/crds.
# State, logs and PIDs go to $NEXUS_CLUSTER_DIR (default /tmp/nexus-cluster); the kubeconfig is
# $NEXUS_CLUSTER_DIR/kubeconfig. Stop everything with down.sh. Needs: the binaries build.sh makes, openssl, python3.
# No containers, no systemd, no network beyond loopback.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
state="${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}"

bash "$here/build.sh" all
if [ -f "$state/pids" ]; then
  echo "cluster/up.sh: a cluster seems to run already ($state/pids); run down.sh first" >&2
  exit 1
fi
rm -rf "$state"
mkdir -p "$state/logs"
bash "$here/certs.sh" "$state/pki"
pki="$state/pki"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
etcd_port="$(free_port)"
etcd_peer_port="$(free_port)"
api_port="$(free_port)"

kubeconfig="$state/kubeconfig"
cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: nexus-local
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority: $pki/ca.crt
users:
  - name: nexus-admin
    user:
      client-certificate: $pki/admin.crt
      client-key: $pki/admin.key
contexts:
  - name: nexus-local
    context:
      cluster: nexus-local
      user: nexus-admin
current-context: nexus-local
KUBECONFIG

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
  echo "cluster/up.sh: $what did not come up; logs in $state/logs" >&2
  tail -n 30 "$state"/logs/*.log >&2 || true
  exit 1
}

# From here on a failure stops whatever was started (logs stay in $state/logs).
up=false
stop_on_failure() {
  if ! $up; then
    echo "cluster/up.sh: failed, stopping the cluster" >&2
    bash "$here/down.sh" --keep-logs >&2
  fi
}
trap stop_on_failure EXIT

start etcd "$NEXUS_BIN/etcd" --name nexus --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "nexus=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level warn
wait_for etcd curl -fsS "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$NEXUS_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --endpoint-reconciler-type none \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --authorization-mode RBAC --allow-privileged \
  --profiling=false
wait_for kube-apiserver "$NEXUS_BIN/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz

start kube-controller-manager "$NEXUS_BIN/kube-controller-manager" \
  --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --profiling=false
start kube-scheduler "$NEXUS_BIN/kube-scheduler" \
  --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --profiling=false
start kwok "$NEXUS_BIN/kwok" --kubeconfig "$kubeconfig" --config "$here/kwok/stages.yaml" \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --node-lease-duration-seconds 40 \
  --cidr 10.244.0.0/16 --node-ip 10.0.0.10

kubectl=("$NEXUS_BIN/kubectl" --kubeconfig "$kubeconfig")
wait_for "the default service account" "${kubectl[@]}" get serviceaccount default -n default
"${kubectl[@]}" apply -f "$here/kwok/nodes.yaml" >/dev/null
# all_nodes_ready: true once kwok reports every node of nodes.yaml Ready.
all_nodes_ready() {
  local ready
  ready="$("${kubectl[@]}" get nodes \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)"
  [ "$ready" -eq "$(grep -c '^kind: Node$' "$here/kwok/nodes.yaml")" ]
}
wait_for "kwok to make the nodes Ready" all_nodes_ready
"${kubectl[@]}" apply --server-side -f "$NEXUS_ROOT/../shared/crds/" >/dev/null
wait_for "the CRDs to be established" "${kubectl[@]}" wait --for condition=Established crd --all --timeout 5s
up=true

echo "cluster up: $("${kubectl[@]}" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'), \
$("${kubectl[@]}" get nodes --no-headers | wc -l) kwok nodes"
echo "export KUBECONFIG=$kubeconfig"
