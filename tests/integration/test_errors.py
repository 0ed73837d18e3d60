"""Upstream failures and Kong's answers: 502/504 with Kong's messages, service timeouts honoured,
retries (`retries` + 1 tries, never re-sending a body that reached the upstream), error body
content negotiation (kong-compat.md §3.4-§3.6)."""

import time
import unittest

from harness import (LOOPBACK, GatewayTestCase, RawClient, RawListener, Reply, closed_port,
                     curl, echo_reply, http_response, request)

MSG_502 = "An invalid response was received from the upstream server"
MSG_504 = "The upstream server is timing out"


def svc(name, port, path, retries=0, read_timeout=60000, connect_timeout=1000):
    return f"""  - name: {name}
    url: http://{LOOPBACK}:{port}
    retries: {retries}
    connect_timeout: {connect_timeout}
    write_timeout: 1000
    read_timeout: {read_timeout}
    routes:
      - name: {name}-route
        paths: [{path}]
"""


def cfg(*services):
    return '_format_version: "3.0"\nservices:\n' + "".join(services)


def slow_handler(delay):
    def h(req):
        r = echo_reply(req)
        r.delay = delay
        return r
    return h


class RefusedTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        from harness import start_class_gateway
        cls.gw = start_class_gateway(cls, cfg(svc("refused", closed_port(), "/refused", retries=2)))
        cls.port = cls.gw.proxy_port

    def get(self, headers=None, method="GET", body=b""):
        t0 = time.monotonic()
        r = request(self.port, method, "/refused", headers=headers, body=body)
        self.assertLess(time.monotonic() - t0, 3.0)
        return r

    def test_502_json_with_accept_json(self):
        self.assertKongError(self.get({"Accept": "application/json"}), 502, MSG_502, "json")

    def test_502_default_is_plain_text(self):
        # nginx-level error: no Accept and no Content-Type -> error_default_type text/plain.
        self.assertKongError(self.get(), 502, MSG_502, "plain")

    def test_502_star_accept_is_json(self):
        self.assertKongError(self.get({"Accept": "*/*"}), 502, MSG_502, "json")

    def test_502_html(self):
        self.assertKongError(self.get({"Accept": "text/html"}), 502, MSG_502, "html")

    def test_502_xml(self):
        self.assertKongError(self.get({"Accept": "application/xml"}), 502, MSG_502, "xml")

    def test_502_q_values(self):
        r = self.get({"Accept": "text/html;q=0.5, application/xml;q=0.9, text/plain;q=0.1"})
        self.assertKongError(r, 502, MSG_502, "xml")

    def test_502_falls_back_to_request_content_type(self):
        r = self.get({"Content-Type": "application/json"}, method="POST", body=b"{}")
        self.assertKongError(r, 502, MSG_502, "json")

    def test_502_with_curl(self):
        rc, out, err = curl("-i", f"http://{LOOPBACK}:{self.port}/refused")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), out[:100])
        self.assertIn(b'"message":"' + MSG_502.encode() + b'"', out)

    def test_keepalive_after_502(self):
        with RawClient(self.port) as c:
            for _ in range(3):
                r = c.request("GET", "/refused", headers={"Accept": "application/json"})
                self.assertEqual(r.status, 502)


