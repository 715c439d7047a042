"""racker pull and the image store, end to end, against a real local registry.

Every test gets an empty store (the `store` fixture); the registry holds the
standard test set (see tests/fixtures/README.md).
"""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))
import treecmp  # noqa: E402


# ---- helpers ----

def pull(run_racker, store, ref, *args, env=None, timeout=300):
    return run_racker("--root", store, "pull", *args, ref, env=env, timeout=timeout)


def ok(cp):
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    return cp


def index_entries(store):
    with open(os.path.join(store, "index.json")) as f:
        return json.load(f)["manifests"]


def ref_names(store):
    return sorted(e["annotations"]["org.opencontainers.image.ref.name"]
                  for e in index_entries(store)
                  if "org.opencontainers.image.ref.name" in e.get("annotations", {}))


def listdir(store, sub):
    p = os.path.join(store, sub)
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def inspect(run_racker, store, ref):
    cp = ok(run_racker("--root", store, "inspect", ref))
    data = json.loads(cp.stdout)
    assert len(data) == 1
    return data[0]


def mount(run_racker, store, ref):
    cp = ok(run_racker("--root", store, "image", "mount", ref))
    path = cp.stdout.strip()
    assert os.path.isdir(path)
    return path


def unmount(run_racker, store, ref):
    ok(run_racker("--root", store, "image", "unmount", ref))


def mountinfo():
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)


def write_conf(tmp_path, text, name="registries.conf"):
    p = tmp_path / name
    p.write_text(text)
    return {"CONTAINERS_REGISTRIES_CONF": str(p)}


def skopeo_copy(src, dst):
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                    "--dest-tls-verify=false", "--preserve-digests", src, dst], check=True,
                   stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def library_alias(registry):
    """library/debian:bookworm and library/busybox:latest on the local
    registry, for the docker.io prefix mapping (docker.io/library/X)."""
    for src, dst in [("debian:bookworm", "library/debian:bookworm"),
                     ("busybox:latest", "library/busybox:latest")]:
        skopeo_copy(f"docker://{registry.host}/{src}", f"docker://{registry.host}/{dst}")
    return registry


# ---- basic pulls and the OCI layout ----

def test_pull_oci_image_and_layout_is_readable_by_skopeo_and_umoci(run_racker, store, registry,
                                                                   umoci_unpack):
    ref = f"{registry.host}/busybox:latest"
    cp = ok(pull(run_racker, store, ref))
    assert cp.stdout.strip() == ref
    assert ref_names(store) == [ref]
    # skopeo and umoci read the store as an OCI image layout.
    out = subprocess.run(["skopeo", "inspect", f"oci:{store}:{ref}"], check=True,
                         capture_output=True, text=True).stdout
    info = json.loads(out)
    assert info["Architecture"] == "amd64"
    rootfs = umoci_unpack(store, ref)
    assert os.path.isfile(os.path.join(rootfs, "bin", "busybox"))
    # images and inspect
    img = inspect(run_racker, store, ref)
    assert img["RepoTags"] == [ref]
    assert img["RepoDigest"] == registry.images["busybox:latest"]["digest"]
    assert img["Os"] == "linux" and img["Architecture"] == "amd64"
    assert img["Config"]["Cmd"] == ["sh"]
    assert len(img["Layers"]) == 1 and img["Layers"][0]["Digest"].startswith("sha256:")
    assert img["Id"].startswith("sha256:")


