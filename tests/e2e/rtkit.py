"""Helpers for the runtime's end-to-end tests (test_run.py, test_lifecycle.py).

A tiny root file system (busybox-static from Debian plus the static
rk-helper built by meson) serves most checks, through `racker run --rootfs`;
image tests use the busybox and Debian images of the local registry. Each
test gets its own store and --runroot under /tmp/racker-rt-*.
"""

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUSYBOX = "/usr/bin/busybox"  # Debian's busybox-static

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n")
GROUP = ("root:x:0:\n"
         "nogroup:x:65534:\n"
         "alice:x:1000:\n"
         "staff:x:50:alice\n"
         "audio:x:29:alice\n")


def helper_path():
    env = os.environ.get("RK_HELPER_BIN")
    if env:
        return env
    racker = os.environ.get("RACKER_BIN") or os.path.join(REPO, "build", "racker")
    return os.path.join(os.path.dirname(racker), "tests", "helper", "rk-helper")


def build_rootfs(path):
    """busybox with its applets, rk-helper, passwd/group with root, nobody,
    alice (1000, also in staff and audio)."""
    helper = helper_path()
    if not os.access(helper, os.X_OK):
        raise RuntimeError(f"rk-helper not found at {helper}: build it (ninja) or set RK_HELPER_BIN")
    if not os.access(BUSYBOX, os.X_OK):
        raise RuntimeError("busybox-static is not installed (make deps)")
    for d in ("bin", "etc", "root", "home/alice", "tmp", "usr/bin", "sbin", "usr/sbin"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    os.chmod(os.path.join(path, "root"), 0o700)
    os.chown(os.path.join(path, "home/alice"), 1000, 1000)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin/busybox"))
    shutil.copy2(helper, os.path.join(path, "bin/rk-helper"))
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        dst = os.path.join(path, a)
        if not os.path.lexists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink("/bin/busybox", dst)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write(GROUP)
    with open(os.path.join(path, "etc/not-executable"), "w") as f:
        f.write("plain text\n")
    return path


def mount_points():
    """Mount points of this mount namespace (what the host sees)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)


# Temporary trees of other fixtures (pull tests running in the same
# session mount images there on purpose).
FOREIGN = ("/tmp/racker-store-", "/tmp/racker-umoci-", "/tmp/racker-registry-")


def new_mounts(before, after):
    b = set(before)
    return [m for m in after if m not in b and not m.startswith(FOREIGN)]


class Racker:
    """One store and runtime directory, and ways to run racker on them."""

    def __init__(self, binary, root=None):
        self.binary = binary
        self.base = tempfile.mkdtemp(prefix="racker-rt-", dir="/tmp")
        self.root = root or os.path.join(self.base, "store")
        self.runroot = os.path.join(self.base, "run")

    def argv(self, *args):
        return [self.binary, "--root", self.root, "--runroot", self.runroot, *map(str, args)]

    def run(self, *args, input=None, timeout=60, env=None, stdin=None):
        full = dict(os.environ)
        full.update(env or {})
        if stdin is None and input is None:
            stdin = subprocess.DEVNULL
        return subprocess.run(self.argv(*args), input=input, capture_output=True,
                              timeout=timeout, env=full, stdin=stdin,
                              text=not isinstance(input, bytes))

    def ok(self, *args, **kw):
        cp = self.run(*args, **kw)
        assert cp.returncode == 0, (f"racker {' '.join(map(str, args))}: exit {cp.returncode}\n"
                                    f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def popen(self, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.argv(*args), text=True, **kw)

    def containers_dir(self):
        return os.path.join(self.root, "containers")

    def records(self):
        d = self.containers_dir()
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def ps(self, *args):
        return json.loads(self.ok("ps", "--format", "json", *args).stdout)

    def state(self, cid):
        with open(os.path.join(self.runroot, cid, "state.json")) as f:
            return json.load(f)

    def record(self, cid):
        with open(os.path.join(self.containers_dir(), cid, "container.json")) as f:
            return json.load(f)

    def cleanup(self):
        # Containers a failed test left running.
        if os.path.isdir(self.containers_dir()):
            for cid in os.listdir(self.containers_dir()):
                self.run("rm", "-f", cid, timeout=30)
        subprocess.run(["umount", "-R", self.base], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class PtyRun:
    """racker on a pty of our own (as a user's terminal would be)."""

    def __init__(self, argv, rows=40, cols=100):
        self.master, slave = pty.openpty()
        self.set_winsize(rows, cols, fd=slave)
        self.slave = slave
        self.saved = termios.tcgetattr(slave)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.out = b""

    def set_winsize(self, rows, cols, fd=None):
        fcntl.ioctl(self.slave if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def read_until(self, needle, timeout=10):
        end = time.monotonic() + timeout
        while needle.encode() not in self.out and time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    break
                if not data:
                    break
                self.out += data
        return needle.encode() in self.out

    def write(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def termios_now(self):
        return termios.tcgetattr(self.slave)

    def wait(self, timeout=20):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.read_until("\0never\0", timeout=0.05)
        rc = self.proc.wait(timeout=max(0.1, end - time.monotonic()))
        self.read_until("\0never\0", timeout=0.2)
        return rc

    def text(self):
        return self.out.decode(errors="replace").replace("\r\n", "\n")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)
