"""OS containers: systemd 252 booted as PID 1 of the Debian systemd image,
the payload run inside the booted system, detached OS containers, and a
broken image whose init never reports ready.

Every test checks afterwards that nothing of its containers is left on
the host: no process in their cgroups, no cgroup directory, no mount.
Containers are found by their ID: the machine ID systemd seeds from
container_uuid is the ID's first 32 hex digits, so a payload that prints
/etc/machine-id names its container.

A --rm container in the foreground is killed when its payload ends and
`racker run` returns at once; a helper finishes the cleanup while the
kernel ends the processes (tens of milliseconds): those checks allow
RM_GRACE seconds. Everything else (stop, a kept container's halt, rm) is
synchronous and checked at once.
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "fixtures"))
import testbed as tbmod  # noqa: E402
from rtkit import PtyRun, Racker, mount_points, new_mounts, pid_alive, wait_for  # noqa: E402

OS_NAME = "Debian GNU/Linux 12 (bookworm)"
RM_GRACE = 5.0
CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_dirs(prefix):
    """racker-<id...> directories of containers whose ID starts with prefix."""
    found = []
    for top in os.listdir(CGROUP_ROOT):
        base = os.path.join(CGROUP_ROOT, top)
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        # racker's own cgroup may be a few levels down in v1 hierarchies
        for dirpath, dirnames, _ in os.walk(base):
            if dirpath.count("/") - base.count("/") > 4:
                dirnames[:] = []
                continue
            for d in dirnames:
                if d.startswith("racker-" + prefix):
                    found.append(os.path.join(dirpath, d))
            dirnames[:] = [d for d in dirnames if not d.startswith("racker-")]
    return found


def processes_of(prefix):
    """PIDs of host processes in the cgroups of a container (any hierarchy)."""
    pids = []
    needle = "/racker-" + prefix
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                text = f.read()
        except OSError:
            continue
        if needle in text:
            pids.append(int(p))
    return pids


def assert_gone(prefixes, wait=0.0):
    """No process, no cgroup of these containers (by ID prefix), at once
    (wait=0), or within wait seconds (the cleanup of a --rm container,
    see above)."""
    for prefix in prefixes:
        assert re.fullmatch(r"[0-9a-f]{12,64}", prefix), prefix
        if wait:
            wait_for(lambda: not processes_of(prefix) and not cgroup_dirs(prefix), timeout=wait)
        assert processes_of(prefix) == [], f"processes of container {prefix} are left"
        assert cgroup_dirs(prefix) == [], f"cgroups of container {prefix} are left"


def assert_rm_gone(rk, prefixes):
    """A --rm run returned: its record is gone at once (the name is free),
    its processes and cgroups within RM_GRACE, and the runtime directory
    with them."""
    assert not [d for d in rk.records() if any(d.startswith(p) for p in prefixes)]
    assert_gone(prefixes, wait=RM_GRACE)
    assert wait_for(lambda: not [d for d in os.listdir(rk.runroot)
                                 if any(d.startswith(p) for p in prefixes)], timeout=RM_GRACE)


@pytest.fixture(scope="module")
def images(racker_bin, registry, testbed, tmp_path_factory):
    """A store holding the Debian systemd image, the minbase one, busybox,
    and broken-init: busybox plus a /lib/systemd/systemd that is a shell
    script printing two lines and sleeping (it never sends READY=1)."""
    layout_dir = str(tmp_path_factory.mktemp("broken-init") / "layout")
    lay = tbmod.Layout(layout_dir, create=True)
    bb = testbed.layout("busybox")
    bb_manifest = bb.read_json(bb.resolve("latest")["digest"])
    bb_config = bb.read_json(bb_manifest["config"]["digest"])
    layers = []
    for desc, diff in zip(bb_manifest["layers"], bb_config["rootfs"]["diff_ids"]):
        layers.append((lay.copy_blob_from(bb, desc), diff))
    tw = tbmod.TarWriter()
    for d in ("lib", "lib/systemd"):
        tw.dir(d)
    tw.file("lib/systemd/systemd",
            "#!/bin/sh\necho 'fake init: starting up'\necho 'fake init: never ready'\n"
            "exec sleep 3600\n", mode=0o755)
    layers.append(lay.add_layer(tw.getvalue(), "gzip"))
    desc = lay.add_image(layers, config={"Env": [tbmod.DEFAULT_PATH],
                                         "Cmd": ["/lib/systemd/systemd"]})
    lay.tag(desc, "latest")
    registry.push(layout_dir, "latest", "broken-init:latest")

    # quirks: the Debian systemd image plus a layer that ships device
    # nodes, /dev/loop-control's (10:237: root opens it without any other
    # capability, and loop devices mount host files) and /dev/null's (1:3),
    # at /nodes; removes /etc/machine-id (systemd would take the boot for a
    # first boot, and wait for a key on the console in systemd-firstboot);
    # and has a D-Bus machine ID of its own, as a provisioned image does
    # (systemd would seed every container's machine ID from it).
    dn_dir = str(tmp_path_factory.mktemp("quirks") / "layout")
    dn = tbmod.Layout(dn_dir, create=True)
    sd = testbed.layout("debian-systemd")
    sd_manifest = sd.read_json(sd.resolve("latest")["digest"])
    sd_config = sd.read_json(sd_manifest["config"]["digest"])
    dn_layers = [(dn.copy_blob_from(sd, d), diff)
                 for d, diff in zip(sd_manifest["layers"], sd_config["rootfs"]["diff_ids"])]
    tw = tbmod.TarWriter()
    tw.dir("nodes")
    tw.chardev("nodes/loop-control", 10, 237, mode=0o666)
    tw.chardev("nodes/null", 1, 3, mode=0o666)
    tw.whiteout("etc/machine-id")
    tw.dir("var/lib/dbus")
    tw.file("var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
    dn_layers.append(dn.add_layer(tw.getvalue(), "gzip"))
    desc = dn.add_image(dn_layers, config=sd_config["config"])
    dn.tag(desc, "latest")
    registry.push(dn_dir, "latest", "quirks:latest")

    r = Racker(racker_bin)
    refs = {}
    for name, rt in (("systemd", "debian-systemd:bookworm"), ("minbase", "debian:bookworm"),
                     ("busybox", "busybox:latest"), ("broken", "broken-init:latest"),
                     ("quirks", "quirks:latest")):
        ref = f"{registry.host}/{rt}"
        r.ok("pull", "-q", ref, timeout=300)
        refs[name] = ref
    r.refs = refs
    yield r
    r.cleanup()


@pytest.fixture
def rk(images):
    """The module's store, checked before and after each test: no new
    mount on the host, no container record left."""
    before = mount_points()
    yield images
    for cid in images.records():
        images.run("rm", "-f", cid, timeout=60)
    assert new_mounts(before, mount_points()) == []


def machine_id(text):
    m = re.search(r"^MID=([0-9a-f]{32})$", text, re.M)
    assert m, text
    return m.group(1)


def test_boot_payload_in_the_booted_system(rk):
    """PID 1 is systemd, it reached running with no failed unit, journald
    is active, hostnamectl and journalctl work; the payload shares every
    namespace with PID 1, sits in a cgroup of its own and gets the
    environment systemd gives services."""
    script = r"""
