#!/bin/sh
# Container start: `racker run --rm --boot=no IMAGE /bin/true` against
# systemd-nspawn and bubblewrap on the same tree, alternating, with medians
# and ratios.
#
#   sh bench/bench_run.sh BUILD [IMAGE]
#
# IMAGE defaults to the Debian image of the test bed: a local registry is
# started (tests/fixtures/testbed.py, images cached) and the image pulled
# into a store on a tmpfs, since the disk of these machines is mounted with
# discard (see docs/ENVIRONMENT or the guide). The tree given to nspawn and
# bwrap is the image's layer (or its merged mount when it has several).
#
# Environment: BENCH_ROUNDS (default 10) rounds of BENCH_RUNS (default 20)
# runs per command; the order of the commands rotates every round.
set -eu

BUILD=${1:?usage: bench_run.sh BUILD [IMAGE]}
IMAGE=${2:-${RACKER_BENCH_IMAGE:-}}
ROUNDS=${BENCH_ROUNDS:-10}
RUNS=${BENCH_RUNS:-20}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
RACKER=$(cd "$BUILD" && pwd)/racker

for tool in hyperfine systemd-nspawn bwrap; do
    command -v $tool >/dev/null || { echo "bench_run: $tool is missing (make deps)" >&2; exit 2; }
done

WORK=$(mktemp -d /dev/shm/racker-bench-XXXXXX)
REG_PID=""
MOUNTED=""
cleanup() {
    [ -n "$MOUNTED" ] && "$RACKER" --root "$WORK/store" image unmount "$IMAGE" >/dev/null 2>&1 || true
    [ -n "$REG_PID" ] && "$PY" "$REPO/tests/fixtures/testbed.py" stop --pid-file "$WORK/reg.pid" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

R="$RACKER --root $WORK/store --runroot $WORK/run"

if [ -z "$IMAGE" ]; then
    mkdir -p "$WORK/registry"
    "$PY" "$REPO/tests/fixtures/testbed.py" serve --dir "$WORK/registry" \
        --port-file "$WORK/reg.port" --pid-file "$WORK/reg.pid" >/dev/null
    REG_PID=$(cat "$WORK/reg.pid")
    PORT=$(cat "$WORK/reg.port")
    "$PY" "$REPO/tests/fixtures/testbed.py" populate --registry "127.0.0.1:$PORT" \
        debian:bookworm >/dev/null
    IMAGE="127.0.0.1:$PORT/debian:bookworm"
fi
$R pull -q "$IMAGE" >/dev/null

# The tree: the single layer, or the merged image mounted read-only.
ROOTFS=$($R inspect "$IMAGE" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
layers = d.get("Layers") or []
print(layers[0]["Path"] if len(layers) == 1 else "")')
if [ -z "$ROOTFS" ]; then
    ROOTFS=$($R image mount "$IMAGE")
    MOUNTED=1
fi

# Sanity: every command really runs (and the seccomp cache is warm).
$R run --rm --boot=no "$IMAGE" /bin/true
systemd-nspawn -q --register=no --keep-unit --volatile=overlay -D "$ROOTFS" /bin/true 2>/dev/null
bwrap --unshare-all --share-net --bind "$ROOTFS" / --proc /proc --dev /dev /bin/true

C_RACKER="$R run --rm --boot=no $IMAGE /bin/true"
C_NSPAWN="systemd-nspawn --register=no --keep-unit --volatile=overlay -D $ROOTFS /bin/true"
C_BWRAP="bwrap --unshare-all --share-net --bind $ROOTFS / --proc /proc --dev /dev /bin/true"

i=0
while [ $i -lt "$ROUNDS" ]; do
    case $((i % 3)) in
        0) set -- "$C_RACKER" "$C_NSPAWN" "$C_BWRAP" ;;
        1) set -- "$C_NSPAWN" "$C_BWRAP" "$C_RACKER" ;;
        2) set -- "$C_BWRAP" "$C_RACKER" "$C_NSPAWN" ;;
    esac
    hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$WORK/round$i.json" \
        "$@" >/dev/null 2>&1
    i=$((i + 1))
done

"$PY" - "$WORK" "$C_RACKER" "$C_NSPAWN" "$C_BWRAP" <<'PYEOF'
import glob, json, statistics, sys
work, racker, nspawn, bwrap = sys.argv[1:]
times = {racker: [], nspawn: [], bwrap: []}
for f in sorted(glob.glob(f"{work}/round*.json")):
    for r in json.load(open(f))["results"]:
        times[r["command"]].extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
n = len(times[racker])
print(f"container start, /bin/true, {n} runs each, alternating rounds (median, ms):")
print(f"  racker run --rm --boot=no   {med[racker]:8.2f}")
print(f"  systemd-nspawn              {med[nspawn]:8.2f}")
print(f"  bwrap (the floor)           {med[bwrap]:8.2f}")
print(f"  racker is {med[nspawn] / med[racker]:.1f}x faster than systemd-nspawn "
      f"(target: 5x, and under 10 ms: {'met' if med[racker] < 10 and med[nspawn] / med[racker] >= 5 else 'NOT met'})")
print(f"  racker takes {med[racker] / med[bwrap]:.1f}x the time of bwrap")
PYEOF
