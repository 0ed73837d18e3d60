"""TLS both ways (issue 3): the HTTPS listener (`--proxy-listen "P, Q ssl"`), certificates and SNIs
from kong.yaml (exact, wildcard, ECDSA, the generated default), protocol/cipher/ALPN defaults,
session resumption, https-only routes and route `snis` (kong-compat.md §1.12, §2.2, §3.5),
upstream TLS (verification with ca_certificates, tls_verify_depth, SNI/Host, mTLS with
client_certificate, pool keying), certificate config errors, handshake failures and reload.

Every certificate is generated at test time with the `openssl` CLI; clients are curl,
`openssl s_client` and Python's ssl module; TLS upstreams are harness.Upstream with a tls_context.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request
import uuid

from harness import (LOOPBACK, GatewayTestCase, RawClient, Reply, class_upstream, curl,
                     echo_reply, has_token, http_response, request, run_cli, start_class_gateway,
                     write_temp)

# ------------------------------------------------------------------------------------------------
# Certificates (generated once per module run)

CERTS = None  # tempdir with *.pem / *.key, set by setUpModule


def openssl(*args, input=None):
    p = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


def _path(name, ext="pem"):
    return os.path.join(CERTS, f"{name}.{ext}")


def _newkey(kind):
    return ["-newkey", "rsa:2048"] if kind == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]


def make_ca(name, cn, kind="rsa", days=30, issuer=None):
    """A CA certificate: self-signed root, or (issuer=...) an intermediate signed by `issuer`."""
    ext = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
           "subjectKeyIdentifier=hash\n")
    if issuer is None:
        openssl("req", "-x509", *_newkey(kind), "-nodes", "-keyout", _path(name, "key"),
                "-out", _path(name), "-days", str(days), "-subj", f"/CN={cn}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    else:
        _sign(name, cn, kind, issuer, ext, days)


def _sign(name, cn, kind, issuer, ext, days, subj_extra=""):
    csr = _path(name, "csr")
    openssl("req", "-new", *_newkey(kind), "-nodes", "-keyout", _path(name, "key"), "-out", csr,
            "-subj", f"/CN={cn}{subj_extra}")
    extfile = write_temp(CERTS, f"{name}.ext", ext)
    openssl("x509", "-req", "-in", csr, "-CA", _path(issuer), "-CAkey", _path(issuer, "key"),
            "-set_serial", "0x" + os.urandom(8).hex(), "-days", str(days), "-extfile", extfile,
            "-out", _path(name))


def make_leaf(name, cn, dns=(), ips=(), issuer="ca", kind="ec", days=30, client=False,
              subj_extra=""):
    sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
    ext = "basicConstraints=CA:FALSE\n"
    if sans:
        ext += "subjectAltName=" + ",".join(sans) + "\n"
    ext += "extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth")
    if issuer is None:
        openssl("req", "-x509", *_newkey(kind), "-nodes", "-keyout", _path(name, "key"),
                "-out", _path(name), "-days", str(days), "-subj", f"/CN={cn}{subj_extra}",
                *(["-addext", "subjectAltName=" + ",".join(sans)] if sans else []))
    else:
        _sign(name, cn, kind, issuer, ext, days, subj_extra)


def pem(name, ext="pem"):
    with open(_path(name, ext)) as f:
        return f.read()


def fingerprint_pem(text):
    block = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(block.group(0))).hexdigest()


def fp(name):
    return fingerprint_pem(pem(name))


def setUpModule():
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="sb-tls-")
    make_ca("ca", "Silverback IT Root CA")
    make_ca("other_ca", "Other IT CA", kind="ec")
    make_ca("inter", "Silverback IT Intermediate CA", kind="ec", issuer="ca")
    make_leaf("a", "a.example.com", dns=["a.example.com"], kind="rsa", subj_extra="/O=first")
    make_leaf("a2", "a.example.com", dns=["a.example.com"], kind="rsa", subj_extra="/O=second")
    make_leaf("wild", "*.wild.test", dns=["*.wild.test"], kind="rsa")
    make_leaf("ecdsa", "exact.wild.test", dns=["exact.wild.test"], kind="ec")
    make_leaf("alt_rsa", "alt.example.com", dns=["alt.example.com"], kind="rsa")
    make_leaf("alt_ec", "alt.example.com", dns=["alt.example.com"], kind="ec")
    make_leaf("up", "upstream.test", dns=["upstream.test"])
    make_leaf("up_self", "selfsigned.upstream", ips=["127.0.0.1"], issuer=None)
    make_leaf("deep", "deep.upstream.test", dns=["deep.upstream.test"], issuer="inter")
    make_leaf("client", "gateway-client", issuer="ca", client=True)
    # Negative material: an expired CA, a leaf used as if it were a CA.
    # (`req -x509` refuses negative -days; `x509 -req -signkey` accepts them.)
    openssl("req", "-new", *_newkey("ec"), "-nodes", "-keyout", _path("expired_ca", "key"),
            "-out", _path("expired_ca", "csr"), "-subj", "/CN=Expired IT CA")
    openssl("x509", "-req", "-in", _path("expired_ca", "csr"), "-signkey",
            _path("expired_ca", "key"), "-days", "-1", "-out", _path("expired_ca"),
            "-extfile", write_temp(CERTS, "expired_ca.ext", "basicConstraints=critical,CA:TRUE\n"))
    with open(_path("deep_chain"), "w") as f:
        f.write(pem("deep") + pem("inter"))


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# YAML helpers


def block(text, indent):
    """A YAML literal block scalar (`|`) holding `text`, indented by `indent` spaces."""
    pad = " " * indent
    return "|\n" + "".join(pad + line + "\n" for line in text.strip("\n").split("\n"))


def cert_entry(cid, name, snis_yaml=None, alt=None):
    out = (f"  - id: {cid}\n"
           f"    cert: {block(pem(name), 6)}"
           f"    key: {block(pem(name, 'key'), 6)}")
    if alt:
        out += (f"    cert_alt: {block(pem(alt), 6)}"
                f"    key_alt: {block(pem(alt, 'key'), 6)}")
    if snis_yaml:
        out += snis_yaml
    return out


# ------------------------------------------------------------------------------------------------
# Clients


def client_context(cafile=None, verify=True, alpn=None, max_version=None, min_version=None):
    ctx = ssl.create_default_context(cafile=cafile or _path("ca"))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


class TlsClient(RawClient):
    """RawClient over a TLS connection (Python ssl): SNI `server_name` (None: no SNI)."""

    def __init__(self, port, server_name="a.example.com", ctx=None, timeout=5, session=None):
        raw = socket.create_connection((LOOPBACK, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is None:
            ctx = client_context(verify=server_name is not None)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_name, session=session)
        except Exception:
            raw.close()
            raise
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def peer_fp(self):
        return hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()


def tls_request(port, method, target, server_name="a.example.com", host=None, **kw):
    with TlsClient(port, server_name) as c:
        return c.request(method, target, host=host or server_name or "example.test", **kw)


def s_client(port, servername=None, extra=(), timeout=10):
    """`openssl s_client` against LOOPBACK:port; returns (rc, stdout, stderr)."""
    args = ["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-showcerts"]
    args += ["-servername", servername] if servername else ["-noservername"]
    p = subprocess.run(args + list(extra), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def handshake_ok(rc, out):
    return rc == 0 and re.search(r"Cipher is (?!\(NONE\))", out) is not None


def served_cert(port, servername):
    """The leaf certificate the gateway serves for `servername` (via openssl s_client):
    dict(fp, subject, issuer)."""
    rc, out, err = s_client(port, servername)
    if not handshake_ok(rc, out):
        raise AssertionError(f"s_client -servername {servername} failed (rc {rc}):\n"
                             f"{out[-1500:]}\n{err[-1500:]}")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    if not m:
        raise AssertionError("no certificate in s_client output:\n" + out[-2000:])
    leaf = m.group(0) + "\n"
    info = openssl("x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253",
                   input=leaf.encode()).decode()
    subject = re.search(r"^subject=(.*)$", info, re.M).group(1).strip()
    issuer = re.search(r"^issuer=(.*)$", info, re.M).group(1).strip()
    return {"fp": fingerprint_pem(leaf), "subject": subject, "issuer": issuer}


def status(gw):
    with urllib.request.urlopen(f"http://{LOOPBACK}:{gw.admin_port}/status", timeout=2) as r:
        return r.status, json.loads(r.read())


# ------------------------------------------------------------------------------------------------
# Upstreams

MSG_502 = "An invalid response was received from the upstream server"
BIG = os.urandom(5 * 1024 * 1024 + 77)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


def scripted(req):
    path = req.target.split("?")[0]
    if path == "/big":
        return Reply(http_response(200, BIG, {"Content-Type": "application/octet-stream"}))
    if path == "/sha":
        return Reply(http_response(200, json.dumps({"sha": hashlib.sha256(req.body).hexdigest(),
                                                    "len": len(req.body)})))
    return echo_reply(req)


def server_context(name, chain=None, require_client_cert=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain or _path(name), _path(name, "key"))
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(_path("ca"))
    return ctx


# ------------------------------------------------------------------------------------------------
# The main gateway: plain + ssl listener, every certificate kind, https routes, TLS upstreams

IDS = {k: str(uuid.uuid4()) for k in
       ("a", "wild", "ecdsa", "client", "ca", "other_ca", "alt")}


def main_config(http_port, self_port, up_port, deep_port, mtls_port):
    certs = (cert_entry(IDS["a"], "a", "    snis: [a.example.com]\n") +
             cert_entry(IDS["wild"], "wild", '    snis:\n      - name: "*.wild.test"\n') +
             cert_entry(IDS["ecdsa"], "ecdsa") +
             cert_entry(IDS["client"], "client") +
             cert_entry(IDS["alt"], "alt_rsa", "    snis: [alt.example.com]\n", alt="alt_ec"))
    cas = (f"  - id: {IDS['ca']}\n    cert: {block(pem('ca'), 6)}"
           f"  - id: {IDS['other_ca']}\n    cert: {block(pem('other_ca'), 6)}")
    up = f"https://{LOOPBACK}"
    return f"""_format_version: "3.0"
