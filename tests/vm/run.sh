#!/bin/bash
# Boot a Debian 12 VM (real systemd as PID 1) on pure cgroup v2 or pure v1,
# run racker's runtime checks in it, print one PASS/FAIL line per check.
# Usage: tests/vm/run.sh v2|v1          (see tests/vm/README.md)
set -euo pipefail

MODE=${1:-}
case "$MODE" in
v1 | v2 | base) ;;
*) echo "usage: $0 v2|v1|base" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${RACKER_BUILD:-$REPO/build}
CACHE=${RACKER_VM_CACHE:-${RACKER_TEST_CACHE:-/var/cache/racker-tests}/vm}
WORK=$CACHE/run-$MODE
PY=/usr/bin/python3
TESTBED="$PY $REPO/tests/fixtures/testbed.py"
TIMEOUT=${RACKER_VM_TIMEOUT:-3000} # seconds for the whole guest run
MEM=${RACKER_VM_MEM:-3072}
RECIPE=1 # bump to rebuild the cached base image

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for t in mmdebstrap mkfs.ext4 qemu-system-x86_64 sha256sum; do
    command -v "$t" >/dev/null || die "$t missing (apt-get install mmdebstrap e2fsprogs qemu-system-x86)"
done
for f in racker racker-pull.so postroj; do
    [ -f "$BUILD/$f" ] || die "$BUILD/$f missing (build racker first, or set RACKER_BUILD)"
done
mkdir -p "$CACHE"