def test_docker_schema2_image_is_stored_as_oci_with_its_registry_digest(run_racker, store,
                                                                        registry):
    ref = f"{registry.host}/debian:bookworm"
    ok(pull(run_racker, store, ref))
    e = index_entries(store)[0]
    assert e["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    with open(os.path.join(store, "blobs", "sha256", e["digest"][7:])) as f:
        m = json.load(f)
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert all(l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip" for l in m["layers"])
    reg_digest = registry.images["debian:bookworm"]["digest"]
    assert registry.images["debian:bookworm"]["media_type"] == \
        "application/vnd.docker.distribution.manifest.v2+json"
    assert e["annotations"]["io.racker.repo-digest"] == reg_digest
    # The registry's own manifest is kept too, so name@digest keeps working.
    assert os.path.exists(os.path.join(store, "blobs", "sha256", reg_digest[7:]))
    img = inspect(run_racker, store, f"{registry.host}/debian@{reg_digest}")
    assert img["RepoDigest"] == reg_digest


def test_repull_downloads_nothing(run_racker, store, fault_proxy):
    ref = f"{fault_proxy.host}/debian:bookworm"
    ok(pull(run_racker, store, ref))
    assert fault_proxy.requests("GET", r"/blobs/"), "the first pull fetched no blob?"
    before = os.stat(os.path.join(store, "index.json")).st_mtime_ns
    fault_proxy.reset()
    cp = ok(pull(run_racker, store, ref))
    assert "up to date" in cp.stderr
    assert fault_proxy.requests("GET", r"/blobs/") == []
    assert fault_proxy.requests(None, r"/manifests/"), "the re-pull must check the manifest"
    assert os.stat(os.path.join(store, "index.json")).st_mtime_ns == before


def test_pull_by_digest_and_tag_at_digest(run_racker, store, registry):
    d = registry.images["busybox:latest"]["digest"]
    by_digest = f"{registry.host}/busybox@{d}"
    ok(pull(run_racker, store, by_digest))
    assert ref_names(store) == [by_digest]
    ok(pull(run_racker, store, f"{registry.host}/busybox:latest@{d}"))
    cp = pull(run_racker, store, f"{registry.host}/busybox@sha256:{'0' * 64}")
    assert cp.returncode == 125
    assert "not found" in cp.stderr or "unknown" in cp.stderr


def test_docker_transport_prefix_and_default_tag(run_racker, store, registry):
    ok(pull(run_racker, store, f"docker://{registry.host}/busybox"))
    assert ref_names(store) == [f"{registry.host}/busybox:latest"]


@pytest.mark.parametrize("ref,part", [
    ("Debian", "lowercase"),
    ("debian:", "tag"),
    ("debian@sha256:1234", "digest"),
    ("debian@md5:" + "0" * 32, "digest"),
    ("-debian", "debian"),
    ("debian:bad tag", "tag"),
    ("", "empty"),
    ("a" * 300, "long"),
])
def test_invalid_reference_is_one_line_exit_125(run_racker, store, ref, part):
    cp = run_racker("--root", store, "pull", "--", ref)
    assert cp.returncode == 125
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    assert part in lines[0].lower(), lines[0]


def test_missing_tag_and_missing_repository(run_racker, store, registry):
    cp = pull(run_racker, store, f"{registry.host}/busybox:nosuchtag")
    assert cp.returncode == 125
    assert "busybox:nosuchtag" in cp.stderr and "not found" in cp.stderr
    cp = pull(run_racker, store, f"{registry.host}/nosuch/repo")
    assert cp.returncode == 125
    assert listdir(store, "blobs/sha256") == []


def test_unreachable_registry_fails_clearly(run_racker, store):
    cp = pull(run_racker, store, "127.0.0.1:1/busybox")
    assert cp.returncode == 125
    assert "127.0.0.1:1" in cp.stderr
    assert len(cp.stderr.strip().splitlines()) <= 3


def test_bad_flag_is_exit_125(run_racker, store):
    cp = run_racker("--root", store, "pull", "--no-such-flag", "busybox")
    assert cp.returncode == 125
    assert "--no-such-flag" in cp.stderr
    cp = run_racker("--root", store, "pull", "--tls-verify=maybe", "busybox")
    assert cp.returncode == 125


# ---- the rootfs equals what umoci unpacks ----

@pytest.mark.parametrize("image", ["busybox:latest", "special-gz:latest", "debian:bookworm",
                                   "debian-systemd:bookworm"])
def test_rootfs_matches_umoci_unpack(run_racker, store, registry, umoci_unpack, image):
    ref = f"{registry.host}/{image}"
    ok(pull(run_racker, store, ref))
    ours = mount(run_racker, store, ref)
    try:
        theirs = umoci_unpack(f"docker://{ref}")
        diffs = treecmp.compare(ours, theirs)
        assert diffs == [], "\n".join(map(str, diffs[:50]))
    finally:
        unmount(run_racker, store, ref)


def test_special_image_details(run_racker, store, registry):
    """Whiteouts, opaque dirs, hardlinks, xattrs, devices: spot checks on the
    merged view of the multi-layer image with zstd and plain tar layers."""
    ref = f"{registry.host}/special:latest"
    ok(pull(run_racker, store, ref))
    img = inspect(run_racker, store, ref)
    types = {l["MediaType"] for l in img["Layers"]}
    assert "application/vnd.oci.image.layer.v1.tar+zstd" in types
    assert "application/vnd.oci.image.layer.v1.tar" in types
    root = mount(run_racker, store, ref)
    try:
        j = lambda rel: os.path.join(root, rel)  # noqa: E731
        # Whiteouts and the opaque directory of layer 2.
        assert not os.path.lexists(j("gone-file"))
        assert not os.path.lexists(j("gone-dir"))
        assert sorted(os.listdir(j("opq"))) == ["new"]
        with open(j("replace-me")) as f:
            assert f.read() == "new content from layer 2\n"
        st = os.stat(j("replace-me"))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o600)
        # Metadata of layer 1.
        assert os.stat(j("files/setuid")).st_mode & 0o7777 == 0o4755
        assert os.stat(j("dirs/sticky")).st_mode & 0o7777 == 0o1777
        st = os.stat(j("files/named-owner"))
        assert (st.st_uid, st.st_gid) == (1234, 5678), "numeric ids, not names"
        st = os.stat(j("files/big-ids"))
        assert (st.st_uid, st.st_gid) == (3000000, 3000001)
        assert os.stat(j("files/plain")).st_mtime_ns == 1500000000123456789
        assert os.readlink(j("links/abs")) == "/files/plain"
        assert os.readlink(j("links/rel")) == "../files/plain"
        a, b = os.stat(j("links/hard-a")), os.stat(j("links/hard-b"))
        assert a.st_ino == b.st_ino and a.st_nlink == 2
        x, y = os.stat(j("hard2/x")), os.stat(j("hard2/y"))
        assert x.st_ino == y.st_ino
        assert os.getxattr(j("caps/netraw"), "security.capability") == treecmp_cap()
        assert os.getxattr(j("caps/user-only"), "user.racker.test") == b"\x00\x01binary\xff"
        st = os.stat(j("devs/null"))
        assert stat_is_chr(st) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
        assert stat_is_fifo(os.stat(j("devs/fifo")))
        # Every layer directory is in overlay format: whiteouts are 0:0
        # character devices, never .wh. files.
        for layer in img["Layers"]:
            for dirpath, dirnames, filenames in os.walk(layer["Path"]):
                for n in dirnames + filenames:
                    assert not n.startswith(".wh."), os.path.join(dirpath, n)
    finally:
        unmount(run_racker, store, ref)


def treecmp_cap():
    import testbed
    return testbed.CAP_NET_RAW_EP


def stat_is_chr(st):
    import stat as st_mod
    return st_mod.S_ISCHR(st.st_mode)


def stat_is_fifo(st):
    import stat as st_mod
    return st_mod.S_ISFIFO(st.st_mode)


# ---- platforms, refusals ----

def test_platform_selection(run_racker, store, registry):
    ref = f"{registry.host}/multiarch:latest"
    ok(pull(run_racker, store, ref))
    assert inspect(run_racker, store, ref)["Architecture"] == "amd64"
    root = mount(run_racker, store, ref)
    try:
        with open(os.path.join(root, "platform")) as f:
            assert "amd64" in f.read()
    finally:
        unmount(run_racker, store, ref)
    ok(pull(run_racker, store, ref, "--platform", "linux/arm64/v8"))
    img = inspect(run_racker, store, ref)
    assert img["Architecture"] == "arm64" and img.get("Variant") == "v8"
    cp = pull(run_racker, store, ref, "--platform", "linux/s390x")
    assert cp.returncode == 125
    assert "linux/s390x" in cp.stderr and "linux/amd64" in cp.stderr
    cp = pull(run_racker, store, ref, "--platform", "nonsense")
    assert cp.returncode == 125


def test_index_without_host_platform(run_racker, store, registry):
    ref = f"{registry.host}/armonly:latest"
    cp = pull(run_racker, store, ref)
    assert cp.returncode == 125
    assert "linux/arm64" in cp.stderr
    ok(pull(run_racker, store, ref, "--platform", "linux/arm64"))


@pytest.mark.parametrize("image,words", [
    ("artifact/helm:latest", ["helm"]),
    ("bad/schema1:latest", ["schema 1"]),
])
def test_refused_documents(run_racker, store, registry, image, words):
    if image not in registry.images:
        pytest.fail(f"the test bed did not push {image}")
    cp = pull(run_racker, store, f"{registry.host}/{image}")
    assert cp.returncode == 125
    for w in words:
        assert w in cp.stderr.lower(), cp.stderr
    assert ref_names(store) == []


def test_diff_id_mismatch_is_refused_and_nothing_kept(run_racker, store, registry):
    cp = pull(run_racker, store, f"{registry.host}/bad/diffid:latest")
    assert cp.returncode == 125
    assert "sha256:" in cp.stderr
    assert ref_names(store) == []
    assert listdir(store, "layers") == []
    assert listdir(store, "tmp") == []


# ---- faults ----

def test_cut_connections_resume_with_range(run_racker, store, fault_proxy):
    fault_proxy.set_fault("cut", after=200_000, count=3)
    ref = f"{fault_proxy.host}/debian:bookworm"
    ok(pull(run_racker, store, ref))
    ranges = [r for r in fault_proxy.requests("GET", r"/blobs/")
              if any(k.lower() == "range" for k in r["headers"])]
    assert ranges, "no Range request after the cut"
    assert ref_names(store) == [ref]


def test_cut_every_time_still_finishes(run_racker, store, fault_proxy):
    fault_proxy.set_fault("cut", after=1_000_000, count=None)
    ok(pull(run_racker, store, f"{fault_proxy.host}/debian:bookworm"))


@pytest.mark.parametrize("code", [500, 503])
def test_server_errors_once_are_retried(run_racker, store, fault_proxy, code):
    fault_proxy.set_fault("status", code=code, count=1, path=r"^/v2/")
    ok(pull(run_racker, store, f"{fault_proxy.host}/busybox:latest"))
    assert any(r["status"] == code for r in fault_proxy.log)


def test_429_honours_retry_after(run_racker, store, fault_proxy):
    fault_proxy.set_fault("status", code=429, count=1, retry_after=2)
    t0 = time.monotonic()
    ok(pull(run_racker, store, f"{fault_proxy.host}/busybox:latest"))
    assert time.monotonic() - t0 >= 2.0


def test_flipped_bytes_are_refused_and_store_stays_consistent(run_racker, store, fault_proxy,
                                                              registry):
    ok(pull(run_racker, store, f"{registry.host}/busybox:latest"))
    before_blobs = listdir(store, "blobs/sha256")
    before_layers = listdir(store, "layers")
    fault_proxy.set_fault("flip", count=None)
    ref = f"{fault_proxy.host}/debian:bookworm"
    cp = pull(run_racker, store, ref)
    assert cp.returncode == 125
    assert "sha256:" in cp.stderr
    errors = [l for l in cp.stderr.splitlines() if l.startswith("racker: error:")]
    assert len(errors) == 1, cp.stderr
    assert ref_names(store) == [f"{registry.host}/busybox:latest"]
    assert listdir(store, "layers") == before_layers
    # Only the (verified) config may have been added.
    added = set(listdir(store, "blobs/sha256")) - set(before_blobs)
    assert len(added) <= 1
    assert [n for n in listdir(store, "tmp") if n.startswith("layer-")] == []
    # The earlier image is intact, and a clean pull now works.
    ok(run_racker("--root", store, "inspect", f"{registry.host}/busybox:latest"))
    fault_proxy.reset()
    ok(pull(run_racker, store, ref))


def test_redirect_does_not_forward_authorization(run_racker, store, auth_fault_proxy, tmp_path):
    auth = tmp_path / "auth.json"
    import base64
    tok = base64.b64encode(b"racker:racker-test-password").decode()
    auth.write_text(json.dumps({"auths": {auth_fault_proxy.host: {"auth": tok}}}))
    auth_fault_proxy.set_fault("redirect", count=None)
    ok(pull(run_racker, store, f"{auth_fault_proxy.host}/busybox:latest",
            env={"REGISTRY_AUTH_FILE": str(auth)}))
    assert auth_fault_proxy.side_log, "the redirect target got no request"
    for r in auth_fault_proxy.side_log:
        assert not any(k.lower() == "authorization" for k in r["headers"]), r
    # The registry itself did get credentials.
    assert any(any(k.lower() == "authorization" for k in r["headers"])
               for r in auth_fault_proxy.log)


def test_sigkill_midway_then_pull_completes(run_racker, racker_bin, store, fault_proxy):
    fault_proxy.set_fault("slow", rate=2_000_000)
    ref = f"{fault_proxy.host}/debian:bookworm"
    p = subprocess.Popen([racker_bin, "--root", store, "pull", ref], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    partial = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = [n for n in listdir(store, "tmp") if n.endswith(".partial")]
        if parts:
            partial = os.path.join(store, "tmp", parts[0])
            if os.path.getsize(partial) > 3_000_000:
                break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert partial, "the pull never started a blob"
    # Nothing that a later pull would trust.
    assert ref_names(store) == []
    assert listdir(store, "layers") == []
    fault_proxy.reset()
    ok(pull(run_racker, store, ref))
    assert ref_names(store) == [ref]
    ranges = [r for r in fault_proxy.requests("GET", r"/blobs/")
              if any(k.lower() == "range" for k in r["headers"])]
    assert ranges, "the second pull did not resume the partial blob"
    assert [n for n in listdir(store, "tmp") if n.endswith(".partial")] == []


def test_concurrent_pulls_of_the_same_image(racker_bin, store, fault_proxy):
    fault_proxy.set_fault("slow", rate=20_000_000)
    ref = f"{fault_proxy.host}/debian:bookworm"
    procs = [subprocess.Popen([racker_bin, "--root", store, "pull", "-q", ref],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert ref_names(store) == [ref]
    assert len(listdir(store, "layers")) == 1
    # The layer was downloaded once: the others waited on its lock.
    blob_gets = [r for r in fault_proxy.requests("GET", r"/blobs/") if r["status"] in (200, 206)]
    assert len(blob_gets) <= 2 + 2  # config at most once per pull, the layer once


def test_full_disk_fails_cleanly_and_keeps_what_was_there(run_racker, registry, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        root = str(mnt / "store")
        ok(pull(run_racker, root, f"{registry.host}/busybox:latest"))
        cp = pull(run_racker, root, f"{registry.host}/debian:bookworm")
        assert cp.returncode == 125
        errors = [l for l in cp.stderr.splitlines() if l.startswith("racker: error:")]
        assert len(errors) == 1, cp.stderr
        assert "No space left on device" in errors[0]
        assert ref_names(root) == [f"{registry.host}/busybox:latest"]
        p = mount(run_racker, root, f"{registry.host}/busybox:latest")
        assert os.path.isfile(os.path.join(p, "bin", "busybox"))
        unmount(run_racker, root, f"{registry.host}/busybox:latest")
    finally:
        subprocess.run(["umount", "-R", str(mnt)])


# ---- malicious layers ----

@pytest.mark.parametrize("image", ["evil-traversal", "evil-symlink", "evil-hardlink"])
def test_malicious_layers_leave_the_host_untouched(run_racker, store, registry, evil_guard, image):
    cp = pull(run_racker, store, f"{registry.host}/{image}:latest")
    # Either confined (pull succeeds) or refused with a clear error.
    assert cp.returncode in (0, 125), cp.stderr
    if cp.returncode == 125:
        errors = [l for l in cp.stderr.splitlines() if l.startswith("racker: error:")]
        assert len(errors) == 1, cp.stderr
    assert evil_guard.problems() == []
    if cp.returncode == 0:
        root = mount(run_racker, store, f"{registry.host}/{image}:latest")
        try:
            assert evil_guard.problems() == []
        finally:
            unmount(run_racker, store, f"{registry.host}/{image}:latest")


# ---- registries.conf ----

def test_prefix_maps_docker_io_to_the_local_registry(run_racker, store, library_alias, tmp_path):
    env = write_conf(tmp_path, f'''
[[registry]]
prefix = "docker.io"
location = "{library_alias.host}"
''')
    cp = ok(pull(run_racker, store, "debian:bookworm", env=env))
    assert cp.stdout.strip() == "docker.io/library/debian:bookworm"
    assert ref_names(store) == ["docker.io/library/debian:bookworm"]
    # Short names find it in the store afterwards.
    assert inspect(run_racker, store, "debian:bookworm")["RepoTags"] == \
        ["docker.io/library/debian:bookworm"]


def test_mirrors_are_tried_in_order_before_the_primary(run_racker, store, library_alias,
                                                       fault_proxy, tmp_path):
    env = write_conf(tmp_path, f'''
[[registry]]
prefix = "docker.io"
location = "127.0.0.1:1"
[[registry.mirror]]
location = "127.0.0.1:2"
[[registry.mirror]]
location = "{fault_proxy.host}"
''')
    ok(pull(run_racker, store, "busybox", env=env))
    assert fault_proxy.requests(None, r"/v2/library/busybox/manifests/")


def test_blocked_registry(run_racker, store, tmp_path):
    env = write_conf(tmp_path, '''
[[registry]]
prefix = "docker.io"
blocked = true
''')
    cp = pull(run_racker, store, "debian:bookworm", env=env)
    assert cp.returncode == 125
    assert "blocked" in cp.stderr


def test_unqualified_search_registries(run_racker, store, registry, tmp_path):
    env = write_conf(tmp_path, f'''
unqualified-search-registries = ["127.0.0.1:1", "{registry.host}"]
''')
    ok(pull(run_racker, store, "busybox", env=env))
    assert ref_names(store) == [f"{registry.host}/busybox:latest"]
    ok(run_racker("--root", store, "inspect", "busybox", env=env))


def test_broken_registries_conf_is_reported(run_racker, store, tmp_path):
    env = write_conf(tmp_path, "[[registry]\nprefix = \n")
    cp = pull(run_racker, store, "busybox", env=env)
    assert cp.returncode == 125
    assert "registries.conf" in cp.stderr


# ---- auth ----

def test_basic_auth(run_racker, store, auth_registry, tmp_path):
    ref = f"{auth_registry.host}/busybox:latest"
    cp = pull(run_racker, store, ref, env={"REGISTRY_AUTH_FILE": "/nonexistent",
                                           "HOME": str(tmp_path)})
    assert cp.returncode == 125
    assert "credentials" in cp.stderr
    import base64
    bad = base64.b64encode(b"racker:wrong").decode()
    (tmp_path / "bad.json").write_text(json.dumps({"auths": {auth_registry.host: {"auth": bad}}}))
    cp = pull(run_racker, store, ref, env={"REGISTRY_AUTH_FILE": str(tmp_path / "bad.json")})
    assert cp.returncode == 125
    good = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    (tmp_path / "good.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": good}}}))
    ok(pull(run_racker, store, ref, env={"REGISTRY_AUTH_FILE": str(tmp_path / "good.json")}))


def test_docker_config_json_credentials(run_racker, store, auth_registry, tmp_path):
    import base64
    good = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": good}}}))
    ok(pull(run_racker, store, f"{auth_registry.host}/busybox:latest",
            env={"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": None, "XDG_RUNTIME_DIR": None}))


# ---- store commands ----

def test_shared_layers_rmi_and_prune(run_racker, store, registry):
    a = f"{registry.host}/debian:bookworm"
    b = f"{registry.host}/debian:bookworm-slim"
    ok(pull(run_racker, store, a))
    ok(pull(run_racker, store, b))
    assert len(listdir(store, "layers")) == 1, "the shared layer is unpacked once"
    ids = ok(run_racker("--root", store, "images", "-q")).stdout.split()
    assert len(ids) == 1
    out = ok(run_racker("--root", store, "images")).stdout
    assert "bookworm-slim" in out and "bookworm " in out
    # By ID with two names: refused without -f.
    cp = run_racker("--root", store, "rmi", ids[0])
    assert cp.returncode != 0
    cp = ok(run_racker("--root", store, "rmi", b))
    assert "Untagged" in cp.stdout
    assert ref_names(store) == [a]
    ok(run_racker("--root", store, "image", "prune"))
    assert len(listdir(store, "layers")) == 1, "prune must keep what an image uses"
    ok(run_racker("--root", store, "rmi", a))
    assert ref_names(store) == []
    cp = ok(run_racker("--root", store, "image", "prune"))
    assert listdir(store, "layers") == []
    assert listdir(store, "blobs/sha256") == []
    cp = run_racker("--root", store, "rmi", a)
    assert cp.returncode == 1
    assert "no such image" in cp.stderr


def test_images_formats(run_racker, store, registry):
    ref = f"{registry.host}/busybox:latest"
    ok(pull(run_racker, store, ref))
    data = json.loads(ok(run_racker("--root", store, "images", "--format", "json")).stdout)
    assert data[0]["RepoTags"] == [ref]
    assert data[0]["RepoDigests"] == [f"{registry.host}/busybox@" +
                                      registry.images["busybox:latest"]["digest"]]
    out = ok(run_racker("--root", store, "images", "--digests")).stdout
    assert registry.images["busybox:latest"]["digest"] in out
    out = ok(run_racker("--root", store, "images", "--no-trunc", "-q")).stdout.strip()
    assert out == data[0]["Id"]
    short = out[7:19]
    assert inspect(run_racker, store, short)["Id"] == out
    ok(run_racker("--root", store, "rmi", short))
    assert ref_names(store) == []


def test_image_mount_leaves_host_mount_table_as_it_was(run_racker, store, registry):
    before = mountinfo()
    ref = f"{registry.host}/debian:bookworm"
    ok(pull(run_racker, store, ref))
    p = mount(run_racker, store, ref)
    assert os.path.isfile(os.path.join(p, "etc", "os-release"))
    assert p in mountinfo()
    # Read-only.
    with pytest.raises(OSError):
        open(os.path.join(p, "newfile"), "w")
    unmount(run_racker, store, ref)
    assert mountinfo() == before


def test_info(run_racker, store):
    out = ok(run_racker("--root", store, "info")).stdout
    assert store in out and "Cgroups:" in out
    data = json.loads(ok(run_racker("--root", store, "info", "--format", "json")).stdout)
    assert data["cgroup"] in ("v1", "v2", "hybrid")
    assert data["overlayfs"] is True


# ---- output ----

def test_quiet_prints_nothing_and_status_lines_otherwise(run_racker, store, registry):
    ref = f"{registry.host}/busybox:latest"
    cp = ok(pull(run_racker, store, ref, "-q"))
    assert cp.stdout == "" and cp.stderr == ""
    ok(run_racker("--root", store, "rmi", ref))
    ok(run_racker("--root", store, "image", "prune"))
    cp = ok(pull(run_racker, store, ref))
    assert cp.stdout == ref + "\n"
    assert "layer 1/1" in cp.stderr and "done" in cp.stderr
    assert "\033[" not in cp.stderr


def test_progress_bars_on_a_terminal(racker_bin, store, registry):
    ref = f"{registry.host}/debian:bookworm"
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execv(racker_bin, [racker_bin, "--root", store, "pull", ref])
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 120)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    text = out.decode(errors="replace")
    assert "\033[" in text, "no cursor movement on a terminal"
    assert "pull complete" in text