certificates:
{certs}snis:
  - name: exact.wild.test
    certificate: {IDS['ecdsa']}
  - name: "suffix.*"
    certificate: {IDS['wild']}
  - name: "pick.wild.*"
    certificate: {IDS['ecdsa']}
ca_certificates:
{cas}services:
  - name: plain
    url: http://{LOOPBACK}:{http_port}
    routes:
      - name: any
        paths: [/p]
      - name: secure
        paths: [/secure]
        protocols: [https]
      - name: secure301
        paths: [/secure301]
        protocols: [https]
        https_redirect_status_code: 301
      - name: sni-only
        paths: [/sni-only]
        protocols: [https]
        snis: [a.example.com]
      - name: sni-both
        paths: [/sni-both]
        protocols: [http, https]
        snis: [a.example.com]
  - name: up-self
    url: {up}:{self_port}
    routes:
      - name: up-self
        paths: [/up-self]
  - name: up-ok
    url: {up}:{up_port}
    tls_verify: true
    ca_certificates: [{IDS['ca']}]
    routes:
      - name: up-ok
        paths: [/up-ok]
        preserve_host: true
  - name: up-ip-verify
    url: {up}:{up_port}
    tls_verify: true
    ca_certificates: [{IDS['ca']}]
    routes:
      - name: up-ip-verify
        paths: [/up-ip-verify]
  - name: up-bad-ca
    url: {up}:{up_port}
    tls_verify: true
    ca_certificates: [{IDS['other_ca']}]
    routes:
      - name: up-bad-ca
        paths: [/up-bad-ca]
        preserve_host: true
  - name: up-depth0
    protocol: https
    host: {LOOPBACK}
    port: {deep_port}
    tls_verify: true
    tls_verify_depth: 0
    ca_certificates: [{IDS['ca']}]
    routes:
      - name: up-depth0
        paths: [/up-depth0]
        preserve_host: true
  - name: up-depth1
    protocol: https
    host: {LOOPBACK}
    port: {deep_port}
    tls_verify: true
    tls_verify_depth: 1
    ca_certificates: [{IDS['ca']}]
    routes:
      - name: up-depth1
        paths: [/up-depth1]
        preserve_host: true
  - name: mtls
    url: {up}:{mtls_port}
    client_certificate:
      id: {IDS['client']}
    routes:
      - name: mtls
        paths: [/mtls]
  - name: mtls-none
    url: {up}:{mtls_port}
    routes:
      - name: mtls-none
        paths: [/mtls-none]
