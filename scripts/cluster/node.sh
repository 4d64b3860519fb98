#!/usr/bin/env bash
# The local cluster's real CPU node, next to the KWOK GPU nodes: containerd and runc (Debian packages), the CNI bridge
# plugin (Debian's containernetworking-plugins), kubelet and kube-proxy (iptables mode, built by build.sh), and
# CoreDNS on the host as the cluster DNS (a kube-dns Service and EndpointSlice point at it). Addresses: network.sh.
# The node's images come from scripts/images/local.sh and are imported into containerd: nothing is pulled.
#
#   node.sh network  (up.sh, before the control plane) checks the machine, records the node and makes its bridge:
#                    the API server listens on the bridge's address, where pods reach it through the kubernetes
#                    Service
#   node.sh up    (up.sh, once the control plane answers) starts the node and waits until it is Ready
#   node.sh down  (down.sh) stops every container and removes all the node made: processes (by PID, and what is left
#                 in its cgroups), mounts, cgroups, iptables chains, the bridge and routes, sysctls it changed,
#                 kubelet, containerd and CNI state. Does nothing unless this cluster's node is set up.
# What the node changes on the machine is recorded in /run/nexus-node (its cluster directory, the host paths it made,
# the sysctls it changed), so a node whose cluster directory was removed under it is still cleaned up: by the next
# node.sh up, once none of its processes runs.
#
# Facts of these machines it copes with: cgroup v1 without systemd (kubelet: failCgroupV1 false, cgroupDriver
# cgroupfs), no swap check (failSwapOn false), no CAP_SYS_RESOURCE (containerd: restrict_oom_score_adj, or runc fails
# every sandbox), no registry (a pause image of our own is the sandbox image). Only one real node per machine: the
# bridge, the iptables chains and the addresses are the machine's. Needs: root, scripts/install/container_tools.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/../progress.sh"
source "$here/network.sh"
source "$here/procs.sh"
record=/run/nexus-node
# for_cluster DIR: the node of the cluster whose state directory is DIR.
for_cluster() {
  state="$1"
  node="$state/node"
  pki="$state/pki"
  sock="$node/containerd.sock"
  ctr=(ctr --address "$sock" --namespace k8s.io)
  kubectl=("$NEXUS_BIN/kubectl" --kubeconfig "$state/kubeconfig")
}
for_cluster "${NEXUS_CLUSTER_DIR:-/tmp/nexus-cluster}"
cgroup_root=nexus
# Host paths the node's programs use whatever their state directory; removed at down when up created them.
host_paths=(/var/lib/cni /run/containerd /var/log/pods /var/log/containers /var/lib/kubelet)

fail() {
  echo "cluster/node.sh: $*" >&2
  exit 1
}

# cgroup_mounts: the mount points of the cgroup hierarchies (v1, and the v2 one a hybrid host mounts as well).
cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo; }

# kubeconfig_for NAME: a kubeconfig for the client certificate pki/NAME.crt, as $node/NAME.kubeconfig.
kubeconfig_for() {
  local server
  server="$(awk '$1 == "server:" { print $2; exit }' "$state/kubeconfig")"
  cat >"$node/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: nexus-local
    cluster: { server: "$server", certificate-authority: "$pki/ca.crt" }
users:
  - name: $1
    user: { client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key" }
contexts:
  - name: nexus-local
    context: { cluster: nexus-local, user: $1 }
current-context: nexus-local
EOF
}

network_up() {
  local key
  for key in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; do
    echo "$key=$(sysctl -n "$key")" >>"$record/sysctls"
  done
  # Service traffic DNATed to a pod on the same bridge is routed back onto it, and bridged traffic must pass iptables.
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  ip link add "$NEXUS_BRIDGE" type bridge
  ip addr add "$NEXUS_NODE_IP/${NEXUS_POD_CIDR#*/}" dev "$NEXUS_BRIDGE"
  ip link set "$NEXUS_BRIDGE" up
  ip route add "$NEXUS_SERVICE_CIDR" dev "$NEXUS_BRIDGE"
  ip route add unreachable "$NEXUS_KWOK_CIDR"
  cat >"$node/cni/net.d/10-nexus.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "nexus-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NEXUS_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$node/cni/ipam",
        "ranges": [[{ "subnet": "$NEXUS_POD_CIDR", "rangeStart": "$NEXUS_POD_RANGE_START",
                      "rangeEnd": "$NEXUS_POD_RANGE_END", "gateway": "$NEXUS_NODE_IP" }]],
        "routes": [{ "dst": "$NEXUS_SERVICE_CIDR" }]
      }
    }
  ]
}
EOF
}

