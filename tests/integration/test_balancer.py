"""Upstream load-balancing algorithms with real upstream servers: consistent-hashing on a header,
a cookie (made up and set by the gateway when missing), the client IP and a fallback input;
consistent-hashing with a target marked unhealthy and back; least-connections steering new
requests away from a target busy with a slow request; latency preferring the faster target."""

import threading
import time
import unittest

from harness import LOOPBACK, GatewayTestCase, Reply, http_response, request
from test_health import admin


class Named:
    """Answers with its name; /slow requests take `slow` seconds."""

    def __init__(self, name, slow=1.5, always=0.0):
        self.name = name
        self.slow = slow
        self.always = always  # seconds every request takes

    def __call__(self, req):
        delay = self.slow if req.target.startswith("/slow") else self.always
        return Reply(http_response(200, self.name), delay=delay)


def config(upstream_fields, targets, extra_upstream=""):
    lines = "".join(f"      - target: {t}\n" for t in targets)
    fields = "".join(f"    {line}\n" for line in upstream_fields)
    return f"""_format_version: "3.0"
upstreams:
  - name: pool
{fields}{extra_upstream}    targets:
{lines}services:
  - name: svc
    host: pool
    retries: 0
    connect_timeout: 1000
    read_timeout: 5000
    routes:
      - name: r
        paths: ["/"]
"""