"""


class TlsGatewayTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        cls.up_self = class_upstream(cls, tls_context=server_context("up_self"))
        cls.up_ca = class_upstream(cls, tls_context=server_context("up"))
        cls.up_deep = class_upstream(cls, tls_context=server_context("deep", _path("deep_chain")))
        cls.up_mtls = class_upstream(cls, tls_context=server_context("up", require_client_cert=True))
        cls.gw = start_class_gateway(cls, main_config(cls.up.port, cls.up_self.port, cls.up_ca.port,
                                                      cls.up_deep.port, cls.up_mtls.port),
                                     tls=True)
        cls.port = cls.gw.proxy_port
        cls.tls = cls.gw.tls_port

    # ---------------------------------------------------------------- HTTPS listener
    def test_curl_https_proxied_to_http_upstream(self):
        n = len(self.up.requests)
        rc, out, err = curl("--resolve", f"a.example.com:{self.tls}:{LOOPBACK}",
                            "--cacert", _path("ca"), "-w", "\n%{http_code} %{http_version}",
                            f"https://a.example.com:{self.tls}/p/some/path?x=1&y=%20z")
        self.assertEqual(rc, 0, err)
        body, _, tail = out.rpartition(b"\n")
        self.assertEqual(tail, b"200 1.1")
        doc = json.loads(body)
        self.assertEqual(doc["target"], "/some/path?x=1&y=%20z")
        got = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(got.header_all("X-Forwarded-Proto"), ["https"])
        self.assertEqual(got.header_all("X-Forwarded-Port"), [str(self.tls)])
        self.assertEqual(got.header("X-Forwarded-Host"), "a.example.com")
        self.assertEqual(got.header("X-Forwarded-Path"), "/p/some/path")
        self.assertIsNone(got.tls)  # the http upstream got plain HTTP

    def test_plain_listener_beside_tls_is_http(self):
        n = len(self.up.requests)
        r = request(self.port, "GET", "/p/plain")
        self.assertEqual(r.status, 200, r)
        got = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(got.header_all("X-Forwarded-Proto"), ["http"])
        self.assertEqual(got.header_all("X-Forwarded-Port"), [str(self.port)])

    def test_client_x_forwarded_proto_not_trusted_over_tls(self):
        n = len(self.up.requests)
        r = tls_request(self.tls, "GET", "/p/x", headers={"X-Forwarded-Proto": "http",
                                                         "X-Forwarded-Port": "1"})
        self.assertEqual(r.status, 200, r)
        got = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(got.header_all("X-Forwarded-Proto"), ["https"])
        self.assertEqual(got.header_all("X-Forwarded-Port"), [str(self.tls)])

    def test_sni_exact_rsa_certificate(self):
        c = served_cert(self.tls, "a.example.com")
        self.assertEqual(c["fp"], fp("a"))
        self.assertIn("CN=a.example.com", c["subject"])
        self.assertEqual(c["issuer"], "CN=Silverback IT Root CA")

    def test_sni_wildcard_certificate(self):
        c = served_cert(self.tls, "foo.wild.test")
        self.assertEqual(c["fp"], fp("wild"))
        self.assertEqual(c["subject"], "CN=*.wild.test")
        # curl verifies the wildcard certificate for the name
        rc, out, err = curl("--resolve", f"bar.wild.test:{self.tls}:{LOOPBACK}",
                            "--cacert", _path("ca"), "-o", "/dev/null", "-w", "%{http_code}",
                            f"https://bar.wild.test:{self.tls}/p/w")
        self.assertEqual((rc, out), (0, b"200"), err)

    def test_sni_exact_ecdsa_beats_wildcard(self):
        # exact.wild.test is bound by a top-level `snis` entry to an ECDSA certificate.
        c = served_cert(self.tls, "exact.wild.test")
        self.assertEqual(c["fp"], fp("ecdsa"))
        self.assertEqual(c["subject"], "CN=exact.wild.test")
        # TLS 1.2 suites name the key type: an ECDHE-ECDSA suite with the ECDSA certificate.
        ctx = client_context(max_version=ssl.TLSVersion.TLSv1_2)
        with TlsClient(self.tls, "exact.wild.test", ctx=ctx) as t:
            self.assertEqual(t.peer_fp(), fp("ecdsa"))
            self.assertTrue(t.sock.cipher()[0].startswith("ECDHE-ECDSA-"), t.sock.cipher())
            self.assertEqual(t.request("GET", "/p/e", host="exact.wild.test").status, 200)

    def test_sni_rightmost_wildcard(self):
        # `suffix.*` (top-level snis entry) serves the wild certificate for suffix.<tld>; as
        # Kong, only the rightmost label is replaced, so suffix.example.org is not covered.
        self.assertEqual(served_cert(self.tls, "suffix.anything")["fp"], fp("wild"))
        c = served_cert(self.tls, "suffix.example.org")
        self.assertNotEqual(c["fp"], fp("wild"))
        self.assertEqual(c["subject"], c["issuer"])  # the default certificate
        # `pick.wild.*` -> ecdsa certificate; pick.wild.test also matches `*.wild.test`, and the
        # leftmost wildcard wins (Kong looks up exact, then prefix, then suffix wildcards).
        self.assertEqual(served_cert(self.tls, "pick.wild.org")["fp"], fp("ecdsa"))
        self.assertEqual(served_cert(self.tls, "pick.wild.test")["fp"], fp("wild"))

    def test_cert_alt_chosen_by_client_capabilities(self):
        rsa = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
        ec = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]
        for extra, want in ((rsa, "alt_rsa"), (ec, "alt_ec"),
                            (["-tls1_3", "-sigalgs", "RSA-PSS+SHA256:rsa_pss_pss_sha256"],
                             "alt_rsa"),
                            (["-tls1_3", "-sigalgs", "ECDSA+SHA256"], "alt_ec")):
            rc, out, err = s_client(self.tls, "alt.example.com", extra=extra)
            self.assertTrue(handshake_ok(rc, out), (extra, out[-1500:], err[-800:]))
            self.assertEqual(fingerprint_pem(out), fp(want), extra)

    def test_sni_wildcard_covers_one_label_only(self):
        # Kong replaces only the leftmost label: two.levels.wild.test does not match *.wild.test.
        c = served_cert(self.tls, "two.levels.wild.test")
        self.assertNotEqual(c["fp"], fp("wild"))
        self.assertEqual(c["subject"], c["issuer"])  # the default (self-signed) certificate

    def test_unknown_sni_and_no_sni_get_generated_default(self):
        configured = {fp(n) for n in ("a", "wild", "ecdsa", "client", "alt_rsa", "alt_ec")}
        unknown = served_cert(self.tls, "unknown.example.org")
        self.assertNotIn(unknown["fp"], configured)
        self.assertEqual(unknown["subject"], unknown["issuer"], "default cert is self-signed")
        self.assertNotIn("Silverback IT", unknown["issuer"])
        rc, out, err = s_client(self.tls, None)
        self.assertTrue(handshake_ok(rc, out), out[-1500:] + err[-1500:])
        self.assertEqual(fingerprint_pem(out), unknown["fp"], "same default cert without SNI")
        # and the request is still served over it
        r = tls_request(self.tls, "GET", "/p/default", server_name=None, host="whatever.test")
        self.assertEqual(r.status, 200, r)

    def test_tls13_by_default_and_alpn_http11(self):
        ctx = client_context(alpn=["h2", "http/1.1"])
        with TlsClient(self.tls, "a.example.com", ctx=ctx) as t:
            self.assertEqual(t.sock.version(), "TLSv1.3")
            self.assertEqual(t.sock.selected_alpn_protocol(), "http/1.1")
            r = t.request("GET", "/p/alpn", host="a.example.com")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.version, "HTTP/1.1")
        rc, out, err = s_client(self.tls, "a.example.com", extra=["-alpn", "h2,http/1.1"])
        self.assertTrue(handshake_ok(rc, out), out + err)
        self.assertIn("ALPN protocol: http/1.1", out)
        self.assertRegex(out, r"New, TLSv1\.3, Cipher is TLS_")

    def test_tls12_allowed(self):
        ctx = client_context(max_version=ssl.TLSVersion.TLSv1_2)
        with TlsClient(self.tls, "a.example.com", ctx=ctx) as t:
            self.assertEqual(t.sock.version(), "TLSv1.2")
            self.assertTrue(t.sock.cipher()[0].startswith(("ECDHE-", "DHE-")), t.sock.cipher())
            self.assertEqual(t.request("GET", "/p/12", host="a.example.com").status, 200)

    def test_tls11_refused(self):
        legacy = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
        # Control: this client does negotiate TLS 1.1 with a server that allows it.
        probe = socket.socket()
        probe.bind((LOOPBACK, 0))
        ctl_port = probe.getsockname()[1]
        probe.close()
        srv = subprocess.Popen(["openssl", "s_server", "-accept", f"{LOOPBACK}:{ctl_port}",
                                "-cert", _path("a"), "-key", _path("a", "key"), "-www", *legacy],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: (srv.poll() is None and srv.kill(), srv.wait(5)))
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection((LOOPBACK, ctl_port), timeout=1).close()
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "control s_server did not start")
                time.sleep(0.02)
        rc, out, err = s_client(ctl_port, "a.example.com", extra=legacy)
        self.assertTrue(handshake_ok(rc, out), "control failed: " + out[-800:] + err[-800:])
        self.assertIn("Protocol  : TLSv1.1", out)
        # The gateway refuses it.
        rc, out, err = s_client(self.tls, "a.example.com", extra=legacy)
        self.assertFalse(handshake_ok(rc, out), out[-1500:])
        self.assertIn("Cipher is (NONE)", out)
        self.assertNotIn("-----BEGIN CERTIFICATE-----", out)
        # and still serves TLS 1.2+ clients
        self.assertEqual(tls_request(self.tls, "GET", "/p/after11").status, 200)

    def test_keepalive_over_tls(self):
        n = len(self.up.requests)
        with TlsClient(self.tls, "a.example.com") as t:
            for i in range(4):
                r = t.request("GET", f"/p/ka{i}", host="a.example.com")
                self.assertEqual(r.status, 200, r)
                self.assertFalse(has_token(r.header("Connection"), "close"), r.headers)
                self.assertEqual(r.json()["target"], f"/ka{i}")
        self.assertEqual(len(self.up.wait_requests(n + 4)), n + 4)
        # curl with several URLs re-uses the one TLS connection
        url = f"https://a.example.com:{self.tls}/p/curl"
        rc, out, err = curl("-v", "--resolve", f"a.example.com:{self.tls}:{LOOPBACK}",
                            "--cacert", _path("ca"), "-o", "/dev/null", "-o", "/dev/null",
                            "-o", "/dev/null", url + "1", url + "2", url + "3")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("Re-using existing connection"), 2, err[-3000:])
        self.assertEqual(err.count("SSL connection using"), 1, err[-3000:])

    def test_large_bodies_both_ways_over_tls(self):
        with TlsClient(self.tls, "a.example.com", timeout=20) as t:
            r = t.request("POST", "/p/sha", body=BIG, host="a.example.com", timeout=20)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"sha": BIG_SHA, "len": len(BIG)})
            r = t.request("GET", "/p/big", host="a.example.com", timeout=20)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), len(BIG))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), BIG_SHA)
            # chunked upload over TLS
            chunks = b"".join(b"%x\r\n" % len(BIG[i:i + 100000]) + BIG[i:i + 100000] + b"\r\n"
                              for i in range(0, len(BIG), 100000)) + b"0\r\n\r\n"
            t.send(b"POST /p/sha HTTP/1.1\r\nHost: a.example.com\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
            r = t.read_response(timeout=20)
            self.assertEqual(r.json(), {"sha": BIG_SHA, "len": len(BIG)})

    def test_session_resumption(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = client_context(max_version=version, min_version=version)
            with TlsClient(self.tls, "a.example.com", ctx=ctx) as t:
                # read a response first: TLS 1.3 tickets arrive after the handshake
                self.assertEqual(t.request("GET", "/p/s1", host="a.example.com").status, 200)
                sess = t.sock.session
                self.assertFalse(t.sock.session_reused)
            self.assertIsNotNone(sess)
            with TlsClient(self.tls, "a.example.com", ctx=ctx, session=sess) as t:
                self.assertTrue(t.sock.session_reused, f"{version}: session not resumed")
                self.assertEqual(t.request("GET", "/p/s2", host="a.example.com").status, 200)

    # ---------------------------------------------------------------- https routes (§3.5, §2.2)
    def test_https_only_route_over_http_is_426(self):
        n = len(self.up.requests)
        r = request(self.port, "GET", "/secure/x")
        self.assertKongError(r, 426, "Please use HTTPS protocol")
        self.assertEqual(r.header("Upgrade"), "TLS/1.2, HTTP/1.1")
        self.assertTrue(has_token(r.header("Connection"), "Upgrade"), r.headers)
        self.assertEqual(len(self.up.requests), n)
        r = tls_request(self.tls, "GET", "/secure/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["target"], "/x")

    def test_https_redirect_301(self):
        r = request(self.port, "GET", "/secure301/a?b=c&d", host=f"shop.test:{self.port}")
        self.assertEqual(r.status, 301, r)
        self.assertEqual(r.header("Location"), "https://shop.test/secure301/a?b=c&d")
        self.assertEqual(r.body, b"")
        r = tls_request(self.tls, "GET", "/secure301/a?b=c", server_name="a.example.com")
        self.assertEqual(r.status, 200, r)

    def test_route_snis_https_only(self):
        r = tls_request(self.tls, "GET", "/sni-only/x", server_name="a.example.com")
        self.assertEqual(r.status, 200, r)
        r = tls_request(self.tls, "GET", "/sni-only/x", server_name="foo.wild.test",
                        host="a.example.com")
        self.assertKongError(r, 404, "no Route matched with those values")
        r = tls_request(self.tls, "GET", "/sni-only/x", server_name=None, host="a.example.com")
        self.assertKongError(r, 404, "no Route matched with those values")

    def test_route_snis_ignored_over_plain_http(self):
        r = request(self.port, "GET", "/sni-both/x", host="foo.wild.test")
        self.assertEqual(r.status, 200, r)
        r = tls_request(self.tls, "GET", "/sni-both/x", server_name="a.example.com")
        self.assertEqual(r.status, 200, r)
        r = tls_request(self.tls, "GET", "/sni-both/x", server_name="foo.wild.test")
        self.assertKongError(r, 404, "no Route matched with those values")

    # ---------------------------------------------------------------- upstream TLS
    def test_upstream_tls_without_verification(self):
        n = len(self.up_self.requests)
        r = request(self.port, "GET", "/up-self/a?b=1")
        self.assertEqual(r.status, 200, r)
        got = self.up_self.wait_requests(n + 1)[-1]
        self.assertEqual(got.target, "/a?b=1")
        self.assertIsNotNone(got.tls)
        self.assertIn(got.tls["version"], ("TLSv1.2", "TLSv1.3"))
        self.assertIsNone(got.tls["sni"], "no SNI for an IP literal host")
        self.assertEqual(got.header("Host"), f"{LOOPBACK}:{self.up_self.port}")
        # also from an https client
        r = tls_request(self.tls, "GET", "/up-self/c")
        self.assertEqual(r.status, 200, r)

    def test_upstream_tls_verify_with_right_ca(self):
        n = len(self.up_ca.requests)
        r = request(self.port, "GET", "/up-ok/v", host="upstream.test")
        self.assertEqual(r.status, 200, r)
        got = self.up_ca.wait_requests(n + 1)[-1]
        self.assertEqual(got.tls["sni"], "upstream.test")
        self.assertEqual(got.header("Host"), "upstream.test")

    def test_upstream_tls_verify_wrong_ca_is_502(self):
        n = len(self.up_ca.requests)
        r = request(self.port, "GET", "/up-bad-ca/v", host="upstream.test")
        self.assertKongError(r, 502, MSG_502, "plain")
        self.assertEqual(len(self.up_ca.requests), n, "request must not reach the upstream")

    def test_upstream_tls_verify_checks_host_name_and_pool_keyed_by_sni(self):
        # A pooled connection verified for SNI upstream.test must not carry another name.
        self.assertEqual(request(self.port, "GET", "/up-ok/v", host="upstream.test").status, 200)
        n = len(self.up_ca.requests)
        r = request(self.port, "GET", "/up-ok/v", host="not-upstream.test")
        self.assertKongError(r, 502, MSG_502, "plain")
        self.assertEqual(len(self.up_ca.requests), n)

    def test_upstream_tls_verify_checks_an_ip_literal_host(self):
        # The service host is 127.0.0.1 and the certificate (right CA) names only upstream.test:
        # with tls_verify the IP must be checked against the certificate, so this fails.
        n = len(self.up_ca.requests)
        r = request(self.port, "GET", "/up-ip-verify/v")
        self.assertKongError(r, 502, MSG_502, "plain")
        self.assertEqual(len(self.up_ca.requests), n, "request must not reach the upstream")

    def test_upstream_tls_verify_depth(self):
        n = len(self.up_deep.requests)
        r = request(self.port, "GET", "/up-depth1/x", host="deep.upstream.test")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up_deep.wait_requests(n + 1)[-1].tls["sni"], "deep.upstream.test")
        r = request(self.port, "GET", "/up-depth0/x", host="deep.upstream.test")
        self.assertKongError(r, 502, MSG_502, "plain")
        self.assertEqual(len(self.up_deep.requests), n + 1)

    def test_upstream_pool_keyed_by_verification(self):
        # A verified keep-alive connection must not serve a service that trusts another CA.
        for path, code in (("/up-ok/1", 200), ("/up-bad-ca/1", 502), ("/up-ok/2", 200),
                           ("/up-bad-ca/2", 502)):
            r = request(self.port, "GET", path, host="upstream.test")
            self.assertEqual(r.status, code, (path, r))

    def test_upstream_mtls_client_certificate(self):
        n = len(self.up_mtls.requests)
        r = request(self.port, "GET", "/mtls/x")
        self.assertEqual(r.status, 200, r)
        got = self.up_mtls.wait_requests(n + 1)[-1]
        subject = dict(x[0] for x in got.tls["peer_cert"]["subject"])
        self.assertEqual(subject.get("commonName"), "gateway-client")

    def test_upstream_mtls_without_client_certificate_is_502_and_pool_keyed(self):
        for path, code in (("/mtls/1", 200), ("/mtls-none/1", 502), ("/mtls/2", 200),
                           ("/mtls-none/2", 502)):
            r = request(self.port, "GET", path)
            self.assertEqual(r.status, code, (path, r))
        r = request(self.port, "GET", "/mtls-none/3")
        self.assertKongError(r, 502, MSG_502, "plain")


# ------------------------------------------------------------------------------------------------
# Config errors


class TlsConfigErrorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sb-tlscfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def parse(self, text):
        path = write_temp(self.tmp, "kong.yaml", text)
        rc, out, err = run_cli("config", "parse", path)
        return path, rc, out, err

    def test_bad_pem_names_entity_and_line(self):
        text = (f'_format_version: "3.0"\n'         # 1
                f"certificates:\n"                   # 2
                f"  - id: {uuid.uuid4()}\n"          # 3
                f"    cert: |\n"                     # 4
                f"      -----BEGIN CERTIFICATE-----\n"
                f"      bm90IGEgY2VydGlmaWNhdGU=\n"
                f"      -----END CERTIFICATE-----\n"
                f"    key: {block(pem('a', 'key'), 6)}")
        path, rc, out, err = self.parse(text)
        self.assertEqual(rc, 1, out + err)
        self.assertTrue(err.startswith("Error: "), err)
        self.assertRegex(err, rf"{re.escape(path)}:4(:\d+)?: [^\n]*certificates\[0\][^\n]*"
                              rf"invalid certificate")
        self.assertNotIn("parse successful", out)

    def test_bad_key_and_mismatched_pair(self):
        text = (f'_format_version: "3.0"\n'
                f"certificates:\n"
                f"  - cert: {block(pem('a'), 6)}"
                f"    key: |\n"
                f"      -----BEGIN PRIVATE KEY-----\n"
                f"      Z2FyYmFnZQ==\n"
                f"      -----END PRIVATE KEY-----\n"
                f"  - cert: {block(pem('a'), 6)}"
                f"    key: {block(pem('wild', 'key'), 6)}")
        path, rc, out, err = self.parse(text)
        self.assertEqual(rc, 1, out + err)
        key_line = text.split("\n").index("    key: |") + 1
        self.assertRegex(err, rf"{re.escape(path)}:{key_line}(:\d+)?: [^\n]*certificates\[0\]"
                              rf"[^\n]*invalid key")
        self.assertRegex(err, r"certificates\[1\][^\n]*certificate does not match key")

    def test_valid_certificates_parse(self):
        text = (f'_format_version: "3.0"\n'
                f"certificates:\n" + cert_entry(str(uuid.uuid4()), "a", "    snis: [a.example.com]\n")
                + cert_entry(str(uuid.uuid4()), "ecdsa"))
        path, rc, out, err = self.parse(text)
        self.assertEqual(rc, 0, err)
        self.assertIn("parse successful", out)

    def test_ca_certificate_errors(self):
        text = (f'_format_version: "3.0"\n'
                f"ca_certificates:\n"
                f"  - cert: {block(pem('expired_ca'), 6)}"
                f"  - cert: {block(pem('up'), 6)}")
        path, rc, out, err = self.parse(text)
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(err, r'ca_certificates\[0\][^\n]*certificate expired, "Not After" time '
                              r'is in the past')
        self.assertRegex(err, r'ca_certificates\[1\][^\n]*certificate does not appear to be a CA '
                              r'because it is missing the "CA" basic constraint')


# ------------------------------------------------------------------------------------------------
# Handshake failures and reload (own gateways)


def single_cert_config(http_port, cert_name):
    return (f'_format_version: "3.0"\ncertificates:\n' +
            cert_entry(IDS["a"], cert_name, "    snis: [a.example.com]\n") +
            f"services:\n  - name: s\n    url: http://{LOOPBACK}:{http_port}\n"
            f"    routes:\n      - name: r\n        paths: [/]\n")


def client_hello():
    """The bytes of a real TLS ClientHello (from Python's ssl, via memory BIOs)."""
    ctx = client_context(verify=False)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname="a.example.com")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outg.read()


