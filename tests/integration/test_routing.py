"""Router behaviour through the real binary: hosts, paths, methods, headers, strip_path,
normalization, Kong's 404/503/426 answers, preserve_host (kong-compat.md §2)."""

import unittest

from harness import (LOOPBACK, GatewayTestCase, RawClient, class_upstream, curl, has_token,
                     request, start_class_gateway)


def routing_config(port):
    return f"""_format_version: "3.0"
services:
  - name: svc-root
    url: http://{LOOPBACK}:{port}
    routes:
      - name: r-host
        hosts: [api.example.com]
      - name: r-wild-left
        hosts: ["*.wild.test"]
      - name: r-wild-right
        hosts: ["wildr.*"]
      - name: r-host-port
        hosts: ["ported.test:8123"]
      - name: r-preserve
        hosts: [preserve.test]
        preserve_host: true
      - name: r-foobar
        paths: [/foo/bar]
        strip_path: false
      - name: r-hello
        paths: [/hello]
      - name: r-anything
        paths: [/anything]
        strip_path: false
      - name: r-regex
        paths: ["~/items/(?<id>\\\\d+)$"]
        strip_path: false
      - name: r-methods
        paths: [/methods]
        methods: [POST, PUT]
        strip_path: false
      - name: r-headers
        paths: [/hdr]
        headers:
          x-version: [v2]
        strip_path: false
      - name: r-https
        paths: [/secure]
        protocols: [https]
      - name: r-https-301
        paths: [/secure301]
        protocols: [https]
        https_redirect_status_code: 301
  - name: svc-path
    url: http://{LOOPBACK}:{port}/svc
    routes:
      - name: r-prefix
        paths: [/prefix]
      - name: r-nostrip
        paths: [/nostrip]
        strip_path: false
      - name: r-ord
        paths: [/ord]
  - name: svc-deeper
    url: http://{LOOPBACK}:{port}/deeper/
    routes:
      - name: r-ord-deeper
        paths: [/ord/deeper]
  - name: svc-disabled
    url: http://{LOOPBACK}:{port}
    enabled: false
    routes:
      - name: r-disabled
        paths: [/disabled]
routes:
  - name: r-noservice
    paths: [/noservice]
"""


class RoutingTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls)
        cls.gw = start_class_gateway(cls, routing_config(cls.up.port))
        cls.port = cls.gw.proxy_port

    def proxied(self, target, host="nomatch.test", method="GET", headers=None, body=b""):
        """Sends a request that must be proxied; returns (response, what the upstream got)."""
        before = len(self.up.requests)
        r = request(self.port, method, target, headers=headers, body=body, host=host)
        self.assertEqual(r.status, 200, r)
        reqs = self.up.wait_requests(before + 1)
        self.assertEqual(len(reqs), before + 1)
        return r, reqs[-1]

    def not_routed(self, target, host="nomatch.test", method="GET", headers=None):
        before = len(self.up.requests)
        r = request(self.port, method, target, headers=headers, host=host)
        self.assertKongError(r, 404, "no Route matched with those values")
        self.assertEqual(len(self.up.requests), before, "a 404 must not reach the upstream")
        return r

    # -- hosts
    def test_exact_host(self):
        r, u = self.proxied("/x", host="api.example.com")
        self.assertEqual(u.target, "/x")
        self.assertEqual(u.header("Host"), f"{LOOPBACK}:{self.up.port}")

    def test_exact_host_with_port_matches_portless_route(self):
        _, u = self.proxied("/y", host="api.example.com:1234")
        self.assertEqual(u.target, "/y")

    def test_host_mismatch_is_404(self):
        self.not_routed("/x", host="other.example.com")
        self.not_routed("/x", host="api.example.com.evil")

    def test_leading_wildcard(self):
        self.proxied("/", host="a.wild.test")
        self.proxied("/", host="a.b.wild.test")
        self.not_routed("/", host="wild.test")

    def test_trailing_wildcard(self):
        self.proxied("/", host="wildr.anything")
        self.proxied("/", host="wildr.example.org")
        self.not_routed("/", host="xwildr.org")

    def test_host_with_port(self):
        self.proxied("/", host="ported.test:8123")
        # A missing port counts as 80 for a route entry that carries a port.
        self.not_routed("/", host="ported.test")
        self.not_routed("/", host="ported.test:8124")

    def test_preserve_host(self):
        _, u = self.proxied("/p", host="preserve.test")
        self.assertEqual(u.header("Host"), "preserve.test")
        self.assertEqual(u.header_all("Host"), ["preserve.test"])

    def test_preserve_host_keeps_port(self):
        _, u = self.proxied("/p", host="preserve.test:80")
        self.assertEqual(u.header("Host"), "preserve.test:80")

    def test_upstream_host_without_preserve(self):
        _, u = self.proxied("/hello/x", host="Client.Example")
        self.assertEqual(u.header_all("Host"), [f"{LOOPBACK}:{self.up.port}"])
        self.assertEqual(u.header("X-Forwarded-Host"), "client.example")

    # -- paths
    def test_prefix_strip_path_with_service_path(self):
        _, u = self.proxied("/prefix/a/b?q=1")
        self.assertEqual(u.target, "/svc/a/b?q=1")
        self.assertEqual(u.header("X-Forwarded-Prefix"), "/prefix")
        self.assertEqual(u.header("X-Forwarded-Path"), "/prefix/a/b")

    def test_prefix_exact_strip(self):
        _, u = self.proxied("/prefix")
        self.assertEqual(u.target, "/svc")

    def test_prefix_is_not_segment_aware(self):
        _, u = self.proxied("/prefixreq")
        self.assertEqual(u.target, "/svc/req")

    def test_no_strip_with_service_path(self):
        _, u = self.proxied("/nostrip/x")
        self.assertEqual(u.target, "/svc/nostrip/x")
        self.assertFalse(u.has("X-Forwarded-Prefix"), u)

    def test_strip_without_service_path(self):
        _, u = self.proxied("/hello")
        self.assertEqual(u.target, "/")
        _, u = self.proxied("/hello/world")
        self.assertEqual(u.target, "/world")

    def test_longest_prefix_wins(self):
        _, u = self.proxied("/ord/deeper/x")
        self.assertEqual(u.target, "/deeper/x")
        _, u = self.proxied("/ord/other")
        self.assertEqual(u.target, "/svc/other")

    def test_regex_path(self):
        _, u = self.proxied("/items/42")
        self.assertEqual(u.target, "/items/42")
        self.not_routed("/items/abc")
        self.not_routed("/items/42/x")

    def test_query_string_verbatim(self):
        _, u = self.proxied("/anything/q?a=1&b=%20x&c")
        self.assertEqual(u.target, "/anything/q?a=1&b=%20x&c")
        _, u = self.proxied("/anything/q?")
        self.assertEqual(u.target, "/anything/q?")

    # -- normalization (§2.1 integration facts)
    def test_dot_segments_route_and_raw_forwarded_path(self):
        _, u = self.proxied("/foo/a/../bar")
        self.assertEqual(u.target, "/foo/bar")
        self.assertEqual(u.header("X-Forwarded-Path"), "/foo/a/../bar")

    def test_percent_decoded_unreserved(self):
        _, u = self.proxied("/h%65llo/anything/a/../b")
        self.assertEqual(u.target, "/anything/b")
        self.assertEqual(u.header("X-Forwarded-Path"), "/h%65llo/anything/a/../b")

    def test_percent_and_dots_no_strip(self):
        _, u = self.proxied("/anything/./a/../wor%6cd/a/../b")
        self.assertEqual(u.target, "/anything/world/b")

    def test_encoded_dot_segment(self):
        _, u = self.proxied("/anything/x/%2e%2e/y")
        self.assertEqual(u.target, "/anything/y")

    def test_space_kept_encoded(self):
        _, u = self.proxied("/anything/world/cat%20and%20dog")
        self.assertEqual(u.target, "/anything/world/cat%20and%20dog")

    def test_reserved_stays_encoded(self):
        _, u = self.proxied("/anything/a%2Fb")
        self.assertEqual(u.target, "/anything/a%2Fb")

    def test_double_slashes_merged(self):
        _, u = self.proxied("//foo//bar")
        self.assertEqual(u.target, "/foo/bar")
        self.assertEqual(u.header("X-Forwarded-Path"), "//foo//bar")

    def test_dot_dot_above_root(self):
        _, u = self.proxied("/../../foo/bar")
        self.assertEqual(u.target, "/foo/bar")

    # -- methods and headers
    def test_methods(self):
        _, u = self.proxied("/methods", method="POST", body=b"x")
        self.assertEqual(u.method, "POST")
        self.proxied("/methods", method="PUT", body=b"x")
        self.not_routed("/methods", method="GET")

    def test_headers(self):
        _, u = self.proxied("/hdr", headers={"X-Version": "V2"})
        self.assertEqual(u.header("X-Version"), "V2")
        self.not_routed("/hdr")
        self.not_routed("/hdr", headers={"X-Version": "v1"})

    # -- Kong-generated answers
    def test_404_body_and_headers(self):
        r = self.not_routed("/nowhere")
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_404_json_even_without_accept(self):
        # kong.response.error defaults to JSON (unlike the nginx error handler).
        r = request(self.port, "GET", "/nowhere")
        self.assertKongError(r, 404, "no Route matched with those values", "json")

    def test_404_plain_when_asked(self):
        r = request(self.port, "GET", "/nowhere", headers={"Accept": "text/plain"})
        self.assertKongError(r, 404, "no Route matched with those values", "plain")

    def test_404_with_curl(self):
        rc, out, err = curl("-i", f"http://{LOOPBACK}:{self.port}/nowhere")
        self.assertEqual(rc, 0, err)
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 404 "), head)
        self.assertIn(b'"message":"no Route matched with those values"', body)

    def test_disabled_service_is_404(self):
        self.not_routed("/disabled")

    def test_route_without_service_is_503(self):
        before = len(self.up.requests)
        r = request(self.port, "GET", "/noservice")
        self.assertKongError(r, 503, "no Service found with those values")
        self.assertEqual(len(self.up.requests), before)

    def test_https_only_route_over_http_is_426(self):
        before = len(self.up.requests)
        r = request(self.port, "GET", "/secure")
        self.assertKongError(r, 426, "Please use HTTPS protocol")
        self.assertEqual(r.header("Upgrade"), "TLS/1.2, HTTP/1.1")
        self.assertTrue(has_token(r.header("Connection"), "Upgrade"), r.headers)
        self.assertEqual(len(self.up.requests), before)

    def test_https_redirect_301(self):
        r = request(self.port, "GET", "/secure301/a?b=c", host="shop.test")
        self.assertEqual(r.status, 301, r)
        self.assertEqual(r.header("Location"), "https://shop.test/secure301/a?b=c")
        self.assertEqual(r.body, b"")

    def test_keepalive_across_404_and_proxied(self):
        with RawClient(self.port) as c:
            r1 = c.request("GET", "/nowhere")
            self.assertEqual(r1.status, 404)
            r2 = c.request("GET", "/hello/again")
            self.assertEqual(r2.status, 200)
            self.assertEqual(self.up.last().target, "/again")


class RouterFlavorTest(GatewayTestCase):
    """traditional vs traditional_compatible for {wildcard host} vs {prefix path} (§2.4)."""

    CONFIG = """_format_version: "3.0"
services:
  - name: a
    url: http://{ip}:{port}/by-host
    routes:
      - name: by-wildcard-host
        hosts: ["*.flavor.test"]
  - name: b
    url: http://{ip}:{port}/by-path
    routes:
      - name: by-path
        paths: [/flav]
        strip_path: true
"""

    def run_flavor(self, flavor):
        up = self.make_upstream()
        gw = self.start_gateway(self.CONFIG.format(ip=LOOPBACK, port=up.port),
                                ["--router-flavor", flavor])
        r = request(gw.proxy_port, "GET", "/flav", host="x.flavor.test")
        self.assertEqual(r.status, 200, r)
        return up.wait_requests(1)[0].target

    def test_traditional_prefers_host(self):
        self.assertEqual(self.run_flavor("traditional"), "/by-host/flav")

    def test_compatible_prefers_path(self):
        self.assertEqual(self.run_flavor("traditional_compatible"), "/by-path")


if __name__ == "__main__":
    unittest.main()
