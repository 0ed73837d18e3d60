"""Proxying: headers both ways (kong-compat.md §3.1, §3.2, §3.3), bodies and framing, Expect,
pipelining, keep-alive on both sides, WebSocket tunnelling, HTTP/1.0 clients."""

import hashlib
import json
import os
import subprocess
import time
import unittest
import urllib.request

from harness import (LOOPBACK, PRODUCT, VIA, GatewayTestCase, closed_port, RawClient, Reply, build_request,
                     class_upstream, curl, echo_reply, has_token, http_response, request,
                     start_class_gateway)

BIG = os.urandom(6 * 1024 * 1024 + 123)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


def chunked(body, size=7000):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def scripted(req):
    """Upstream behaviours selected by the request path (after the /p prefix is stripped)."""
    path = req.target.split("?")[0]
    if path == "/resp-headers":
        return Reply(http_response(200, "hi", [
            ("Server", "up/1"), ("Via", "1.1 upstreamproxy"), ("Connection", "X-Hop"),
            ("X-Hop", "secret"), ("Keep-Alive", "timeout=5"), ("Upgrade", "h2c"),
            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Custom", "yes"),
            ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")]))
    if path == "/no-server":
        return Reply(http_response(200, "x"))
    if path == "/big":
        return Reply(http_response(200, BIG, {"Content-Type": "application/octet-stream"}))
    if path == "/big-chunked":
        return Reply(http_response(200, chunked(BIG, 65536), {"Transfer-Encoding": "chunked"}))
    if path == "/chunked":
        return Reply(parts=[(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0.02),
                            (b"5\r\nhello\r\n", 0.02), (b"6\r\n world\r\n0\r\n\r\n", 0)])
    if path == "/close-delimited":
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close=True)
    if path == "/head":
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: 1\r\n\r\n")
    if path == "/head-chunked":
        return Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    if path == "/204":
        return Reply(b"HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n")
    if path == "/304":
        return Reply(b"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n")
    if path == "/304-length":
        # A 304 may carry the Content-Length of the representation; it still has no body.
        return Reply(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
    if path == "/slow":
        r = echo_reply(req)
        r.delay = 0.3
        return r
    if path == "/ws":
        key = req.header("Sec-WebSocket-Key") or ""
        return Reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + key.encode() +
                     b"\r\n\r\n", tunnel=True)
    if path == "/ws-decline":
        return Reply(http_response(400, "no upgrade for you"))
    if path == "/sha":
        return Reply(http_response(200, json.dumps({"sha": hashlib.sha256(req.body).hexdigest(),
                                                    "len": len(req.body)})))
    return echo_reply(req)


CONFIG = """_format_version: "3.0"
services:
  - name: s
    url: http://{ip}:{port}
    routes:
      - name: p
        paths: [/p]
      - name: secure
        paths: [/secure]
        protocols: [https]
"""


class ProxyTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        cls.gw = start_class_gateway(cls, CONFIG.format(ip=LOOPBACK, port=cls.up.port))
        cls.port = cls.gw.proxy_port

    def count(self):
        return len(self.up.requests)

    # ---------------------------------------------------------------- request headers (§3.1)
    def test_request_headers_to_upstream(self):
        n = self.count()
        raw = ("GET /p/echo/x?y=1 HTTP/1.1\r\n"
               "Host: Front.Example:8080\r\n"
               "X-Forwarded-For: 10.0.0.1\r\n"
               "X-Real-IP: 1.2.3.4\r\n"
               "X-Forwarded-Proto: https\r\n"
               "X-Forwarded-Host: evil.test\r\n"
               "X-Forwarded-Port: 9999\r\n"
               "X-Forwarded-Path: /evil\r\n"
               "X-Forwarded-Prefix: /evilprefix\r\n"
               "X-Kong-Request-Id: forged\r\n"
               "Via: 1.0 fred\r\n"
               "Keep-Alive: timeout=5\r\n"
               "Proxy: http://evil.test\r\n"
               "Proxy-Connection: keep-alive\r\n"
               "Connection: keep-alive, X-Drop-Me\r\n"
               "X-Drop-Me: 1\r\n"
               "Upgrade: h2c\r\n"
               "TE: trailers, deflate\r\n"
               "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
               "X-Custom: a\r\n"
               "x-custom: b\r\n"
               "\r\n")
        with RawClient(self.port) as c:
            c.send(raw)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.method, "GET")
        self.assertEqual(u.target, "/echo/x?y=1")
        self.assertEqual(u.version, "HTTP/1.1")
        self.assertEqual(u.header_all("Host"), [f"{LOOPBACK}:{self.up.port}"])
        self.assertEqual(u.header_all("X-Real-IP"), ["127.0.0.1"])
        self.assertEqual(u.header_all("X-Forwarded-For"), ["10.0.0.1, 127.0.0.1"])
        self.assertEqual(u.header_all("X-Forwarded-Proto"), ["http"])
        self.assertEqual(u.header_all("X-Forwarded-Host"), ["front.example"])
        self.assertEqual(u.header_all("X-Forwarded-Port"), [str(self.port)])
        self.assertEqual(u.header_all("X-Forwarded-Path"), ["/p/echo/x"])
        self.assertEqual(u.header_all("X-Forwarded-Prefix"), ["/p"])
        self.assertEqual(u.header_all("Via"), ["1.0 fred, " + VIA])
        self.assertEqual(u.header_all("Connection"), ["keep-alive"])
        self.assertEqual(u.header_all("TE"), ["trailers"])
        self.assertEqual(u.header_all("Proxy-Authorization"), ["Basic Zm9vOmJhcg=="])
        self.assertEqual(u.header_all("X-Custom"), ["a", "b"])
        for gone in ("Keep-Alive", "Proxy", "Proxy-Connection", "X-Drop-Me", "Upgrade",
                     "Content-Length", "Transfer-Encoding", "Expect"):
            self.assertFalse(u.has(gone), f"{gone} must not reach the upstream: {u.headers}")
        rid = r.header("X-Kong-Request-Id")
        self.assertRegex(rid or "", r"^[0-9a-f]{32}$")
        self.assertEqual(u.header_all("X-Kong-Request-Id"), [rid])

    def test_request_id_unique(self):
        ids = {request(self.port, "GET", "/p/x").header("X-Kong-Request-Id") for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_x_forwarded_for_multiple_lines_joined(self):
        n = self.count()
        request(self.port, "GET", "/p/x", headers=[("X-Forwarded-For", "1.1.1.1"),
                                                    ("X-Forwarded-For", "2.2.2.2")])
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.header_all("X-Forwarded-For"), ["1.1.1.1, 2.2.2.2, 127.0.0.1"])

    def test_no_x_forwarded_prefix_without_strip(self):
        # Route "/p" stripped: prefix present; X-Forwarded-Path is raw path without query.
        n = self.count()
        request(self.port, "GET", "/p?only=query")
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.target, "/?only=query")
        self.assertEqual(u.header("X-Forwarded-Path"), "/p")

    # ---------------------------------------------------------------- response headers (§3.2)
    def test_response_headers(self):
        n = self.count()
        r = request(self.port, "GET", "/p/resp-headers")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hi")
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(r.header_all("Server"), ["up/1"])
        self.assertEqual(r.header_all("Via"), ["1.1 upstreamproxy, " + VIA])
        self.assertEqual(r.header_all("Set-Cookie"), ["a=1", "b=2"])
        self.assertEqual(r.header_all("X-Custom"), ["yes"])
        self.assertEqual(r.header_all("Date"), ["Mon, 01 Jan 2024 00:00:00 GMT"])
        self.assertEqual(r.header_all("Content-Length"), ["2"])
        for gone in ("X-Hop", "Keep-Alive", "Upgrade", "X-Kong-Response-Latency"):
            self.assertFalse(r.has(gone), f"{gone} must not reach the client: {r.headers}")
        self.assertFalse(has_token(r.header("Connection"), "X-Hop"), r.headers)
        self.assertRegex(r.header("X-Kong-Upstream-Latency") or "", r"^\d+$")
        self.assertRegex(r.header("X-Kong-Proxy-Latency") or "", r"^\d+$")
        self.assertEqual(r.header("X-Kong-Request-Id"), u.header("X-Kong-Request-Id"))

    def test_server_added_when_upstream_sends_none(self):
        r = request(self.port, "GET", "/p/no-server")
        self.assertEqual(r.header_all("Server"), [PRODUCT])
        self.assertEqual(r.header_all("Via"), [VIA])
        self.assertEqual(len(r.header_all("Date")), 1)
        self.assertEqual(r.version, "HTTP/1.1")

    def test_https_only_route_with_untrusted_forwarded_proto(self):
        r = request(self.port, "GET", "/secure", headers={"X-Forwarded-Proto": "https"})
        self.assertEqual(r.status, 426, r)

    # ---------------------------------------------------------------- bodies
    def test_post_content_length_body(self):
        n = self.count()
        body = b"a=1&b=" + b"x" * 5000
        r = request(self.port, "POST", "/p/echo", body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.body, body)
        self.assertEqual(u.header_all("Content-Length"), [str(len(body))])
        self.assertFalse(u.has("Transfer-Encoding"))
        self.assertEqual(u.header("Content-Type"), "application/x-www-form-urlencoded")

    def test_post_chunked_body(self):
        n = self.count()
        body = os.urandom(50000)
        raw = (b"POST /p/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               chunked(body, 3333))
        with RawClient(self.port) as c:
            c.send(raw)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.body, body)
        # Either framing is fine (Kong buffers and sends a length; streaming sends chunks),
        # but exactly one of them.
        self.assertEqual(u.has("Content-Length") + u.has("Transfer-Encoding"), 1, u.headers)

    def test_chunked_body_sent_slowly(self):
        n = self.count()
        with RawClient(self.port) as c:
            c.send(b"POST /p/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"3\r\nabc\r\n", b"4\r\ndefg\r\n", b"0\r\n\r\n"):
                time.sleep(0.03)
                c.send(piece)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.up.wait_requests(n + 1)[-1].body, b"abcdefg")

    def test_large_request_body_streamed_intact(self):
        with RawClient(self.port, timeout=20) as c:
            c.send(build_request("POST", "/p/sha", body=BIG))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"sha": BIG_SHA, "len": len(BIG)})

    def test_large_response_body_intact(self):
        with RawClient(self.port, timeout=20) as c:
            r = c.request("GET", "/p/big")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), str(len(BIG)))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), BIG_SHA)
            r = c.request("GET", "/p/big-chunked")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.chunked, r.headers)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), BIG_SHA)

    def test_large_bodies_with_curl(self):
        rc, out, err = curl(f"http://{LOOPBACK}:{self.port}/p/big", "-o", "-")
        self.assertEqual(rc, 0, err)
        self.assertEqual(hashlib.sha256(out).hexdigest(), BIG_SHA)

    def test_chunked_response_relayed(self):
        with RawClient(self.port) as c:
            r = c.request("GET", "/p/chunked")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.chunked)
            self.assertEqual(r.body, b"hello world")
            self.assertFalse(r.has("Content-Length"))
            self.assertEqual(c.request("GET", "/p/again").status, 200)

    def test_close_delimited_response_becomes_chunked(self):
        with RawClient(self.port) as c:
            r = c.request("GET", "/p/close-delimited")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.chunked, r.headers)
            self.assertEqual(r.body, b"until the end")
            self.assertEqual(c.request("GET", "/p/again").status, 200)

    def test_head_keeps_content_length_without_body(self):
        with RawClient(self.port) as c:
            r = c.request("HEAD", "/p/head")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "1234")
            self.assertEqual(r.header("X-Head"), "1")
            # Nothing follows the head: the next response parses cleanly.
            r2 = c.request("GET", "/p/echo")
            self.assertEqual(r2.status, 200, r2)
            self.assertEqual(r2.json()["target"], "/echo")

    def test_head_chunked(self):
        with RawClient(self.port) as c:
            r = c.request("HEAD", "/p/head-chunked")
            self.assertEqual(r.status, 200)
            self.assertEqual(c.request("GET", "/p/echo").json()["target"], "/echo")

    def test_upstream_sees_head(self):
        n = self.count()
        request(self.port, "HEAD", "/p/head")
        self.assertEqual(self.up.wait_requests(n + 1)[-1].method, "HEAD")

    def test_204_and_304_framing(self):
        with RawClient(self.port) as c:
            r = c.request("GET", "/p/204")
            self.assertEqual(r.status, 204)
            self.assertEqual(r.header("X-Empty"), "1")
            self.assertFalse(r.has("Transfer-Encoding"), r.headers)
            self.assertNotEqual(r.header("Content-Length", "0"), "1", r.headers)
            r = c.request("GET", "/p/304", headers={"If-None-Match": '"abc"'})
            self.assertEqual(r.status, 304)
            self.assertEqual(r.header("ETag"), '"abc"')
            self.assertFalse(r.has("Transfer-Encoding"), r.headers)
            r = c.request("GET", "/p/echo")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["target"], "/echo")

    def test_304_with_content_length_has_no_body(self):
        with RawClient(self.port, timeout=3) as c:
            t0 = time.monotonic()
            c.send(b"GET /p/304-length HTTP/1.1\r\nHost: x\r\n\r\n")
            head = c.read_head()
            self.assertIn(b"304 Not Modified", head)
            self.assertLess(time.monotonic() - t0, 2)  # not after a read timeout
            r = c.request("GET", "/p/echo")  # the connection is still usable
            self.assertEqual(r.status, 200)

    def test_expect_100_continue(self):
        n = self.count()
        with RawClient(self.port) as c:
            c.send(b"POST /p/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            interim = c.read_response()
            self.assertEqual(interim.status, 100)
            self.assertEqual(interim.raw_head, b"HTTP/1.1 100 Continue")
            self.assertEqual(self.count(), n, "upstream must not answer before the body")
            c.send(b"hello")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.body, b"hello")
        self.assertFalse(u.has("Expect"), u.headers)

    def test_expect_100_continue_with_curl(self):
        body = b"z" * 3000
        p = subprocess.run(["curl", "-sS", "-H", "Expect: 100-continue", "--data-binary", "@-",
                            "--expect100-timeout", "5", f"http://{LOOPBACK}:{self.port}/p/sha"],
                           input=body, capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["sha"], hashlib.sha256(body).hexdigest())

    # ---------------------------------------------------------------- connections
    def test_pipelined_requests_answered_in_order(self):
        n = self.count()
        data = (build_request("GET", "/p/slow?1") + build_request("GET", "/p/echo?2") +
                build_request("POST", "/p/echo?3", body=b"body3") + build_request("GET", "/p/echo?4"))
        with RawClient(self.port) as c:
            c.send(data)
            targets = [c.read_response().json()["target"] for _ in range(4)]
        self.assertEqual(targets, ["/slow?1", "/echo?2", "/echo?3", "/echo?4"])
        reqs = self.up.wait_requests(n + 4)[n:]
        self.assertEqual([r.target for r in reqs], ["/slow?1", "/echo?2", "/echo?3", "/echo?4"])
        self.assertEqual(reqs[2].body, b"body3")

    def test_keepalive_downstream(self):
        with RawClient(self.port) as c:
            for i in range(5):
                r = c.request("GET", f"/p/k{i}")
                self.assertEqual(r.status, 200)
                self.assertFalse(has_token(r.header("Connection"), "close"), r.headers)
            r = c.request("GET", "/p/last", headers={"Connection": "close"})
            self.assertEqual(r.status, 200)
            self.assertTrue(has_token(r.header("Connection"), "close"), r.headers)
            self.assertTrue(c.closed_by_peer(2))

    def test_curl_reuses_connection(self):
        url = f"http://{LOOPBACK}:{self.port}/p/echo"
        rc, out, err = curl("-v", url, url, url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("Connected to"), 1, err)
        self.assertGreaterEqual(err.count("Re-using existing connection")
                                + err.count("Reusing existing"), 2, err)

    def test_http10_client(self):
        n = self.count()
        with RawClient(self.port) as c:
            c.send(b"GET /p/chunked HTTP/1.0\r\n\r\n")  # HTTP/1.0 without Host routes normally
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.version, "HTTP/1.1")
            self.assertFalse(r.has("Transfer-Encoding"), r.headers)
            self.assertEqual(r.body, b"hello world")
            self.assertTrue(c.eof or c.closed_by_peer(2))
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.version, "HTTP/1.1")
        self.assertEqual(u.header("Via"), "1.0 " + PRODUCT)

    def test_http10_keepalive(self):
        with RawClient(self.port) as c:
            c.send(b"GET /p/no-server HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(has_token(r.header("Connection"), "keep-alive"), r.headers)
            c.send(b"GET /p/no-server HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(c.closed_by_peer(2))

class WebSocketTest(GatewayTestCase):
    """Own gateway (short --graceful-timeout) so a leaked tunnel cannot stall other classes."""

    def setUp(self):
        self.up = self.make_upstream(scripted)
        self.gw = self.start_gateway(CONFIG.format(ip=LOOPBACK, port=self.up.port),
                                     ["--graceful-timeout", "500"])
        self.port = self.gw.proxy_port

    def count(self):
        return len(self.up.requests)

    def active_connections(self):
        url = f"http://{LOOPBACK}:{self.gw.admin_port}/status"
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())["server"]["connections_active"]

    # ---------------------------------------------------------------- WebSocket
    def test_websocket_tunnel(self):
        n = self.count()
        with RawClient(self.port) as c:
            c.send(b"GET /p/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 101, r)
            self.assertEqual(r.header("Upgrade"), "websocket")
            self.assertTrue(has_token(r.header("Connection"), "upgrade"), r.headers)
            self.assertEqual(r.header("Sec-WebSocket-Accept"), "dGhlIHNhbXBsZSBub25jZQ==")
            for msg in (b"\x81\x05hello", os.urandom(100000), b"bye"):
                c.send(msg)
                self.assertEqual(c.read_exact(len(msg)), msg)
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.header("Upgrade"), "websocket")
        conn = [t.strip().lower() for t in u.header("Connection").split(",")]
        self.assertEqual(sorted(conn), ["keep-alive", "upgrade"])
        self.assertEqual(u.header("Sec-WebSocket-Key"), "dGhlIHNhbXBsZSBub25jZQ==")
        # Both sides closed: the tunnel must be torn down and its connection released.
        deadline = time.monotonic() + 2
        while self.active_connections() != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.active_connections(), 0, "tunnel connection leaked after close")

    def test_websocket_upstream_closes_first(self):
        with RawClient(self.port) as c:
            c.send(b"GET /p/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: k\r\n\r\n")
            self.assertEqual(c.read_response().status, 101)
            c.send(b"ping")
            self.assertEqual(c.read_exact(4), b"ping")
            self.up.close()  # upstream goes away: the client must see the tunnel end
            self.assertTrue(c.closed_by_peer(2))

    def test_websocket_declined(self):
        with RawClient(self.port) as c:
            r = c.request("GET", "/p/ws-decline", headers={"Upgrade": "websocket",
                                                           "Connection": "Upgrade"})
            self.assertEqual(r.status, 400)
            self.assertEqual(r.body, b"no upgrade for you")



