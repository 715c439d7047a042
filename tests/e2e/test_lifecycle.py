"""Detached containers and their lifecycle: run -d, ps, logs, exec, stop,
rm, unique names, and state that stays consistent when racker is killed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rtkit  # noqa: E402
from rtkit import PtyRun, Racker, mount_points, new_mounts, pid_alive, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def rootfs():
    d = tempfile.mkdtemp(prefix="racker-rt-rootfs-", dir="/tmp")
    rtkit.build_rootfs(os.path.join(d, "root"))
    yield os.path.join(d, "root")
    subprocess.run(["rm", "-rf", d])


@pytest.fixture(scope="module")
def host_mounts_at_start():
    before = mount_points()
    yield before
    # After every test of the module: the host's mount table as it was.
    assert new_mounts(before, mount_points()) == []


@pytest.fixture
def rk(racker_bin, host_mounts_at_start):
    before = mount_points()
    r = Racker(racker_bin)
    yield r
    r.cleanup()
    assert new_mounts(before, mount_points()) == []


def detach(rk, rootfs, *args):
    if "--" in args:
        i = args.index("--")
        opts, cmd = args[:i], args[i + 1:]
    else:
        opts, cmd = (), args
    cp = rk.ok("run", "-d", *opts, "--rootfs", rootfs, *cmd)
    cid = cp.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cp.stdout
    return cid


def by_name(rk, name, all_=True):
    found = [c for c in rk.ps(*(["-a"] if all_ else [])) if c["Names"] == [name]]
    return found[0] if found else None


def test_detached_run_ps_logs(rk, rootfs):
    cid = detach(rk, rootfs, "--name", "web", "--", "sh", "-c",
                 "echo out-line; echo err-line >&2; exec sleep 60")
    c = by_name(rk, "web", all_=False)
    assert c and c["Id"] == cid and c["State"] == "running"
    assert c["Command"] == ["sh", "-c", "echo out-line; echo err-line >&2; exec sleep 60"]
    assert pid_alive(c["Pid"])
    assert rk.ok("ps", "-q").stdout.split() == [cid[:12]]
    assert rk.ok("ps", "-q", "--no-trunc").stdout.split() == [cid]
    table = rk.ok("ps").stdout
    assert "web" in table and "Up " in table and cid[:12] in table
    assert wait_for(lambda: "out-line" in rk.ok("logs", "web").stdout)
    logs = rk.run("logs", "web")
    assert logs.stdout == "out-line\n" and logs.stderr == "err-line\n"
    assert rk.ok("logs", cid[:12]).stdout == "out-line\n"
    # the detached supervisor does not keep the caller's stdout open: the
    # `run -d` above returned although the container still runs
    rk.ok("stop", "-t", "1", "web")
    c = by_name(rk, "web")
    assert c["State"] == "exited" and c["ExitCode"] == 137  # sh as PID 1 ignores TERM
    assert by_name(rk, "web", all_=False) is None
    assert not pid_alive(c["Pid"]) if c["Pid"] else True
    rk.ok("rm", "web")
    assert by_name(rk, "web") is None
    assert rk.records() == []


def test_logs_follow_and_tail(rk, rootfs):
    gate = tempfile.mkdtemp(prefix="racker-logs-gate-", dir="/tmp")
    try:
        # the container prints a line, then waits for the test before the next
        script = ("for i in 1 2 3; do echo out$i; echo err$i >&2; done; "
                  "while [ ! -e /gate/go ]; do sleep 0.05; done; "
                  "echo out-late; echo err-late >&2; sleep 0.3")
        detach(rk, rootfs, "--name", "chatty", "-v", f"{gate}:/gate", "--", "sh", "-c", script)
        assert wait_for(lambda: rk.ok("logs", "chatty").stdout == "out1\nout2\nout3\n")
        # --tail: the last lines of each stream
        cp = rk.ok("logs", "--tail", "2", "chatty")
        assert cp.stdout == "out2\nout3\n" and cp.stderr == "err2\nerr3\n"
        cp = rk.ok("logs", "-n", "0", "chatty")
        assert cp.stdout == "" and cp.stderr == ""
        assert rk.ok("logs", "-n", "99", "chatty").stdout == "out1\nout2\nout3\n"
        assert rk.ok("logs", "--tail", "all", "chatty").stdout == "out1\nout2\nout3\n"
        cp = rk.run("logs", "--tail", "-1", "chatty")
        assert cp.returncode == 125 and "--tail" in cp.stderr
        # -f: what is there, then what comes, and it ends when the container does
        p = rk.popen("logs", "-f", "--tail", "1", "chatty")
        time.sleep(0.5)
        assert p.poll() is None  # still following
        open(os.path.join(gate, "go"), "w").close()
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0
        assert out == "out3\nout-late\n" and err == "err3\nerr-late\n"
        assert by_name(rk, "chatty")["State"] == "exited"
        # -f on an exited container prints it all and returns
        cp = rk.run("logs", "-f", "chatty", timeout=10)
        assert cp.returncode == 0 and cp.stdout == "out1\nout2\nout3\nout-late\n"
        rk.ok("rm", "chatty")
    finally:
        subprocess.run(["rm", "-rf", gate])


def test_inspect_container(rk, rootfs):
    vol = tempfile.mkdtemp(prefix="racker-inspect-vol-", dir="/tmp")
    try:
        cid = detach(rk, rootfs, "--name", "insp", "-e", "K=v", "-w", "/tmp", "-m", "64m",
                     "--pids-limit", "40", "-v", f"{vol}:/data:ro", "--tmpfs", "/scratch",
                     "--hostname", "insphost", "--network", "none", "--", "sleep", "60")
        [j] = json.loads(rk.ok("inspect", "insp").stdout)
        assert j["Id"] == cid and j["Name"] == "/insp"
        assert j["Path"] == "sleep" and j["Args"] == ["60"]
        st = j["State"]
        assert st["Status"] == "running" and st["Running"] is True and st["ExitCode"] == 0
        assert st["Pid"] == by_name(rk, "insp")["Pid"] and pid_alive(st["Pid"])
        assert st["StartedAt"] and st["FinishedAt"] is None
        c = j["Config"]
        assert "K=v" in c["Env"] and c["WorkingDir"] == "/tmp" and c["Hostname"] == "insphost"
        h = j["HostConfig"]
        assert h["Memory"] == 64 << 20 and h["PidsLimit"] == 40 and h["NetworkMode"] == "none"
        assert {"Type": "bind", "Source": vol, "Destination": "/data", "RW": False} in j["Mounts"]
        assert {"Type": "tmpfs", "Source": "", "Destination": "/scratch", "RW": True} in j["Mounts"]
        # by ID prefix too, and several at once
        assert json.loads(rk.ok("inspect", cid[:12]).stdout)[0]["Id"] == cid
        rk.ok("stop", "-t", "0", "insp")
        [j] = json.loads(rk.ok("inspect", "--type", "container", cid).stdout)
        assert j["State"]["Status"] == "exited" and j["State"]["Running"] is False
        assert j["State"]["ExitCode"] == 137 and j["State"]["FinishedAt"]
        # a name that is neither: [] on stdout, one error line, 125
        cp = rk.run("inspect", "insp", "no-such-thing")
        assert cp.returncode == 125
        assert [x["Id"] for x in json.loads(cp.stdout)] == [cid]
        assert cp.stderr.strip().count("\n") == 0 and "no-such-thing" in cp.stderr
        cp = rk.run("inspect", "--type", "image", "insp")
        assert cp.returncode == 125 and json.loads(cp.stdout) == []
        assert rk.run("inspect", "--type", "volume", "insp").returncode == 125
        rk.ok("rm", "insp")
    finally:
        subprocess.run(["rm", "-rf", vol])


def test_stop_uses_the_stop_signal(rk, rootfs):
    detach(rk, rootfs, "--name", "trap", "--", "rk-helper", "trap")
    t0 = time.monotonic()
    rk.ok("stop", "-t", "20", "trap")
    assert time.monotonic() - t0 < 10
    c = by_name(rk, "trap")
    assert c["ExitCode"] == 100 + signal.SIGTERM
    detach(rk, rootfs, "--name", "trap2", "--stop-signal", "USR1", "--", "rk-helper", "trap")
    rk.ok("stop", "trap2")
    assert by_name(rk, "trap2")["ExitCode"] == 100 + signal.SIGUSR1
    # stopping a stopped container is fine
    rk.ok("stop", "trap")
    assert rk.run("stop", "nosuch").returncode == 125


def test_exec(rk, rootfs):
    cid = detach(rk, rootfs, "--name", "box", "--hostname", "boxhost", "-e", "RUNVAR=r",
                 "-w", "/srv", "--", "sleep", "60")
    init_pid = by_name(rk, "box")["Pid"]
    cp = rk.ok("exec", "box", "sh", "-c", "hostname; pwd; echo $RUNVAR; cat /proc/1/cmdline | tr '\\0' ' '")
    lines = cp.stdout.splitlines()
    assert lines[0] == "boxhost"
    assert lines[1] == "/srv"
    assert lines[2] == "r"
    assert lines[3].strip() == "sleep 60"  # the container's PID 1: same PID namespace
    # the same namespaces and cgroup as the container's init
    cp = rk.ok("exec", "box", "sh", "-c", "for n in mnt pid uts ipc cgroup; do "
                                          "readlink /proc/self/ns/$n; done")
    want = [os.readlink(f"/proc/{init_pid}/ns/{n}") for n in ("mnt", "pid", "uts", "ipc", "cgroup")]
    assert cp.stdout.split() == want
    cp = rk.ok("exec", "box", "rk-helper", "pid")
    pid_in = int(cp.stdout.split()[0].split("=")[1])
    assert pid_in > 1
    # -e, -w, -u
    cp = rk.ok("exec", "-e", "X=1", "-w", "/tmp", "-u", "alice", "box", "sh", "-c",
               "echo $X $RUNVAR; pwd; id -u")
    assert cp.stdout.split() == ["1", "r", "/tmp", "1000"]
    # capabilities and seccomp as in the container
    caps = rk.ok("exec", "box", "rk-helper", "caps").stdout
    assert "NoNewPrivs:\t1" in caps and "Seccomp:\t2" in caps
    assert "CapEff:\t00000000a80425fb" in caps
    # exit codes, stdin
    assert rk.run("exec", "box", "sh", "-c", "exit 9").returncode == 9
    assert rk.run("exec", "box", "no-such-cmd").returncode == 127
    assert rk.run("exec", "box", "/etc/not-executable").returncode == 126
    cp = rk.run("exec", "-i", "box", "cat", input="through exec\n")
    assert cp.stdout == "through exec\n"
    cp = rk.run("exec", "box", "cat", input="not forwarded\n")
    assert cp.stdout == ""
    # a pty
    t = PtyRun(rk.argv("exec", "-it", "box", "rk-helper", "tty"), rows=25, cols=90)
    try:
        assert t.wait() == 0
        assert "tty=/dev/pts/" in t.text() and "rows=25 cols=90" in t.text()
        assert t.termios_now() == t.saved
    finally:
        t.close()
    # the exec'd process ends with the container
    p = rk.popen("exec", "box", "sleep", "60")
    time.sleep(0.3)
    rk.ok("stop", "-t", "0", "box")
    assert p.wait(timeout=20) == 137
    # not running: exec refuses
    cp = rk.run("exec", "box", "true")
    assert cp.returncode == 125 and "not running" in cp.stderr
    rk.ok("rm", cid)


def test_exec_detached(rk, rootfs):
    detach(rk, rootfs, "--name", "bg", "--", "sleep", "60")
    init_pid = by_name(rk, "bg")["Pid"]
    # returns at once, exit 0, and the command keeps running after racker is gone
    t0 = time.monotonic()
    cp = rk.ok("exec", "-d", "bg", "sh", "-c",
               "echo started > /tmp/mark; sleep 2; echo finished >> /tmp/mark")
    assert time.monotonic() - t0 < 1.5
    assert cp.stdout == "" and cp.stderr == ""
    assert wait_for(lambda: rk.run("exec", "bg", "cat", "/tmp/mark").stdout == "started\n", 5)
    # it lives in the container's PID namespace
    cp = rk.ok("exec", "bg", "sh", "-c", "ps -o args | grep -c '^sleep 2$' || true")
    assert cp.stdout.strip() == "1"
    assert wait_for(lambda: rk.run("exec", "bg", "cat", "/tmp/mark").stdout ==
                    "started\nfinished\n", 10)
    # its output goes nowhere, not into racker's streams or the log
    cp = rk.ok("exec", "-d", "bg", "sh", "-c", "echo out; echo err >&2")
    assert cp.stdout == "" and cp.stderr == ""
    time.sleep(0.3)
    assert rk.ok("logs", "bg").stdout == ""
    # a command that cannot run is still reported, with its status
    cp = rk.run("exec", "-d", "bg", "no-such-cmd")
    assert cp.returncode == 127 and "no-such-cmd" in cp.stderr
    # -d with -t is refused as bad usage
    cp = rk.run("exec", "-d", "-t", "bg", "true")
    assert cp.returncode == 125 and "-t" in cp.stderr
    # a detached command ends with its container
    rk.ok("exec", "-d", "bg", "sleep", "300")
    time.sleep(0.3)
    sleepers = [p for p in os.listdir("/proc") if p.isdigit() and
                _cmdline(p) == ["sleep", "300"]]
    assert len(sleepers) == 1
    rk.ok("stop", "-t", "0", "bg")
    assert wait_for(lambda: not pid_alive(int(sleepers[0])), 10)
    assert not pid_alive(init_pid)
    rk.ok("rm", "bg")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def test_rm_running_needs_force(rk, rootfs):
    cid = detach(rk, rootfs, "--name", "busy", "--memory", "64m", "--", "sleep", "60")
    cgroups = rk.state(cid)["cgroups"]
    assert cgroups and all(os.path.isdir(d) for d in cgroups)
    cp = rk.run("rm", "busy")
    assert cp.returncode == 125 and "running" in cp.stderr
    pid = by_name(rk, "busy")["Pid"]
    rk.ok("rm", "-f", "busy")
    assert by_name(rk, "busy") is None
    assert not pid_alive(pid)
    assert not any(os.path.exists(d) for d in cgroups)
    assert not os.path.exists(os.path.join(rk.runroot, cid))
    assert rk.run("rm", "busy").returncode == 125


def test_names_unique(rk, rootfs):
    detach(rk, rootfs, "--name", "only", "--", "sleep", "60")
    cp = rk.run("run", "-d", "--name", "only", "--rootfs", rootfs, "true")
    assert cp.returncode == 125 and "already in use" in cp.stderr
    cp = rk.run("run", "--rm", "--name", "only", "--rootfs", rootfs, "true")
    assert cp.returncode == 125
    assert len(rk.ps("-a")) == 1
    assert rk.run("run", "--name", "bad/name", "--rootfs", rootfs, "true").returncode == 125
    rk.ok("rm", "-f", "only")
    rk.ok("run", "--rm", "--name", "only", "--rootfs", rootfs, "true")  # free again


def test_detached_rm_cleans_itself(rk, rootfs):
    detach(rk, rootfs, "--rm", "--name", "temp", "--", "sleep", "60")
    assert by_name(rk, "temp")["State"] == "running"
    rk.ok("stop", "-t", "0", "temp")
    assert wait_for(lambda: by_name(rk, "temp") is None)
    assert rk.records() == []


def test_detached_tty_and_stdin(rk, rootfs):
    detach(rk, rootfs, "-t", "--name", "ttybox", "--", "sh", "-c", "rk-helper isatty; sleep 60")
    assert wait_for(lambda: "stdin=1" in rk.ok("logs", "ttybox").stdout)
    # -di keeps stdin open (never EOF): cat keeps running
    detach(rk, rootfs, "-i", "--name", "catbox", "--", "cat")
    time.sleep(0.3)
    assert by_name(rk, "catbox")["State"] == "running"
    rk.ok("rm", "-f", "ttybox", "catbox")


def test_supervisor_killed_foreground(rk, rootfs):
    before = mount_points()
    p = rk.popen("run", "--name", "orphan", "--rootfs", rootfs, "sleep", "60")
    c = wait_for(lambda: (by_name(rk, "orphan") or {}).get("State") == "running" and by_name(rk, "orphan"))
    assert c
    pid = c["Pid"]
    cid = c["Id"]
    cgroups = rk.state(cid)["cgroups"]
    p.kill()  # SIGKILL: no cleanup in racker at all
    p.wait()
    # the container dies with its supervisor (parent death signal)
    assert wait_for(lambda: not pid_alive(pid))
    c = by_name(rk, "orphan")
    assert c["State"] == "exited"
    assert "supervisor died" in rk.ok("ps", "-a").stdout
    assert new_mounts(before, mount_points()) == []
    rk.ok("rm", "orphan")
    assert not any(os.path.exists(d) for d in cgroups)
    assert rk.records() == []
    assert not os.path.exists(os.path.join(rk.runroot, cid))


def test_supervisor_killed_detached(rk, rootfs):
    cid = detach(rk, rootfs, "--name", "dsup", "--", "sleep", "60")
    st = rk.state(cid)
    os.kill(st["supervisor"], signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(st["pid"]))
    assert by_name(rk, "dsup")["State"] == "exited"
    # a --rm container whose supervisor died can still be removed
    cid2 = detach(rk, rootfs, "--rm", "--name", "dsup2", "--", "sleep", "60")
    st2 = rk.state(cid2)
    os.kill(st2["supervisor"], signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(st2["pid"]))
    assert by_name(rk, "dsup2")["State"] == "exited"
    rk.ok("rm", "dsup", "dsup2")
    assert rk.records() == []


def test_ps_json_and_all(rk, rootfs):
    assert rk.run("run", "--name", "done", "--rootfs", rootfs, "rk-helper", "exit", "3").returncode == 3
    detach(rk, rootfs, "--name", "live", "--", "sleep", "60")
    running = rk.ps()
    assert [c["Names"][0] for c in running] == ["live"]
    everything = {c["Names"][0]: c for c in rk.ps("-a")}
    assert set(everything) == {"done", "live"}
    assert everything["done"]["State"] == "exited" and everything["done"]["ExitCode"] == 3
    assert everything["live"]["State"] == "running"
    for c in everything.values():
        assert re.fullmatch(r"[0-9a-f]{64}", c["Id"])
        assert c["Image"] == rootfs
    assert "Exited (3)" in rk.ok("ps", "-a").stdout
    rk.ok("rm", "-f", "done", "live")


def test_state_files(rk, rootfs):
    cid = detach(rk, rootfs, "--name", "st", "--", "sleep", "60")
    rec = rk.record(cid)
    for k in ("id", "name", "image_id", "image_ref", "created", "command"):
        assert k in rec
    assert rec["id"] == cid and rec["name"] == "st" and rec["image_id"] is None
    st = rk.state(cid)
    assert st["status"] == "running" and pid_alive(st["pid"]) and pid_alive(st["supervisor"])
    rk.ok("stop", "-t", "0", "st")
    st = rk.state(cid)
    assert st["status"] == "exited" and st["exit_code"] == 137
    rk.ok("rm", "st")
