#!/bin/bash
# Runs inside the VM (a systemd service, see run.sh): racker's runtime checks
# on a real systemd host. Each check appends "RESULT PASS|FAIL|SKIP name :: detail"
# to $RES; at the end the results and the full log go to the second disk
# (/dev/vdb) and the VM powers off. Configuration: /etc/racker-vm.conf
# (MODE, BUSYBOX, MINBASE, SYSTEMD: image references in the copied store;
# GUEST_REG: the host's registry as the guest reaches it).
set -u
. /etc/racker-vm.conf
RES=/run/racker-vm/results
LOG=/run/racker-vm/log
mkdir -p /run/racker-vm
: >"$RES"
exec > >(tee -a "$LOG" /dev/ttyS0) 2>&1
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RK="racker"
BT=${BOOT_TIMEOUT:-180}
T=/run/racker-vm/t
mkdir -p "$T"

finish() {
    {
        echo "RACKER-VM-BEGIN"
        cat "$RES"
        echo "RACKER-VM-END"
        echo "RACKER-VM-LOG"
        cat "$LOG"
        journalctl -b --no-pager -o short-monotonic 2>/dev/null | tail -n 400
        echo "RACKER-VM-LOG-END"
    } >/run/racker-vm/out
    dd if=/run/racker-vm/out of=/dev/vdb bs=1M conv=fsync status=none
    sync
    systemctl poweroff --no-block
}
trap finish EXIT

one_line() { tr '\n' ' ' | tr -s ' ' | cut -c1-"${2:-300}"; }
result() { # result PASS|FAIL NAME DETAIL
    local line="RESULT $1 $2 :: $(printf '%s' "$3" | one_line)"
    echo "$line" >>"$RES"
    echo "$line"
}
check() { # check NAME DETAIL CONDITION...
    local name=$1 detail=$2
    shift 2
    if "$@"; then result PASS "$name" "$detail"; else result FAIL "$name" "$detail"; fi
}
# run_rk OUTFILE ERRFILE TIMEOUT ARGS...: racker with a timeout; sets RC
run_rk() {
    local out=$1 err=$2 to=$3
    shift 3
    echo "+ racker $*"
    timeout -k 10 "$to" $RK "$@" >"$out" 2>"$err"
    RC=$?
    echo "  rc=$RC stdout=$(head -c 300 "$out" | one_line) stderr=$(head -c 600 "$err" | one_line 600)"
}
# racker's cgroup directories on this host (v2: under the root; v1: anywhere)
racker_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name 'racker-[0-9a-f]*' 2>/dev/null | sort
}
racker_mounts() {
    grep -E 'racker' /proc/self/mountinfo | grep -v ' /var/lib/racker ' || true
}
# the cgroup directory of a container for a controller file, from its PID 1
cg_dir_of() { # PID FILE (cgroup.procs, pids.max, cpu.max, cpu.cfs_quota_us, memory.max...)
    local pid=$1 file=$2 d
    for d in $(racker_cgroups); do
        if [ -e "$d/$file" ] && grep -qx "$pid" "$d/cgroup.procs" 2>/dev/null; then
            echo "$d"
            return 0
        fi
    done
    return 1
}
main_pid() { # NAME: host PID of the container's first process (no python in the guest)
    $RK ps --format json --no-trunc 2>/dev/null | awk -v n="\"$1\"" '
        index($0, n) { f = 1 }
        f && /"Pid":/ { gsub(/[^0-9]/, ""); print; exit }'
}

echo "=== racker VM checks, mode $MODE, $(uname -r)"
systemctl is-system-running --wait >"$T/sysstate" 2>&1
echo "host system state: $(cat "$T/sysstate")"
echo "cgroup fs: $(stat -fc %T /sys/fs/cgroup); /proc/self/cgroup: $(one_line </proc/self/cgroup)"
grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9,11