cgroups_up() {
  local mount
  for mount in $(cgroup_mounts); do
    mkdir -p "$mount/$cgroup_root"
    # A new cpuset cgroup starts with no CPUs and no memory nodes: give it its parent's.
    if [ -f "$mount/cpuset.cpus" ]; then
      cat "$mount/cpuset.cpus" >"$mount/$cgroup_root/cpuset.cpus"
      cat "$mount/cpuset.mems" >"$mount/$cgroup_root/cpuset.mems"
    fi
  done
}

containerd_up() {
  cat >"$node/containerd/config.toml" <<EOF
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "nexus.local/pause:local"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$node/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni/net.d"
    max_conf_num = 1

[plugins."io.containerd.internal.v1.opt"]
  path = "$node/containerd/opt"
EOF
  start containerd containerd --config "$node/containerd/config.toml"
  wait_for containerd "${ctr[@]}" version
}

kubelet_up() {
  kubeconfig_for kubelet-client
  local healthz
  healthz="$(free_port)"
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NEXUS_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $pki/ca.crt }
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
failCgroupV1: false
failSwapOn: false
clusterDNS: [$NEXUS_DNS_IP]
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: $node/pod-logs
serializeImagePulls: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
  nodefs.inodesFree: 2%
EOF
  start kubelet "$NEXUS_BIN/kubelet" --config "$node/kubelet.yaml" --kubeconfig "$node/kubelet-client.kubeconfig" \
    --root-dir "$node/kubelet" --cert-dir "$node/kubelet/pki" --hostname-override "$NEXUS_NODE_NAME" \
    --node-ip "$NEXUS_NODE_IP" --node-labels "nodepool=cpu,node.kubernetes.io/instance-type=local"
}

kube_proxy_healthz=""
kube_proxy_up() {
  kubeconfig_for kube-proxy
  kube_proxy_healthz="$(free_port)"
  cat >"$node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $node/kube-proxy.kubeconfig
hostnameOverride: $NEXUS_NODE_NAME
mode: iptables
clusterCIDR: $NEXUS_POD_CIDR
nodePortAddresses: ["$NEXUS_NODE_IP/32"]
healthzBindAddress: 127.0.0.1:$kube_proxy_healthz
metricsBindAddress: 127.0.0.1:$(free_port)
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
EOF
  start kube-proxy "$NEXUS_BIN/kube-proxy" --config "$node/kube-proxy.yaml"
}

dns_up() {
  kubeconfig_for coredns
  local ready
  ready="$(free_port)"
  cat >"$node/Corefile" <<EOF
.:53 {
    bind $NEXUS_NODE_IP
    errors
    ready 127.0.0.1:$ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $node/coredns.kubeconfig nexus-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  "${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns" }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns" }
---
# CoreDNS runs on the host (the apiserver listens on loopback only), so the Service has no selector and this
# EndpointSlice points it at the host's address on the bridge.
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: { k8s-app: kube-dns }
spec:
  clusterIP: $NEXUS_DNS_IP
  ports:
    - { name: dns, port: 53, protocol: UDP }
    - { name: dns-tcp, port: 53, protocol: TCP }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: { kubernetes.io/service-name: kube-dns }
addressType: IPv4
endpoints:
  - addresses: [$NEXUS_NODE_IP]
    conditions: { ready: true }
ports:
  - { name: dns, port: 53, protocol: UDP }
  - { name: dns-tcp, port: 53, protocol: TCP }
EOF
  start coredns "$NEXUS_BIN/coredns" -conf "$node/Corefile"
  wait_for "CoreDNS" curl -fsS "http://127.0.0.1:$ready/ready"
}

# node_network: the checks, the record of what the node makes, and its network (node.sh network).
node_network() {
  [ "$(id -u)" = 0 ] || fail "the real node needs root (containerd, a bridge, iptables)"
  local cmd
  for cmd in containerd containerd-shim-runc-v2 runc ctr iptables ip sysctl; do
    command -v "$cmd" >/dev/null || fail "$cmd is missing; run scripts/install/container_tools.sh"
  done
  [ -x /usr/lib/cni/bridge ] || fail "the CNI plugins are missing; run scripts/install/container_tools.sh"
  if [ -f "$record/owner" ]; then
    local owner mine="$state"
    owner="$(cat "$record/owner")"
    if owner_runs "$owner"; then
      fail "the real node of the cluster in $owner runs on this machine, and only one can." \
        "Stop it first: NEXUS_CLUSTER_DIR=$owner scripts/cluster/down.sh"
    fi
    echo "cluster/node.sh: removing what the node of $owner left behind" >&2
    for_cluster "$owner"
    node_down
    for_cluster "$mine"
  elif ip link show "$NEXUS_BRIDGE" >/dev/null 2>&1; then
    fail "bridge $NEXUS_BRIDGE exists, but no node is recorded in $record: delete it (ip link delete $NEXUS_BRIDGE)"
  fi
  mkdir -p "$node"/{cni/net.d,cni/ipam,containerd,kubelet,pod-logs} "$record"
  local path
  for path in "${host_paths[@]}"; do [ -e "$path" ] || echo "$path" >>"$record/created"; done
  touch "$record/created"
  # From here on, down removes what this node made.
  echo "$state" >"$record/owner"
  timed "node: network ($NEXUS_BRIDGE $NEXUS_NODE_IP, pods $NEXUS_POD_CIDR, services $NEXUS_SERVICE_CIDR)" network_up
  touch "$record/network"
}

