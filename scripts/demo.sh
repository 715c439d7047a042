#!/bin/sh
# make demo: the main job on a machine without internet access.
#
# A local registry stands in for Docker Hub: it is started on a free port,
# a Debian bookworm image built from this host's Debian mirror is pushed to
# it as library/debian:bookworm-slim, and a registries.conf maps docker.io
# to it. Then racker pulls `debian:bookworm-slim` exactly as it would from
# Docker Hub. On a machine with internet, the same is just
#     racker pull debian:bookworm-slim
set -eu

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RACKER="$HERE/$BUILD/racker"
POSTROJ="$HERE/$BUILD/postroj"
PY=/usr/bin/python3
TESTBED="$HERE/tests/fixtures/testbed.py"
export RACKER_ROOT="${RACKER_ROOT:-/var/lib/racker}"

STATE=$(mktemp -d /tmp/racker-demo-XXXXXX)
cleanup() {
    $PY "$TESTBED" stop --pid-file "$STATE/registry.pid" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Building a Debian bookworm image from this host's Debian mirror (cached after the first run)"
$PY "$TESTBED" build busybox debian-minbase debian-systemd >/dev/null

step "Starting a local registry in place of Docker Hub"
$PY "$TESTBED" serve --dir "$STATE/registry" --port-file "$STATE/port" --pid-file "$STATE/registry.pid"
REG="127.0.0.1:$(cat "$STATE/port")"
LAYOUT=$($PY "$TESTBED" path debian-minbase)
skopeo --insecure-policy copy --quiet --dest-tls-verify=false --format v2s2 \
    "oci:$LAYOUT:latest" "docker://$REG/library/debian:bookworm-slim"
SYSTEMD_LAYOUT=$($PY "$TESTBED" path debian-systemd)
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
    "oci:$SYSTEMD_LAYOUT:latest" "docker://$REG/library/debian-systemd:bookworm"
echo "registry at $REG holds library/debian:bookworm-slim and library/debian-systemd:bookworm"

cat > "$STATE/registries.conf" <<CONF
# docker.io is served by the local registry for this demo.
[[registry]]
prefix = "docker.io"
location = "$REG"
CONF
export CONTAINERS_REGISTRIES_CONF="$STATE/registries.conf"

step "racker pull debian:bookworm-slim"
"$RACKER" pull debian:bookworm-slim

step "racker pull debian:bookworm-slim (again: only the manifest is checked)"
"$RACKER" pull debian:bookworm-slim

step "racker images"
"$RACKER" images

step "racker run --rm --boot=no debian:bookworm-slim cat /etc/os-release (an application container)"
"$RACKER" run --rm --boot=no debian:bookworm-slim cat /etc/os-release

step "racker run --rm debian-systemd:bookworm hostnamectl (an OS container: systemd boots as PID 1)"
"$RACKER" run --rm debian-systemd:bookworm hostnamectl

step "racker run --rm debian:bookworm-slim hostnamectl (no systemd in it: provisioned first, once)"
"$RACKER" run --rm debian:bookworm-slim hostnamectl

# The whole chain: pull, boot, install, probe, report. webfs comes from the
# host's Debian mirror; apt tells us its URL.
WEBFS_URL=$(apt-get download --print-uris webfs | sed -n "s/^'\([^']*\)'.*/\1/p")
step "postroj pkgprobe --image=debian-bookworm --package=<webfs .deb> --check-unit=webfs --check-network=http://localhost:8000"
"$POSTROJ" pkgprobe --image=debian-bookworm --package="$WEBFS_URL" \
    --check-unit=webfs --check-network=http://localhost:8000

step "Done. The store is $RACKER_ROOT; remove the images with: $BUILD/racker rmi debian:bookworm-slim debian-systemd:bookworm"
