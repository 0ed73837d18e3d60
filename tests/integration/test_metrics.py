"""GET /metrics: Prometheus text format a scraper accepts (parsed strictly here), Kong 3.x
metric names, labels and bucket bounds, counts summed over every worker."""

import unittest

from harness import LOOPBACK, GatewayTestCase, RawClient, closed_port, request
from ops_helpers import admin, md5, parse_prometheus, sample, wait_for

CONFIG = """_format_version: "3.0"
services:
  - name: svc
    url: http://127.0.0.1:{port}
    routes:
      - name: r
        paths: [/ok]
  - host: 127.0.0.1
    port: {dead}
    routes:
      - paths: [/dead]
        id: 11111111-2222-4333-8444-555555555555
"""

KONG_BUCKETS = [1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000]
UPSTREAM_BUCKETS = [25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000]


class MetricsTest(GatewayTestCase):
    def scrape(self, gw, until=None):
        """Parsed /metrics; with `until`, scraped again until until(families) holds: a worker
        records a request just after writing its response, so the client can be a little ahead."""
        def once():
            r = admin(gw, "GET", "/metrics")
            self.assertEqual(r.status, 200)
            self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"),
                            r.headers)
            return parse_prometheus(r.body.decode())
        if until is None:
            return once()
        return wait_for(lambda: (lambda m: until(m) and m)(once()),
                        message="metrics never reached the expected counts")

    def test_kong_metrics_after_traffic(self):
        up = self.make_upstream()
        text = CONFIG.format(port=up.port, dead=closed_port())
        gw = self.start_gateway(text, workers=2)
        # Several connections so both workers record; keep-alive and new connections.
        for _ in range(3):
            with RawClient(gw.proxy_port) as c:
                for _ in range(4):
                    self.assertEqual(c.request("GET", "/ok").status, 200)
        for _ in range(3):
            self.assertEqual(request(gw.proxy_port, "GET", "/nowhere").status, 404)
        self.assertEqual(request(gw.proxy_port, "GET", "/dead").status, 502)

        m = self.scrape(gw, until=lambda m: sum(
            v for _, _, v in m["kong_http_requests_total"]["samples"]) >= 13 and all(
            sample(m, f, name=f + "_count", route="r") == 12
            for f in ("kong_request_latency_ms", "kong_upstream_latency_ms",
                      "kong_kong_latency_ms")))
        common = {"workspace": "default", "consumer": ""}
        self.assertEqual(m["kong_http_requests_total"]["type"], "counter")
        self.assertEqual(sample(m, "kong_http_requests_total", service="svc", route="r",
                                code="200", source="service", **common), 12)
        # Unnamed service and route: host and id, as Kong; a gateway-made 502 is source "kong".
        self.assertEqual(sample(m, "kong_http_requests_total", service="127.0.0.1",
                                route="11111111-2222-4333-8444-555555555555", code="502",
                                source="kong", **common), 1)
        # As Kong's exporter: requests that matched no route are not counted.
        codes = {ls["code"] for _, ls, _ in m["kong_http_requests_total"]["samples"]}
        self.assertEqual(codes, {"200", "502"})

        labels = {"service": "svc", "route": "r", "workspace": "default"}
        for family, bounds in (("kong_request_latency_ms", UPSTREAM_BUCKETS),
                               ("kong_upstream_latency_ms", UPSTREAM_BUCKETS),
                               ("kong_kong_latency_ms", KONG_BUCKETS)):
            with self.subTest(family=family):
                self.assertEqual(m[family]["type"], "histogram")
                les = [ls["le"] for n, ls, _ in m[family]["samples"]
                       if n.endswith("_bucket") and ls["route"] == "r"]
                self.assertEqual(les, [str(b) for b in bounds] + ["+Inf"])
                self.assertEqual(sample(m, family, name=family + "_count", **labels), 12)
        # The 502 never reached an upstream: no upstream latency for it.
        self.assertEqual(sample(m, "kong_upstream_latency_ms", name="kong_upstream_latency_ms_count",
                                route="11111111-2222-4333-8444-555555555555"), 0)
        self.assertEqual(sample(m, "kong_request_latency_ms", name="kong_request_latency_ms_count",
                                route="11111111-2222-4333-8444-555555555555"), 1)

        node = admin(gw, "GET", "/").json()["node_id"]
        self.assertEqual(sample(m, "kong_nginx_requests_total", node_id=node, subsystem="http"), 16)
        # 7 client connections, plus the harness's readiness probe.
        self.assertGreaterEqual(sample(m, "kong_nginx_connections_total", state="accepted"), 7)
        self.assertEqual({ls["state"] for _, ls, _ in m["kong_nginx_connections_total"]["samples"]},
                         {"accepted", "active", "handled", "reading", "total", "waiting",
                          "writing"})
        self.assertEqual(sample(m, "kong_datastore_reachable"), 1)
        self.assertEqual(sample(m, "kong_node_info", node_id=node, version="0.1.0"), 1)
        self.assertEqual(sample(m, "silverback_config_hash", hash=md5(text)), 1)
        self.assertEqual(sample(m, "silverback_config_reloads_total", result="success"), 0)
        self.assertEqual(sample(m, "silverback_access_log_dropped_lines_total"), 0)

    def test_counters_survive_reloads(self):
        up = self.make_upstream()
        text = CONFIG.format(port=up.port, dead=closed_port())
        gw = self.start_gateway(text)
        self.assertEqual(request(gw.proxy_port, "GET", "/ok").status, 200)
        changed = text.replace("paths: [/ok]", "paths: [/ok, /also]")
        self.assertEqual(admin(gw, "POST", "/config", changed).status, 201)
        self.assertEqual(admin(gw, "POST", "/config", "nope: [").status, 400)
        self.assertEqual(request(gw.proxy_port, "GET", "/also").status, 200)
        m = self.scrape(gw, until=lambda m: sample(m, "kong_http_requests_total", route="r",
                                                   code="200") == 2)
        self.assertEqual(sample(m, "kong_http_requests_total", route="r", code="200"), 2)
        self.assertEqual(sample(m, "silverback_config_reloads_total", result="success"), 1)
        self.assertEqual(sample(m, "silverback_config_reloads_total", result="failure"), 1)
        self.assertEqual(sample(m, "silverback_config_hash", hash=md5(changed)), 1)


if __name__ == "__main__":
    unittest.main()