node_up() {
  if [ "$(cat "$record/owner" 2>/dev/null)" != "$state" ] || [ ! -f "$record/network" ]; then node_network; fi
  cgroups_up
  timed "node: containerd" containerd_up
  timed "node: import images" "${ctr[@]}" images import "${NEXUS_LOCAL_IMAGES:?}" >/dev/null
  timed "node: CoreDNS" dns_up
  kubelet_up
  kube_proxy_up
  node_ready() {
    wait_for "node $NEXUS_NODE_NAME to be Ready" "${kubectl[@]}" wait --for condition=Ready "node/$NEXUS_NODE_NAME" --timeout 2s
    # kube-proxy answers /healthz once it has programmed the Services.
    wait_for "kube-proxy" curl -fsS "http://127.0.0.1:$kube_proxy_healthz/healthz"
  }
  timed "node: kubelet, kube-proxy, $NEXUS_NODE_NAME Ready" node_ready
}

# owner_runs DIR: true while a kubelet or containerd that the cluster in DIR started still runs.
owner_runs() {
  local name pid
  [ -f "$1/pids" ] || return 1
  while read -r name pid; do
    case "$name" in kubelet | containerd) ;; *) continue ;; esac
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$name" ]] && return 0
  done <"$1/pids"
  return 1
}

# stop_pids NAME...: stops the processes up started under these names (the PID must still run that binary).
stop_pids() {
  local name pid want
  [ -f "$state/pids" ] || return 0
  for want in "$@"; do
    while read -r name pid; do
      [ "$name" = "$want" ] || continue
      [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$name" ]] || continue
      kill "$pid" 2>/dev/null || continue
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    done <"$state/pids"
  done
}

# cgroup_pids: the processes in the node's cgroups (its containers and their shims' children).
cgroup_pids() {
  local mount
  for mount in $(cgroup_mounts); do
    if [ -d "$mount/$cgroup_root" ]; then find "$mount/$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null; fi
  done | sort -u
}

containers_down() {
  if "${ctr[@]}" version >/dev/null 2>&1; then
    local id
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
  fi
  stop_pids containerd
  # Shims whose containerd is gone, and any process still in the node's cgroups.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true); do kill -9 "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    local left
    left="$(cgroup_pids)"
    [ -z "$left" ] && break
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null || true
    sleep 0.25
  done
}

mounts_down() {
  local mount
  # Deepest first; a mount that is still busy is detached (lazy), so nothing under $node stays mounted.
  awk -v root="$node/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
}

cgroups_down() {
  local mount
  for mount in $(cgroup_mounts); do
    if [ -d "$mount/$cgroup_root" ]; then find "$mount/$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
}

iptables_down() {
  "$NEXUS_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # What kube-proxy's cleanup leaves: the kubelet's chains (KUBE-FIREWALL, canaries, hints) and the jumps to them.
  local tool table chain rule
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle; do
      "$tool" -t "$table" -S 2>/dev/null | { grep -E '^-A [A-Z]+ .*-j KUBE-' || true; } | sed 's/^-A /-D /' |
        while read -r rule; do
          eval "\"$tool\" -t \"$table\" $rule" 2>/dev/null || true
        done
      for chain in $("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

network_down() {
  ip link delete "$NEXUS_BRIDGE" 2>/dev/null || true
  ip route del unreachable "$NEXUS_KWOK_CIDR" 2>/dev/null || true
  local line
  if [ -f "$record/sysctls" ]; then
    while read -r line; do sysctl -qw "$line" || true; done <"$record/sysctls"
  fi
}

host_paths_down() {
  rm -f /var/lib/cni/results/nexus-pods-* 2>/dev/null || true
  local link
  for link in /var/log/containers/*; do
    if [[ "$(readlink "$link" 2>/dev/null)" == "$node/"* ]]; then rm -f "$link"; fi
  done
  local path
  while read -r path; do rm -rf "$path"; done <"$record/created"
}

node_down() {
  [ "$(cat "$record/owner" 2>/dev/null)" = "$state" ] || return 0
  stop_pids coredns kube-proxy kubelet
  containers_down
  mounts_down
  cgroups_down
  iptables_down
  network_down
  host_paths_down
  rm -rf "$node" "$record"
}

case "${1:-}" in
  network) node_network ;;
  up) node_up ;;
  down) node_down ;;
  *) echo "usage: node.sh network|up|down" >&2; exit 2 ;;
esac