echo MID=$(cat /etc/machine-id)
echo PID1=$(cat /proc/1/comm)
echo STATE=$(systemctl is-system-running)
echo JOURNALD=$(systemctl is-active systemd-journald)
echo FAILED=$(systemctl --failed --plain --no-legend | wc -l)
hostnamectl
echo JOURNAL_LINES=$(journalctl -b --no-pager -q | wc -l)
for n in mnt pid uts ipc net cgroup; do
  [ "$(readlink /proc/1/ns/$n)" = "$(readlink /proc/self/ns/$n)" ] && echo SAME_NS=$n
done
echo CGROUP=$(grep -E '^0::|name=systemd' /proc/self/cgroup | cut -d: -f3 | sort -u | tr '\n' ' ')
echo INIT_ENV=$(tr '\0' '\n' < /proc/1/environ | grep -E '^(container|NOTIFY_SOCKET)=' | sort | tr '\n' ' ')
echo PATH=$PATH
echo LANG=$LANG
echo HOSTNAME=$(hostname)
echo OS_RELEASE_HOST=$(test -s /run/host/os-release && echo yes)
echo PROC_SYS=$(touch /proc/sys/kernel/hostname 2>/dev/null && echo rw || echo ro)
"""
    t0 = time.monotonic()
    cp = rk.run("run", "--rm", rk.refs["systemd"], "sh", "-c", script, timeout=120)
    elapsed = time.monotonic() - t0
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    mid = machine_id(out)
    assert "PID1=systemd\n" in out
    assert "STATE=running\n" in out, out
    assert "JOURNALD=active\n" in out
    assert "FAILED=0\n" in out, out
    assert re.search(r"Operating System: " + re.escape(OS_NAME), out), out
    assert re.search(r"Static hostname: " + mid[:12], out), out
    assert "Virtualization: container-other" in out
    assert int(re.search(r"JOURNAL_LINES=(\d+)", out).group(1)) > 5, out
    for n in ("mnt", "pid", "uts", "ipc", "net", "cgroup"):
        assert f"SAME_NS={n}\n" in out, out
    assert "CGROUP=/racker-exec\n" in out, out
    assert "INIT_ENV=NOTIFY_SOCKET=/run/host/notify container=racker\n" in out, out
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" in out
    assert "LANG=C.UTF-8\n" in out  # systemd's default without a locale file
    assert f"HOSTNAME={mid[:12]}\n" in out
    assert "OS_RELEASE_HOST=yes\n" in out
    assert "PROC_SYS=ro\n" in out
    assert elapsed < 30
    assert_rm_gone(rk, [mid])


def test_exit_status_stdin_and_env(rk):
    ref = rk.refs["systemd"]
    cp = rk.run("run", "--rm", ref, "sh", "-c", "echo MID=$(cat /etc/machine-id); exit 7")
    assert cp.returncode == 7, cp.stderr
    mid = machine_id(cp.stdout)
    # stdin only with -i, and EOF passes through
    cp = rk.run("run", "--rm", "-i", ref, "sh", "-c", "cat; echo MID=$(cat /etc/machine-id)",
                input="through the booted system\n")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("through the booted system\n")
    mids = [mid, machine_id(cp.stdout)]
    cp = rk.run("run", "--rm", ref, "cat", input="not forwarded\n")
    assert cp.returncode == 0 and cp.stdout == ""
    # exit codes as for application containers
    assert rk.run("run", "--rm", ref, "no-such-command").returncode == 127
    assert rk.run("run", "--rm", ref, "/etc/hostname").returncode == 126
    cp = rk.run("run", "--rm", ref, "sh", "-c", "kill -9 $$")
    assert cp.returncode == 137
    # -e, -w, -u: the locale of /etc/default/locale is systemd's, -e wins over it
    cp = rk.run("run", "--rm", "-e", "FOO=bar", "-w", "/var/tmp", "-u", "nobody", ref, "sh", "-c",
                "echo MID=$(cat /etc/machine-id); echo $FOO; pwd; id -un; echo $LANG")
    assert cp.returncode == 0, cp.stderr
    mids.append(machine_id(cp.stdout))
    assert cp.stdout.splitlines()[1:] == ["bar", "/var/tmp", "nobody", "C.UTF-8"]
    assert_rm_gone(rk, mids)


def test_tty_payload(rk):
    pr = PtyRun(rk.argv("run", "--rm", "-it", rk.refs["systemd"], "sh", "-c",
                        "echo MID=$(cat /etc/machine-id); tty; stty size; read x; echo got-$x"),
                rows=33, cols=101)
    try:
        assert pr.read_until("33 101", timeout=60), pr.text()
        pr.write("typed\n")
        assert pr.wait(timeout=60) == 0
        text = pr.text().replace("\r", "")
        assert re.search(r"^/dev/pts/\d+$", text, re.M), text
        assert "got-typed" in text
        mid = re.search(r"MID=([0-9a-f]{32})", text).group(1)
    finally:
        pr.close()
    assert_rm_gone(rk, [mid])


def test_detached_os_container(rk):
    ref = rk.refs["systemd"]
    cp = rk.ok("run", "-d", "--name", "web", ref, timeout=120)
    cid = cp.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    info = [c for c in rk.ps() if c["Names"] == ["web"]][0]
    assert info["State"] == "running"
    pid1 = info["Pid"]
    assert pid_alive(pid1)
    # booted when run -d returns: exec finds it running
    assert rk.ok("exec", "web", "systemctl", "is-system-running").stdout == "running\n"
    cp = rk.ok("exec", "web", "hostnamectl")
    assert OS_NAME in cp.stdout and cid[:12] in cp.stdout
    assert rk.ok("exec", "web", "cat", "/etc/machine-id").stdout.strip() == cid[:32]
    cp = rk.ok("exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", "echo $X $(pwd) $LANG")
    assert cp.stdout == "1 /tmp C.UTF-8\n"
    cp = rk.run("exec", "-i", "web", "sh", "-c", "cat; exit 3", input="in\n")
    assert cp.returncode == 3 and cp.stdout == "in\n"
    # the console is the log
    logs = rk.ok("logs", "web").stdout.replace("\r", "")
    assert "Welcome to" in logs and "Reached target" in logs
    # an orderly halt, well within the timeout
    t0 = time.monotonic()
    rk.ok("stop", "-t", "20", "web", timeout=60)
    assert time.monotonic() - t0 < 10
    info = [c for c in rk.ps("-a") if c["Names"] == ["web"]][0]
    assert info["State"] == "exited" and info["ExitCode"] == 0
    assert not pid_alive(pid1)
    logs = rk.ok("logs", "web").stdout.replace("\r", "")
    assert "Halting system" in logs or "Reached target" in logs.split("Stopping")[-1], logs[-2000:]
    rk.ok("rm", "web")
    assert [c for c in rk.ps("-a") if c["Names"] == ["web"]] == []
    assert_gone([cid])


def test_stop_kills_after_timeout(rk):
    """A system that does not halt (SIGRTMIN+3 blocked by a wrong
    --stop-signal choice here: SIGUSR2, which systemd ignores) is killed
    after -t."""
    cid = rk.ok("run", "-d", "--stop-signal", "USR2", rk.refs["systemd"], timeout=120).stdout.strip()
    t0 = time.monotonic()
    rk.ok("stop", "-t", "1", cid, timeout=60)
    dt = time.monotonic() - t0
    assert 1 <= dt < 8, dt
    info = [c for c in rk.ps("-a") if c["Id"] == cid][0]
    assert info["State"] == "exited" and info["ExitCode"] == 137
    rk.ok("rm", cid)
    assert_gone([cid])


def test_kept_container_is_halted_after_its_payload(rk):
    """Without --rm the system gets SIGRTMIN+3 after the payload and halts
    in order; the payload's status is the result."""
    cp = rk.run("run", "--name", "kept", rk.refs["systemd"], "sh", "-c",
                "echo MID=$(cat /etc/machine-id); exit 5", timeout=120)
    assert cp.returncode == 5, cp.stderr
    mid = machine_id(cp.stdout)
    logs = rk.ok("logs", "kept").stdout.replace("\r", "")
    assert "Halting system" in logs, logs[-2000:]
    info = [c for c in rk.ps("-a") if c["Names"] == ["kept"]][0]
    assert info["State"] == "exited" and info["ExitCode"] == 5
    rk.ok("rm", "kept")
    assert_gone([mid])


