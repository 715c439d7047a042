"""Provisioning (issue 4, section 4): systemd, curl and wget installed into an
OS image that lacks them, with the image's own package manager, stored as a
derived image keyed by the base image and the recipe.

These tests provision the Debian minbase image (`debian:bookworm` of the test
bed registry, whose apt sources point at the host's Debian mirror) for real.
They drive src/runtime/provision.h through tests/helper/rk-provision, a TEST
DRIVER (not a product command), plus `racker run` for the wired-up CLI path.

Binaries: $RACKER_BIN (default build/racker) and $RK_PROVISION_BIN (default
tests/helper/rk-provision next to it).
"""

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures"))
import testbed as tbmod  # noqa: E402
from rtkit import mount_points, new_mounts  # noqa: E402

APT_UPDATE = "+ apt-get -q -o Acquire::Languages=none update"
DERIVED_PREFIX = "localhost/racker-provisioned/"


@pytest.fixture(scope="module")
def rk_provision(racker_bin):
    path = os.environ.get("RK_PROVISION_BIN") or os.path.join(
        os.path.dirname(racker_bin), "tests", "helper", "rk-provision")
    if not os.access(path, os.X_OK):
        pytest.fail(f"rk-provision not found at {path}: build it (ninja) or set RK_PROVISION_BIN")
    return path


