"""Upstream health checks with real upstream servers: passive checks (HTTP statuses, refused
connections), active probes that take a target out and bring it back, the balancer's 503 when no
target is healthy, the Admin API's /health and healthy/unhealthy endpoints, state across a
SIGHUP reload, and the kong_upstream_target_health gauge."""

import json
import signal
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import (LOOPBACK, GatewayTestCase, Reply, closed_port, http_response, request,
                     wait_until)


class Switchable:
    """An upstream handler whose status can be changed while it runs; records probe paths."""

    def __init__(self, name, status=200):
        self.name = name
        self.status = status
        self.lock = threading.Lock()
        self.proxied = 0
        self.probes = []

    def __call__(self, req):
        with self.lock:
            if req.target.startswith("/probe"):
                self.probes.append(req)
            else:
                self.proxied += 1
            status = self.status
        return Reply(http_response(status, self.name))

    def set(self, status):
        with self.lock:
            self.status = status


def admin(gw, method, path, body=None):
    req = urllib.request.Request(f"http://{LOOPBACK}:{gw.admin_port}{path}", method=method,
                                 data=body)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def health(gw, upstream="pool"):
    status, doc = admin(gw, "GET", f"/upstreams/{upstream}/health")
    assert status == 200, (status, doc)
    return {t["target"]: t["health"] for t in doc["data"]}


def gateway_config(targets, healthchecks, retries=0, extra=""):
    lines = "".join(f"      - target: {t}\n" for t in targets)
    return f"""_format_version: "3.0"
upstreams:
  - name: pool
    healthchecks:
{healthchecks}
    targets:
{lines}{extra}services:
  - name: svc
    host: pool
    retries: {retries}
    connect_timeout: 1000
    read_timeout: 2000
    routes:
      - name: r
        paths: ["/"]
"""


PASSIVE = """      passive:
        unhealthy:
          http_failures: 3
          tcp_failures: 2
"""

ACTIVE = """      active:
        http_path: /probe
        timeout: 1
        healthy:
          interval: 0.2
          successes: 2
        unhealthy:
          interval: 0.2
          http_failures: 2
          tcp_failures: 2
"""


