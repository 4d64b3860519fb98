#!/usr/bin/env bash
# Writes the local cluster's PKI into DIR with openssl: a CA, the apiserver's serving certificate (the node's bridge
# address, and the kubernetes Service's address and names),
# an admin client certificate (group system:masters), the service-account signing key pair, and for the real node:
# the kubelet's client (system:node:<node>) and serving (the node IP) certificates, the apiserver's client
# certificate for the kubelet, kube-proxy's (system:kube-proxy) and CoreDNS's (system:coredns) client certificates.
# Usage: certs.sh DIR. Needs: openssl.
set -euo pipefail
source "$(dirname "$0")/network.sh"
dir="$1"
mkdir -p "$dir"
cd "$dir"
command -v openssl >/dev/null || { echo "cluster/certs.sh: openssl is required" >&2; exit 1; }

# ECDSA P-256 keys: as good as RSA here and made in milliseconds instead of seconds.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=nexus-local-ca" \
  -keyout ca.key -out ca.crt 2>/dev/null

# sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
sign() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" \
    -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sign apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
  'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
  "subjectAltName=IP:127.0.0.1,IP:$NEXUS_NODE_IP,IP:$NEXUS_KUBERNETES_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
# client NAME SUBJECT: a client certificate.
client() {
  sign "$1" "$2" "$(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' \
    'extendedKeyUsage=clientAuth')"
}
client admin "/O=system:masters/CN=nexus-admin"
client kubelet-client "/O=system:nodes/CN=system:node:$NEXUS_NODE_NAME"
client apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
client kube-proxy "/CN=system:kube-proxy"
client coredns "/CN=system:coredns"
sign kubelet-serving "/CN=$NEXUS_NODE_NAME" "$(printf '%s\n' \
  'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
  "subjectAltName=IP:$NEXUS_NODE_IP,DNS:$NEXUS_NODE_NAME")"

openssl ecparam -name prime256v1 -genkey -noout -out sa.key 2>/dev/null
openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
