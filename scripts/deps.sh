#!/bin/sh
# Install every build and test dependency from Debian packages, and only
# call apt-get when something is missing (so `make check` stays fast on a
# machine that has them). Works on Debian 12 and Ubuntu 22.04+.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libcurl4-openssl-dev libjansson-dev libarchive-dev libisal-dev isal
  libzstd-dev zstd libssl-dev libseccomp-dev libcap-dev libcmocka-dev
  python3 python3-pytest python3-cryptography libcap2-bin
  docker-registry skopeo umoci mmdebstrap busybox-static
  ca-certificates openssl curl dpkg-dev iproute2 util-linux procps psmisc
  bubblewrap systemd-container hyperfine time
  qemu-system-x86 e2fsprogs
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run 'make deps' as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An apt index older than a day may not have the current versions.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    apt-get update -q
fi
# docker-registry's postinst starts a system registry on :5000 where an
# init system runs; the tests start their own on a free port instead.
apt-get install -y -q --no-install-recommends $missing
