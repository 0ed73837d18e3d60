"""SIGHUP loads run off the main loop: the admin API answers while a big config loads, a burst of
SIGHUPs during a load ends with exactly one more load (of the newest file), and POST /config
during a load is queued behind it and answers as it does when idle."""

import hashlib
import http.client
import json
import re
import signal
import time
import unittest

from harness import LOOPBACK, GatewayTestCase, write_temp


def small(tag):
    return f"""_format_version: "3.0"
services:
  - name: svc-{tag}
    url: http://{LOOPBACK}:9/{tag}
    routes:
      - name: r-{tag}
        paths: [/{tag}]
"""


def big(n, tag):
    out = ['_format_version: "3.0"', "services:"]
    for i in range(n):
        out += [f"  - name: svc-{i}",
                f"    url: http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8080/{tag}/{i}",
                "    routes:",
                f"      - name: route-{i}",
                f"        paths: [/svc-{i}]",
                f"        hosts: [svc-{i}.example.test]"]
    return "\n".join(out) + "\n"


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


class AsyncReloadTest(GatewayTestCase):
    def admin(self, gw, method, path, body=None, timeout=30):
        c = http.client.HTTPConnection(LOOPBACK, gw.admin_port, timeout=timeout)
        try:
            headers = {"Content-Type": "text/yaml"} if body is not None else {}
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def status_hash(self, gw):
        return json.loads(self.admin(gw, "GET", "/status")[1])["configuration_hash"]

    def reloads(self, gw):
        return re.findall(r"configuration reloaded \(hash \w+, (\d+) ms\)", gw.stderr())

    def wait_hash(self, gw, want, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status_hash(gw) == want:
                return
            time.sleep(0.01)
        self.fail(f"configuration_hash never became {want}")

    def test_status_answers_during_a_big_load(self):
        gw = self.start_gateway(small("a"), workers=1)
        first = self.status_hash(gw)
        text = big(20000, "b")
        write_temp(gw.tmpdir, "kong.yaml", text)
        gw.proc.send_signal(signal.SIGHUP)
        during, slowest = 0, 0.0
        while True:
            t0 = time.monotonic()
            status, body = self.admin(gw, "GET", "/status")
            slowest = max(slowest, time.monotonic() - t0)
            self.assertEqual(status, 200)
            h = json.loads(body)["configuration_hash"]
            if h != first:
                break
            during += 1
            self.assertEqual(self.admin(gw, "GET", "/metrics")[0], 200)
            time.sleep(0.01)
        self.assertEqual(h, md5(text))
        load_ms = int(self.reloads(gw)[-1])
        # The main loop never waited for the load: many answers while it ran, each far quicker.
        self.assertGreaterEqual(during, 3, f"load took {load_ms} ms")
        self.assertLess(slowest * 1000, max(load_ms / 2, 50), f"load took {load_ms} ms")

    def test_sighup_burst_during_a_load_makes_one_more_load_of_the_newest_file(self):
        gw = self.start_gateway(small("a"), workers=1)
        write_temp(gw.tmpdir, "kong.yaml", big(20000, "b"))
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)  # the big load is running now
        for tag in ("c", "d", "e", "f"):
            write_temp(gw.tmpdir, "kong.yaml", small(tag))
            gw.proc.send_signal(signal.SIGHUP)
            time.sleep(0.005)
        self.wait_hash(gw, md5(small("f")))
        time.sleep(0.5)  # nothing else is queued
        self.assertEqual(self.status_hash(gw), md5(small("f")))
        self.assertEqual(len(self.reloads(gw)), 2, gw.stderr())

    def test_post_config_during_a_load_is_queued_and_answers_as_when_idle(self):
        gw = self.start_gateway(small("a"), workers=1)
        ok_idle = self.admin(gw, "POST", "/config", small("p"))
        bad = small("q") + "  - name: [broken\n"
        bad_idle = self.admin(gw, "POST", "/config", bad)
        self.assertEqual(ok_idle[0], 201)
        self.assertEqual(bad_idle[0], 400)

        write_temp(gw.tmpdir, "kong.yaml", big(20000, "b"))
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        bad_busy = self.admin(gw, "POST", "/config", bad)
        self.assertEqual(bad_busy, bad_idle)
        ok_busy = self.admin(gw, "POST", "/config", small("p"))
        self.assertEqual(ok_busy[0], 201)
        self.assertEqual(json.loads(ok_busy[1]).keys(), json.loads(ok_idle[1]).keys())
        # The SIGHUP load (first in line) was published before the POSTed config, never after.
        self.assertEqual(self.status_hash(gw), md5(small("p")))
        time.sleep(0.5)
        self.assertEqual(self.status_hash(gw), md5(small("p")))

    def test_stop_during_a_load(self):
        gw = self.start_gateway(small("a"), workers=1, check_exit=False)
        write_temp(gw.tmpdir, "kong.yaml", big(20000, "b"))
        gw.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gw.proc.wait(timeout=30), 0)
        self.assertIn("silverback stopped", gw.stderr())
        self.assertNotIn("configuration reloaded", gw.stderr())


if __name__ == "__main__":
    unittest.main()