def test_four_boot_in_parallel(rk):
    ref = rk.refs["systemd"]
    procs = [rk.popen("run", "--rm", ref, "sh", "-c",
                      "echo MID=$(cat /etc/machine-id); echo HOST=$(hostname); "
                      "systemctl is-system-running") for _ in range(4)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out)
    mids = [machine_id(o) for o in outs]
    hosts = [re.search(r"HOST=(\S+)", o).group(1) for o in outs]
    assert len(set(mids)) == 4 and len(set(hosts)) == 4
    for mid, host, out in zip(mids, hosts, outs):
        assert host == mid[:12]
        assert out.endswith("running\n"), out
    assert_rm_gone(rk, mids)


def test_broken_image_fails_within_boot_timeout(rk):
    t0 = time.monotonic()
    cp = rk.run("run", "--rm", "--boot-timeout", "3", rk.refs["broken"], "true", timeout=60)
    dt = time.monotonic() - t0
    assert cp.returncode == 125
    assert 3 <= dt < 6, dt
    assert "did not report ready (READY=1) within 3 s" in cp.stderr, cp.stderr
    # the last lines of its console
    assert "fake init: starting up" in cp.stderr and "fake init: never ready" in cp.stderr
    assert rk.records() == []
    assert [d for d in os.listdir(rk.runroot) if len(d) == 64] == []
    # detached: the same error reaches `run -d`, nothing stays
    cp = rk.run("run", "-d", "--name", "never", "--boot-timeout", "2", rk.refs["broken"],
                timeout=60)
    assert cp.returncode == 125 and "did not report ready" in cp.stderr
    assert [c for c in rk.ps("-a") if c["Names"] == ["never"]] == []
    assert not processes_of_cmd("fake init")
    assert rk.run("run", "--rm", "--boot-timeout", "0", rk.refs["systemd"]).returncode == 125


