#!/usr/bin/env bash
# Cuts the slim root filesystems of the local images out of one Debian bookworm minbase rootfs made by mmdebstrap,
# so no image is pulled from a registry. Each tarball holds a few binaries, the shared libraries ldd lists for them
# (glibc's loader included), /etc/passwd, /etc/group, /etc/nsswitch.conf and /tmp; no package manager, no shell
# unless said:
#   OUT_DIR/deno.tar   deno at the pinned version (scripts/install/deno.sh, from npm); user deno (1993)
#   OUT_DIR/redis.tar  Debian's redis-server and redis-cli; user redis (999), /data
#   OUT_DIR/curl.tar   Debian's curl and dash as /bin/sh (the helm test runs a shell script); user curl_user (100)
#   OUT_DIR/pause.tar  /pause from scripts/images/pause.go, static (the pod sandbox image)
# The Debian rootfs is kept in $NEXUS_TOOLS/images/debian (made again when the package list changes).
# Usage: rootfs.sh OUT_DIR. Needs: root (chroot), mmdebstrap (scripts/install/container_tools.sh), deno, go.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
out="$1"
mkdir -p "$out"

suite=bookworm
include=redis-server,curl
debian="$NEXUS_TOOLS/images/debian"
stamp="$suite variant=minbase include=$include"
if [ "$(cat "$debian.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$debian" "$debian.stamp"
  mkdir -p "$(dirname "$debian")"
  mmdebstrap --quiet --variant=minbase --include="$include" "$suite" "$debian" >&2
  echo "$stamp" >"$debian.stamp"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# skeleton DIR USERS...: an empty merged-/usr root with /etc files; each USER is name:uid.
skeleton() {
  local dir="$1"
  shift
  mkdir -p "$dir"/{etc,tmp,usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64}
  chmod 1777 "$dir/tmp"
  ln -s usr/bin "$dir/bin"
  ln -s usr/lib "$dir/lib"
  ln -s usr/lib64 "$dir/lib64"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\n' >"$dir/etc/group"
  local user name uid
  for user in "$@" nobody:65534; do
    name="${user%%:*}" uid="${user##*:}"
    printf '%s:x:%s:%s::/tmp:/sbin/nologin\n' "$name" "$uid" "$uid" >>"$dir/etc/passwd"
    printf '%s:x:%s:\n' "$name" "$uid" >>"$dir/etc/group"
  done
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dir/etc/nsswitch.conf"
}

# install_binary DIR PATH: copies PATH (a file inside the Debian rootfs, symlinks followed) and every library ldd
# lists for it into DIR, under merged /usr (a library found as /lib/x/libc.so.6 lands in /usr/lib/x/libc.so.6).
install_binary() {
  local dir="$1" path="$2" lib dest
  install -D -m 0755 "$debian$(chroot "$debian" readlink -f "$path")" "$dir$path"
  for lib in $(chroot "$debian" ldd "$path" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    dest="/usr${lib#/usr}"
    [ -e "$dir$dest" ] || install -D -m 0755 "$debian$(chroot "$debian" readlink -f "$lib")" "$dir$dest"
  done
}

# pack DIR NAME: a reproducible tarball of DIR (numeric owners, fixed times, sorted) as OUT_DIR/NAME.tar.
pack() {
  tar --sort=name --mtime=@0 --numeric-owner -C "$1" -cf "$out/$2.tar" .
}

# deno: the binary is copied into the Debian rootfs for ldd, then out again.
skeleton "$work/deno" deno:1993
mkdir -p "$work/deno/deno-dir"
install -m 0755 "$(readlink -f "$(command -v deno)")" "$debian/usr/local/bin/deno"
install_binary "$work/deno" /usr/local/bin/deno
mv "$work/deno/usr/local/bin/deno" "$work/deno/usr/bin/deno"
rm -rf "$work/deno/usr/local" "$debian/usr/local/bin/deno"
pack "$work/deno" deno

skeleton "$work/redis" redis:999
mkdir -p "$work/redis/data"
chown 999:999 "$work/redis/data"
install_binary "$work/redis" /usr/bin/redis-server
install_binary "$work/redis" /usr/bin/redis-cli
pack "$work/redis" redis

skeleton "$work/curl" curl_user:100
install_binary "$work/curl" /usr/bin/curl
install_binary "$work/curl" /usr/bin/dash
ln -s dash "$work/curl/usr/bin/sh"
pack "$work/curl" curl

mkdir -p "$work/pause"
(cd "$here" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" \
  -o "$work/pause/pause" pause.go)
pack "$work/pause" pause

# The versions, for the images' labels: deno, redis and curl as Debian ships them.
{
  echo "deno=$(deno --version | awk 'NR == 1 { print $2 }')"
  echo "redis=$(chroot "$debian" dpkg-query -W -f '${Version}' redis-server)"
  echo "curl=$(chroot "$debian" dpkg-query -W -f '${Version}' curl)"
} >"$out/versions"
