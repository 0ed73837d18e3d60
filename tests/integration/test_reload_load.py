"""Reloading under load: 50 reloads alternating between two configs, by SIGHUP and by
POST /config, while clients keep sending requests over kept-alive and fresh connections. No
request may fail, every response must come from one config or the other, client keep-alive
connections and the upstream keep-alive pool must survive. Also: SIGHUPs that arrive during a
reload are coalesced into one more reload, never lost."""

import signal
import threading
import time
import unittest

from harness import LOOPBACK, GatewayTestCase, RawClient, write_temp
from ops_helpers import admin, md5, parse_prometheus, sample, status, wait_for

RELOADS = 50


def config(port, tag, fillers=0):
    # Both configs route /svc to the same upstream; the service path tells them apart.
    extra = "".join(f"""  - name: filler-{i}
    url: http://{LOOPBACK}:{port}/filler{i}
    routes:
      - name: filler-{i}
        paths: [/filler-{i}]
""" for i in range(fillers))
    return f"""_format_version: "3.0"
services:
  - name: svc
    url: http://{LOOPBACK}:{port}/{tag}
    routes:
      - name: r
        paths: [/svc]
{extra}"""


class LoadClient(threading.Thread):
    def __init__(self, port, keepalive, stop):
        super().__init__(daemon=True)
        self.port, self.keepalive, self.stop_event = port, keepalive, stop
        self.ok = 0
        self.failures = []
        self.tags = set()
        self.connections = 0

    def run(self):
        conn = None
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                if conn is None:
                    conn = RawClient(self.port, timeout=10)
                    self.connections += 1
                r = conn.request("GET", f"/svc/{n}")
                if r.status != 200:
                    self.failures.append(f"status {r.status}: {r.body[:200]!r}")
                else:
                    target = r.json()["target"]
                    tag = target.split("/")[1]
                    if tag not in ("cfg-a", "cfg-b") or target != f"/{tag}/{n}":
                        self.failures.append(f"unexpected upstream target {target}")
                    self.tags.add(tag)
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 -- every failure counts
                self.failures.append(repr(e))
                conn = None
            if not self.keepalive and conn is not None:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


class ReloadUnderLoadTest(GatewayTestCase):
    def test_fifty_reloads_no_failed_request(self):
        up = self.make_upstream()
        configs = [config(up.port, "cfg-a", fillers=100), config(up.port, "cfg-b", fillers=100)]
        # A large keep-alive budget so any new upstream connection means a lost pool.
        gw = self.start_gateway(configs[0], ["--upstream-keepalive-max-requests", "100000"],
                                workers=2)
        stop = threading.Event()
        clients = [LoadClient(gw.proxy_port, keepalive, stop)
                   for keepalive in (True, True, False, False)]
        for c in clients:
            c.start()
        wait_for(lambda: all(c.ok > 0 for c in clients), timeout=10, message="no traffic")
        before = up.connections
        served_during = []
        for i in range(RELOADS):
            text = configs[(i + 1) % 2]
            ok_before = sum(c.ok for c in clients)
            if i % 2 == 0:
                write_temp(gw.tmpdir, "kong.yaml", text)
                gw.proc.send_signal(signal.SIGHUP)
            else:
                r = admin(gw, "POST", "/config", text)
                self.assertEqual(r.status, 201, r)
            wait_for(lambda: status(gw)["configuration_hash"] == md5(text), timeout=10,
                     message=f"reload {i} did not take effect")
            # Let some traffic through on the new config before the next reload.
            wait_for(lambda: sum(c.ok for c in clients) > ok_before + 4, timeout=10,
                     message="traffic stalled")
            served_during.append(sum(c.ok for c in clients) - ok_before)
        stop.set()
        for c in clients:
            c.join(15)

        failures = [f for c in clients for f in c.failures]
        total = sum(c.ok for c in clients)
        print(f"\n{RELOADS} reloads, {total} requests, {len(failures)} failed, "
              f"{up.connections - before} new upstream connections", end=" ", flush=True)
        self.assertEqual(failures, [], f"{len(failures)} failed of {total + len(failures)}")
        self.assertGreater(total, RELOADS * 5)
        self.assertEqual(set().union(*(c.tags for c in clients)), {"cfg-a", "cfg-b"})
        # Client keep-alive connections were never dropped by a reload.
        self.assertEqual([c.connections for c in clients[:2]], [1, 1])
        # The upstream pool survived: no more connections than concurrent requests could need.
        self.assertLessEqual(up.connections - before, 4 * 2,
                             f"{up.connections - before} new upstream connections")
        # A worker counts a request just after writing its response: allow it to catch up.
        m = wait_for(lambda: (lambda m: sample(m, "kong_http_requests_total", route="r",
                                               code="200") == total and m)(
            parse_prometheus(admin(gw, "GET", "/metrics").body.decode())),
            message="request count in /metrics differs from the clients' count")
        self.assertEqual(sample(m, "silverback_config_reloads_total", result="success"), RELOADS)
        self.assertEqual(sample(m, "silverback_config_reloads_total", result="failure"), 0)

    def test_sighups_during_a_reload_are_coalesced_not_lost(self):
        up = self.make_upstream()
        # Big enough that a reload takes a while, so the next signals land during it.
        v1, v2, v3 = (config(up.port, tag, fillers=3000) for tag in ("cfg-a", "cfg-b", "cfg-c"))
        gw = self.start_gateway(v1)
        metrics = lambda: parse_prometheus(admin(gw, "GET", "/metrics").body.decode())  # noqa
        write_temp(gw.tmpdir, "kong.yaml", v2)
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        write_temp(gw.tmpdir, "kong.yaml", v3)
        for _ in range(3):
            gw.proc.send_signal(signal.SIGHUP)
        # The newest file wins: the signals after the first were not lost.
        wait_for(lambda: status(gw)["configuration_hash"] == md5(v3), timeout=30,
                 message="the last SIGHUP's file was not loaded")
        time.sleep(0.5)  # any extra reload would show up meanwhile
        done = sample(metrics(), "silverback_config_reloads_total", result="success")
        # Four signals: the first reload, then at most one more for the three that came during it.
        print(f"\n{done} reload(s) for 4 SIGHUPs", end=" ", flush=True)
        self.assertIn(done, (1, 2))
        self.assertEqual(status(gw)["configuration_hash"], md5(v3))
        with RawClient(gw.proxy_port) as c:
            self.assertEqual(c.request("GET", "/svc/x").json()["target"], "/cfg-c/x")


if __name__ == "__main__":
    unittest.main()