class TlsHandshakeFailureTest(GatewayTestCase):
    def test_bad_handshakes_leave_gateway_healthy(self):
        up = self.make_upstream()
        gw = self.start_gateway(single_cert_config(up.port, "a"), tls=True, check_exit=False)
        q = gw.tls_port
        self.assertEqual(tls_request(q, "GET", "/first").status, 200)

        # 1. garbage bytes
        for junk in (os.urandom(512), b"\x16\x03\x01\xff\xff" + os.urandom(200),
                     b"\x00" * 64):
            with RawClient(q, timeout=3) as c:
                c.send(junk)
                self.assertTrue(c.closed_by_peer(3), "gateway kept a garbage connection open")
        # 2. plain HTTP on the TLS port: never proxied, connection closed
        n = len(up.requests)
        with RawClient(q, timeout=3) as c:
            c.send(b"GET /plain-on-tls HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
            self.assertTrue(c.closed_by_peer(3), "plain HTTP on the TLS port kept open")
        self.assertEqual(up.quiet_for(0.1)[0], n, "plain HTTP on the TLS port was proxied")
        # 3. disconnect mid-handshake: half a ClientHello; a whole one then close; RST
        hello = client_hello()
        self.assertGreater(len(hello), 100)
        for data, rst in ((hello[:len(hello) // 2], False), (hello, False), (hello, True)):
            c = RawClient(q, timeout=3)
            c.send(data)
            if rst:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
        # many at once
        socks = [RawClient(q, timeout=3) for _ in range(30)]
        for i, c in enumerate(socks):
            c.send(hello[:i * 7])
        for c in socks:
            c.close()
        # 4. no common cipher (TLS 1.2 RSA key exchange; TLS 1.3 CCM_8 suite), with controls
        ok_rc, ok_out, _ = s_client(q, "a.example.com",
                                    extra=["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
        self.assertTrue(handshake_ok(ok_rc, ok_out), ok_out[-1500:])
        rc, out, err = s_client(q, "a.example.com", extra=["-tls1_2", "-cipher", "AES128-SHA"])
        self.assertFalse(handshake_ok(rc, out), out[-1500:])
        rc, out, err = s_client(q, "a.example.com",
                                extra=["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"])
        self.assertFalse(handshake_ok(rc, out), out[-1500:])

        # Healthy afterwards.
        self.assertTrue(gw.alive(), gw.stderr()[-3000:])
        for _ in range(3):
            r = tls_request(q, "GET", "/after")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(request(gw.proxy_port, "GET", "/after-plain").status, 200)
        code, body = status(gw)
        self.assertEqual(code, 200)
        self.assertEqual(len(body["configuration_hash"]), 32)
        self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])


class TlsReloadTest(GatewayTestCase):
    def test_sighup_swaps_certificate_keeps_established_connection(self):
        up = self.make_upstream()
        gw = self.start_gateway(single_cert_config(up.port, "a"), tls=True, workers=2)
        q = gw.tls_port
        first_hash = status(gw)[1]["configuration_hash"]
        old = TlsClient(q, "a.example.com")
        self.addCleanup(old.close)
        self.assertEqual(old.peer_fp(), fp("a"))
        self.assertEqual(old.request("GET", "/before", host="a.example.com").status, 200)

        write_temp(gw.tmpdir, "kong.yaml", single_cert_config(up.port, "a2"))
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while status(gw)[1]["configuration_hash"] == first_hash:
            self.assertLess(time.monotonic(), deadline, "configuration_hash unchanged after HUP")
            time.sleep(0.02)
        # New connections (spread over both workers) get the new certificate.
        for _ in range(6):
            self.assertEqual(served_cert(q, "a.example.com")["fp"], fp("a2"))
        with TlsClient(q, "a.example.com") as t:
            self.assertEqual(t.peer_fp(), fp("a2"))
            self.assertEqual(t.request("GET", "/new", host="a.example.com").status, 200)
        # The established connection keeps working.
        n = len(up.requests)
        for i in range(3):
            r = old.request("GET", f"/old{i}", host="a.example.com")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(up.wait_requests(n + 3)[-1].target, "/old2")


if __name__ == "__main__":
    unittest.main()
