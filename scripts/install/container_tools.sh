#!/usr/bin/env bash
# Installs the Debian packages the real cluster node and the local image builds need:
#   containerd, runc, containernetworking-plugins (CNI bridge, host-local, loopback in /usr/lib/cni), iptables and
#   conntrack (kube-proxy), iproute2 and procps for the node; docker.io (dockerd, for `docker build`) and mmdebstrap
#   (the Debian rootfs the local base images are cut from) for scripts/images.sh. Nothing is started: the scripts
#   start what they need.
# Needs: root and apt-get (Debian/Ubuntu). Safe to run again: skips when every command is there.
set -euo pipefail

# command -> the package that provides it.
declare -A packages=(
  [containerd]=containerd
  [runc]=runc
  [iptables]=iptables
  [conntrack]=conntrack
  [ip]=iproute2
  [pgrep]=procps
  [dockerd]=docker.io
  [mmdebstrap]=mmdebstrap
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("${packages[$cmd]}")
done
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install/container_tools.sh: missing ${missing[*]}; install them with your package manager" \
    "(Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt)" >&2
apt-get update -qq >&2
# policy-rc.d (where present) keeps the packages from starting system daemons; stop them if they did start.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
for service in docker containerd; do (service "$service" stop || true) >/dev/null 2>&1; done