# The mirror is never written down: the host's apt source files are handed
# to mmdebstrap as MIRROR arguments at run time.
apt_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
        [ -s "$f" ] && echo "$f"
    done
    return 0
}
mapfile -t SOURCES < <(apt_sources)
[ ${#SOURCES[@]} -gt 0 ] || die "no apt sources configured on this host"

# Guest packages: a bootable system, racker's and racker-pull.so's runtime
# libraries, and the tools the checks use.
PACKAGES=linux-image-amd64,systemd,systemd-sysv,udev,initramfs-tools,dbus,kmod
PACKAGES+=,libjansson4,libseccomp2,libcurl4,libarchive13,libisal2,libzstd1
PACKAGES+=,busybox-static,util-linux,procps,psmisc,coreutils,findutils,grep

# ---- 1. the base root file system (cached, keyed by recipe and sources)
base_key=$( { echo "recipe=$RECIPE packages=$PACKAGES"; cat "${SOURCES[@]}"; } | sha256sum | cut -c1-16)
BASE=$CACHE/base-$base_key.tar
if [ ! -s "$BASE" ]; then
    log "bootstrapping Debian 12 into $BASE (takes a few minutes)"
    hooks=()
    [ -d /usr/share/mmdebstrap/hooks/merged-usr ] && hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
    mmdebstrap --quiet --variant=apt --include="$PACKAGES" "${hooks[@]}" \
        --format=tar bookworm "$BASE.tmp" "${SOURCES[@]}"
    mv "$BASE.tmp" "$BASE"
fi
[ "$MODE" = base ] && exit 0

# ---- 2. the images, pulled on the host into a store that is copied in
# (the VM has no network; a local registry serves testbed's cached images)
rm -rf "$WORK"
mkdir -p "$WORK/reg"
STORE=$WORK/store
REG_PID=""
QEMU_PID=""
cleanup() {
    [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
    if [ -n "$REG_PID" ]; then
        $TESTBED stop --pid-file "$WORK/reg/pid" >/dev/null 2>&1 || kill "$REG_PID" 2>/dev/null
    fi
    return 0
}
trap cleanup EXIT
$TESTBED serve --dir "$WORK/reg/data" --port-file "$WORK/reg/port" --pid-file "$WORK/reg/pid" >/dev/null
REG_PID=$(cat "$WORK/reg/pid")
REG=$(cat "$WORK/reg/port")
case "$REG" in *:*) ;; *) REG=127.0.0.1:$REG ;; esac
$TESTBED populate --registry "$REG" busybox debian-minbase debian-systemd special >"$WORK/populate.log"
BUSYBOX=$REG/busybox:latest
MINBASE=$REG/debian:bookworm
SYSTEMD=$REG/debian-systemd:bookworm
for r in "$BUSYBOX" "$MINBASE" "$SYSTEMD"; do
    "$BUILD/racker" --root "$STORE" pull -q "$r" >/dev/null
done
# The registry stays up for the guest's own pull (qemu's user network
# maps 10.0.2.2 to the host's loopback); cleanup() stops it.

# ---- 3. the disk: base + racker + store + the check service
ROOT=$WORK/root
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*' -xpf "$BASE"
install -D -m 0755 "$BUILD/racker" "$ROOT/usr/local/bin/racker"
install -D -m 0644 "$BUILD/racker-pull.so" "$ROOT/usr/local/bin/racker-pull.so"
install -D -m 0755 "$BUILD/postroj" "$ROOT/usr/local/bin/postroj"
# postroj's catalogue, and a package whose socket unit answers HTTP (no
# server binary needed in the image), for a pkgprobe on this host
install -D -m 0644 "$REPO/data/postroj-images.json" "$ROOT/usr/local/share/racker-vm/postroj-images.json"
DEB=$($PY -c 'import sys; sys.path.insert(0, sys.argv[1]); import packages
print(packages.working_unit_deb(sys.argv[2], port=8765))' "$REPO/tests/fixtures" "$WORK")
install -D -m 0644 "$DEB" "$ROOT/usr/local/share/racker-vm/rk-listens.deb"
install -D -m 0755 "$HERE/guest-test.sh" "$ROOT/usr/local/sbin/racker-vmtest"
mkdir -p "$ROOT/var/lib"
cp -a "$STORE" "$ROOT/var/lib/racker"
cat >"$ROOT/etc/racker-vm.conf" <<CONF
MODE=$MODE
BUSYBOX=$BUSYBOX
MINBASE=$MINBASE
SYSTEMD=$SYSTEMD
GUEST_REG=10.0.2.2:${REG##*:}
BOOT_TIMEOUT=${RACKER_VM_BOOT_TIMEOUT:-180}
CONF
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$ROOT/etc/fstab"
echo racker-vm >"$ROOT/etc/hostname"
: >"$ROOT/etc/machine-id"
sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow" # a root login on the console, for debugging
cat >"$ROOT/etc/systemd/system/racker-vmtest.service" <<'UNIT'
[Unit]
Description=racker VM checks
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/racker-vmtest
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/racker-vmtest.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer \
    systemd-timesyncd.service; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
KERNEL=$(ls "$ROOT"/boot/vmlinuz-* | sort -V | tail -1)
INITRD=$(ls "$ROOT"/boot/initrd.img-* | sort -V | tail -1)
cp "$KERNEL" "$WORK/vmlinuz"
cp "$INITRD" "$WORK/initrd.img"
DISK=$WORK/disk.img
mkfs.ext4 -q -F -L racker-vm -d "$ROOT" "$DISK" "${RACKER_VM_DISK:-4G}"
rm -rf "$ROOT" "$STORE"
RESULTS=$WORK/results.img
truncate -s 64M "$RESULTS"

# ---- 4. boot: KVM when it works, else TCG
ACCEL=tcg,thread=multi
CPU=max
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo &&
    echo quit | timeout 20 qemu-system-x86_64 -accel kvm -machine q35 -display none \
        -nodefaults -monitor stdio -S >/dev/null 2>&1; then
    ACCEL=kvm
    CPU=host
fi
log "booting the $MODE guest with $ACCEL (log: $WORK/console.log)"
APPEND="root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=1 loglevel=4"
if [ "$MODE" = v1 ]; then
    # systemd 252: unified=0 alone gives hybrid (a v2 tree at
    # /sys/fs/cgroup/unified); legacy_systemd_cgroup_controller=1 makes the
    # systemd hierarchy v1 too, so no cgroup2 is mounted at all. The
    # environment variable is what systemd >= 256 wants before it boots v1.
    APPEND+=" systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1"
    APPEND+=" SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"
else
    APPEND+=" systemd.unified_cgroup_hierarchy=1"
fi
START=$(date +%s)
qemu-system-x86_64 -accel "$ACCEL" -cpu "$CPU" -machine q35 -smp 2 -m "$MEM" \
    -display none -nodefaults -no-reboot -serial "file:$WORK/console.log" \
    -kernel "$WORK/vmlinuz" -initrd "$WORK/initrd.img" -append "$APPEND" \
    -drive "file=$DISK,format=raw,if=virtio,cache=unsafe" \
    -drive "file=$RESULTS,format=raw,if=virtio" \
    -nic user,model=virtio-net-pci -device virtio-rng-pci &
QEMU_PID=$!
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ $(($(date +%s) - START)) -gt "$TIMEOUT" ]; then
        log "the guest did not power off within $TIMEOUT s: killing it"
        kill "$QEMU_PID"
        timed_out=1
        break
    fi
    sleep 2
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
ELAPSED=$(($(date +%s) - START))

# ---- 5. the results
tr -d '\000' <"$RESULTS" >"$WORK/results.txt"
sed -n '/^RACKER-VM-LOG$/,/^RACKER-VM-LOG-END$/p' "$WORK/results.txt" >"$WORK/guest.log"
sed -n '/^RACKER-VM-BEGIN$/,/^RACKER-VM-END$/p' "$WORK/results.txt" | grep '^RESULT ' |
    sed 's/^RESULT //' >"$WORK/checks.txt" || true
echo "mode $MODE: accel $ACCEL, guest ran ${ELAPSED}s; console $WORK/console.log, guest log $WORK/guest.log"
cat "$WORK/checks.txt"
npass=$(grep -c '^PASS ' "$WORK/checks.txt" || true)
nfail=$(grep -c '^FAIL ' "$WORK/checks.txt" || true)
nskip=$(grep -c '^SKIP ' "$WORK/checks.txt" || true)
if ! grep -q '^RACKER-VM-END$' "$WORK/results.txt"; then
    echo "FAIL vm-run :: no complete result from the guest (timed out: $timed_out); see $WORK/console.log"
    nfail=$((nfail + 1))
fi
echo "$MODE: $npass passed, $nfail failed, $nskip skipped"
# A skipped check is not a pass: none is expected.
[ "$nfail" = 0 ] && [ "$nskip" = 0 ] && [ "$npass" -gt 0 ]