class Env:
    """One store and runroot, and the commands on them."""

    def __init__(self, racker_bin, rk_provision, store):
        self.racker_bin, self.driver, self.store = racker_bin, rk_provision, store
        self.rundir = tempfile.mkdtemp(prefix="racker-prov-run-", dir="/tmp")

    def racker(self, *args, timeout=300, check=True):
        cp = subprocess.run([self.racker_bin, "--root", self.store, "--runroot", self.rundir,
                             *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"racker {args}: {cp.returncode}\n{cp.stdout}\n{cp.stderr}")
        return cp

    def provision_cmd(self, *args):
        return [self.driver, "--root", self.store, "--runroot", self.rundir, *args]

    def provision(self, *args, timeout=600):
        return subprocess.run(self.provision_cmd(*args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def images(self):
        return json.loads(self.racker("images", "--format", "json").stdout)

    def inspect(self, ref):
        return json.loads(self.racker("inspect", ref).stdout)[0]

    def containers(self):
        return sorted(os.listdir(os.path.join(self.store, "containers")))

    def index_entries(self):
        with open(os.path.join(self.store, "index.json")) as f:
            return json.load(f)["manifests"]

    def cleanup(self):
        subprocess.run(["rm", "-rf", self.rundir])


@pytest.fixture
def env(racker_bin, rk_provision, store):
    before = mount_points()
    e = Env(racker_bin, rk_provision, store)
    yield e
    e.cleanup()
    assert new_mounts(before, mount_points()) == []


def pkg_lines(stderr):
    """The package manager's lines as the driver prints them (on_line)."""
    return [line[2:] for line in stderr.splitlines() if line.startswith("| ")]


def check_made(cp):
    assert cp.returncode == 0, cp.stderr[-3000:]
    m = re.fullmatch(r"(made|found) (sha256:[0-9a-f]{64}) (\S+)\n", cp.stdout)
    assert m, cp.stdout
    return m.group(1), m.group(2), m.group(3)


def listing(path):
    """Entries of a directory; [] when it does not exist."""
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def layer_names(blob_path):
    """Names in a gzip tar blob, and the sha256 of the tar (its diff_id)."""
    h = hashlib.sha256()
    with gzip.open(blob_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with tarfile.open(blob_path, "r:gz") as t:
        names = {m.name.lstrip("./").rstrip("/"): m for m in t.getmembers()}
    return names, "sha256:" + h.hexdigest()


def test_provision_debian_minbase(env, registry):
    base_ref = f"{registry.host}/debian:bookworm"
    env.racker("pull", base_ref)
    base = env.inspect(base_ref)

    # What would run: Debian, apt-get, the commands of the recipe.
    cp = env.provision("inspect", base_ref)
    assert cp.returncode == 0, cp.stderr
    plan = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line
                and not line.startswith("command="))
    commands = [line[len("command="):] for line in cp.stdout.splitlines()
                if line.startswith("command=")]
    assert plan["kind"] == "ready"
    assert plan["family"] == "debian"
    assert plan["tool"] == "apt-get"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", plan["key"])
    assert any("apt-get" in c and " install " in c and "systemd-sysv" in c and "dbus" in c
               and "curl" in c and "wget" in c for c in commands), commands
    assert env.provision("find", base_ref).stdout == "none\n"

    # 1. Provision for real.
    t0 = time.monotonic()
    cp = env.provision(base_ref)
    took = time.monotonic() - t0
    kind, image_id, name = check_made(cp)
    assert kind == "made"
    print(f"provisioning {base_ref}: {took:.1f} s")
    lines = pkg_lines(cp.stderr)
    # The output came line by line through on_line: the commands (sh -x)
    # and apt's and dpkg's own lines.
    assert APT_UPDATE in lines, lines[:20]
    assert any(line.startswith("Setting up systemd ") for line in lines), lines[-40:]
    assert any(line.startswith("Setting up wget ") for line in lines)
    assert not any("\r" in line or "\n" in line for line in lines)
    assert name == f"{DERIVED_PREFIX}{registry.host.replace(':', '-')}/debian:bookworm"

    # 2. racker images shows it, next to the base; inspect: one layer more.
    imgs = {i["Id"]: i for i in env.images()}
    assert image_id in imgs and base["Id"] in imgs
    assert imgs[image_id]["RepoTags"] == [name]
    assert imgs[base["Id"]]["RepoTags"] == [base_ref]
    derived = env.inspect(name)
    assert derived["Id"] == image_id
    assert [l["DiffID"] for l in derived["Layers"][:-1]] == [l["DiffID"] for l in base["Layers"]]
    assert len(derived["Layers"]) == len(base["Layers"]) + 1
    assert derived["Config"].get("Cmd") == base["Config"].get("Cmd")
    entry = [e for e in env.index_entries() if e["annotations"].get(
        "org.opencontainers.image.ref.name") == name][0]
    assert entry["annotations"]["io.racker.derived-from"] == base["Id"]
    assert entry["annotations"]["io.racker.recipe"] == plan["key"]

    # 3. It holds systemd (and /sbin/init, dbus), curl and wget, in the
    #    merged view racker runs ...
    mnt = env.racker("image", "mount", name).stdout.strip()
    try:
        for path in ("lib/systemd/systemd", "usr/bin/curl", "usr/bin/wget",
                     "usr/bin/dbus-daemon", "usr/bin/hostnamectl"):
            assert os.access(os.path.join(mnt, path), os.X_OK), path
        # systemd-sysv: /sbin/init is systemd (an absolute link, inside the image).
        assert os.readlink(os.path.join(mnt, "usr/sbin/init")) == "/lib/systemd/systemd"
        # Scratch space stayed out of the layer (/tmp and /run were tmpfs),
        # and so did the downloaded packages (apt-get clean).
        top = derived["Layers"][-1]["Path"]
        assert listing(os.path.join(top, "tmp")) == []
        assert listing(os.path.join(top, "run")) == []
        assert [f for f in listing(os.path.join(top, "var/cache/apt/archives"))
                if f.endswith(".deb")] == []
        assert [f for f in listing(os.path.join(top, "var/lib/apt/lists"))
                if "Translation" in f] == []
    finally:
        env.racker("image", "unmount", name)
    #    ... and in the OCI layout's new layer blob, whose tar is its diff_id.
    top = derived["Layers"][-1]
    names, diff_id = layer_names(os.path.join(env.store, "blobs", "sha256",
                                              top["Digest"].split(":")[1]))
    assert diff_id == top["DiffID"]
    for path in ("usr/lib/systemd/systemd", "usr/bin/curl", "usr/bin/wget"):
        assert path in names and names[path].isfile(), path

    # 4. Nothing is left behind: no container, no mount (the env fixture).
    assert env.containers() == []
    assert json.loads(env.racker("ps", "-a", "--format", "json").stdout) == []

    # 5. A second call finds it without running apt again.
    t0 = time.monotonic()
    cp = env.provision(base_ref)
    again = time.monotonic() - t0
    kind2, id2, name2 = check_made(cp)
    assert (kind2, id2, name2) == ("found", image_id, name)
    assert pkg_lines(cp.stderr) == []
    assert again < 5, again
    assert env.provision("find", base_ref).stdout == f"found {image_id}\n"

    # 6. rmi and prune: the derived image and its layer go, the base stays.
    top_layer_dir = os.path.dirname(derived["Layers"][-1]["Path"])
    top_blob = os.path.join(env.store, "blobs", "sha256", top["Digest"].split(":")[1])
    base_layer_dirs = [os.path.dirname(l["Path"]) for l in base["Layers"]]
    assert os.path.isdir(top_layer_dir) and os.path.exists(top_blob)
    env.racker("rmi", name)
    assert image_id not in {i["Id"] for i in env.images()}
    env.racker("image", "prune")
    assert not os.path.exists(top_layer_dir)
    assert not os.path.exists(top_blob)
    assert all(os.path.isdir(d) for d in base_layer_dirs)
    assert [i["Id"] for i in env.images()] == [base["Id"]]
    assert env.provision("find", base_ref).stdout == "none\n"


def broken_apt_layout(testbed, workdir):
    """debian-minbase plus a layer whose only apt source is a closed port on
    127.0.0.1: os-release and apt are fine, `apt-get update` cannot fetch."""
    src = testbed.layout("debian-minbase")
    desc = src.resolve("latest")
    manifest = src.read_json(desc["digest"])
    config = src.read_json(manifest["config"]["digest"])
    out = tbmod.Layout(os.path.join(workdir, "broken-apt"), create=True)
    layers = []
    for ldesc, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        out.copy_blob_from(src, ldesc)
        layers.append((dict(ldesc), diff_id))
    tw = tbmod.TarWriter()
    for d in ("etc", "etc/apt", "etc/apt/sources.list.d"):
        tw.dir(d)
    tw.opaque("etc/apt/sources.list.d")
    tw.file("etc/apt/sources.list.d/nowhere.sources",
            "Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    layers.append(out.add_layer(tw.getvalue()))
    mdesc = out.add_image(layers, config=config.get("config"))
    out.tag(mdesc, "latest")
    return out.path


def test_provision_failure_leaves_nothing(env, registry, testbed):
    work = tempfile.mkdtemp(prefix="racker-prov-layout-", dir="/tmp")
    try:
        registry.push_raw(broken_apt_layout(testbed, work), "latest", "debian-broken-apt:bookworm")
    finally:
        subprocess.run(["rm", "-rf", work])
    ref = f"{registry.host}/debian-broken-apt:bookworm"
    env.racker("pull", ref)
    base = env.inspect(ref)
    layers_before = sorted(os.listdir(os.path.join(env.store, "layers")))
    blobs_before = sorted(os.listdir(os.path.join(env.store, "blobs", "sha256")))

    cp = env.provision(ref)
    assert cp.returncode == 125, (cp.stdout, cp.stderr[-2000:])
    assert cp.stdout == ""
    err = cp.stderr[cp.stderr.index("rk-provision: error: "):].splitlines()
    # One line saying what failed ...
    assert err[0] == (f"rk-provision: error: provisioning {ref}: installing systemd with "
                      f"apt-get failed (exit status 100); its last lines:"), err[0]
    # ... then the package manager's last lines, indented.
    tail = err[1:]
    assert 3 <= len(tail) <= 20, tail
    assert all(line.startswith("  ") for line in tail), tail
    text = "\n".join(tail)
    assert "127.0.0.1:9" in text or "Unable to locate package" in text, text
    assert "E: " in text, text
    assert any(line.strip().startswith("+ apt-get -q") for line in tail), tail
    # The same lines came through on_line as they were printed.
    streamed = pkg_lines(cp.stderr)
    assert [line.strip() for line in tail] == [line.strip() for line in streamed[-len(tail):]]

    # No derived image, no container, no new layer or blob, no temporary.
    assert [i["Id"] for i in env.images()] == [base["Id"]]
    assert not any("io.racker.derived-from" in e.get("annotations", {})
                   for e in env.index_entries())
    assert env.containers() == []
    assert sorted(os.listdir(os.path.join(env.store, "layers"))) == layers_before
    assert sorted(os.listdir(os.path.join(env.store, "blobs", "sha256"))) == blobs_before
    assert os.listdir(os.path.join(env.store, "tmp")) == []
    assert env.provision("find", ref).stdout == "none\n"


def test_not_provisionable(env, registry):
    """busybox has no os-release: no OS image; provisioning it is an error."""
    ref = f"{registry.host}/busybox:latest"
    env.racker("pull", ref)
    cp = env.provision("inspect", ref)
    assert cp.returncode == 0
    assert cp.stdout.splitlines()[0] == "kind=not-os"
    cp = env.provision(ref)
    assert cp.returncode == 125
    assert (f"rk-provision: error: provisioning {ref}: cannot install systemd: the image has "
            f"no /etc/os-release") in cp.stderr
    assert env.containers() == []


def test_two_provisions_at_once(env, registry):
    """Two provisionings of one image at once: one runs apt, the other waits
    for it and gets the same image."""
    base_ref = f"{registry.host}/debian:bookworm"
    env.racker("pull", base_ref)
    procs = [subprocess.Popen(env.provision_cmd(base_ref), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    results = []
    for p, (out, errtext) in zip(procs, outs):
        cp = subprocess.CompletedProcess(p.args, p.returncode, out, errtext)
        results.append((check_made(cp), pkg_lines(errtext), errtext))
    ids = {r[0][1] for r in results}
    assert len(ids) == 1
    ran = [r for r in results if APT_UPDATE in r[1]]
    waited = [r for r in results if not r[1]]
    assert len(ran) == 1 and len(waited) == 1, [r[2][-500:] for r in results]
    assert "waiting for another racker that provisions" in waited[0][2]
    derived = [i for i in env.images() if i["RepoTags"][0].startswith(DERIVED_PREFIX)]
    assert [i["Id"] for i in derived] == list(ids)
    assert env.containers() == []


def test_run_provisions_then_boots(env, registry):
    """The CLI path: `racker run` of the unprovisioned image provisions it
    (once), then boots systemd and runs the command in the booted system."""
    base_ref = f"{registry.host}/debian:bookworm"
    env.racker("pull", base_ref)
    cp = env.racker("--verbose", "run", "--rm", base_ref, "sh", "-c",
                    "systemctl is-system-running; command -v curl; command -v wget",
                    check=False, timeout=600)
    assert cp.returncode == 0, cp.stderr[-3000:]
    assert cp.stdout.split() == ["running", "/usr/bin/curl", "/usr/bin/wget"], cp.stdout
    assert "installing it with apt-get" in cp.stderr
    derived = [i for i in env.images() if i["RepoTags"][0].startswith(DERIVED_PREFIX)]
    assert len(derived) == 1
    # The second run boots the stored image at once.
    t0 = time.monotonic()
    cp = env.racker("run", "--rm", base_ref, "systemctl", "is-system-running", check=False)
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert cp.stdout.strip() == "running"
    assert "installing it" not in cp.stderr
    assert time.monotonic() - t0 < 10
    assert env.containers() == []
