"""Tests of the test bed's Bearer-token front (tokenauth.py) and HTTPS registry
(tlsregistry.py), with urllib/http.client and skopeo as the clients."""

import base64
import datetime
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import testbed as tbmod
import tlsregistry

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")
PY = "/usr/bin/python3"
MANIFEST_HEADERS = {"Accept": tbmod.MANIFEST_ACCEPT}


# ---- helpers ----

def request(url, headers=None, method="GET", data=None, context=None):
    """(status, headers, body); HTTP errors are answers too; no redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    handlers = [NoRedirect]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def parse_challenge(value):
    """'Bearer a="x",b="y"' -> ("bearer", {"a": "x", "b": "y"})."""
    scheme, _, rest = value.partition(" ")
    params = dict(re.findall(r'([A-Za-z_]+)="([^"]*)"', rest))
    # Nothing may be left over but the separators between the pairs.
    assert re.sub(r'[A-Za-z_]+="[^"]*"', "", rest).strip(", ") == "", value
    return scheme.lower(), params


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def fetch_token(front, *scopes, headers=None, service=...):
    """(status, json or body) of GET realm?service=...&scope=... (scope repeated)."""
    q = []
    if service is not ...:
        if service is not None:
            q.append(("service", service))
    else:
        q.append(("service", front.service))
    q += [("scope", s) for s in scopes]
    status, _, body = request(front.realm + "?" + urllib.parse.urlencode(q), headers)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def token_for(front, *scopes, headers=None):
    status, doc = fetch_token(front, *scopes, headers=headers)
    assert status == 200, doc
    return doc["token"]


def busybox_layer(images):
    lay = tbmod.Layout(images["busybox:latest"]["layout"])
    man = lay.read_json(lay.resolve("latest")["digest"])
    digest = man["layers"][0]["digest"]
    return digest, lay.read_blob(digest)


def skopeo(*args, check=False):
    return subprocess.run(["skopeo", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=check)


# ---- the token front: challenges ----

def test_no_token_gets_docker_hub_style_challenges(token_registry):
    front = token_registry
    assert front.realm == f"http://{front.host}/token"
    assert front.service == "racker-test"
    # GET /v2/: a challenge without scope.
    status, hdrs, body = request(front.url + "/v2/")
    assert status == 401
    assert hdrs["Docker-Distribution-Api-Version"] == "registry/2.0"
    scheme, params = parse_challenge(hdrs["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {"realm": front.realm, "service": "racker-test"}
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    # A repository request: the scope names the repository and the action.
    status, hdrs, body = request(front.url + "/v2/busybox/manifests/latest",
                                 MANIFEST_HEADERS)
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1] == {
        "realm": front.realm, "service": "racker-test",
        "scope": "repository:busybox:pull"}
    err = json.loads(body)["errors"][0]
    assert err["code"] == "UNAUTHORIZED"
    assert err["detail"] == [{"Type": "repository", "Class": "", "Name": "busybox",
                              "Action": "pull"}]
    # Nested names, HEAD (no body), and push methods.
    status, hdrs, body = request(front.url + "/v2/artifact/helm/tags/list")
    assert parse_challenge(hdrs["WWW-Authenticate"])[1]["scope"] == \
        "repository:artifact/helm:pull"
    status, hdrs, body = request(front.url + "/v2/busybox/manifests/latest", method="HEAD")
    assert status == 401 and body == b""
    assert "scope=\"repository:busybox:pull\"" in hdrs["WWW-Authenticate"]
    status, hdrs, _ = request(front.url + "/v2/busybox/blobs/uploads/", method="POST",
                              data=b"")
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1]["scope"] == \
        "repository:busybox:pull,push"
    # A garbage token is refused as invalid, with the same challenge.
    status, hdrs, _ = request(front.url + "/v2/busybox/manifests/latest",
                              dict(MANIFEST_HEADERS, **bearer("not-a-token")))
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1]["error"] == "invalid_token"
    # Nothing reached the registry; the log says why.
    assert [e["auth"] for e in front.registry_requests()] == \
        ["missing"] * 5 + ["unknown"]
    assert all(e["status"] == 401 for e in front.log)
    assert front.token_requests() == []


def test_anonymous_token_flow(token_registry, registry):
    front = token_registry
    assert front.log == [], "the log is reset for every test"
    t0 = time.time()
    status, doc = fetch_token(front, "repository:busybox:pull")
    assert status == 200
    assert set(doc) == {"token", "access_token", "expires_in", "issued_at"}
    assert doc["token"] == doc["access_token"] and len(doc["token"]) >= 32
    assert doc["expires_in"] == 300
    issued = datetime.datetime.strptime(doc["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ") \
        .replace(tzinfo=datetime.timezone.utc).timestamp()
    assert t0 - 2 <= issued <= time.time() + 2
    tok = doc["token"]
    # The token opens /v2/, the manifest and the blob (Range passes through).
    status, _, _ = request(front.url + "/v2/", bearer(tok))
    assert status == 200
    status, hdrs, body = request(front.url + "/v2/busybox/manifests/latest",
                                 dict(MANIFEST_HEADERS, **bearer(tok)))
    assert status == 200
    assert hdrs["Docker-Content-Digest"] == registry.images["busybox:latest"]["digest"]
    assert json.loads(body)["mediaType"] == tbmod.MT_OCI_MANIFEST
    digest, blob = busybox_layer(registry.images)
    status, hdrs, body = request(front.url + f"/v2/busybox/blobs/{digest}",
                                 dict(bearer(tok), Range="bytes=100-"))
    assert status == 206 and body == blob[100:]
    status, _, body = request(front.url + f"/v2/busybox/blobs/{digest}", bearer(tok))
    assert status == 200 and tbmod.sha256_bytes(body) == digest
    # The log: one token request with the scope, the client's headers recorded.
    toks = front.token_requests()
    assert len(toks) == 1
    assert toks[0]["query"] == {"service": ["racker-test"],
                                "scope": ["repository:busybox:pull"]}
    assert toks[0]["auth"] == "anonymous" and toks[0]["scopes"] == ["repository:busybox:pull"]
    assert toks[0]["token"] == tok and toks[0]["status"] == 200
    regs = front.registry_requests()
    assert [(e["method"], e["path"], e["status"], e["auth"]) for e in regs] == [
        ("GET", "/v2/", 200, "ok"),
        ("GET", "/v2/busybox/manifests/latest", 200, "ok"),
        ("GET", f"/v2/busybox/blobs/{digest}", 206, "ok"),
        ("GET", f"/v2/busybox/blobs/{digest}", 200, "ok")]
    assert all(e["headers"]["Authorization"] == f"Bearer {tok}" for e in regs)
    assert regs[2]["headers"]["Range"] == "bytes=100-"
    assert regs[3]["sent"] == len(blob)


def test_token_covers_exactly_the_requested_scopes(token_registry):
    front = token_registry
    tok = token_for(front, "repository:busybox:pull")
    status, hdrs, body = request(front.url + "/v2/multiarch/manifests/latest",
                                 dict(MANIFEST_HEADERS, **bearer(tok)))
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1] == {
        "realm": front.realm, "service": "racker-test",
        "scope": "repository:multiarch:pull", "error": "insufficient_scope"}
    assert "insufficient_scope" in json.loads(body)["errors"][0]["message"]
    assert front.registry_requests()[-1]["auth"] == "insufficient_scope"
    # A pull token does not push.
    status, hdrs, _ = request(front.url + "/v2/busybox/blobs/uploads/", bearer(tok),
                              method="POST", data=b"")
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1]["error"] == "insufficient_scope"
    # Two scopes at once (scope repeated), and a scope-less token opens /v2/ only.
    both = token_for(front, "repository:busybox:pull", "repository:multiarch:pull")
    for repo in ("busybox", "multiarch"):
        status, _, _ = request(front.url + f"/v2/{repo}/manifests/latest",
                               dict(MANIFEST_HEADERS, **bearer(both)))
        assert status == 200, repo
    bare = token_for(front)
    assert request(front.url + "/v2/", bearer(bare))[0] == 200
    assert request(front.url + "/v2/busybox/manifests/latest",
                   dict(MANIFEST_HEADERS, **bearer(bare)))[0] == 401
    assert [t["scopes"] for t in front.token_requests()] == [
        ["repository:busybox:pull"],
        ["repository:busybox:pull", "repository:multiarch:pull"], []]


def test_push_scope_and_upload_through_the_front(token_registry):
    front = token_registry
    tok = token_for(front, "repository:tokenauth-test/upload:pull,push")
    status, hdrs, _ = request(front.url + "/v2/tokenauth-test/upload/blobs/uploads/",
                              bearer(tok), method="POST", data=b"")
    assert status == 202
    # The registry builds Location from the Host header: it points back at the front.
    loc = urllib.parse.urljoin(front.url + "/", hdrs["Location"])
    assert loc.startswith(front.url + "/v2/tokenauth-test/upload/blobs/uploads/")
    data = b"pushed through the token front\n"
    digest = tbmod.sha256_bytes(data)
    sep = "&" if "?" in loc else "?"
    status, _, body = request(f"{loc}{sep}digest={urllib.parse.quote(digest)}",
                              dict(bearer(tok), **{"Content-Type": "application/octet-stream"}),
                              method="PUT", data=data)
    assert status == 201, body
    status, _, body = request(front.url + f"/v2/tokenauth-test/upload/blobs/{digest}",
                              bearer(tok))
    assert status == 200 and body == data


def test_expired_token_is_refused_and_a_fresh_one_works(token_registry):
    front = token_registry
    front.set_config(expires_in=1)
    status, doc = fetch_token(front, "repository:busybox:pull")
    assert doc["expires_in"] == 1
    url = front.url + "/v2/busybox/manifests/latest"
    assert request(url, dict(MANIFEST_HEADERS, **bearer(doc["token"])))[0] == 200
    time.sleep(1.3)
    status, hdrs, body = request(url, dict(MANIFEST_HEADERS, **bearer(doc["token"])))
    assert status == 401
    params = parse_challenge(hdrs["WWW-Authenticate"])[1]
    assert params["error"] == "invalid_token"
    assert params["scope"] == "repository:busybox:pull"
    assert json.loads(body)["errors"][0]["message"] == "token expired"
    assert front.registry_requests()[-1]["auth"] == "expired"
    fresh = token_for(front, params["scope"])
    assert fresh != doc["token"]
    assert request(url, dict(MANIFEST_HEADERS, **bearer(fresh)))[0] == 200


def test_revocation_and_refresh_show_in_the_log(token_registry):
    """What a client test asserts: a 401 was followed by a new token request."""
    front = token_registry
    tok = token_for(front, "repository:busybox:pull")
    url = front.url + "/v2/busybox/manifests/latest"
    assert request(url, dict(MANIFEST_HEADERS, **bearer(tok)))[0] == 200
    front.revoke_all()
    status, hdrs, body = request(url, dict(MANIFEST_HEADERS, **bearer(tok)))
    assert status == 401 and json.loads(body)["errors"][0]["message"] == "token revoked"
    scope = parse_challenge(hdrs["WWW-Authenticate"])[1]["scope"]
    tok2 = token_for(front, scope)
    assert request(url, dict(MANIFEST_HEADERS, **bearer(tok2)))[0] == 200
    seq = [(e["kind"], e["status"], e["auth"]) for e in front.log]
    assert seq == [("token", 200, "anonymous"), ("registry", 200, "ok"),
                   ("registry", 401, "revoked"), ("token", 200, "anonymous"),
                   ("registry", 200, "ok")]
    assert front.log[2]["token"] == tok and front.log[4]["token"] == tok2


def test_repos_allowed(token_registry):
    front = token_registry
    front.set_config(repos_allowed=["busybox", "artifact/*"])
    status, doc = fetch_token(front, "repository:multiarch:pull", "repository:busybox:pull",
                              "repository:artifact/helm:pull")
    assert status == 200
    # The token is issued, but without the repository it may not cover.
    assert front.token_requests()[-1]["scopes"] == ["repository:busybox:pull",
                                                    "repository:artifact/helm:pull"]
    tok = doc["token"]
    status, hdrs, _ = request(front.url + "/v2/multiarch/manifests/latest",
                              dict(MANIFEST_HEADERS, **bearer(tok)))
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[1]["error"] == "insufficient_scope"
    for repo in ("busybox", "artifact/helm"):
        assert request(front.url + f"/v2/{repo}/manifests/latest",
                       dict(MANIFEST_HEADERS, **bearer(tok)))[0] == 200


def test_token_endpoint_refuses_bad_requests(token_registry):
    front = token_registry
    assert fetch_token(front, "repository:busybox:pull", service="other")[0] == 400
    assert fetch_token(front, "repository:busybox")[0] == 400
    # No service at all is accepted (the scope decides).
    assert fetch_token(front, "repository:busybox:pull", service=None)[0] == 200
    assert request(front.realm, method="POST", data=b"grant_type=password")[0] == 405


def test_control_endpoint(token_registry):
    front = token_registry
    ctl = lambda path, obj=None: request(  # noqa: E731
        front.url + path, {"Content-Type": "application/json"},
        method="POST" if obj is not None else "GET",
        data=json.dumps(obj).encode() if obj is not None else None)
    status, _, body = ctl("/_config")
    cfg = json.loads(body)
    assert status == 200
    assert (cfg["expires_in"], cfg["anonymous"], cfg["repos_allowed"], cfg["tokens"]) == \
        (300, True, None, 0)
    assert cfg["realm"] == front.realm and cfg["service"] == "racker-test"
    status, _, body = ctl("/_config", {"expires_in": 7, "repos_allowed": ["busybox"]})
    assert status == 200 and json.loads(body)["expires_in"] == 7
    status, doc = fetch_token(front, "repository:busybox:pull")
    assert doc["expires_in"] == 7
    url = front.url + "/v2/busybox/manifests/latest"
    assert request(url, dict(MANIFEST_HEADERS, **bearer(doc["token"])))[0] == 200
    cfg = json.loads(ctl("/_config")[2])
    assert (cfg["tokens"], cfg["valid_tokens"]) == (1, 1)
    assert ctl("/_config", {"revoke": True})[0] == 200
    assert json.loads(ctl("/_config")[2])["valid_tokens"] == 0
    assert request(url, dict(MANIFEST_HEADERS, **bearer(doc["token"])))[0] == 401
    log = json.loads(ctl("/_log")[2])["requests"]
    assert [(e["kind"], e["status"]) for e in log] == [("token", 200), ("registry", 200),
                                                       ("registry", 401)]
    assert log[1]["headers"]["Authorization"] == "Bearer " + doc["token"]
    assert ctl("/_config", {"no_such_key": 1})[0] == 400
    assert ctl("/_config", {"anonymous": False})[0] == 400, "no user to require"
    assert ctl("/_reset", {})[0] == 200
    cfg = json.loads(ctl("/_config")[2])
    assert (cfg["expires_in"], cfg["repos_allowed"], cfg["tokens"]) == (300, None, 0)
    assert json.loads(ctl("/_log")[2])["requests"] == []


def test_skopeo_speaks_the_token_protocol(token_registry, registry, tmp_path):
    """A real client (containers/image) follows the challenges and pulls."""
    front = token_registry
    raw = skopeo("inspect", "--raw", "--tls-verify=false",
                 f"docker://{front.host}/busybox:latest", check=True).stdout
    assert tbmod.sha256_bytes(raw.encode()) == registry.images["busybox:latest"]["digest"]
    toks = front.token_requests()
    assert toks and all(t["status"] == 200 for t in toks)
    assert "repository:busybox:pull" in toks[-1]["query"]["scope"]
    assert toks[-1]["query"]["service"] == ["racker-test"]
    # Go sends one Accept line per type; the front must not lose any of them.
    man = [e for e in front.registry_requests() if "/manifests/" in e["path"]]
    assert man and man[-1]["status"] == 200
    assert tbmod.MT_OCI_MANIFEST in man[-1]["headers"]["Accept"]
    assert tbmod.MT_DOCKER_MANIFEST in man[-1]["headers"]["Accept"]
    front.reset()
    skopeo("--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
           f"docker://{front.host}/busybox:latest", f"oci:{tmp_path}/lay:x", check=True)
    digest, blob = busybox_layer(registry.images)
    assert tbmod.Layout(str(tmp_path / "lay")).read_blob(digest) == blob
    assert any(e["status"] == 200 and digest in e["path"] for e in front.registry_requests())


def test_skopeo_push_through_the_token_front(token_registry, testbed):
    front = token_registry
    skopeo("--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
           f"oci:{testbed.path('busybox')}:latest",
           f"docker://{front.host}/tokenauth-test/busybox:pushed", check=True)
    scopes = {s for t in front.token_requests() for s in t["query"].get("scope", [])}
    assert "repository:tokenauth-test/busybox:pull,push" in scopes
    assert any(e["method"] == "PUT" and e["status"] == 201 and "/manifests/pushed" in e["path"]
               for e in front.registry_requests())


# ---- the token front that needs a password ----

def test_creds_required_refuses_anonymous_and_accepts_the_user(token_registry_creds):
    front = token_registry_creds
    assert front.anonymous is False and front.user and front.password
    assert front.creds == (front.user, front.password)
    status, hdrs, body = request(front.realm + "?service=racker-test"
                                 "&scope=repository:busybox:pull")
    assert status == 401
    assert parse_challenge(hdrs["WWW-Authenticate"])[0] == "basic"
    assert json.loads(body) == {"details": "authentication required"}
    status, doc = fetch_token(front, "repository:busybox:pull",
                              headers=basic(front.user, "wrong"))
    assert status == 401 and doc == {"details": "incorrect username or password"}
    status, doc = fetch_token(front, "repository:busybox:pull",
                              headers=basic(front.user, front.password))
    assert status == 200
    url = front.url + "/v2/busybox/manifests/latest"
    assert request(url, dict(MANIFEST_HEADERS, **bearer(doc["token"])))[0] == 200
    assert [t["auth"] for t in front.token_requests()] == [
        "missing_credentials", "bad_credentials", f"user:{front.user}"]
    assert front.token_requests()[-1]["headers"]["Authorization"].startswith("Basic ")
    # The registry side still challenges with Bearer, as Docker Hub does.
    status, hdrs, _ = request(url, MANIFEST_HEADERS)
    assert status == 401 and parse_challenge(hdrs["WWW-Authenticate"])[0] == "bearer"


def test_skopeo_with_and_without_creds(token_registry_creds):
    front = token_registry_creds
    cp = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{front.host}/busybox:latest")
    assert cp.returncode != 0
    assert "401" in cp.stderr or "unauthorized" in cp.stderr.lower(), cp.stderr
    cp = skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                f"{front.user}:{front.password}", f"docker://{front.host}/busybox:latest")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["mediaType"] == tbmod.MT_OCI_MANIFEST


def test_tokenauth_cli(registry, tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([PY, os.path.join(FIXTURES, "tokenauth.py"), "--upstream",
                             registry.host, "--port-file", str(port_file), "--no-anonymous",
                             "--user", "u", "--password", "p", "--expires-in", "5",
                             "--repo", "busybox"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        host = f"127.0.0.1:{int(port_file.read_text())}"
        assert line == host
        cfg = json.loads(request(f"http://{host}/_config")[2])
        assert (cfg["anonymous"], cfg["expires_in"], cfg["repos_allowed"]) == \
            (False, 5, ["busybox"])
        q = "?service=racker-test&scope=repository:busybox:pull"
        assert request(f"http://{host}/token{q}")[0] == 401
        status, _, body = request(f"http://{host}/token{q}", basic("u", "p"))
        assert status == 200 and json.loads(body)["expires_in"] == 5
        tok = json.loads(body)["token"]
        assert request(f"http://{host}/v2/busybox/manifests/latest",
                       dict(MANIFEST_HEADERS, **bearer(tok)))[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


# ---- the TLS registry ----

def test_tls_registry_attributes_and_layout(tls_registry):
    reg = tls_registry
    addr, port = reg.host.rsplit(":", 1)
    assert addr == reg.address == reg.iface.address and int(port) > 0
    ip = ipaddress.ip_address(addr)
    assert ip.version == 4 and not ip.is_loopback
    assert reg.url == f"https://{reg.host}"
    assert os.listdir(reg.cert_dir) == [reg.host]
    assert reg.host_cert_dir == os.path.join(reg.cert_dir, reg.host)
    assert os.listdir(reg.host_cert_dir) == ["ca.crt"]
    with open(reg.ca_file, "rb") as a, open(os.path.join(reg.host_cert_dir, "ca.crt"), "rb") as b:
        pem = a.read()
        assert pem == b.read() and pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert set(reg.images) == {"busybox:latest"}
    assert reg.images["busybox:latest"]["digest"].startswith("sha256:")
    # The interface is there, ours, and alone in holding the address.
    assert os.path.isdir(f"/sys/class/net/{reg.iface.name}")
    assert reg.iface.exists()
    assert tlsregistry.ipv4_addresses()[addr] == reg.iface.name
    out = subprocess.run(["openssl", "x509", "-in", reg.registry.cert, "-noout", "-ext",
                          "subjectAltName,basicConstraints"], capture_output=True, text=True,
                         check=True).stdout
    assert f"IP Address:{addr}" in out and "CA:FALSE" in out
    cp = subprocess.run(["openssl", "verify", "-CAfile", reg.ca_file, "-purpose", "sslserver",
                         reg.registry.cert], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_tls_registry_verifies_only_with_its_ca(tls_registry):
    reg = tls_registry
    status, hdrs, body = request(reg.url + "/v2/", context=ssl.create_default_context(
        cafile=reg.ca_file))
    assert status == 200 and json.loads(body) == {}
    assert hdrs["Docker-Distribution-Api-Version"] == "registry/2.0"
    status, hdrs, body = request(reg.url + "/v2/busybox/manifests/latest", MANIFEST_HEADERS,
                                 context=reg.ssl_context())
    assert status == 200
    assert hdrs["Docker-Content-Digest"] == reg.images["busybox:latest"]["digest"]
    # Without the CA (the system's trust store only) verification fails.
    addr, port = reg.host.rsplit(":", 1)
    conn = http.client.HTTPSConnection(addr, int(port), timeout=10,
                                       context=ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError) as ei:
        conn.request("GET", "/v2/")
    conn.close()
    assert "certificate verify failed" in str(ei.value)
    # The CA vouches for the address, not for another name of the same server.
    ctx = reg.ssl_context()
    with socket.create_connection((addr, int(port)), timeout=10) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="registry.invalid")
    # And plain HTTP is not served there.
    conn = http.client.HTTPConnection(addr, int(port), timeout=10)
    conn.request("GET", "/v2/")
    resp = conn.getresponse()
    assert resp.status == 400 and b"HTTPS" in resp.read()
    conn.close()


def test_skopeo_with_the_cert_dir(tls_registry):
    reg = tls_registry
    ref = f"docker://{reg.host}/busybox:latest"
    # skopeo's --cert-dir reads *.crt from the directory itself, so it takes
    # the per-host directory of the certs.d layout.
    cp = skopeo("inspect", "--cert-dir", reg.host_cert_dir, ref)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["Digest"] == reg.images["busybox:latest"]["digest"]
    cp = skopeo("inspect", "--raw", "--cert-dir", reg.host_cert_dir, ref)
    assert tbmod.sha256_bytes(cp.stdout.encode()) == reg.images["busybox:latest"]["digest"]
    # Without the CA, and with the top of the certs.d tree, it does not verify.
    for args in ([], ["--cert-dir", reg.cert_dir]):
        cp = skopeo("inspect", *args, ref)
        assert cp.returncode != 0
        assert "x509" in cp.stderr or "certificate" in cp.stderr, cp.stderr


def test_tls_client_can_push(tls_registry):
    reg = tls_registry
    client = reg.client()
    data = b"tls upload\n"
    digest = tbmod.sha256_bytes(data)
    client.push_blob("tls-test/blob", digest, data=data)
    assert client.get_blob("tls-test/blob", digest) == data


# ---- the interface goes away, also when the session fails ----

if os.environ.get("RACKER_TLS_CHILD"):
    # Only collected in the child session started by the test below.
    def test_child_session_uses_tls_registry(tls_registry):
        with open(os.environ["RACKER_TLS_CHILD_OUT"], "w") as f:
            json.dump({"name": tls_registry.iface.name, "address": tls_registry.address,
                       "alias": tls_registry.iface.alias, "host": tls_registry.host}, f)
        assert request(tls_registry.url + "/v2/", context=tls_registry.ssl_context())[0] == 200
        assert os.environ["RACKER_TLS_CHILD"] != "fail", "failing on purpose"


@pytest.mark.parametrize("mode", ["pass", "fail"])
def test_interface_is_removed_at_session_end(tls_registry, tmp_path, mode):
    out = tmp_path / "child.json"
    env = dict(os.environ, RACKER_TLS_CHILD=mode, RACKER_TLS_CHILD_OUT=str(out))
    cp = subprocess.run([PY, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                         "-k", "test_child_session_uses_tls_registry", __file__],
                        env=env, capture_output=True, text=True, timeout=600,
                        stdin=subprocess.DEVNULL)
    summary = cp.stdout.strip().splitlines()[-1] if cp.stdout.strip() else ""
    if mode == "pass":
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert re.search(r"\b1 passed\b", summary), cp.stdout
    else:
        assert cp.returncode == 1, cp.stdout + cp.stderr
        assert re.search(r"\b1 failed\b", summary) and "failing on purpose" in cp.stdout
    assert "error" not in summary, "teardown of the child session failed:\n" + cp.stdout
    child = json.loads(out.read_text())
    # Our session holds its interface, so the child had to take another name
    # and address, and removed only its own.
    assert child["name"] != tls_registry.iface.name
    assert child["address"] != tls_registry.address
    assert not os.path.exists(f"/sys/class/net/{child['name']}")
    assert child["address"] not in tlsregistry.ipv4_addresses()
    assert tls_registry.iface.exists()
    assert request(tls_registry.url + "/v2/", context=tls_registry.ssl_context())[0] == 200


def test_stale_interface_of_a_killed_session_is_cleaned_up(tmp_path):
    code = ("import sys; sys.path.insert(0, %r); import tlsregistry, time; "
            "i = tlsregistry.DummyInterface().create(); print(i.name, i.address, flush=True); "
            "time.sleep(600)" % FIXTURES)
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        name, address = proc.stdout.readline().split()
        assert os.path.exists(f"/sys/class/net/{name}")
        assert name not in tlsregistry.cleanup_stale(), "a live session's interface is kept"
        assert os.path.exists(f"/sys/class/net/{name}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # SIGKILL skipped every finalizer: the interface is left behind...
    assert os.path.exists(f"/sys/class/net/{name}")
    assert tlsregistry.ipv4_addresses().get(address) == name
    # ...until the next session (or `tlsregistry.py cleanup`) removes it.
    cp = subprocess.run([PY, os.path.join(FIXTURES, "tlsregistry.py"), "cleanup"],
                        capture_output=True, text=True, check=True)
    assert name in cp.stdout.split()
    assert not os.path.exists(f"/sys/class/net/{name}")
    assert address not in tlsregistry.ipv4_addresses()
