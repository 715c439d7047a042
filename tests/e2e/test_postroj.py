"""postroj pkgprobe and selftest, end to end (issue 5).

The local registry stands in for docker.io through registries.conf, so the
curated label debian-bookworm (docker.io/library/debian:bookworm-slim)
resolves to the test bed's Debian minbase image; postroj provisions it
(systemd, curl, wget from the host's Debian mirror) once per module.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
import packages  # noqa: E402


@pytest.fixture(scope="module")
def postroj_bin(racker_bin):
    path = os.environ.get("POSTROJ_BIN") or os.path.join(os.path.dirname(racker_bin), "postroj")
    if not os.access(path, os.X_OK):
        pytest.fail(f"postroj not found at {path}")
    return path


@pytest.fixture(scope="module")
def hub(registry, tmp_path_factory):
    """docker.io served by the local registry: library/debian:bookworm-slim
    is the minbase image. Returns the environment postroj needs."""
    for src, dst in [("debian:bookworm-slim", "library/debian:bookworm-slim")]:
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                        "--dest-tls-verify=false", "--preserve-digests",
                        f"docker://{registry.host}/{src}", f"docker://{registry.host}/{dst}"],
                       check=True, stdin=subprocess.DEVNULL)
    d = tmp_path_factory.mktemp("hub")
    conf = d / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "docker.io"\nlocation = "{registry.host}"\n')
    root = tempfile.mkdtemp(prefix="racker-postroj-", dir="/tmp")
    run = tempfile.mkdtemp(prefix="racker-postroj-run-", dir="/tmp")
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf), RACKER_ROOT=root,
               RACKER_RUNDIR=run)
    yield env
    import conftest
    conftest.remove_tree(root)
    conftest.remove_tree(run)


def postroj(postroj_bin, env, *args, timeout=900):
    return subprocess.run([postroj_bin, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def summary(cp):
    """{check name: (status, reason)} from the summary lines on stdout."""
    out = {}
    for line in cp.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[1] in ("PASS", "FAIL", "SKIP"):
            out[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_bad_flag_is_exit_20(postroj_bin, hub):
    cp = postroj(postroj_bin, hub, "pkgprobe", "--no-such-flag")
    assert cp.returncode == 20
    cp = postroj(postroj_bin, hub, "pkgprobe")  # no --image
    assert cp.returncode == 20
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", "--network-timeout=x")
    assert cp.returncode == 20


def test_webfs_from_the_debian_mirror(postroj_bin, hub, tmp_path):
    """As in the original Racker's README: install webfs, check its unit
    and that it answers on port 8000."""
    url, size = packages.webfs_uri()
    junit = tmp_path / "report.xml"
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", f"--package={url}",
                 "--check-unit=webfs", "--check-network=http://localhost:8000",
                 f"--junit={junit}")
    s = summary(cp)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert s["unit:webfs"][0] == "PASS"
    assert s["network:http://localhost:8000"][0] == "PASS"
    assert "HTTP/1" in s["network:http://localhost:8000"][1]
    tree = ET.parse(junit)
    suites = tree.getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) >= 2
    assert int(suites.findall("testsuite")[0].get("failures")) == 0
    # The package was cached under the store, once.
    cache = os.path.join(hub["RACKER_ROOT"], "cache", "packages")
    files = [f for _, _, fs in os.walk(cache) for f in fs if f.endswith(".deb")]
    assert len(files) == 1
    assert os.path.getsize(os.path.join(
        [d for d, _, fs in os.walk(cache) if files[0] in fs][0], files[0])) == size


def test_failing_unit_exit_4_with_journal(postroj_bin, hub, tmp_path):
    deb = packages.failing_unit_deb(str(tmp_path))
    junit = tmp_path / "report.xml"
    js = tmp_path / "report.json"
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", f"--package={deb}",
                 "--check-unit=rk-fails", f"--junit={junit}", f"--json={js}")
    assert cp.returncode == 4, cp.stdout + cp.stderr
    s = summary(cp)
    assert s["unit:rk-fails"][0] == "FAIL"
    root = ET.parse(junit).getroot()
    failures = root.findall(".//failure")
    assert failures, ET.tostring(root)
    text = ET.tostring(root, encoding="unicode")
    assert "giving up on purpose" in text, "the unit's journal lines belong in the report"
    data = json.loads(js.read_text())
    assert "giving up on purpose" in json.dumps(data)
    suite = root.findall("testsuite")[0]
    assert int(suite.get("failures")) == len(failures)
    assert int(suite.get("tests")) == len(root.findall(".//testcase"))


def test_unsatisfiable_dependency_exit_12(postroj_bin, hub, tmp_path):
    deb = packages.unsatisfiable_deb(str(tmp_path))
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", f"--package={deb}")
    assert cp.returncode == 12, cp.stdout + cp.stderr
    assert any(v[0] == "FAIL" for k, v in summary(cp).items() if k.startswith("install:"))


def test_port_nobody_listens_on_fails_after_the_timeout(postroj_bin, hub):
    port = free_port()
    t0 = time.monotonic()
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm",
                 f"--check-network=tcp://127.0.0.1:{port}", "--network-timeout=2")
    took = time.monotonic() - t0
    assert cp.returncode == 4, cp.stdout + cp.stderr
    status, reason = summary(cp)[f"network:tcp://127.0.0.1:{port}"]
    assert status == "FAIL" and "2 s" in reason
    assert took >= 2


def test_socket_activated_unit_and_expected_status(postroj_bin, hub, tmp_path):
    port = free_port()
    deb = packages.working_unit_deb(str(tmp_path), port=port)
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", f"--package={deb}",
                 "--check-unit=rk-listens.socket", f"--check-network=http://localhost:{port}",
                 "--expect-status=200")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    cp = postroj(postroj_bin, hub, "pkgprobe", "--image=debian-bookworm", f"--package={deb}",
                 "--check-unit=rk-listens.socket", f"--check-network=http://localhost:{port}",
                 "--expect-status=404", "--network-timeout=2")
    assert cp.returncode == 4
    assert "200" in summary(cp)[f"network:http://localhost:{port}"][1]


def test_selftest_hostnamectl(postroj_bin, hub, tmp_path):
    junit = tmp_path / "selftest.xml"
    cp = postroj(postroj_bin, hub, "selftest", "hostnamectl", "--image=debian-bookworm",
                 f"--junit={junit}")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "debian-bookworm" in cp.stdout
    root = ET.parse(junit).getroot()
    assert int(root.findall("testsuite")[0].get("failures")) == 0


def test_selftest_reports_every_image_and_goes_on_past_failures(postroj_bin, hub):
    # centos-7 resolves through docker.io too, but the local registry has
    # no such image: it fails, debian still passes, both are reported.
    cp = postroj(postroj_bin, hub, "selftest", "hostnamectl", "--image=debian-bookworm",
                 "--image=centos-7", "--jobs=2")
    assert cp.returncode != 0
    assert "debian-bookworm" in cp.stdout and "centos-7" in cp.stdout
    lines = [l for l in cp.stdout.splitlines() if l.startswith("centos-7")]
    assert lines and any("FAIL" in l for l in lines)
    assert any("PASS" in l for l in cp.stdout.splitlines() if l.startswith("debian-bookworm"))


def test_selftest_pkgprobe_web_servers_in_parallel(postroj_bin, hub, tmp_path):
    """The distribution's web server (apache2 on Debian) from its
    repositories, twice at once: installs overlap, the servers on port 80
    take turns."""
    js = tmp_path / "selftest.json"
    cp = postroj(postroj_bin, hub, "selftest", "pkgprobe", "--image=debian-bookworm",
                 "--image=debian-12", "--jobs=2", f"--json={js}")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    data = json.loads(js.read_text())
    assert [r["image"] for r in data["runs"]] == ["debian-bookworm", "debian-12"]
    for run in data["runs"]:
        names = {c["name"]: c["status"] for c in run["checks"]}
        assert names["install:apache2"] == "PASS"
        assert names["unit:apache2.service"] == "PASS"
        assert names["network:http://localhost:80"] == "PASS"


def test_pull_labels_and_all(postroj_bin, hub):
    cp = postroj(postroj_bin, hub, "pull", "debian-bookworm")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    line = cp.stdout.strip().splitlines()[-1].split()
    assert line[:3] == ["debian-bookworm", "PASS", "docker.io/library/debian:bookworm-slim"]
    # The provisioned image is there too, ready to boot.
    racker = os.path.join(os.path.dirname(postroj_bin), "racker")
    out = subprocess.run([racker, "images"], env=hub, capture_output=True, text=True).stdout
    assert "racker-provisioned" in out
    # --all goes on past failures (the local registry has only Debian)
    # and says so for every image.
    cp = postroj(postroj_bin, hub, "pull", "--all")
    assert cp.returncode == 16
    lines = cp.stdout.strip().splitlines()
    labels = json.loads(postroj(postroj_bin, hub, "list-images", "--format=labels").stdout)
    assert [l.split()[0] for l in lines] == labels
    assert any(l.startswith("debian-bookworm PASS") for l in lines)
    assert any(l.startswith("fedora-40 FAIL") for l in lines)
    cp = postroj(postroj_bin, hub, "pull")
    assert cp.returncode == 20
