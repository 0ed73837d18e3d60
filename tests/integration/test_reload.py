"""SIGHUP re-reads kong.yaml: a valid file replaces the config on every worker, a broken one is
logged with file:line and the old config keeps serving."""

import json
import signal
import time
import unittest
import urllib.request

from harness import LOOPBACK, GatewayTestCase, request, write_temp


def cfg(up_port, path):
    return f"""_format_version: "3.0"
services:
  - name: svc
    url: http://{LOOPBACK}:{up_port}
    routes:
      - name: r
        paths: [{path}]
"""


class ReloadTest(GatewayTestCase):
    def status(self, gw):
        with urllib.request.urlopen(f"http://{LOOPBACK}:{gw.admin_port}/status", timeout=2) as r:
            return json.loads(r.read())

    def wait_hash_change(self, gw, old, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.status(gw)["configuration_hash"]
            if h != old:
                return h
            time.sleep(0.02)
        self.fail("configuration_hash did not change after SIGHUP")

    def test_reload_swaps_config_and_failed_reload_keeps_it(self):
        up = self.make_upstream()
        gw = self.start_gateway(cfg(up.port, "/one"), workers=2)
        first = self.status(gw)["configuration_hash"]
        self.assertEqual(request(gw.proxy_port, "GET", "/one").status, 200)
        self.assertEqual(request(gw.proxy_port, "GET", "/two").status, 404)

        write_temp(gw.tmpdir, "kong.yaml", cfg(up.port, "/two"))
        gw.proc.send_signal(signal.SIGHUP)
        second = self.wait_hash_change(gw, first)
        # Every worker serves the new routes (several connections spread over both workers).
        for _ in range(8):
            self.assertEqual(request(gw.proxy_port, "GET", "/two").status, 200)
            self.assertEqual(request(gw.proxy_port, "GET", "/one").status, 404)

        write_temp(gw.tmpdir, "kong.yaml", cfg(up.port, "/three") + "  - name: [broken\n")
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload failed" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertIn("reload failed, keeping the current configuration", gw.stderr())
        self.assertRegex(gw.stderr(), r"kong\.yaml:\d+:\d+: ")
        self.assertEqual(self.status(gw)["configuration_hash"], second)
        for _ in range(4):
            self.assertEqual(request(gw.proxy_port, "GET", "/two").status, 200)
            self.assertEqual(request(gw.proxy_port, "GET", "/three").status, 404)


if __name__ == "__main__":
    unittest.main()
