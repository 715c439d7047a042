"""Tests of the test bed itself: registry, images, fault proxy, treecmp, cache."""

import functools
import gzip
import http.client
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
import urllib.error
import urllib.request

import pytest

import testbed as tbmod
import treecmp

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures")
PY = "/usr/bin/python3"


def skopeo_raw(host, repo_tag, creds=None):
    cmd = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
    if creds:
        cmd += ["--creds", f"{creds[0]}:{creds[1]}"]
    out = subprocess.run(cmd + [f"docker://{host}/{repo_tag}"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def layout_manifest(layout_dir, ref="latest"):
    lay = tbmod.Layout(layout_dir)
    return lay, lay.read_json(lay.resolve(ref)["digest"])


def busybox_blob(registry):
    """(path, digest, bytes) of the busybox layer blob."""
    lay, man = layout_manifest(registry.images["busybox:latest"]["layout"])
    digest = man["layers"][0]["digest"]
    return f"/v2/busybox/blobs/{digest}", digest, lay.read_blob(digest)


def get(url, headers=None, method="GET", data=None):
    """(status, headers, body); HTTP errors are answers too. Redirects not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def layer_names(blob, media_type):
    if media_type.endswith("+gzip"):
        blob = gzip.decompress(blob)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as t:
        return {m.name: m for m in t.getmembers()}


# --------------------------------------------------------------------------
# The registry and what it serves
# --------------------------------------------------------------------------

EXPECTED_MEDIA_TYPES = {
    "busybox:latest": tbmod.MT_OCI_MANIFEST,
    "debian:bookworm": tbmod.MT_DOCKER_MANIFEST,
    "debian:bookworm-slim": tbmod.MT_DOCKER_MANIFEST,
    "debian-systemd:bookworm": tbmod.MT_OCI_MANIFEST,
    "special:latest": tbmod.MT_OCI_MANIFEST,
    "special-gz:latest": tbmod.MT_OCI_MANIFEST,
    "multiarch:latest": tbmod.MT_OCI_INDEX,
    "evil-traversal:latest": tbmod.MT_OCI_MANIFEST,
    "evil-symlink:latest": tbmod.MT_OCI_MANIFEST,
    "evil-hardlink:latest": tbmod.MT_OCI_MANIFEST,
    "artifact/helm:latest": tbmod.MT_OCI_MANIFEST,
    "bad/diffid:latest": tbmod.MT_OCI_MANIFEST,
    "armonly:latest": tbmod.MT_OCI_INDEX,
    "bad/schema1:latest": tbmod.MT_DOCKER_SCHEMA1_SIGNED,
}


def test_registry_serves_the_standard_set(registry):
    assert set(registry.images) == set(EXPECTED_MEDIA_TYPES)
    for repo_tag, mt in EXPECTED_MEDIA_TYPES.items():
        raw = skopeo_raw(registry.host, repo_tag)
        if mt == tbmod.MT_DOCKER_SCHEMA1_SIGNED:
            assert raw["schemaVersion"] == 1 and raw["signatures"], repo_tag
        else:
            assert raw["mediaType"] == mt, repo_tag
        assert registry.images[repo_tag]["media_type"] == mt


@pytest.mark.parametrize("repo_tag", ["busybox:latest", "debian:bookworm",
                                      "debian-systemd:bookworm", "special:latest"])
def test_skopeo_inspect_images(registry, repo_tag):
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                          f"docker://{registry.host}/{repo_tag}"],
                         check=True, capture_output=True, text=True).stdout
    info = json.loads(out)
    assert info["Architecture"] == tbmod.host_arch()
    assert info["Os"] == "linux"
    assert info["Layers"]


def test_docker_schema2_layers_and_config(registry):
    raw = skopeo_raw(registry.host, "debian:bookworm")
    assert raw["config"]["mediaType"] == tbmod.MT_DOCKER_CONFIG
    assert [l["mediaType"] for l in raw["layers"]] == [tbmod.MT_DOCKER_LAYER_GZIP]
    slim = skopeo_raw(registry.host, "debian:bookworm-slim")
    assert slim == raw
    cfg = json.loads(registry.client().get_blob("debian", raw["config"]["digest"]))
    assert cfg["config"]["Cmd"] == ["bash"]
    assert any(e.startswith("PATH=") for e in cfg["config"]["Env"])


def test_debian_layers_hold_what_they_should(registry):
    for repo_tag, want in (("debian:bookworm", "./usr/bin/bash"),
                           ("debian-systemd:bookworm", "./usr/lib/systemd/systemd")):
        lay, man = layout_manifest(registry.images[repo_tag]["layout"])
        assert len(man["layers"]) == 1
        found = False
        with tarfile.open(lay.blob_path(man["layers"][0]["digest"]), "r|gz") as t:
            for m in t:
                assert not m.name.startswith("./dev/"), "device nodes in the image"
                if m.name == want:
                    found = True
                    break
        assert found, f"{want} not in {repo_tag}"
    cfg = lay.read_json(man["config"]["digest"])
    assert cfg["config"]["Cmd"] == ["/lib/systemd/systemd"]
    assert cfg["config"]["StopSignal"] == "SIGRTMIN+3"


def test_busybox_image_unpacks(registry, umoci_unpack):
    root = umoci_unpack(f"docker://{registry.host}/busybox:latest")
    assert os.readlink(os.path.join(root, "bin/sh")) == "/bin/busybox"
    assert os.readlink(os.path.join(root, "usr/bin/env")) == "/bin/busybox"
    assert stat.S_IMODE(os.lstat(os.path.join(root, "tmp")).st_mode) == 0o1777
    with open(os.path.join(root, "etc/passwd")) as f:
        users = [l.split(":")[0] for l in f]
    assert users == ["root", "nobody"]
    with open(os.path.join(root, "etc/group")) as f:
        assert [l.split(":")[0] for l in f] == ["root", "nobody"]
    out = subprocess.run([os.path.join(root, "bin/busybox"), "echo", "hi"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "hi\n"
    lay, man = layout_manifest(registry.images["busybox:latest"]["layout"])
    assert len(man["layers"]) == 1
    assert lay.read_json(man["config"]["digest"])["config"]["Cmd"] == ["sh"]


def test_special_image_layers(registry):
    raw = skopeo_raw(registry.host, "special:latest")
    assert [l["mediaType"] for l in raw["layers"]] == [
        tbmod.MT_OCI_LAYER_GZIP, tbmod.MT_OCI_LAYER_GZIP, tbmod.MT_OCI_LAYER_GZIP,
        tbmod.MT_OCI_LAYER_ZSTD, tbmod.MT_OCI_LAYER_TAR]
    gz = skopeo_raw(registry.host, "special-gz:latest")
    assert {l["mediaType"] for l in gz["layers"]} == {tbmod.MT_OCI_LAYER_GZIP}
    client = registry.client()
    cfg = json.loads(client.get_blob("special", raw["config"]["digest"]))
    cfg_gz = json.loads(client.get_blob("special-gz", gz["config"]["digest"]))
    # Same content, other compression: the rootfs of both must be identical.
    assert cfg["rootfs"]["diff_ids"] == cfg_gz["rootfs"]["diff_ids"]
    zst = client.get_blob("special", raw["layers"][3]["digest"])
    plain = subprocess.run(["zstd", "-d", "-c"], input=zst, capture_output=True,
                           check=True).stdout
    assert tbmod.sha256_bytes(plain) == cfg["rootfs"]["diff_ids"][3]
    l2 = layer_names(client.get_blob("special", raw["layers"][2]["digest"]),
                     raw["layers"][2]["mediaType"])
    assert {"opq/.wh..wh..opq", ".wh.gone-file", ".wh.gone-dir"} <= set(l2)
    assert l2["hard2/y"].islnk() and l2["hard2/y"].linkname == "hard2/x"


def test_special_gz_rootfs_matches_expectations(testbed, umoci_unpack):
    root = umoci_unpack(testbed.path("special-gz"))
    for rel, want in tbmod.SPECIAL_EXPECT.items():
        p = os.path.join(root, rel)
        st = os.lstat(p)
        for key, value in want.items():
            if key == "mode":
                assert st.st_mode == value, (rel, oct(st.st_mode))
            elif key in ("uid", "gid", "nlink", "mtime_ns"):
                assert getattr(st, "st_" + key) == value, (rel, key)
            elif key == "content":
                with open(p, "rb") as f:
                    assert f.read() == value, rel
            elif key == "target":
                assert os.readlink(p) == value, rel
            elif key == "rdev":
                assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == value
            elif key == "same_inode":
                assert os.lstat(os.path.join(root, value)).st_ino == st.st_ino, rel
            elif key == "xattrs":
                for name, v in value.items():
                    assert os.getxattr(p, name, follow_symlinks=False) == v, (rel, name)
            else:
                raise AssertionError(key)
    for rel in tbmod.SPECIAL_ABSENT:
        assert not os.path.lexists(os.path.join(root, rel)), rel
    assert sorted(os.listdir(os.path.join(root, "opq"))) == ["new"]
    getcap = subprocess.run(["getcap", os.path.join(root, "caps/netraw")],
                            capture_output=True, text=True, check=True).stdout
    assert "cap_net_raw=ep" in getcap


def test_multiarch_index(registry, testbed, umoci_unpack):
    idx = skopeo_raw(registry.host, "multiarch:latest")
    plats = [m["platform"] for m in idx["manifests"]]
    assert plats == [{"architecture": "amd64", "os": "linux"},
                     {"architecture": "arm64", "os": "linux", "variant": "v8"},
                     {"architecture": "unknown", "os": "unknown"}]
    att = idx["manifests"][2]
    assert att["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert att["annotations"]["vnd.docker.reference.digest"] == idx["manifests"][0]["digest"]
    client = registry.client()
    for entry in idx["manifests"]:
        mt, body, digest = client.get_manifest("multiarch", entry["digest"])
        assert digest == entry["digest"] and mt == tbmod.MT_OCI_MANIFEST
    # The two platform images differ.
    assert idx["manifests"][0]["digest"] != idx["manifests"][1]["digest"]
    for arch in ("amd64", "arm64"):
        root = umoci_unpack(testbed.path("multiarch"), arch)
        with open(os.path.join(root, "platform")) as f:
            assert f.read() == arch + "\n"
    arm = skopeo_raw(registry.host, "armonly:latest")
    assert [m["platform"]["architecture"] for m in arm["manifests"]] == ["arm64"]


def test_refusal_cases(registry):
    client = registry.client()
    helm = skopeo_raw(registry.host, "artifact/helm:latest")
    assert helm["config"]["mediaType"] == tbmod.MT_HELM_CONFIG
    assert helm["layers"][0]["mediaType"] == tbmod.MT_HELM_CHART
    bad = skopeo_raw(registry.host, "bad/diffid:latest")
    cfg = json.loads(client.get_blob("bad/diffid", bad["config"]["digest"]))
    layer = gzip.decompress(client.get_blob("bad/diffid", bad["layers"][0]["digest"]))
    assert tbmod.sha256_bytes(layer) != cfg["rootfs"]["diff_ids"][0]
    mt, body, _ = client.get_manifest("bad/schema1", "latest")
    s1 = json.loads(body)
    assert mt == tbmod.MT_DOCKER_SCHEMA1_SIGNED and s1["schemaVersion"] == 1
    assert client.blob_exists("bad/schema1", s1["fsLayers"][0]["blobSum"])


def test_evil_images_carry_their_payload(registry):
    client = registry.client()
    want = {
        "evil-traversal": [{tbmod.UP + "tmp/racker-evil-traversal/f",
                            "/tmp/racker-evil-traversal/abs"}],
        "evil-symlink": [{"esc", "esc/f", "up", "up/tmp/racker-evil-symlink/g", "lnk"},
                         {"lnk/h"}],
        "evil-hardlink": [{"passwd-abs", "passwd-rel", "decoy-abs", "decoy-rel"},
                          {"decoy-abs", "decoy-rel"}],
    }
    for repo, layers in want.items():
        man = skopeo_raw(registry.host, f"{repo}:latest")
        assert len(man["layers"]) == len(layers)
        for desc, names in zip(man["layers"], layers):
            got = layer_names(client.get_blob(repo, desc["digest"]), desc["mediaType"])
            assert names <= set(got), (repo, names - set(got))
        if repo == "evil-symlink":
            assert got["lnk/h"].isfile()
    first = layer_names(client.get_blob("evil-hardlink", skopeo_raw(
        registry.host, "evil-hardlink:latest")["layers"][0]["digest"]), "+gzip")
    assert first["passwd-abs"].islnk() and first["passwd-abs"].linkname == "/etc/passwd"
    assert first["decoy-abs"].linkname == tbmod.EVIL_HARDLINK_DECOY


def test_evil_guard_detects_escapes(evil_guard):
    assert evil_guard.problems() == []
    with open(os.path.join(tbmod.EVIL_DIRS["evil-symlink"], "f"), "w") as f:
        f.write("x")
    with open(tbmod.EVIL_HARDLINK_DECOY, "a") as f:
        f.write("x")
    probs = evil_guard.problems()
    assert len(probs) == 2, probs


# --------------------------------------------------------------------------
# Auth registry
# --------------------------------------------------------------------------

def test_auth_registry(auth_registry):
    status, hdrs, _ = get(auth_registry.url + "/v2/")
    assert status == 401
    assert hdrs["WWW-Authenticate"].startswith("Basic ")
    assert 'realm="racker-test"' in hdrs["WWW-Authenticate"]
    c = auth_registry.client()
    assert c.auth and auth_registry.user == "racker" and auth_registry.password
    assert c.request("GET", "/v2/")[0] == 200
    wrong = auth_registry.client(auth_registry.user, "wrong")
    assert wrong.request("GET", "/v2/", ok=None)[0] == 401
    anon = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                           f"docker://{auth_registry.host}/busybox:latest"],
                          capture_output=True, text=True)
    assert anon.returncode != 0
    raw = skopeo_raw(auth_registry.host, "busybox:latest",
                     creds=(auth_registry.user, auth_registry.password))
    assert raw["mediaType"] == tbmod.MT_OCI_MANIFEST
    assert set(auth_registry.images) == {"busybox:latest", "multiarch:latest",
                                         "special-gz:latest"}


def test_serve_and_stop_cli(tmp_path):
    d, pf, pidf = tmp_path / "reg", tmp_path / "port", tmp_path / "pid"
    subprocess.run([PY, os.path.join(FIXTURES, "testbed.py"), "serve", "--dir", str(d),
                    "--port-file", str(pf), "--pid-file", str(pidf),
                    "--htpasswd", "u:p"], check=True, capture_output=True, timeout=60)
    port, pid = int(pf.read_text()), int(pidf.read_text())
    try:
        assert get(f"http://127.0.0.1:{port}/v2/")[0] == 401
        c = tbmod.RegistryClient(f"http://127.0.0.1:{port}", "u", "p")
        assert c.request("GET", "/v2/")[0] == 200
        c.push_blob("x/y", tbmod.sha256_bytes(b"blob"), b"blob")
        assert (d / "storage").is_dir() and (d / "registry.log").is_file()
    finally:
        subprocess.run([PY, os.path.join(FIXTURES, "testbed.py"), "stop",
                        "--pid-file", str(pidf)], check=True, timeout=30)
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)


def test_populate_cli(testbed, tmp_path):
    with tbmod.Registry() as reg:
        out = subprocess.run([PY, os.path.join(FIXTURES, "testbed.py"), "populate",
                              "--registry", reg.host, "busybox", "armonly"],
                             check=True, capture_output=True, text=True).stdout
        lines = sorted(l.split("\t")[0] for l in out.splitlines())
        assert lines == ["armonly:latest", "busybox:latest"]
        assert skopeo_raw(reg.host, "armonly:latest")["mediaType"] == tbmod.MT_OCI_INDEX


# --------------------------------------------------------------------------
# Fault proxy
# --------------------------------------------------------------------------

def test_proxy_passes_through_with_range(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    status, _, body = get(fault_proxy.url + path)
    assert status == 200 and tbmod.sha256_bytes(body) == digest
    status, hdrs, body = get(fault_proxy.url + path, {"Range": "bytes=100-199"})
    assert status == 206 and body == blob[100:200]
    assert hdrs["Content-Range"] == f"bytes 100-199/{len(blob)}"
    status, _, body = get(fault_proxy.url + "/v2/busybox/manifests/latest",
                          {"Accept": tbmod.MT_OCI_MANIFEST})
    assert status == 200 and json.loads(body)["layers"][0]["digest"] == digest
    log = fault_proxy.log
    assert [(e["method"], e["status"]) for e in log] == [("GET", 200), ("GET", 206), ("GET", 200)]
    assert log[1]["headers"]["Range"] == "bytes=100-199"
    assert log[0]["path"] == path and log[0]["sent"] == len(blob)


def test_proxy_push_through(fault_proxy):
    client = tbmod.RegistryClient(fault_proxy.url)
    data = os.urandom(5000)
    client.push_blob("pushed/through", tbmod.sha256_bytes(data), data)
    assert client.get_blob("pushed/through", tbmod.sha256_bytes(data)) == data
    methods = [(e["method"], e["status"]) for e in fault_proxy.log]
    assert ("POST", 202) in methods and ("PUT", 201) in methods


def read_all(url, headers=None):
    """Body bytes read until the connection ends; (status, bytes, complete?)."""
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        try:
            return r.status, r.read(), True
        except http.client.IncompleteRead as e:
            return r.status, e.partial, False


def test_fault_cut_once_and_always(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    fault_proxy.set_fault("cut", after=1000)
    status, body, complete = read_all(fault_proxy.url + path)
    assert status == 200 and not complete and body == blob[:1000]
    status, body, complete = read_all(fault_proxy.url + path)
    assert complete and body == blob
    assert fault_proxy.fault.fired == 1
    fault_proxy.set_fault("cut", after=5, count=None)
    for _ in range(2):
        assert read_all(fault_proxy.url + path)[1:] == (blob[:5], False)
    # Manifests are not blobs: untouched.
    assert get(fault_proxy.url + "/v2/busybox/manifests/latest",
               {"Accept": tbmod.MT_OCI_MANIFEST})[0] == 200


@pytest.mark.parametrize("code", [500, 503, 429])
def test_fault_status_once(fault_proxy, registry, code):
    path, digest, blob = busybox_blob(registry)
    fault_proxy.set_fault("status", code=code)
    # Not a blob: passes.
    assert get(fault_proxy.url + "/v2/")[0] == 200
    status, hdrs, _ = get(fault_proxy.url + path)
    assert status == code
    assert hdrs.get("Retry-After") == ("1" if code == 429 else None)
    status, _, body = get(fault_proxy.url + path)
    assert status == 200 and body == blob
    assert [e["fault"] for e in fault_proxy.log] == [None, "status", None]


def test_fault_flip(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    fault_proxy.set_fault("flip")
    for _ in range(2):
        status, _, body = get(fault_proxy.url + path)
        assert status == 200 and len(body) == len(blob)
        diff = [i for i in range(len(blob)) if body[i] != blob[i]]
        assert diff == [len(blob) // 2]
        assert tbmod.sha256_bytes(body) != digest
    fault_proxy.set_fault("flip", offset=3)
    body = get(fault_proxy.url + path)[2]
    assert body[3] == blob[3] ^ 0xFF and body[4:] == blob[4:]


def test_fault_redirect(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    fault_proxy.set_fault("redirect")
    status, hdrs, _ = get(fault_proxy.url + path, {"Authorization": "Basic c2VjcmV0"})
    assert status == 307
    loc = hdrs["Location"]
    assert loc.startswith("http://127.0.0.2:")
    status, _, body = get(loc, {"X-Probe": "1"})
    assert status == 200 and body == blob
    status, _, body = get(loc, {"Range": "bytes=0-9", "Authorization": "Basic c2VjcmV0"})
    assert status == 206 and body == blob[:10]
    side = fault_proxy.side_log
    assert len(side) == 2
    assert "Authorization" not in side[0]["headers"] and side[0]["headers"]["X-Probe"] == "1"
    # The recorder sees Authorization when a client does send it.
    assert side[1]["headers"]["Authorization"] == "Basic c2VjcmV0"


def test_fault_redirect_on_auth_registry(auth_fault_proxy, auth_registry):
    lay, man = layout_manifest(auth_registry.images["busybox:latest"]["layout"])
    digest = man["layers"][0]["digest"]
    c = auth_registry.client()
    fault_proxy = auth_fault_proxy
    fault_proxy.set_fault("redirect")
    status, hdrs, _ = get(fault_proxy.url + f"/v2/busybox/blobs/{digest}",
                          {"Authorization": c.auth})
    assert status == 307
    # The redirect target needs no credentials (like a signed storage URL).
    status, _, body = get(hdrs["Location"])
    assert status == 200 and tbmod.sha256_bytes(body) == digest
    assert "Authorization" not in fault_proxy.side_log[0]["headers"]


def test_fault_slow(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    fault_proxy.set_fault("slow", rate=200_000)
    start = time.monotonic()
    status, _, body = get(fault_proxy.url + path, {"Range": "bytes=0-299999"})
    elapsed = time.monotonic() - start
    assert status == 206 and body == blob[:300000]
    assert elapsed >= 1.2, elapsed


def test_fault_control_endpoint(fault_proxy, registry):
    path, digest, blob = busybox_blob(registry)
    status, _, body = get(fault_proxy.url + "/_fault", method="POST",
                          data=json.dumps({"mode": "status", "code": 503}).encode())
    assert status == 200 and json.loads(body)["mode"] == "status"
    assert get(fault_proxy.url + path)[0] == 503
    state = json.loads(get(fault_proxy.url + "/_fault")[2])
    assert state["fired"] == 1 and state["code"] == 503
    assert get(fault_proxy.url + path)[0] == 200
    logged = json.loads(get(fault_proxy.url + "/_log")[2])
    assert [e["status"] for e in logged["requests"]] == [503, 200]
    assert get(fault_proxy.url + "/_fault", method="POST",
               data=b'{"mode": "bogus"}')[0] == 400
    assert get(fault_proxy.url + "/_reset", method="POST", data=b"")[0] == 200
    assert json.loads(get(fault_proxy.url + "/_log")[2]) == {"requests": [], "side": []}
    # Faults on other paths when asked: manifests.
    get(fault_proxy.url + "/_fault", method="POST", data=json.dumps(
        {"mode": "status", "code": 500, "path": "/manifests/", "methods": "*"}).encode())
    assert get(fault_proxy.url + "/v2/busybox/manifests/latest", method="HEAD")[0] == 500
    assert get(fault_proxy.url + path)[0] == 200


def test_faultproxy_cli(registry, tmp_path):
    pf = tmp_path / "port"
    proc = subprocess.Popen([PY, os.path.join(FIXTURES, "faultproxy.py"), "--upstream",
                             registry.host, "--port-file", str(pf)],
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not pf.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        port = int(pf.read_text())
        assert get(f"http://127.0.0.1:{port}/v2/")[0] == 200
        get(f"http://127.0.0.1:{port}/_fault", method="POST",
            data=b'{"mode": "status", "code": 503, "path": "^/v2/$"}')
        assert get(f"http://127.0.0.1:{port}/v2/")[0] == 503
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------
# treecmp
# --------------------------------------------------------------------------

def make_tree(root):
    os.makedirs(os.path.join(root, "d/sub"))
    files = {"a": b"alpha\n", "d/b": b"beta\n", "d/sub/c": b"x" * 10000}
    for rel, data in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    os.link(os.path.join(root, "a"), os.path.join(root, "d/a-link"))
    os.symlink("../a", os.path.join(root, "d/sym"))
    os.mkfifo(os.path.join(root, "fifo"))
    os.mknod(os.path.join(root, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(os.path.join(root, "d/sub"), 0o1777)
    os.chown(os.path.join(root, "d/b"), 1000, 1001)
    os.setxattr(os.path.join(root, "d/b"), "user.k", b"v1")
    os.utime(os.path.join(root, "d/sub/c"), ns=(1, 1500000000123456789))


@pytest.fixture
def trees(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    os.mkdir(a)
    make_tree(a)
    subprocess.run(["cp", "-a", a, b], check=True)
    assert treecmp.compare(a, b) == []
    return a, b


def fields(diffs):
    return sorted((d.path, d.field) for d in diffs)


def test_treecmp_equal_and_cli(trees):
    a, b = trees
    cli = [PY, os.path.join(FIXTURES, "treecmp.py")]
    assert subprocess.run(cli + [a, b]).returncode == 0
    os.setxattr(os.path.join(b, "d/b"), "user.k", b"v2")
    res = subprocess.run(cli + [a, b], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stdout == "d/b: xattr user.k: b'v1' != b'v2'\n"


def test_treecmp_one_xattr(trees):
    a, b = trees
    os.setxattr(os.path.join(b, "d/b"), "user.k", b"v2")
    diffs = treecmp.compare(a, b)
    assert len(diffs) == 1
    assert (diffs[0].path, diffs[0].field, diffs[0].a, diffs[0].b) == \
        ("d/b", "xattr user.k", b"v1", b"v2")


def test_treecmp_capability(trees):
    a, b = trees
    subprocess.run(["setcap", "cap_net_raw+ep", os.path.join(b, "a")], check=True)
    got = os.getxattr(os.path.join(b, "a"), "security.capability")
    assert got == tbmod.CAP_NET_RAW_EP   # the blob the special image carries
    diffs = treecmp.compare(a, b, mtime=None)
    # a and d/a-link are one inode.
    assert fields(diffs) == [("a", "xattr security.capability"),
                             ("d/a-link", "xattr security.capability")]


@pytest.mark.parametrize("plant,expect", [
    (lambda b: os.chmod(os.path.join(b, "a"), 0o4755), [("a", "mode"), ("d/a-link", "mode")]),
    (lambda b: os.chmod(os.path.join(b, "d/sub"), 0o777), [("d/sub", "mode")]),
    (lambda b: os.chown(os.path.join(b, "d/b"), 1000, 1002), [("d/b", "gid")]),
    (lambda b: os.lchown(os.path.join(b, "d/sym"), 5, 0), [("d/sym", "uid")]),
    (lambda b: (os.unlink(os.path.join(b, "d/sym")),
                os.symlink("/a", os.path.join(b, "d/sym"))), [("d/sym", "target")]),
    (lambda b: (os.unlink(os.path.join(b, "null")),
                os.mknod(os.path.join(b, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))),
     [("null", "rdev")]),
    (lambda b: os.unlink(os.path.join(b, "fifo")), [("fifo", "exists")]),
    (lambda b: (os.unlink(os.path.join(b, "fifo")), os.mkdir(os.path.join(b, "fifo"))),
     [("fifo", "type")]),
    (lambda b: os.removexattr(os.path.join(b, "d/b"), "user.k"), [("d/b", "xattr user.k")]),
])
def test_treecmp_planted(trees, plant, expect):
    a, b = trees
    plant(b)
    assert fields(treecmp.compare(a, b, mtime=None)) == expect


def test_treecmp_content_same_size(trees):
    a, b = trees
    p = os.path.join(b, "d/sub/c")
    st = os.stat(p)
    with open(p, "r+b") as f:
        f.seek(5000)
        f.write(b"y")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fields(treecmp.compare(a, b)) == [("d/sub/c", "sha256")]


def test_treecmp_hardlink_groups(trees):
    a, b = trees
    link = os.path.join(b, "d/a-link")
    os.unlink(link)
    shutil.copy2(os.path.join(b, "a"), link)
    diffs = treecmp.compare(a, b)
    assert fields(diffs) == [("a", "links"), ("d/a-link", "links")]
    assert diffs[0].a == frozenset({"a", "d/a-link"}) and diffs[0].b == frozenset({"a"})


def test_treecmp_mtime_precision(trees):
    a, b = trees
    os.utime(os.path.join(b, "d/sub/c"), ns=(1, 1500000000123456000))
    assert fields(treecmp.compare(a, b)) == [("d/sub/c", "mtime_ns")]
    assert treecmp.compare(a, b, mtime="s") == []
    os.utime(os.path.join(b, "d/sub/c"), ns=(1, 1500000001123456789))
    assert fields(treecmp.compare(a, b, mtime="s")) == [("d/sub/c", "mtime_s")]
    # Directories' mtimes are never compared.
    os.utime(os.path.join(b, "d"), ns=(1, 1))
    assert treecmp.compare(a, b, mtime=None) == []


def test_treecmp_trusted_overlay_excluded_only_if_asked(trees):
    a, b = trees
    os.setxattr(os.path.join(b, "d"), "trusted.overlay.opaque", b"y")
    assert fields(treecmp.compare(a, b)) == [("d", "xattr trusted.overlay.opaque")]
    assert treecmp.compare(a, b, ignore_xattr=("trusted.overlay.",)) == []


def test_treecmp_on_real_unpacks(testbed, umoci_unpack):
    r1 = umoci_unpack(testbed.path("special-gz"))
    r2 = umoci_unpack(testbed.path("special-gz"))
    assert treecmp.compare(r1, r2) == []
    os.setxattr(os.path.join(r2, "caps/netraw"), "security.capability",
                tbmod.CAP_NET_RAW_EP[:4] + b"\x00\x10\x00\x00" + tbmod.CAP_NET_RAW_EP[8:])
    assert fields(treecmp.compare(r1, r2)) == [("caps/netraw", "xattr security.capability")]


# --------------------------------------------------------------------------
# Image cache
# --------------------------------------------------------------------------

def test_cache_second_build_is_a_hit(tmp_path, monkeypatch):
    calls = []
    recipe = tbmod.RECIPES["evil-traversal"]
    inner = recipe.fn

    @functools.wraps(inner)
    def counting(*a, **kw):
        calls.append(1)
        return inner(*a, **kw)
    # functools.wraps keeps the source (and so the cache key) of the real builder.
    monkeypatch.setattr(recipe, "fn", counting)
    first = tbmod.Testbed(str(tmp_path)).build("evil-traversal")
    assert not first.cached and calls == [1]
    tb2 = tbmod.Testbed(str(tmp_path))
    second = tb2.build("evil-traversal")
    assert second.cached and calls == [1]
    assert second.path == first.path and second.key == first.key
    assert tbmod.Layout(second.path).refs() == ["latest"]
    # A different recipe version is another key: built again, the old one pruned.
    monkeypatch.setattr(recipe, "version", recipe.version + 1)
    third = tbmod.Testbed(str(tmp_path)).build("evil-traversal")
    assert not third.cached and calls == [1, 1] and third.key != first.key
    assert not os.path.exists(first.path) and os.path.exists(third.path)


def test_session_cache_hits(testbed):
    tb = tbmod.Testbed(testbed.cache)
    results = tb.build_all()
    assert {r.name for r in results} == set(tbmod.RECIPES)
    assert all(r.cached for r in results), [r.name for r in results if not r.cached]
    for r in results:
        assert r.path == testbed.path(r.name)
        with open(os.path.join(r.path, ".complete")) as f:
            assert f.read().strip() == r.key
