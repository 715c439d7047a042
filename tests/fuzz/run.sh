#!/bin/sh
# Run every libFuzzer target for a while, starting from its seed corpus.
# A crash, a leak or a sanitizer report fails the run (libFuzzer exits
# non-zero and leaves the crashing input in the work directory).
#   run.sh BUILD_DIR SECONDS
set -eu
BUILD=$1
SECONDS_EACH=${2:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/racker-fuzz-XXXXXX)
status=0
for bin in "$BUILD"/tests/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=$(basename "$bin" | sed 's/^fuzz_//')
    corpus="$WORK/$name"
    mkdir -p "$corpus"
    # Seeds are copied so that new inputs do not land in the repository.
    if [ -d "$HERE/corpus/$name" ]; then
        cp -r "$HERE/corpus/$name/." "$corpus/"
    fi
    printf 'fuzz %-10s %ss ... ' "$name" "$SECONDS_EACH"
    if "$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=0 \
        -artifact_prefix="$WORK/$name-" "$corpus" >"$WORK/$name.log" 2>&1; then
        echo "ok ($(sed -n "s/^Done \([0-9]*\) runs.*/\1/p" "$WORK/$name.log") runs)"
    else
        echo "FAILED"
        tail -40 "$WORK/$name.log"
        status=1
    fi
done
if [ "$status" = 0 ]; then
    rm -rf "$WORK"
else
    echo "crash inputs and logs kept in $WORK"
fi
exit $status