class UpstreamErrorsTest(GatewayTestCase):
    def gateway(self, *services):
        return self.start_gateway(cfg(*services))

    def test_garbage_response_is_502_not_retried(self):
        up = self.make_upstream(lambda req: Reply(b"HELLO GARBAGE\r\n\r\n", close=True))
        gw = self.gateway(svc("g", up.port, "/g", retries=3))
        r = request(gw.proxy_port, "GET", "/g", headers={"Accept": "application/json"})
        self.assertKongError(r, 502, MSG_502)
        n, _ = up.quiet_for(0.2)
        self.assertEqual(n, 1, "invalid responses are not retried (proxy_next_upstream error timeout)")

    def test_huge_response_header_is_502(self):
        big = http_response(200, "x", {"X-Huge": "h" * 200000})
        up = self.make_upstream(lambda req: Reply(big))
        gw = self.gateway(svc("h", up.port, "/h"))
        r = request(gw.proxy_port, "GET", "/h", headers={"Accept": "application/json"})
        self.assertKongError(r, 502, MSG_502)
        self.assertEqual(request(gw.proxy_port, "GET", "/nothing").status, 404)

    def test_upstream_500_passed_through_not_retried(self):
        up = self.make_upstream(lambda req: Reply(http_response(500, "boom", {"X-Up": "1"})))
        gw = self.gateway(svc("e", up.port, "/e", retries=3))
        r = request(gw.proxy_port, "GET", "/e")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.body, b"boom")
        self.assertEqual(r.header("X-Up"), "1")
        self.assertTrue(r.has("X-Kong-Upstream-Latency"))
        n, _ = up.quiet_for(0.1)
        self.assertEqual(n, 1)

    def test_read_timeout_504_and_timeout_honoured(self):
        up = self.make_upstream(slow_handler(1.5))
        gw = self.gateway(svc("slow", up.port, "/slow", retries=0, read_timeout=250))
        t0 = time.monotonic()
        r = request(gw.proxy_port, "GET", "/slow", headers={"Accept": "application/json"})
        elapsed = time.monotonic() - t0
        self.assertKongError(r, 504, MSG_504)
        self.assertGreaterEqual(elapsed, 0.24)
        self.assertLess(elapsed, 1.2, "service read_timeout (250 ms) not honoured")

    def test_504_plain_by_default(self):
        up = self.make_upstream(slow_handler(1.0))
        gw = self.gateway(svc("slow", up.port, "/slow", retries=0, read_timeout=100))
        self.assertKongError(request(gw.proxy_port, "GET", "/slow"), 504, MSG_504, "plain")

    def test_get_read_timeout_retried(self):
        up = self.make_upstream(slow_handler(1.0))
        gw = self.gateway(svc("slow", up.port, "/slow", retries=2, read_timeout=150))
        t0 = time.monotonic()
        r = request(gw.proxy_port, "GET", "/slow", headers={"Accept": "application/json"})
        elapsed = time.monotonic() - t0
        self.assertKongError(r, 504, MSG_504)
        self.assertEqual(len(up.requests), 3, "GET timing out: retries + 1 tries")
        self.assertGreaterEqual(elapsed, 0.44)
        self.assertLess(elapsed, 1.5)

    def test_post_read_timeout_not_resent(self):
        up = self.make_upstream(slow_handler(1.0))
        gw = self.gateway(svc("slow", up.port, "/slow", retries=2, read_timeout=150))
        r = request(gw.proxy_port, "POST", "/slow", body=b"payload",
                    headers={"Accept": "application/json"})
        self.assertKongError(r, 504, MSG_504)
        n, _ = up.quiet_for(0.3)
        self.assertEqual(n, 1, "a POST whose body reached the upstream must not be re-sent")

    def test_connection_reset_retried_for_get(self):
        lst = RawListener("reset")
        self.addCleanup(lst.close)
        gw = self.gateway(svc("rst", lst.port, "/rst", retries=3))
        r = request(gw.proxy_port, "GET", "/rst", headers={"Accept": "application/json"})
        self.assertKongError(r, 502, MSG_502)
        time.sleep(0.1)
        self.assertEqual(lst.connections, 4, "retries: 3 -> 4 connection attempts")

    def test_retries_zero_single_attempt(self):
        lst = RawListener("reset")
        self.addCleanup(lst.close)
        gw = self.gateway(svc("rst", lst.port, "/rst", retries=0))
        r = request(gw.proxy_port, "GET", "/rst")
        self.assertEqual(r.status, 502)
        time.sleep(0.1)
        self.assertEqual(lst.connections, 1)

    def test_post_body_reached_upstream_never_resent(self):
        up = self.make_upstream(lambda req: Reply(reset=True))
        gw = self.gateway(svc("p", up.port, "/p", retries=3))
        r = request(gw.proxy_port, "POST", "/p", body=b"x" * 1000,
                    headers={"Accept": "application/json"})
        self.assertKongError(r, 502, MSG_502)
        n, _ = up.quiet_for(0.2)
        self.assertEqual(n, 1)
        self.assertEqual(up.connections, 1)
        self.assertEqual(up.requests[0].body, b"x" * 1000)

    def test_get_reset_after_request_retried(self):
        up = self.make_upstream(lambda req: Reply(reset=True))
        gw = self.gateway(svc("p", up.port, "/p", retries=2))
        r = request(gw.proxy_port, "GET", "/p", headers={"Accept": "application/json"})
        self.assertKongError(r, 502, MSG_502)
        n, _ = up.quiet_for(0.2)
        self.assertEqual(n, 3)

    def test_reset_mid_response_cuts_client(self):
        up = self.make_upstream(lambda req: Reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", reset=True))
        gw = self.gateway(svc("m", up.port, "/m", retries=3))
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response(allow_truncated=True)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.truncated)
            self.assertEqual(r.body, b"0123456789")
        n, _ = up.quiet_for(0.2)
        self.assertEqual(n, 1, "a response already started is never retried")
        self.assertEqual(request(gw.proxy_port, "GET", "/nothing").status, 404)

    def test_truncated_content_length_response_closes_client(self):
        up = self.make_upstream(lambda req: Reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", close=True))
        gw = self.gateway(svc("t", up.port, "/t"))
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response(allow_truncated=True)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.truncated)
            self.assertEqual(r.body, b"short")


if __name__ == "__main__":
    unittest.main()


class NameResolutionTest(GatewayTestCase):
    """Service hosts that are names go through the asynchronous resolver."""

    def test_hostname_resolves_and_unknown_name_is_503(self):
        up = self.make_upstream()
        gw = self.start_gateway(f"""_format_version: "3.0"
services:
  - name: by-name
    url: http://localhost:{up.port}
    routes:
      - name: by-name
        paths: [/named]
  - name: unknown
    url: http://no-such-host.invalid:{up.port}
    routes:
      - name: unknown
        paths: [/unknown]
""")
        r = request(gw.proxy_port, "GET", "/named/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(up.wait_requests(1)[-1].header("Host"), f"localhost:{up.port}")
        r = request(gw.proxy_port, "GET", "/unknown", headers={"Accept": "application/json"})
        self.assertKongError(r, 503, "name resolution failed", "json")
        # A client that leaves while its name is being resolved must not hurt the gateway.
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /unknown HTTP/1.1\r\nHost: x\r\n\r\n")
        r = request(gw.proxy_port, "GET", "/named/again")
        self.assertEqual(r.status, 200, r)
