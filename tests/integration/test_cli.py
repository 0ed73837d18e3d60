"""The command line (issue #2 'Command line', kong-compat.md §7.4): version, --help everywhere,
config parse exit codes and file:line errors, start with a broken config, graceful SIGTERM/SIGINT."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import (BIN, LOOPBACK, Gateway, GatewayTestCase, RawClient, echo_reply, free_port,
                     run_cli, write_temp)

GOOD = """_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:9
    routes:
      - name: r1
        paths: [/a]
      - name: r2
        hosts: [b.test]
"""

# Line numbers matter: bogus_field is on line 5, the duplicate name on line 6, the bad path on 10.
BAD = """_format_version: "3.0"
services:
  - name: a
    url: http://127.0.0.1:1
    bogus_field: 1
  - name: a
    host: x
    routes:
      - name: r
        paths: [nope]
"""

SYNTAX = """_format_version: "3.0"
services:
  - name: a
    url: [http://127.0.0.1:1
"""


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sb-cli-")

    def test_version(self):
        rc, out, err = run_cli("version")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "0.1.0\n")

    def test_help_everywhere(self):
        for args, needle in ((["--help"], "Usage: silverback COMMAND"),
                             (["-h"], "Usage: silverback COMMAND"),
                             (["start", "--help"], "Usage: silverback start"),
                             (["start", "-h"], "Usage: silverback start"),
                             (["config", "parse", "--help"], "Usage: silverback config parse"),
                             (["version", "--help"], "Usage: silverback version")):
            with self.subTest(args=args):
                rc, out, err = run_cli(*args)
                self.assertEqual(rc, 0, err)
                self.assertIn(needle, out)

    def test_start_help_lists_required_flags(self):
        _, out, _ = run_cli("start", "--help")
        for flag in ("-c", "--proxy-listen", "--admin-listen", "--plugins-dir", "--workers"):
            self.assertIn(flag, out)

    def test_unknown_command(self):
        rc, out, err = run_cli("frobnicate")
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("Error: "), err)

    def test_unknown_start_flag(self):
        rc, out, err = run_cli("start", "--no-such-flag")
        self.assertNotEqual(rc, 0)
        self.assertIn("Error: ", err)

    def test_config_parse_good(self):
        path = write_temp(self.tmp, "good.yaml", GOOD)
        rc, out, err = run_cli("config", "parse", path)
        self.assertEqual(rc, 0, err)
        self.assertIn("parse successful", out)
        self.assertIn("1 services", out)
        self.assertIn("2 routes", out)

    def test_config_parse_example(self):
        src = os.environ.get("SILVERBACK_SOURCE_DIR", "/work/main")
        rc, out, err = run_cli("config", "parse", os.path.join(src, "kong.yaml"))
        self.assertEqual(rc, 0, err)

    def test_config_parse_reports_every_problem_with_file_line(self):
        path = write_temp(self.tmp, "bad.yaml", BAD)
        rc, out, err = run_cli("config", "parse", path)
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("Error: Failed parsing:"), err)
        self.assertRegex(err, rf"{path}:5(:\d+)?: .*bogus_field")
        self.assertRegex(err, rf"{path}:6(:\d+)?: .*services\[1\].*'a'")
        self.assertRegex(err, rf"{path}:10(:\d+)?: .*services\[1\]\.routes\[0\].*paths\[0\]")
        self.assertIn("should start with: / (fixed path) or ~/ (regex path)", err)
        self.assertNotIn("parse successful", out)

    def test_config_parse_yaml_syntax_error(self):
        path = write_temp(self.tmp, "syntax.yaml", SYNTAX)
        rc, out, err = run_cli("config", "parse", path)
        self.assertEqual(rc, 1)
        self.assertRegex(err, rf"{path}:\d+")

    def test_config_parse_missing_file(self):
        rc, out, err = run_cli("config", "parse", os.path.join(self.tmp, "nope.yaml"))
        self.assertEqual(rc, 1)
        self.assertIn("Error: ", err)
        self.assertIn("nope.yaml", err)

    def test_config_parse_without_file(self):
        rc, out, err = run_cli("config", "parse")
        self.assertNotEqual(rc, 0)

    def test_start_with_broken_config_fails_naming_file_line(self):
        path = write_temp(self.tmp, "bad.yaml", BAD)
        t0 = time.monotonic()
        rc, out, err = run_cli("start", "-c", path, "--proxy-listen", f"{LOOPBACK}:{free_port()}",
                               "--admin-listen", f"{LOOPBACK}:{free_port()}", "--workers", "1",
                               "-p", self.tmp, timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("Error: ", err)
        self.assertRegex(err, rf"{path}:5(:\d+)?: .*bogus_field")

    def test_start_with_missing_config_fails(self):
        rc, out, err = run_cli("start", "-c", os.path.join(self.tmp, "nope.yaml"),
                               "--proxy-listen", f"{LOOPBACK}:{free_port()}",
                               "--admin-listen", f"{LOOPBACK}:{free_port()}", "-p", self.tmp,
                               timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertIn("nope.yaml", err)

    def test_start_on_busy_port_fails(self):
        s = socket.socket()
        s.bind((LOOPBACK, 0))
        s.listen(1)
        self.addCleanup(s.close)
        path = write_temp(self.tmp, "good.yaml", GOOD)
        rc, out, err = run_cli("start", "-c", path, "--proxy-listen",
                               f"{LOOPBACK}:{s.getsockname()[1]}",
                               "--admin-listen", f"{LOOPBACK}:{free_port()}", "-p", self.tmp,
                               timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertIn("Error: ", err)


class LifecycleTest(GatewayTestCase):
    CONFIG = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:{port}
    read_timeout: 10000
    routes:
      - name: r
        paths: [/]
"""

    def slow_upstream(self, delay):
        def h(req):
            r = echo_reply(req)
            r.delay = delay
            return r
        return self.make_upstream(h)

    def test_status_reports_configuration_hash(self):
        up = self.make_upstream()
        gw = self.start_gateway(self.CONFIG.format(port=up.port))
        path = write_temp(gw.tmpdir, "copy.yaml", open(gw.config_path).read())
        rc, out, err = run_cli("config", "parse", path)
        self.assertEqual(rc, 0, err)
        self.assertIn(f"configuration_hash {gw.status['configuration_hash']}", out)
        for key in ("database", "memory", "server"):
            self.assertIn(key, gw.status)
        self.assertIn("total_requests", gw.status["server"])

    def test_sigterm_graceful_with_inflight_request(self):
        up = self.slow_upstream(0.8)
        gw = self.start_gateway(self.CONFIG.format(port=up.port), check_exit=False)
        result = {}

        def client():
            try:
                with RawClient(gw.proxy_port, timeout=10) as c:
                    result["r"] = c.request("GET", "/inflight")
            except Exception as e:  # noqa: BLE001
                result["e"] = e

        t = threading.Thread(target=client)
        t.start()
        up.wait_requests(1)
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        # Stops accepting: new connections are refused soon after the signal.
        refused = False
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, gw.proxy_port), timeout=0.2).close()
            except OSError:
                refused = True
                break
            time.sleep(0.02)
        t.join(10)
        rc = gw.proc.wait(timeout=10)
        self.assertNotIn("e", result, result)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(result["r"].json()["target"], "/inflight")
        self.assertEqual(rc, 0, gw.stderr())
        self.assertTrue(refused, "listener still accepting after SIGTERM")
        self.assertLess(time.monotonic() - t0, 5)

    def test_sigterm_idle_exits_promptly(self):
        up = self.make_upstream()
        gw = self.start_gateway(self.CONFIG.format(port=up.port), check_exit=False)
        # An idle keep-alive client must not hold the shutdown up.
        c = RawClient(gw.proxy_port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/x").status, 200)
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=10)
        self.assertEqual(rc, 0, gw.stderr())
        self.assertLess(time.monotonic() - t0, 2)

    def test_sigint_exits_zero(self):
        up = self.make_upstream()
        gw = self.start_gateway(self.CONFIG.format(port=up.port), check_exit=False)
        gw.proc.send_signal(signal.SIGINT)
        self.assertEqual(gw.proc.wait(timeout=10), 0, gw.stderr())

    def test_graceful_timeout_bounds_shutdown(self):
        up = self.slow_upstream(5)
        gw = self.start_gateway(self.CONFIG.format(port=up.port), ["--graceful-timeout", "300"],
                                check_exit=False)
        c = RawClient(gw.proxy_port, timeout=10)
        self.addCleanup(c.close)
        c.send(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
        up.wait_requests(1)
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        rc = gw.proc.wait(timeout=10)
        self.assertEqual(rc, 0, gw.stderr())
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_environment_variables(self):
        up = self.make_upstream()
        port = free_port()
        env = dict(os.environ, KONG_PROXY_LISTEN=f"{LOOPBACK}:{port}")
        tmp = tempfile.mkdtemp(prefix="sb-env-")
        path = write_temp(tmp, "kong.yaml", self.CONFIG.format(port=up.port))
        env["KONG_DECLARATIVE_CONFIG"] = path
        env["KONG_PREFIX"] = tmp
        admin = free_port()
        proc = subprocess.Popen([BIN, "start", "--admin-listen", f"{LOOPBACK}:{admin}",
                                 "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{admin}/status", timeout=1) as r:
                    status = json.loads(r.read())
            except OSError:
                time.sleep(0.05)
        self.assertIsNotNone(status, "gateway did not start from environment variables")
        with RawClient(port) as c:
            self.assertEqual(c.request("GET", "/env").status, 200)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