# ---- the guest really is what MODE says
fst=$(stat -fc %T /sys/fs/cgroup)
if [ "$MODE" = v2 ]; then
    check guest-cgroup-layout "fs=$fst cgroup=$(one_line </proc/self/cgroup)" \
        test "$fst" = cgroup2fs -a "$(wc -l </proc/self/cgroup)" = 1
else
    n2=$(grep -c ' - cgroup2 ' /proc/self/mountinfo)
    check guest-cgroup-layout "fs=$fst cgroup2-mounts=$n2 v2-line=$(grep -c '^0::' /proc/self/cgroup)" \
        test "$fst" = tmpfs -a "$n2" = 0 -a "$(grep -c '^0::' /proc/self/cgroup)" = 0
fi
check guest-pid1-systemd "$(cat /proc/1/comm), $(cat "$T/sysstate")" test "$(cat /proc/1/comm)" = systemd

# ---- racker info
run_rk "$T/o" "$T/e" 30 info
cgl=$(grep -i '^Cgroups:' "$T/o")
check info-cgroup-mode "$cgl" grep -qE "^Cgroups: +$MODE( |$)" "$T/o"

# ---- the pull module loads (libcurl, libarchive... present); no network needed
run_rk "$T/o" "$T/e" 30 --debug pull --tls-verify=false 127.0.0.1:9/nothing:here
check pull-module-loads "rc=$RC $(grep -m1 -E 'racker-pull|dlopen|connect' "$T/e")" \
    grep -q 'loaded .*racker-pull.so' "$T/e"

# ---- a real pull and unpack on this kernel, from the host's registry
# (qemu's user network: the host's loopback is 10.0.2.2; the address is
# set by hand, the image has no network configuration)
ifc=$(ls /sys/class/net | grep -vx lo | head -1)
busybox ip link set "$ifc" up && busybox ip addr add 10.0.2.15/24 dev "$ifc"
PS=/var/lib/racker-pulled
run_rk "$T/o" "$T/e" 120 --root "$PS" pull --tls-verify=false "$GUEST_REG/busybox:latest"
check pull-busybox "rc=$RC err=$(tail -c 300 "$T/e")" test "$RC" = 0
run_rk "$T/o" "$T/e" 120 --root "$PS" pull --tls-verify=false "$GUEST_REG/special:latest"
check pull-special "rc=$RC err=$(tail -c 300 "$T/e")" test "$RC" = 0
# whiteouts, an opaque directory, modes and a device node, as unpacked here
run_rk "$T/o" "$T/e" 60 --root "$PS" run --rm --pull=never "$GUEST_REG/special:latest" sh -c \
    'test ! -e /gone-file && test ! -e /gone-dir && test -e /opq/new && \
     test "$(ls /opq)" = new && stat -c "%a %u:%g" /files/setuid /dirs/private && \
     stat -c "%F %t:%T" /devs/null && cat /replace-me'
want="4755 0:0
700 1000:1000
character special file 1:3"
check pulled-special-rootfs "rc=$RC out=$(cat "$T/o") err=$(cat "$T/e")" \
    test "$RC" = 0 -a "$(head -3 "$T/o")" = "$want"
run_rk "$T/o" "$T/e" 60 --root "$PS" run --rm --pull=never "$GUEST_REG/busybox:latest" echo pulled
check run-pulled "rc=$RC out=$(cat "$T/o")" test "$RC" = 0 -a "$(cat "$T/o")" = pulled
run_rk "$T/o" "$T/e" 60 --root "$PS" images -q
n_before=$(wc -l <"$T/o")
run_rk "$T/o" "$T/e" 60 --root "$PS" rmi "$GUEST_REG/special:latest" "$GUEST_REG/busybox:latest"
run_rk "$T/o2" "$T/e2" 60 --root "$PS" image prune
check rmi-prune-pulled "rc=$RC images-before=$n_before left=$(ls $PS/layers 2>/dev/null | wc -l)" \
    test "$RC" = 0 -a "$n_before" = 2 -a "$(ls $PS/layers 2>/dev/null | wc -l)" = 0