class BalancerTest(GatewayTestCase):

    def two(self):
        ua, ub = self.make_upstream(Named("A")), self.make_upstream(Named("B"))
        return [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"]

    def served_by(self, gw, path="/x", headers=None):
        r = request(gw.proxy_port, "GET", path, headers=headers)
        self.assertEqual(r.status, 200, r)
        return r.body.decode()

    def assert_sticky_and_spread(self, gw, keys, make_request):
        seen = {}
        for key in keys:
            servers = {make_request(key) for _ in range(3)}
            self.assertEqual(len(servers), 1, f"{key!r} reached {servers}")
            seen[key] = servers.pop()
        self.assertEqual(set(seen.values()), {"A", "B"}, seen)
        return seen

    def test_hash_on_header(self):
        gw = self.start_gateway(config(
            ["algorithm: consistent-hashing", "hash_on: header", "hash_on_header: X-User"],
            self.two()))
        users = [f"user-{i}" for i in range(20)]
        seen = self.assert_sticky_and_spread(
            gw, users, lambda u: self.served_by(gw, headers={"X-User": u}))
        # Still the same on a second round (the ring does not drift between requests).
        for u in users:
            self.assertEqual(self.served_by(gw, headers={"X-User": u}), seen[u])

    def test_hash_on_cookie_sets_cookie_then_sticks(self):
        gw = self.start_gateway(config(
            ["algorithm: consistent-hashing", "hash_on: cookie", "hash_on_cookie: sticky",
             "hash_on_cookie_path: /app"], self.two()))
        first_servers = set()
        for _ in range(12):
            r = request(gw.proxy_port, "GET", "/x")
            self.assertEqual(r.status, 200, r)
            cookie = r.header("Set-Cookie")
            self.assertIsNotNone(cookie, r)
            self.assertRegex(cookie, r"^sticky=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                     r"[89ab][0-9a-f]{3}-[0-9a-f]{12}; Path=/app; "
                                     r"Same-Site=Lax; HttpOnly$")
            value = cookie.split(";")[0]
            served = r.body.decode()
            first_servers.add(served)
            for _ in range(3):
                again = request(gw.proxy_port, "GET", "/x",
                                headers={"Cookie": f"other=1; {value}"})
                self.assertEqual(again.body.decode(), served)
                self.assertIsNone(again.header("Set-Cookie"), again)
        # Fresh cookies are random: both targets get some.
        self.assertEqual(first_servers, {"A", "B"})

    def test_hash_on_ip(self):
        gw = self.start_gateway(config(
            ["algorithm: consistent-hashing", "hash_on: ip"], self.two()),
            ["--trusted-ips", "127.0.0.1/32"])
        ips = [f"10.1.{i}.{i * 7 % 250 + 1}" for i in range(20)]
        self.assert_sticky_and_spread(
            gw, ips, lambda ip: self.served_by(gw, headers={"X-Real-IP": ip}))
        # Without a trusted forwarded address the peer itself is the input: always one target.
        self.assertEqual(len({self.served_by(gw) for _ in range(6)}), 1)

    def test_fallback_when_the_primary_input_is_missing(self):
        gw = self.start_gateway(config(
            ["algorithm: consistent-hashing", "hash_on: header", "hash_on_header: X-User",
             "hash_fallback: query_arg", "hash_fallback_query_arg: user"], self.two()))
        keys = [f"k{i}" for i in range(20)]
        by_query = self.assert_sticky_and_spread(
            gw, keys, lambda k: self.served_by(gw, path=f"/x?user={k}"))
        by_header = {k: self.served_by(gw, headers={"X-User": k}) for k in keys}
        # The same value hashes the same whichever input it came from ...
        self.assertEqual(by_query, by_header)
        # ... and the header, when present, wins over the query argument.
        for k in keys:
            other = next(o for o in keys if by_header[o] != by_header[k])
            self.assertEqual(self.served_by(gw, path=f"/x?user={other}", headers={"X-User": k}),
                             by_header[k])
        # Neither input: Kong hashes the empty string, so all such requests share one target.
        self.assertEqual(len({self.served_by(gw) for _ in range(6)}), 1)

    def test_consistent_hashing_moves_off_an_unhealthy_target_and_back(self):
        targets = self.two()
        gw = self.start_gateway(config(
            ["algorithm: consistent-hashing", "hash_on: header", "hash_on_header: X-User"],
            targets,
            extra_upstream="    healthchecks:\n      passive:\n        unhealthy:\n"
                           "          http_failures: 3\n"))
        users = [f"user-{i}" for i in range(20)]
        before = {u: self.served_by(gw, headers={"X-User": u}) for u in users}
        self.assertEqual(set(before.values()), {"A", "B"})
        status, _ = admin(gw, "PUT", f"/upstreams/pool/targets/{targets[0]}/unhealthy", b"")
        self.assertEqual(status, 204)
        during = {u: self.served_by(gw, headers={"X-User": u}) for u in users}
        self.assertEqual(set(during.values()), {"B"})
        status, _ = admin(gw, "PUT", f"/upstreams/pool/targets/{targets[0]}/healthy", b"")
        self.assertEqual(status, 204)
        after = {u: self.served_by(gw, headers={"X-User": u}) for u in users}
        self.assertEqual(after, before)

    def test_least_connections_avoids_the_busy_target(self):
        ua, ub = self.make_upstream(Named("A")), self.make_upstream(Named("B"))
        gw = self.start_gateway(config(
            ["algorithm: least-connections"],
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"]), workers=1)
        # Idle and equal: new requests take turns.
        self.assertEqual({self.served_by(gw) for _ in range(4)}, {"A", "B"})
        slow = {}

        def slow_request():
            slow["r"] = request(gw.proxy_port, "GET", "/slow", timeout=10)

        marks = (len(ua.requests), len(ub.requests))
        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(ua.requests), len(ub.requests)) == marks:
            time.sleep(0.01)
        busy = "A" if len(ua.requests) > marks[0] else "B"
        # While one target holds the slow request, every new one goes to the other.
        quick = [self.served_by(gw) for _ in range(6)]
        self.assertEqual(set(quick), {"B" if busy == "A" else "A"}, quick)
        thread.join()
        self.assertEqual(slow["r"].status, 200)
        self.assertEqual(slow["r"].body.decode(), busy)
        # The slow try ended: both are idle again and share.
        self.assertEqual({self.served_by(gw) for _ in range(4)}, {"A", "B"})

    def test_latency_prefers_the_faster_target(self):
        ua = self.make_upstream(Named("A", always=0.2))
        ub = self.make_upstream(Named("B"))
        gw = self.start_gateway(config(
            ["algorithm: latency"], [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"]),
            workers=1)
        served = [self.served_by(gw) for _ in range(10)]
        # Both get measured early on; then the fast one takes everything.
        self.assertIn("A", served[:3], served)
        self.assertEqual(set(served[3:]), {"B"}, served)


if __name__ == "__main__":
    unittest.main()
