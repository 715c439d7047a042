"""pytest fixtures of Racker's end-to-end tests (run with /usr/bin/python3 -m pytest).

Session scope: testbed (images built once, cached across runs), registry and
auth_registry (docker-registry on a free port, populated), the fault proxies.
Per test: fault_proxy / auth_fault_proxy (fresh fault state and log), store,
umoci_unpack, run_racker, evil_guard.
Bearer tokens: token_registry / token_registry_creds (tokenauth.TokenAuthProxy in
front of `registry`, reset per test). TLS: tls_registry (session; HTTPS on a
non-loopback dummy interface, see tlsregistry.py).
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))

import faultproxy  # noqa: E402
import testbed as tbmod  # noqa: E402
import tlsregistry  # noqa: E402
import tokenauth  # noqa: E402

AUTH_USER = "racker"
AUTH_PASSWORD = "racker-test-password"
# What the auth registry holds (a small subset of the standard set).
AUTH_SET = ["busybox:latest", "multiarch:latest", "special-gz:latest"]
# Who may get tokens from token_registry_creds.
TOKEN_USER = "racker-token"
TOKEN_PASSWORD = "racker-token-password"


@pytest.fixture(scope="session")
def testbed():
    """A testbed.Testbed with every image built (or found in the cache)."""
    tb = tbmod.Testbed()
    tb.build_all()
    return tb


@pytest.fixture(scope="session")
def registry(testbed):
    """docker-registry on 127.0.0.1:free port holding the standard set.

    .host "127.0.0.1:PORT", .url, .push(layout, ref, "repo:tag", fmt="oci"|"v2s2"),
    .push_raw(layout, ref, "repo:tag"), .client(), .images {repo:tag: info}."""
    reg = tbmod.Registry().start()
    try:
        reg.images = tbmod.populate(testbed, reg.host)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def auth_registry(testbed):
    """Like registry but with htpasswd auth (.user, .password); holds AUTH_SET."""
    reg = tbmod.Registry(htpasswd=(AUTH_USER, AUTH_PASSWORD)).start()
    try:
        reg.images = tbmod.populate(testbed, reg.host, AUTH_SET, creds=reg.creds)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def _fault_proxy_session(registry):
    proxy = faultproxy.FaultProxy(registry.host).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def _auth_fault_proxy_session(auth_registry):
    proxy = faultproxy.FaultProxy(auth_registry.host).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(_fault_proxy_session):
    """A faultproxy.FaultProxy in front of `registry`, no fault, empty log."""
    _fault_proxy_session.reset()
    yield _fault_proxy_session
    _fault_proxy_session.reset()


@pytest.fixture
def auth_fault_proxy(_auth_fault_proxy_session):
    """A faultproxy.FaultProxy in front of `auth_registry`, no fault, empty log."""
    _auth_fault_proxy_session.reset()
    yield _auth_fault_proxy_session
    _auth_fault_proxy_session.reset()


@pytest.fixture(scope="session")
def racker_bin():
    """The racker binary: $RACKER_BIN, or build/racker in this repository."""
    path = os.environ.get("RACKER_BIN") or os.path.join(REPO, "build", "racker")
    if not os.access(path, os.X_OK):
        pytest.fail(f"racker binary not found at {path}: build it or set RACKER_BIN")
    return path


def mounts_under(path):
    """Mount points at or below path, deepest first (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            # mountinfo escapes space, tab, newline and backslash as octal.
            mp = mp.encode().decode("unicode_escape").encode("latin-1").decode(
                "utf-8", "surrogateescape")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def remove_tree(path):
    """Unmount everything under path, then delete it."""
    for _ in range(3):
        mps = mounts_under(path)
        if not mps:
            break
        for mp in mps:
            if subprocess.run(["umount", "-R", mp], stderr=subprocess.DEVNULL).returncode:
                subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    leftover = mounts_under(path)
    if leftover:
        raise RuntimeError(f"cannot unmount {leftover}; not removing {path}")
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        # Immutable or append-only files a test may have made.
        subprocess.run(["chattr", "-R", "-ia", path], stderr=subprocess.DEVNULL)
        shutil.rmtree(path)


@pytest.fixture
def store():
    """A fresh, empty directory for racker --root; unmounted and removed afterwards."""
    path = tempfile.mkdtemp(prefix="racker-store-", dir="/tmp")
    yield path
    remove_tree(path)


@pytest.fixture
def umoci_unpack():
    """unpack(image, ref="latest") -> path of the unpacked rootfs (umoci, as root).

    image: an OCI image layout directory (a cached testbed layout, or a racker
    store if it is one), or "docker://HOST:PORT/REPO:TAG" (copied with skopeo
    into a temporary layout first; ref is then ignored)."""
    dirs = []

    def unpack(image, ref="latest"):
        work = tempfile.mkdtemp(prefix="racker-umoci-", dir="/tmp")
        dirs.append(work)
        if image.startswith("docker://"):
            layout = os.path.join(work, "layout")
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet",
                            "--src-tls-verify=false", image, f"oci:{layout}:img"],
                           check=True, stdin=subprocess.DEVNULL)
            image, ref = layout, "img"
        bundle = os.path.join(work, "bundle")
        subprocess.run(["umoci", "unpack", "--image", f"{image}:{ref}", bundle],
                       check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        return os.path.join(bundle, "rootfs")

    yield unpack
    for d in dirs:
        remove_tree(d)


@pytest.fixture
def run_racker(racker_bin):
    """run(*args, env=None, input=None, timeout=120, check=False) -> CompletedProcess.

    stdout/stderr are text. env entries are added to a copy of os.environ (a value
    of None removes the variable)."""
    def run(*args, env=None, input=None, timeout=120, check=False):
        full_env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        return subprocess.run([racker_bin, *map(str, args)], env=full_env,
                              input=input, text=True, capture_output=True,
                              timeout=timeout, check=check,
                              stdin=None if input is not None else subprocess.DEVNULL)
    return run


@pytest.fixture
def evil_guard():
    """testbed.EvilGuard with the evil host paths prepared: after pulling or
    unpacking an evil-* image, assert evil_guard.problems() == []."""
    guard = tbmod.EvilGuard().prepare()
    yield guard
    guard.cleanup()


@pytest.fixture(scope="session")
def _token_registry_session(registry):
    front = tokenauth.TokenAuthProxy(registry.host, anonymous=True).start()
    front.images = registry.images
    yield front
    front.stop()


@pytest.fixture(scope="session")
def _token_registry_creds_session(registry):
    front = tokenauth.TokenAuthProxy(registry.host, anonymous=False, user=TOKEN_USER,
                                     password=TOKEN_PASSWORD).start()
    front.images = registry.images
    yield front
    front.stop()


@pytest.fixture
def token_registry(_token_registry_session):
    """A tokenauth.TokenAuthProxy in front of `registry`: every /v2/ request
    needs a Bearer token, which /token gives to anyone. Per test: initial config
    (expires_in 300, all repositories), no tokens, empty log. .host, .url,
    .realm, .service, .images (the registry's), .log, .token_requests(),
    .registry_requests(), .set_config(...), .revoke_all()."""
    _token_registry_session.reset()
    yield _token_registry_session
    _token_registry_session.reset()


@pytest.fixture
def token_registry_creds(_token_registry_creds_session):
    """Like token_registry, but /token needs Basic .user:.password (.creds)."""
    _token_registry_creds_session.reset()
    yield _token_registry_creds_session
    _token_registry_creds_session.reset()


@pytest.fixture(scope="session")
def tls_registry(testbed):
    """docker-registry over HTTPS on a dummy interface (10.213.57.1 or the next
    free address), certificate from a throwaway CA, holding busybox:latest.

    .host "ADDR:PORT", .url "https://ADDR:PORT", .address, .ca_file (CA PEM),
    .cert_dir (<cert_dir>/<host>/ca.crt, containers-certs.d(5)), .host_cert_dir
    (<cert_dir>/<host>), .images, .iface (.name, .address, .kind), .client(),
    .ssl_context(). The interface is removed at the end of the session (an
    error there if it is not)."""
    with tlsregistry.TLSRegistrySession(testbed) as reg:
        yield reg


@pytest.fixture(scope="session")
def mtls_registry(testbed):
    """Like tls_registry, but the registry requires a client certificate from
    its CA: .client_cert (cert, key), .host_cert_dir (ca.crt, client.cert,
    client.key), .ca_only_dir (ca.crt alone)."""
    with tlsregistry.TLSRegistrySession(testbed, mtls=True) as reg:
        yield reg
