# Sourced by the cluster scripts: the pinned versions of the local control plane (one place to bump them).
export NEXUS_K8S_VERSION="v1.37.2"  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy
export NEXUS_ETCD_VERSION="v3.6.16" # go.etcd.io/etcd/server/v3
export NEXUS_KWOK_VERSION="v0.8.0"  # sigs.k8s.io/kwok
export NEXUS_COREDNS_VERSION="v1.15.0" # github.com/coredns/coredns, the cluster DNS
export NEXUS_OPENAPI2JSONSCHEMA_VERSION="0.9.1" # PyPI openapi2jsonschema, used by gen_schemas.sh