# ---- Bearer tokens (Docker Hub's scheme) ----

def test_anonymous_bearer_token_is_fetched_once_per_scope(run_racker, store, token_registry):
    ref = f"{token_registry.host}/special:latest"
    ok(pull(run_racker, store, ref))
    tokens = token_registry.token_requests()
    assert len(tokens) == 1, tokens
    assert tokens[0]["query"]["scope"] == ["repository:special:pull"]
    assert tokens[0]["query"]["service"] == ["racker-test"]
    assert tokens[0]["auth"] == "anonymous"
    reg = token_registry.registry_requests()
    # Everything after the ping carried the token.
    assert all(r["auth"] == "ok" for r in reg if r["path"] != "/v2/"), reg


def test_bearer_token_with_credentials(run_racker, store, token_registry_creds, tmp_path):
    ref = f"{token_registry_creds.host}/busybox:latest"
    cp = pull(run_racker, store, ref, env={"REGISTRY_AUTH_FILE": "/nonexistent",
                                           "HOME": str(tmp_path)})
    assert cp.returncode == 125
    assert "credentials" in cp.stderr
    import base64
    good = base64.b64encode(f"{token_registry_creds.user}:{token_registry_creds.password}"
                            .encode()).decode()
    (tmp_path / "auth.json").write_text(
        json.dumps({"auths": {token_registry_creds.host: {"auth": good}}}))
    ok(pull(run_racker, store, ref, env={"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}))
    tokens = token_registry_creds.token_requests()
    assert tokens[-1]["auth"] == f"user:{token_registry_creds.user}"


def test_revoked_token_is_refreshed_on_401(run_racker, racker_bin, store, registry):
    """A token that stops working mid-pull (revoked, or expired early) gets
    a 401; racker asks for a new one and carries on."""
    import faultproxy
    import tokenauth
    proxy = faultproxy.FaultProxy(registry.host).start()
    front = tokenauth.TokenAuthProxy(proxy.host).start()
    try:
        proxy.set_fault("cut", after=500_000, count=1)
        ref = f"{front.host}/debian:bookworm"
        p = subprocess.Popen([racker_bin, "--root", store, "pull", "-q", ref],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # As soon as the cut happened, revoke: the resumed request (after
        # racker's backoff) carries a dead token.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.get("fault") == "cut" for r in proxy.log):
                break
            time.sleep(0.005)
        front.revoke_all()
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        statuses = [(r["kind"], r["status"], r.get("auth")) for r in front.log]
        assert ("registry", 401, "revoked") in statuses, statuses
        assert len(front.token_requests()) == 2, statuses
    finally:
        front.stop()
        proxy.stop()


# ---- TLS ----

def test_tls_registry_verification(run_racker, store, tls_registry, tmp_path):
    ref = f"{tls_registry.host}/busybox:latest"
    cp = pull(run_racker, store, ref)
    assert cp.returncode == 125
    assert "certificate" in cp.stderr.lower() or "ssl" in cp.stderr.lower()
    ok(pull(run_racker, store, ref, "--cert-dir", tls_registry.host_cert_dir))
    ok(run_racker("--root", store, "rmi", ref))
    ok(pull(run_racker, store, ref, "--tls-verify=false"))
    ok(run_racker("--root", store, "rmi", ref))
    env = write_conf(tmp_path, f'''
[[registry]]
location = "{tls_registry.host}"
insecure = true
''')
    ok(pull(run_racker, store, ref, env=env))


def test_client_certificate_from_cert_dir(run_racker, store, mtls_registry, tmp_path):
    ref = f"{mtls_registry.host}/busybox:latest"
    # the CA alone is not enough: the registry wants a client certificate
    t0 = time.monotonic()
    cp = pull(run_racker, store, ref, "--cert-dir", mtls_registry.ca_only_dir)
    errors = [line for line in cp.stderr.splitlines() if line.startswith("racker: error:")]
    assert cp.returncode == 125 and len(errors) == 1
    # the TLS alert in OpenSSL's words (Go's server sends bad_certificate)
    assert "alert bad certificate" in errors[0] or "alert certificate required" in errors[0]
    assert time.monotonic() - t0 < 3  # a deliberate refusal is not retried
    # NAME.cert with NAME.key in the cert dir: offered, and the pull works
    ok(pull(run_racker, store, ref, "--cert-dir", mtls_registry.host_cert_dir))
    assert inspect(run_racker, store, ref)["RepoTags"] == [ref]
    # a .cert without its .key is a clear error naming both
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copyfile(mtls_registry.ca_file, broken / "ca.crt")
    shutil.copyfile(mtls_registry.client_cert[0], broken / "me.cert")
    cp = pull(run_racker, store, ref, "--cert-dir", str(broken))
    errors = [line for line in cp.stderr.splitlines() if line.startswith("racker: error:")]
    assert cp.returncode == 125 and len(errors) == 1
    assert "me.cert" in errors[0] and "me.key" in errors[0]


def test_moved_tag_leaves_a_dangling_image_until_prune(run_racker, store, registry):
    ref = f"{registry.host}/moving:latest"
    skopeo_copy(f"docker://{registry.host}/busybox:latest", f"docker://{ref}")
    ok(pull(run_racker, store, ref))
    first = inspect(run_racker, store, ref)["Id"]
    skopeo_copy(f"docker://{registry.host}/special-gz:latest", f"docker://{ref}")
    ok(pull(run_racker, store, ref))
    second = inspect(run_racker, store, ref)["Id"]
    assert first != second
    rows = ok(run_racker("--root", store, "images")).stdout.splitlines()[1:]
    assert any(r.split()[:2] == ["<none>", "<none>"] for r in rows), rows
    assert inspect(run_racker, store, first)["RepoTags"] == []
    ok(run_racker("--root", store, "image", "prune"))
    cp = run_racker("--root", store, "inspect", first)
    assert cp.returncode == 125 and "no such image" in cp.stderr
    assert inspect(run_racker, store, ref)["Id"] == second