# ---- basics
run_rk "$T/o" "$T/e" 60 run --rm --pull=never "$BUSYBOX" echo hi
check run-echo-hi "rc=$RC out=$(cat "$T/o") err=$(cat "$T/e")" test "$RC" = 0 -a "$(cat "$T/o")" = hi
run_rk "$T/o" "$T/e" 60 run --rm --pull=never "$BUSYBOX" true
check exit-0 "rc=$RC" test "$RC" = 0
run_rk "$T/o" "$T/e" 60 run --rm --pull=never "$BUSYBOX" sh -c 'exit 3'
check exit-3 "rc=$RC" test "$RC" = 3
run_rk "$T/o" "$T/e" 60 run --rm --pull=never "$BUSYBOX" no-such-command
check exit-127 "rc=$RC err=$(cat "$T/e")" test "$RC" = 127

# ---- its own cgroup
run_rk "$T/o" "$T/e" 60 run --rm --pull=never "$BUSYBOX" cat /proc/self/cgroup
inside=$(one_line <"$T/o")
hostcg=$(one_line </proc/self/cgroup)
check own-cgroup-inside "inside='$inside' host='$hostcg'" \
    test "$RC" = 0 -a -n "$inside" -a "$inside" != "$hostcg"
before=$(racker_cgroups)
run_rk "$T/o" "$T/e" 60 run -d --name cg1 --pull=never "$BUSYBOX" sleep 300
pid=$(main_pid cg1)
dir=$(cg_dir_of "$pid" cgroup.procs)
check cgroup-exists-while-running "pid=$pid dir=$dir all=$(racker_cgroups | one_line)" \
    test -n "$pid" -a -n "$dir"
if [ "$MODE" = v1 ]; then
    # every v1 hierarchy it joined has it (memory, pids, cpu, name=systemd...)
    joined=$(grep -l -x "$pid" $(racker_cgroups | sed 's|$|/cgroup.procs|') 2>/dev/null | wc -l)
    check cgroup-v1-hierarchies-joined "pid $pid in $joined racker cgroups; /proc/$pid/cgroup: $(one_line </proc/$pid/cgroup 600)" \
        test "$joined" -ge 3
fi
run_rk "$T/o" "$T/e" 60 exec cg1 cat /proc/self/cgroup
check exec-app-container "rc=$RC out=$(one_line <"$T/o") err=$(cat "$T/e")" test "$RC" = 0 -a -s "$T/o"
run_rk "$T/o" "$T/e" 60 stop cg1
run_rk "$T/o2" "$T/e2" 60 rm cg1
left=$(racker_cgroups)
check cgroup-removed-after-stop-rm "was=$dir left='$(echo "$left" | one_line)'" \
    test -n "$dir" -a "$left" = "$before"
# --rm in the foreground
( timeout 60 $RK run --rm --name cg2 --pull=never "$BUSYBOX" sleep 4 >/dev/null 2>&1 ) &
bg=$!
seen=""
for i in $(seq 40); do
    sleep 0.25
    seen=$(racker_cgroups | head -1)
    [ -n "$seen" ] && break
done
wait $bg
left=$(racker_cgroups)
check cgroup-rm-foreground "seen-while-running='$seen' left-after='$(echo "$left" | one_line)'" \
    test -n "$seen" -a -z "$left"

# ---- --pids-limit
run_rk "$T/o" "$T/e" 60 run -d --name pl --pids-limit 20 --pull=never "$BUSYBOX" sleep 300
pid=$(main_pid pl)
if [ "$MODE" = v2 ]; then f=pids.max; else f=pids.max; fi
dir=$(cg_dir_of "$pid" "$f")
val=$(cat "$dir/$f" 2>/dev/null)
check pids-limit-set "$dir/$f=$val" test "$val" = 20
run_rk "$T/o" "$T/e" 20 stop -t 1 pl 2>/dev/null || run_rk "$T/o" "$T/e" 20 stop pl
run_rk "$T/o" "$T/e" 20 rm -f pl 2>/dev/null || run_rk "$T/o" "$T/e" 20 rm pl
start=$(date +%s)
run_rk "$T/o" "$T/e" 120 run --rm --pids-limit 20 --pull=never "$BUSYBOX" \
    sh -c 'n=0; for i in $(seq 100); do sleep 5 & n=$((n+1)); done; echo started=$n; wait'
