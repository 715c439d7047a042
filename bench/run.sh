#!/bin/sh
# make bench: every benchmark, each printing racker against the peers it
# replaces, measured side by side in the same run. Figures, not pass/fail.
#   sh bench/run.sh BUILD
set -eu
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3

echo "== pull: racker vs skopeo copy + umoci unpack =="
$PY "$HERE/bench_pull.py" "$BUILD/racker"

echo
echo "== run: racker run --rm --boot=no vs systemd-nspawn and bubblewrap =="
sh "$HERE/bench_run.sh" "$BUILD"

echo
echo "== boot: an OS container's boot cycle, racker vs systemd-nspawn -b =="
sh "$HERE/bench_boot.sh" "$BUILD"

echo
echo "== probe: postroj pkgprobe --check-unit=systemd-journald vs the same by hand with systemd-nspawn =="
BENCH_BOOT_WITH=postroj sh "$HERE/bench_boot.sh" "$BUILD"