def processes_of_cmd(word):
    """Host processes running the broken image's init (sleep 3600 under a
    racker cgroup)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{p}/cgroup") as f:
                cg = f.read()
        except OSError:
            continue
        if cmd.startswith("sleep 3600") and "/racker-" in cg:
            found.append(int(p))
    return found


def test_boot_modes(rk):
    sysd, bb, minbase = rk.refs["systemd"], rk.refs["busybox"], rk.refs["minbase"]
    # no: the command is PID 1 itself, even on the systemd image
    cp = rk.run("run", "--rm", "--boot=no", sysd, "cat", "/proc/1/comm")
    assert cp.returncode == 0 and cp.stdout == "cat\n"
    # auto on an application image (no os-release, no systemd): run directly
    cp = rk.run("run", "--rm", bb, "cat", "/proc/1/comm")
    assert cp.returncode == 0 and cp.stdout == "cat\n"
    # yes where booting is impossible: a clear error
    cp = rk.run("run", "--rm", "--boot=yes", bb, "true")
    assert cp.returncode == 125 and "cannot boot" in cp.stderr and "no systemd" in cp.stderr
    # yes on the systemd image boots
    cp = rk.run("run", "--rm", "--boot=yes", sysd, "cat", "/proc/1/comm")
    assert cp.returncode == 0 and cp.stdout == "systemd\n", cp.stderr
    # the minbase image without systemd runs directly with --boot=no
    cp = rk.run("run", "--rm", "--boot=no", minbase, "cat", "/proc/1/comm")
    assert cp.returncode == 0 and cp.stdout == "cat\n"
    assert rk.run("run", "--rm", "--boot=maybe", sysd, "true").returncode == 125


def test_racker_killed_while_booted(rk):
    """A supervisor that dies takes its OS container with it (parent-death
    signal); ps shows it exited and rm removes what is left."""
    p = rk.popen("run", "--name", "orphan", rk.refs["systemd"], "sleep", "600")
    assert wait_for(lambda: any(c["Names"] == ["orphan"] and c["State"] == "running"
                                for c in rk.ps()), timeout=60)
    info = [c for c in rk.ps() if c["Names"] == ["orphan"]][0]
    # running means booted: the payload runs
    assert wait_for(lambda: "sleep" in rk.run("exec", "orphan", "sh", "-c",
                                              "cat /proc/[0-9]*/comm").stdout.split(), timeout=30)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert wait_for(lambda: not pid_alive(info["Pid"]), timeout=30)
    assert wait_for(lambda: [c["State"] for c in rk.ps("-a") if c["Names"] == ["orphan"]]
                    == ["exited"], timeout=30)
    assert wait_for(lambda: not processes_of(info["Id"]), timeout=20)
    rk.ok("rm", "orphan")
    assert_gone([info["Id"]])


def test_device_policy(rk):
    """An OS container holds CAP_SYS_ADMIN, so nodev mounts cannot keep it
    from a device node its image ships: it can remount. The device policy
    on its cgroup does: only null, zero, full, random, urandom, tty,
    console, ptmx and its ptys open; no node can be made, even with
    --cap-add MKNOD, but for the allowed ones."""
    script = r"""