took=$(($(date +%s) - start))
check pids-limit-forkbomb "rc=$RC took=${took}s out=$(cat "$T/o") err=$(head -c 200 "$T/e")" \
    test "$RC" != 124 -a "$RC" != 137 -a "$RC" != 125 -a "$(grep -c 'started=100' "$T/o")" = 0 -a -s "$T/e"

# ---- --memory
run_rk "$T/o" "$T/e" 180 run --rm --memory 32m --pull=never "$BUSYBOX" \
    sh -c 'x=a; while true; do x=$x$x; done'
check memory-oom-137 "rc=$RC err=$(cat "$T/e")" test "$RC" = 137
check memory-oom-message "err=$(cat "$T/e")" grep -q 'out of memory' "$T/e"
run_rk "$T/o" "$T/e" 60 run -d --name mem1 --memory 32m --pull=never "$BUSYBOX" sleep 300
pid=$(main_pid mem1)
if [ "$MODE" = v2 ]; then f=memory.max; else f=memory.limit_in_bytes; fi
dir=$(cg_dir_of "$pid" "$f")
val=$(cat "$dir/$f" 2>/dev/null)
check memory-limit-set "$dir/$f=$val" test "$val" = 33554432
run_rk "$T/o" "$T/e" 30 stop mem1
run_rk "$T/o" "$T/e" 30 rm mem1

# ---- --cpus
run_rk "$T/o" "$T/e" 60 run -d --name cpu1 --cpus 0.5 --pull=never "$BUSYBOX" sleep 300
pid=$(main_pid cpu1)
if [ "$MODE" = v2 ]; then
    dir=$(cg_dir_of "$pid" cpu.max)
    val=$(cat "$dir/cpu.max" 2>/dev/null)
    check cpus-0.5 "$dir/cpu.max=$val" test "$val" = "50000 100000"
else
    dir=$(cg_dir_of "$pid" cpu.cfs_quota_us)
    val="$(cat "$dir/cpu.cfs_quota_us" 2>/dev/null) $(cat "$dir/cpu.cfs_period_us" 2>/dev/null)"
    check cpus-0.5 "$dir/cpu.cfs_quota_us,period=$val" test "$val" = "50000 100000"
fi
run_rk "$T/o" "$T/e" 30 stop cpu1
run_rk "$T/o" "$T/e" 30 rm cpu1

# ---- a distribution image without booting
run_rk "$T/o" "$T/e" 60 run --rm --boot=no --pull=never "$MINBASE" true
check minbase-boot-no "rc=$RC err=$(cat "$T/e")" test "$RC" = 0
# Provisioning (--boot=auto on minbase) needs a Debian mirror from inside
# the container, and the VM has no network: tests/e2e/test_provision.py
# covers it on the host. Its container is an application container like
# the one above.

# ---- OS containers
mounts_before=$(racker_mounts)
start=$(date +%s)
run_rk "$T/o" "$T/e" $((BT + 60)) run --rm --boot-timeout "$BT" --pull=never "$SYSTEMD" systemctl is-system-running
took=$(($(date +%s) - start))
check os-is-system-running "rc=$RC out=$(cat "$T/o") took=${took}s err=$(tail -c 400 "$T/e")" \
    test "$(cat "$T/o")" = running
run_rk "$T/o" "$T/e" $((BT + 60)) run --rm --boot-timeout "$BT" --pull=never "$SYSTEMD" \
    sh -c 'cat /proc/1/comm; systemctl is-active systemd-journald'
