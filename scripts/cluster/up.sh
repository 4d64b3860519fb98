#!/usr/bin/env bash
# Starts the local test cluster: etcd, kube-controller-manager and kube-scheduler on 127.0.0.1, kube-apiserver on the
# real node's bridge address (network.sh), where host clients and pods (through the kubernetes Service) both reach it;
# kwok, which simulates two GPU nodes (nodepool=gpu, taint nvidia.com/gpu=true:NoSchedule, nvidia.com/gpu: 4); and one
# real CPU node (nodepool=cpu; node.sh: containerd, kubelet, kube-proxy, CoreDNS, a local bridge) that runs the images
# scripts/images/local.sh builds (the chart uses them with scripts/cluster/local-images-values.yaml). Then installs
# the third-party CRDs from ../shared/crds.
# State, logs and PIDs go to $NEXUS_CLUSTER_DIR (default /tmp/nexus-cluster); the kubeconfig is
# $NEXUS_CLUSTER_DIR/kubeconfig. Stop everything with down.sh. Needs: root, the binaries build.sh makes,
# scripts/install/container_tools.sh, openssl, python3. No systemd, no registry, no traffic off this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/network.sh"
source "$here/procs.sh"
state="${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}"

source "$here/../progress.sh"
started=$SECONDS

bash "$here/build.sh" all
if [ -f "$state/pids" ]; then
  echo "cluster/up.sh: a cluster seems to run already ($state/pids); run down.sh first" >&2
  exit 1
fi
export NEXUS_LOCAL_IMAGES="$NEXUS_TOOLS/images/nexus-local.tar"
bash "$NEXUS_ROOT/scripts/images/local.sh" "$NEXUS_LOCAL_IMAGES"
# What a crashed run left behind (the node's mounts, cgroups, bridge) goes before its state directory does.
bash "$here/down.sh" >/dev/null
mkdir -p "$state/logs"
bash "$here/certs.sh" "$state/pki"
pki="$state/pki"

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
      server: https://$NEXUS_NODE_IP:$api_port
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

# From here on a failure stops whatever was started (logs stay in $state/logs).
up=false
stop_on_failure() {
  if ! $up; then
    echo "cluster/up.sh: failed, stopping the cluster" >&2
    bash "$here/down.sh" --keep-logs >&2
  fi
}
trap stop_on_failure EXIT

control_plane() {
  start etcd "$NEXUS_BIN/etcd" --name nexus --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "nexus=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level warn
  wait_for etcd curl -fsS "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver "$NEXUS_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$NEXUS_NODE_IP" --advertise-address "$NEXUS_NODE_IP" --secure-port "$api_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$NEXUS_SERVICE_CIDR" --authorization-mode Node,RBAC --allow-privileged \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
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
  wait_for "the default service account" "$NEXUS_BIN/kubectl" --kubeconfig "$kubeconfig" get serviceaccount default -n default
}
# The node's bridge first: the API server listens on its address.
bash "$here/node.sh" network
timed "cluster: control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)" control_plane

# kwok's nodes and simulated pods get addresses that network.sh makes unreachable: nothing pretends to answer there.
start kwok "$NEXUS_BIN/kwok" --kubeconfig "$kubeconfig" --config "$here/kwok/stages.yaml" \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --node-lease-duration-seconds 40 \
  --cidr "$NEXUS_KWOK_CIDR" --node-ip "$NEXUS_KWOK_NODE_IP"

kubectl=("$NEXUS_BIN/kubectl" --kubeconfig "$kubeconfig")
"${kubectl[@]}" apply -f "$here/kwok/nodes.yaml" >/dev/null
# kwok_nodes_ready: true once kwok reports every node of nodes.yaml Ready.
kwok_nodes_ready() {
  local ready
  ready="$("${kubectl[@]}" get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)"
  [ "$ready" -eq "$(grep -c '^kind: Node$' "$here/kwok/nodes.yaml")" ]
}
timed "cluster: kwok GPU nodes Ready" wait_for "kwok to make the nodes Ready" kwok_nodes_ready
"${kubectl[@]}" apply --server-side -f "$NEXUS_ROOT/../shared/crds/" >/dev/null
wait_for "the CRDs to be established" "${kubectl[@]}" wait --for condition=Established crd --all --timeout 5s
bash "$here/node.sh" up
up=true

echo "cluster up in $((SECONDS - started))s: $("${kubectl[@]}" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'), \
nodes: $("${kubectl[@]}" get nodes --no-headers -o custom-columns=NAME:.metadata.name | paste -sd ' ')"
echo "export KUBECONFIG=$kubeconfig"