echo MID=$(cat /etc/machine-id)
mount -o remount,dev / && echo REMOUNTED
head -c1 /nodes/null >/dev/null && echo NULL_OK
(exec 3<>/nodes/loop-control) 2>/dev/null && echo LOOPCTL_OPENED || echo LOOPCTL_REFUSED
mkdir -p /mnt/d && mount -t tmpfs none /mnt/d
mknod /mnt/d/disk b 8 0 2>/dev/null && echo BLOCK_MADE || echo BLOCK_REFUSED
mknod /mnt/d/zero c 1 5 && head -c1 /mnt/d/zero | od -An -tx1
echo ok > /dev/console && echo CONSOLE_OK
"""
    cp = rk.run("run", "--rm", "--cap-add", "MKNOD", rk.refs["quirks"], "sh", "-c", script,
                timeout=120)
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout
    assert "REMOUNTED\n" in out  # what makes the policy necessary
    assert "NULL_OK\n" in out and "LOOPCTL_REFUSED\n" in out, out
    assert "BLOCK_REFUSED\n" in out and " 00\n" in out, out
    assert "CONSOLE_OK\n" in out
    # without --cap-add MKNOD no node can be made at all
    cp = rk.run("run", "--rm", rk.refs["systemd"], "sh", "-c",
                "echo MID=$(cat /etc/machine-id); mknod /tmp/n c 1 3 || echo REFUSED")
    assert "REFUSED" in cp.stdout, cp.stdout + cp.stderr
    assert_rm_gone(rk, [machine_id(out), machine_id(cp.stdout)])


def test_machine_id_of_each_container(rk):
    """Without /etc/machine-id and with a D-Bus machine ID in the image,
    two containers still boot (no first boot) and each is its own machine:
    /etc/machine-id and D-Bus's both come from container_uuid."""
    ref = rk.refs["quirks"]
    outs = []
    for _ in range(2):
        cp = rk.run("run", "--rm", "--boot-timeout", "20", ref, "sh", "-c",
                    "echo MID=$(cat /etc/machine-id); echo DBUS=$(cat /var/lib/dbus/machine-id); "
                    "systemctl is-system-running", timeout=120)
        assert cp.returncode == 0, cp.stderr
        outs.append(cp.stdout)
    mids = [machine_id(o) for o in outs]
    assert mids[0] != mids[1]
    for mid, out in zip(mids, outs):
        assert f"DBUS={mid}\n" in out, out
        assert out.endswith("running\n"), out
    assert_rm_gone(rk, mids)


def test_console_in_the_foreground(rk):
    """No command: the console is the caller's (as with systemd-nspawn -b),
    up to the login prompt; SIGINT or SIGTERM to racker halts the system
    in order (they would reboot or re-execute systemd), and a halt ends
    racker with status 0."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        p = subprocess.Popen(rk.argv("run", "--rm", rk.refs["systemd"]), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        fd = p.stdout.fileno()
        raw = b""
        deadline = time.monotonic() + 60
        while b"login:" not in raw and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                raw += chunk
        out = raw.decode(errors="replace")
        assert "login:" in out, out[-2000:]
        assert "Welcome to" in out
        cid = [d for d in os.listdir(rk.runroot) if len(d) == 64]
        assert len(cid) == 1
        p.send_signal(sig)
        rest, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        rest = rest.decode(errors="replace")
        assert "Halting system" in rest.replace("\r", ""), rest[-2000:]
        assert_gone(cid)