class UpstreamKeepaliveTest(GatewayTestCase):
    def gateway(self, extra=()):
        up = self.make_upstream()
        # Upstream pools are per worker: connection counts below assume one.
        gw = self.start_gateway(CONFIG.format(ip=LOOPBACK, port=up.port), extra, workers=1)
        return up, gw

    def test_upstream_connection_reused(self):
        up, gw = self.gateway()
        for i in range(10):
            self.assertEqual(request(gw.proxy_port, "GET", f"/p/{i}").status, 200)
        up.wait_requests(10)
        self.assertEqual(up.connections, 1, "sequential requests should reuse one upstream connection")

    def test_keepalive_max_requests(self):
        up, gw = self.gateway(["--upstream-keepalive-max-requests", "3"])
        with RawClient(gw.proxy_port) as c:
            for i in range(9):
                self.assertEqual(c.request("GET", f"/p/{i}").status, 200)
        up.wait_requests(9)
        self.assertEqual(up.connections, 3)

    def test_upstream_closing_idle_connection_is_transparent(self):
        # The upstream closes kept-alive connections after each response (Connection: close
        # not announced): the gateway must notice and use a fresh one, not fail the request.
        def close_after(req):
            r = echo_reply(req)
            r.close = True
            return r
        up = self.make_upstream(close_after)
        gw = self.start_gateway(CONFIG.format(ip=LOOPBACK, port=up.port))
        for i in range(5):
            r = request(gw.proxy_port, "GET", f"/p/{i}")
            self.assertEqual(r.status, 200, r)
            time.sleep(0.02)
        self.assertEqual(len(up.requests), 5)


class TrustedIpsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        cls.gw = start_class_gateway(cls, CONFIG.format(ip=LOOPBACK, port=cls.up.port),
                                     ["--trusted-ips", "127.0.0.1/32"])
        cls.port = cls.gw.proxy_port

    def test_trusted_forwarded_headers_kept(self):
        n = len(self.up.requests)
        request(self.port, "GET", "/p/echo", headers=[
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "edge.example"),
            ("X-Forwarded-Port", "8443"), ("X-Forwarded-Path", "/orig/path"),
            ("X-Forwarded-Prefix", "/orig"), ("X-Forwarded-For", "10.0.0.1")])
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.header_all("X-Forwarded-Proto"), ["https"])
        self.assertEqual(u.header_all("X-Forwarded-Host"), ["edge.example"])
        self.assertEqual(u.header_all("X-Forwarded-Port"), ["8443"])
        self.assertEqual(u.header_all("X-Forwarded-Path"), ["/orig/path"])
        self.assertEqual(u.header_all("X-Forwarded-Prefix"), ["/orig"])
        # No X-Real-IP from the client: the peer stays the client address.
        self.assertEqual(u.header_all("X-Forwarded-For"), ["10.0.0.1, 127.0.0.1"])
        self.assertEqual(u.header_all("X-Real-IP"), ["127.0.0.1"])

    def test_real_ip_header_from_trusted_peer(self):
        n = len(self.up.requests)
        request(self.port, "GET", "/p/echo", headers={"X-Real-IP": "10.9.8.7"})
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.header_all("X-Real-IP"), ["10.9.8.7"])
        self.assertEqual(u.header_all("X-Forwarded-For"), ["10.9.8.7"])

    def test_defaults_when_trusted_peer_sends_nothing(self):
        n = len(self.up.requests)
        request(self.port, "GET", "/p/echo", host="plain.example")
        u = self.up.wait_requests(n + 1)[-1]
        self.assertEqual(u.header("X-Forwarded-Proto"), "http")
        self.assertEqual(u.header("X-Forwarded-Host"), "plain.example")
        self.assertEqual(u.header("X-Forwarded-Port"), str(self.port))
        self.assertEqual(u.header("X-Forwarded-Path"), "/p/echo")
        self.assertEqual(u.header("X-Forwarded-Prefix"), "/p")

    def test_trusted_forwarded_proto_https_passes_https_only_route(self):
        n = len(self.up.requests)
        r = request(self.port, "GET", "/secure/x", headers={"X-Forwarded-Proto": "https"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(n + 1)[-1].target, "/x")


if __name__ == "__main__":
    unittest.main()


class UpstreamEntityTest(GatewayTestCase):
    """A service whose host names an `upstreams` entity is balanced over its targets."""

    def test_weighted_round_robin_and_host_header(self):
        a = self.make_upstream()
        b = self.make_upstream()
        gw = self.start_gateway(f"""_format_version: "3.0"
upstreams:
  - name: pool.internal
    targets:
      - target: {LOOPBACK}:{a.port}
        weight: 200
      - target: {LOOPBACK}:{b.port}
        weight: 100
      - target: {LOOPBACK}:{closed_port()}
        weight: 0
  - name: named.internal
    host_header: api.example.com
    targets:
      - target: {LOOPBACK}:{a.port}
services:
  - name: balanced
    host: pool.internal
    routes:
      - name: balanced
        paths: [/lb]
  - name: with-host-header
    host: named.internal
    routes:
      - name: with-host-header
        paths: [/hh]
""")
        for _ in range(9):
            self.assertEqual(request(gw.proxy_port, "GET", "/lb").status, 200)
        # weights 200:100:0 -> 6 and 3 requests; the weight-0 target is never used.
        self.assertEqual(len(a.wait_requests(6)), 6)
        self.assertEqual(len(b.wait_requests(3)), 3)
        self.assertEqual(a.requests[-1].header("Host"), f"{LOOPBACK}:{a.port}")
        self.assertEqual(request(gw.proxy_port, "GET", "/hh").status, 200)
        # Kong's set_host_header appends the target port unless it is the default one.
        self.assertEqual(a.wait_requests(7)[-1].header("Host"), f"api.example.com:{a.port}")