class HealthTest(GatewayTestCase):

    def two(self, a_status=200, b_status=200):
        a, b = Switchable("A", a_status), Switchable("B", b_status)
        ua, ub = self.make_upstream(a), self.make_upstream(b)
        return a, b, ua, ub

    def get(self, gw):
        return request(gw.proxy_port, "GET", "/x")

    def test_passive_http_failures_move_traffic_to_the_healthy_target(self):
        a, b, ua, ub = self.two(a_status=500)
        # One worker: the counts below follow one round-robin rotation (each worker has its own).
        gw = self.start_gateway(gateway_config(
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"], PASSIVE), workers=1)
        for _ in range(6):
            self.get(gw)
        self.assertEqual(a.proxied, 3)  # the third 500 marked it down
        self.assertEqual(health(gw), {f"{LOOPBACK}:{ua.port}": "UNHEALTHY",
                                      f"{LOOPBACK}:{ub.port}": "HEALTHY"})
        for _ in range(10):
            r = self.get(gw)
            self.assertEqual((r.status, r.body), (200, b"B"))
        self.assertEqual(a.proxied, 3)
        self.assertIn(f"upstream pool target {LOOPBACK}:{ua.port} is now unhealthy "
                      "(passive: 3 http failures)", gw.stderr())
        # Kong's gauge: 1 for the current state, 0 for the others.
        _, _ = admin(gw, "GET", "/status")
        with urllib.request.urlopen(f"http://{LOOPBACK}:{gw.admin_port}/metrics") as m:
            text = m.read().decode()
        prefix = (f'kong_upstream_target_health{{upstream="pool",target="{LOOPBACK}:{ua.port}",'
                  f'address="{LOOPBACK}:{ua.port}",state=')
        self.assertIn(prefix + '"unhealthy",subsystem="http"} 1', text)
        self.assertIn(prefix + '"healthy",subsystem="http"} 0', text)
        self.assertIn(prefix + '"healthchecks_off",subsystem="http"} 0', text)
        self.assertIn(f'target="{LOOPBACK}:{ub.port}",address="{LOOPBACK}:{ub.port}",'
                      'state="healthy",subsystem="http"} 1', text)

    def test_stopped_target_is_marked_down_by_tcp_failures_and_retries_move_on(self):
        a, b, ua, ub = self.two()
        gw = self.start_gateway(gateway_config(
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"], PASSIVE, retries=2), workers=1)
        for _ in range(4):
            self.assertEqual(self.get(gw).status, 200)
        self.assertEqual(a.proxied, 2)
        ua.close()  # the process is gone: connections are refused
        for _ in range(8):
            r = self.get(gw)
            self.assertEqual((r.status, r.body), (200, b"B"))  # the retry went to B
        self.assertEqual(health(gw)[f"{LOOPBACK}:{ua.port}"], "UNHEALTHY")
        self.assertIn("(passive: 2 tcp failures)", gw.stderr())

    def test_active_probes_take_a_target_out_and_bring_it_back(self):
        a, b, ua, ub = self.two()
        gw = self.start_gateway(gateway_config(
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"], ACTIVE))
        ta = f"{LOOPBACK}:{ua.port}"
        self.assertTrue(wait_until(lambda: len(a.probes) >= 2, 3))
        probe = a.probes[-1]
        self.assertEqual((probe.method, probe.target), ("GET", "/probe"))
        self.assertEqual(probe.header("Host"), LOOPBACK)
        a.set(500)  # goes bad with no proxy traffic at all
        self.assertTrue(wait_until(lambda: health(gw)[ta] == "UNHEALTHY", 3), health(gw))
        self.assertEqual(a.proxied, 0)
        self.assertIn(f"target {ta} is now unhealthy (active: 2 http failures)", gw.stderr())
        for _ in range(6):
            self.assertEqual(self.get(gw).body, b"B")
        a.set(200)
        self.assertTrue(wait_until(lambda: health(gw)[ta] == "HEALTHY", 3), health(gw))
        self.assertIn(f"target {ta} is now healthy (active: 2 successes)", gw.stderr())
        bodies = {self.get(gw).body for _ in range(6)}
        self.assertEqual(bodies, {b"A", b"B"})

    def test_active_tcp_probes_connect_only(self):
        a, b, ua, ub = self.two()
        dead = f"{LOOPBACK}:{closed_port()}"
        checks = ACTIVE.replace("        http_path: /probe\n", "        type: tcp\n")
        gw = self.start_gateway(gateway_config([f"{LOOPBACK}:{ua.port}", dead], checks))
        self.assertTrue(wait_until(lambda: health(gw)[dead] == "UNHEALTHY", 3), health(gw))
        self.assertEqual(health(gw)[f"{LOOPBACK}:{ua.port}"], "HEALTHY")
        self.assertEqual(a.probes, [])  # connect only: no request was sent
        self.assertIn(f"target {dead} is now unhealthy (active: 2 tcp failures)", gw.stderr())
        for _ in range(4):
            self.assertEqual(self.get(gw).body, b"A")

    def test_admin_marks_targets_and_all_unhealthy_is_a_503(self):
        a, b, ua, ub = self.two()
        other = (f"  - name: plain\n    targets:\n      - target: {LOOPBACK}:{ua.port}\n")
        gw = self.start_gateway(gateway_config(
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"], PASSIVE, extra=other))
        ta, tb = f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"
        self.assertEqual(admin(gw, "PUT", f"/upstreams/pool/targets/{ta}/unhealthy", b""),
                         (204, None))
        self.assertEqual(admin(gw, "POST", f"/upstreams/pool/targets/{tb}/unhealthy", b""),
                         (204, None))
        self.assertEqual(health(gw), {ta: "UNHEALTHY", tb: "UNHEALTHY"})
        self.assertKongError(self.get(gw), 503, "failure to get a peer from the ring-balancer")
        self.assertEqual(a.proxied + b.proxied, 0)
        # Kong's data shape: the target's balancer status with its addresses.
        _, doc = admin(gw, "GET", "/upstreams/pool/health")
        entry = next(t for t in doc["data"] if t["target"] == ta)
        self.assertEqual(entry["data"]["addresses"][0]["health"], "UNHEALTHY")
        self.assertEqual(entry["data"]["weight"], {"total": 100, "unavailable": 100,
                                                   "available": 0})
        self.assertIsNone(doc["next"])
        _, bal = admin(gw, "GET", "/upstreams/pool/health?balancer_health=1")
        self.assertEqual(bal["data"]["health"], "UNHEALTHY")
        self.assertEqual(admin(gw, "POST", f"/upstreams/pool/targets/{tb}/healthy", b""),
                         (204, None))
        self.assertEqual(self.get(gw).body, b"B")
        # Unknown target, unknown upstream, an upstream without health checks.
        self.assertEqual(admin(gw, "PUT", "/upstreams/pool/targets/10.9.9.9:1/healthy", b"")[0],
                         404)
        self.assertEqual(admin(gw, "GET", "/upstreams/nope/health")[0], 404)
        self.assertEqual(admin(gw, "PUT", f"/upstreams/plain/targets/{ta}/healthy", b""),
                         (400, {"message": "no healthchecker found for plain"}))
        self.assertEqual(health(gw, "plain"), {ta: "HEALTHCHECKS_OFF"})

    def test_threshold_makes_the_whole_upstream_unavailable(self):
        a, b, ua, ub = self.two()
        gw = self.start_gateway(gateway_config(
            [f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"],
            PASSIVE + "      threshold: 60\n"))
        admin(gw, "PUT", f"/upstreams/pool/targets/{LOOPBACK}:{ua.port}/unhealthy", b"")
        # 50% of the weight is healthy, under the 60% threshold.
        self.assertKongError(self.get(gw), 503, "failure to get a peer from the ring-balancer")

    def test_reload_keeps_state_of_kept_targets_and_drops_removed_ones(self):
        a, b, ua, ub = self.two()
        ta, tb = f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"
        gw = self.start_gateway(gateway_config([ta, tb], PASSIVE))
        admin(gw, "PUT", f"/upstreams/pool/targets/{ta}/unhealthy", b"")
        admin(gw, "PUT", f"/upstreams/pool/targets/{tb}/unhealthy", b"")

        def reload(text):
            before = admin(gw, "GET", "/status")[1]["configuration_hash"]
            with open(gw.config_path, "w") as f:
                f.write(text)
            gw.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_until(
                lambda: admin(gw, "GET", "/status")[1]["configuration_hash"] != before, 5))

        # Same targets, another service setting: both keep their state.
        reload(gateway_config([ta, tb], PASSIVE, retries=1))
        self.assertEqual(health(gw), {ta: "UNHEALTHY", tb: "UNHEALTHY"})
        # tb removed, then added back: it starts healthy; ta is still down.
        reload(gateway_config([ta], PASSIVE))
        self.assertEqual(health(gw), {ta: "UNHEALTHY"})
        reload(gateway_config([ta, tb], PASSIVE))
        self.assertEqual(health(gw), {ta: "UNHEALTHY", tb: "HEALTHY"})
        for _ in range(4):
            self.assertEqual(self.get(gw).body, b"B")

    def test_reload_starts_active_probing(self):
        a, b, ua, ub = self.two()
        ta, tb = f"{LOOPBACK}:{ua.port}", f"{LOOPBACK}:{ub.port}"
        gw = self.start_gateway(gateway_config([ta, tb], PASSIVE))
        time.sleep(0.5)
        self.assertEqual(a.probes, [])
        before = admin(gw, "GET", "/status")[1]["configuration_hash"]
        with open(gw.config_path, "w") as f:
            f.write(gateway_config([ta, tb], ACTIVE))
        gw.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(
            lambda: admin(gw, "GET", "/status")[1]["configuration_hash"] != before, 5))
        self.assertTrue(wait_until(lambda: len(a.probes) >= 2 and len(b.probes) >= 2, 3))


if __name__ == "__main__":
    unittest.main()