check os-pid1-journald "rc=$RC out=$(cat "$T/o") err=$(tail -c 300 "$T/e")" \
    test "$(cat "$T/o" | one_line)" = "systemd active "

start=$(date +%s)
run_rk "$T/o" "$T/e" $((BT + 60)) run -d --name os1 --boot-timeout "$BT" --pull=never "$SYSTEMD"
check os-detached-start "rc=$RC id=$(cat "$T/o") took=$(($(date +%s) - start))s err=$(tail -c 300 "$T/e")" test "$RC" = 0
state=""
for i in $(seq 60); do
    run_rk "$T/o" "$T/e" 60 exec os1 systemctl is-system-running
    state=$(cat "$T/o")
    [ "$state" = starting -o "$state" = initializing ] || break
    sleep 2
done
if [ "$state" != running ]; then
    timeout 30 $RK exec os1 systemctl --failed --no-pager >"$T/failed" 2>&1
    state="$state; failed: $(cat "$T/failed" | one_line)"
fi
check os-exec-is-system-running "state=$state" test "${state%%;*}" = running
pid=$(main_pid os1)
osdir=$(racker_cgroups | head -1) # systemd itself sits deeper (container/init.scope)
echo "os1 pid=$pid cgroup dir=$osdir: $(cat /proc/$pid/cgroup 2>/dev/null | one_line 600)"
racker_cgroups | head -40
start=$(date +%s)
run_rk "$T/o" "$T/e" 120 stop os1
check os-stop "rc=$RC took=$(($(date +%s) - start))s err=$(cat "$T/e")" test "$RC" = 0
run_rk "$T/o" "$T/e" 60 rm os1
check os-rm "rc=$RC err=$(cat "$T/e")" test "$RC" = 0
sleep 1
left=$(racker_cgroups)
check os-no-cgroup-left "was=$osdir left='$(echo "$left" | one_line)'" test -n "$osdir" -a -z "$left"
mounts_after=$(racker_mounts)
check os-no-mount-left "before='$(echo "$mounts_before" | one_line)' after='$(echo "$mounts_after" | one_line)'" \
    test "$mounts_after" = "$mounts_before"

# ---- postroj on this host: boot, install a .deb, its socket unit, HTTP
export POSTROJ_CATALOGUE=/usr/local/share/racker-vm/postroj-images.json
echo "+ postroj pkgprobe"
timeout -k 10 $((BT + 300)) postroj pkgprobe --image="$SYSTEMD" \
    --package=/usr/local/share/racker-vm/rk-listens.deb --check-unit=rk-listens.socket \
    --check-network=http://localhost:8765 --expect-status=200 --junit "$T/junit.xml" \
    >"$T/o" 2>"$T/e"
RC=$?
echo "  rc=$RC stdout=$(one_line <"$T/o") stderr=$(tail -c 400 "$T/e" | one_line)"
check postroj-pkgprobe "rc=$RC out=$(cat "$T/o") err=$(tail -c 300 "$T/e")" \
    test "$RC" = 0 -a "$(grep -c ' PASS' "$T/o")" = 3 -a -s "$T/junit.xml"
echo "+ postroj selftest hostnamectl"
timeout -k 10 $((BT + 300)) postroj selftest hostnamectl --image="$SYSTEMD" >"$T/o" 2>"$T/e"
RC=$?
check postroj-selftest-hostnamectl "rc=$RC out=$(cat "$T/o") err=$(tail -c 300 "$T/e")" \
    test "$RC" = 0 -a -n "$(grep PASS "$T/o")"

# ---- nothing left at all
run_rk "$T/o" "$T/e" 30 ps -a -q
check nothing-left "ps -a: '$(one_line <"$T/o")' cgroups: '$(racker_cgroups | one_line)'" \
    test -z "$(cat "$T/o")" -a -z "$(racker_cgroups)"
echo "=== done"
