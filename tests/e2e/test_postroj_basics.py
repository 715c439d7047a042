"""postroj's command line without containers: list-images in its three
formats against the shipped catalogue, the catalogue override, usage errors
(exit 20, autopkgtest's bad-usage status).

The report, network-check and fetch-cache modules are tested by the unit
tests (tests/unit/test_report.c, test_netcheck.c, test_fetch.c), which parse
the JUnit XML back with xml.etree and run against local servers.
"""

import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CATALOGUE = os.path.join(REPO, "data", "postroj-images.json")
USAGE = 20


@pytest.fixture(scope="module")
def postroj_bin():
    """$POSTROJ_BIN, or build/postroj in this repository."""
    path = os.environ.get("POSTROJ_BIN") or os.path.join(REPO, "build", "postroj")
    if not os.access(path, os.X_OK):
        pytest.fail(f"postroj binary not found at {path}: build it or set POSTROJ_BIN")
    return path


@pytest.fixture
def postroj(postroj_bin):
    """run(*args, catalogue=CATALOGUE) -> CompletedProcess (text). catalogue=None
    leaves $POSTROJ_CATALOGUE unset."""
    def run(*args, catalogue=CATALOGUE):
        env = dict(os.environ)
        env.pop("POSTROJ_CATALOGUE", None)
        if catalogue is not None:
            env["POSTROJ_CATALOGUE"] = catalogue
        return subprocess.run([postroj_bin, *args], env=env, text=True, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=30)
    return run


@pytest.fixture(scope="module")
def shipped():
    with open(CATALOGUE) as f:
        return json.load(f)["images"]


def one_error_line(p):
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("postroj: ")
    return lines[0]


def test_table(postroj, shipped):
    p = postroj("list-images")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["LABEL", "ALIASES", "REFERENCE"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == len(shipped)
    for row, img in zip(rows, shipped):
        assert row == [img["label"], ",".join(img.get("aliases", [])) or "-", img["reference"]]
    # The reference column starts at the same place on every line.
    starts = {line.index(row[2]) for line, row in zip(lines[1:], rows)}
    assert len(starts) == 1
    by_label = {r[0]: r for r in rows}
    assert by_label["debian-bookworm"] == ["debian-bookworm", "debian-12",
                                          "docker.io/library/debian:bookworm-slim"]
    assert by_label["centos-9"][2] == "quay.io/centos/centos:stream9"
    assert by_label["rhel-8"][2] == "registry.access.redhat.com/ubi8/ubi:latest"


def test_json(postroj, shipped):
    p = postroj("list-images", "--format", "json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert isinstance(got, list) and len(got) == len(shipped)
    keys = ["label", "aliases", "name", "release", "version", "family", "package_manager",
            "reference"]
    for obj, img in zip(got, shipped):
        assert list(obj) == keys
        want = {k: img.get(k, []) if k == "aliases" else img[k] for k in keys}
        assert obj == want
    fams = {o["family"] for o in got}
    assert fams == {"debian", "fedora", "rhel", "suse", "arch"}


def test_labels_like_the_original(postroj, shipped):
    p = postroj("list-images", "--format=labels")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [img["label"] for img in shipped]


def test_default_catalogue(postroj):
    # Without $POSTROJ_CATALOGUE: the installed file, else the source tree's.
    p = postroj("list-images", "--format", "labels", catalogue=None)
    assert p.returncode == 0, p.stderr
    assert "debian-bookworm" in json.loads(p.stdout)


def test_help_documents_fields(postroj):
    p = postroj("list-images", "--help")
    assert p.returncode == 0
    for word in ('"label"', '"aliases"', '"reference"', '"family"', "labels:", "table"):
        assert word in p.stdout
    p = postroj("--help")
    assert p.returncode == 0 and "list-images" in p.stdout and "20 bad usage" in p.stdout
    p = postroj("--version")
    assert p.returncode == 0 and p.stdout.startswith("postroj version ")


@pytest.mark.parametrize("args, needle", [
    (["list-images", "--bogus"], "unknown option '--bogus'"),
    (["list-images", "--format", "xml"], "--format takes table, json or labels, not \"xml\""),
    (["list-images", "--format"], "needs a value"),
    (["list-images", "debian"], "takes no arguments"),
    (["probe"], "unknown command 'probe'"),
    (["pkgprobe"], "--image is required"),
    (["selftest"], "expects one probe"),
    (["--bogus", "list-images"], "unknown option '--bogus'"),
])
def test_usage_errors(postroj, args, needle):
    p = postroj(*args)
    assert p.returncode == USAGE, (p.stdout, p.stderr)
    assert needle in one_error_line(p)
    assert p.stdout == ""


def test_no_command(postroj):
    p = postroj()
    assert p.returncode == USAGE
    assert "Commands:" in p.stdout


def test_catalogue_override(postroj, tmp_path):
    cat = {"format": 1, "images": [{
        "label": "mini-1", "aliases": ["mini-one"], "name": "mini", "release": "1",
        "version": "1.0", "family": "debian", "package_manager": "apt",
        "reference": "127.0.0.1:5000/mini:1",
        "webserver": {"package": "apache2", "unit": "apache2.service", "port": 80}}]}
    f = tmp_path / "cat.json"
    f.write_text(json.dumps(cat))
    p = postroj("list-images", "--format", "json", catalogue=str(f))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [{
        "label": "mini-1", "aliases": ["mini-one"], "name": "mini", "release": "1",
        "version": "1.0", "family": "debian", "package_manager": "apt",
        "reference": "127.0.0.1:5000/mini:1"}]

    cat["images"][0]["family"] = "gentoo"
    f.write_text(json.dumps(cat))
    p = postroj("list-images", catalogue=str(f))
    assert p.returncode == USAGE
    line = one_error_line(p)
    assert str(f) in line and 'images[0] ("mini-1")' in line and '"family"' in line
    assert p.stdout == ""

    p = postroj("list-images", catalogue=str(tmp_path / "missing.json"))
    assert p.returncode == USAGE
    assert "missing.json" in one_error_line(p)
