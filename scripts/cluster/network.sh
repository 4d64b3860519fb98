# Sourced by the cluster scripts: the local cluster's addresses. All of them come from the benchmarking block
# 198.18.0.0/15 (RFC 2544), not from private ranges, and none leaves this machine:
#   198.18.0.0/16  pods, on the bridge nexus0 (the real node's pods get 198.18.0.10 - 198.18.127.254 from host-local)
#   198.18.0.1     the bridge's address: the real node's InternalIP, its kubelet, and CoreDNS
#   198.18.128.0/17  the KWOK nodes and their simulated pods: an unreachable route, so a connection fails at once
#   198.19.0.0/16  Services (kube-proxy, iptables); routed onto the bridge, so what kube-proxy does not catch stays here
export NEXUS_BRIDGE=nexus0
export NEXUS_POD_CIDR=198.18.0.0/16
export NEXUS_NODE_IP=198.18.0.1
export NEXUS_POD_RANGE_START=198.18.0.10
export NEXUS_POD_RANGE_END=198.18.127.254
export NEXUS_KWOK_CIDR=198.18.128.0/17
export NEXUS_KWOK_NODE_IP=198.18.255.254
export NEXUS_SERVICE_CIDR=198.19.0.0/16
export NEXUS_KUBERNETES_SERVICE_IP=198.19.0.1
export NEXUS_DNS_IP=198.19.0.10
export NEXUS_NODE_NAME=nexus-node
