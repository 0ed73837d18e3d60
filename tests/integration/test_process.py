"""Running it (kong-compat.md §7.4, §8): the prefix and its pid file, `silverback stop|reload|
health|check`, graceful stop with a request in flight, settings from a kong.conf-style file,
KONG_* variables and flags in Kong's precedence."""

import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (BIN, LOOPBACK, Gateway, GatewayTestCase, RawClient, echo_reply, free_port,
                     request, run_cli, write_temp)
from ops_helpers import admin, md5, status, wait_for

CONFIG = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:{port}
    read_timeout: 10000
    routes:
      - name: r
        paths: [{path}]
"""


def pid_file(gw):
    return os.path.join(gw.prefix, "pids", "silverback.pid")


class ControlCommandsTest(GatewayTestCase):
    def test_pid_file_health_reload_stop(self):
        up = self.make_upstream()
        gw = self.start_gateway(CONFIG.format(port=up.port, path="/one"), check_exit=False)
        with open(pid_file(gw)) as f:
            self.assertEqual(int(f.read()), gw.proc.pid)

        rc, out, err = run_cli("health", "-p", gw.prefix)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, f"silverback..running\n\nSilverback is healthy at {gw.prefix}\n")

        first = status(gw)["configuration_hash"]
        changed = CONFIG.format(port=up.port, path="/two")
        write_temp(gw.tmpdir, "kong.yaml", changed)
        rc, out, err = run_cli("reload", "--prefix", gw.prefix)
        self.assertEqual((rc, out), (0, "Silverback reloaded\n"), err)
        wait_for(lambda: status(gw)["configuration_hash"] == md5(changed),
                 message="reload command did not reload")
        self.assertNotEqual(first, md5(changed))
        self.assertEqual(request(gw.proxy_port, "GET", "/two").status, 200)

        rc, out, err = run_cli("stop", "-p", gw.prefix)
        self.assertEqual((rc, out), (0, "Silverback stopped\n"), err)
        # stop returned once the process had exited (here: a zombie waiting for us).
        self.assertEqual(gw.proc.wait(timeout=1), 0)
        self.assertFalse(os.path.exists(pid_file(gw)))

        rc, out, err = run_cli("health", "-p", gw.prefix)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "silverback..not running\n\n")
        self.assertEqual(err, f"Error: Silverback is not running at {gw.prefix}\n")
        for cmd in ("stop", "reload"):
            rc, _, err = run_cli(cmd, "-p", gw.prefix)
            self.assertEqual((rc, err), (1, f"Error: Silverback is not running at {gw.prefix}\n"))

    def test_stop_waits_for_in_flight_requests(self):
        def slow(req):
            r = echo_reply(req)
            r.delay = 0.8
            return r
        up = self.make_upstream(slow)
        gw = self.start_gateway(CONFIG.format(port=up.port, path="/"), check_exit=False)
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
        rc, out, err = run_cli("stop", "-p", gw.prefix, timeout=15)
        elapsed = time.monotonic() - t0
        t.join(10)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("e", result, result)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(result["r"].json()["target"], "/inflight")
        self.assertGreater(elapsed, 0.3)  # it waited for the response to finish
        self.assertEqual(gw.proc.wait(timeout=1), 0)

    def test_second_start_in_same_prefix_refused(self):
        up = self.make_upstream()
        gw = self.start_gateway(CONFIG.format(port=up.port, path="/"))
        rc, _, err = run_cli("start", "-c", gw.config_path, "-p", gw.prefix, "--proxy-listen",
                             f"{LOOPBACK}:{free_port()}", "--admin-listen", "off")
        self.assertEqual(rc, 1)
        self.assertEqual(err, f"Error: silverback is already running in {gw.prefix} "
                              f"(pid {gw.proc.pid})\n")
        self.assertTrue(gw.alive())

    def test_control_command_usage_errors(self):
        rc, _, err = run_cli("stop", "--bogus")
        self.assertEqual((rc, err), (1, "Error: unexpected argument '--bogus'\n"))
        rc, _, err = run_cli("health", "-p")
        self.assertEqual((rc, err), (1, "Error: option '-p' needs a value\n"))
        for cmd in ("stop", "reload", "health", "check"):
            rc, out, _ = run_cli(cmd, "--help")
            self.assertEqual(rc, 0)
            self.assertIn(f"Usage: silverback {cmd}", out)


class CheckCommandTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sb-check-")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KONG_")}

    def test_valid_file(self):
        path = write_temp(self.tmp, "kong.conf", "# node\nproxy_listen = 0.0.0.0:9000 # here\n"
                                                 "nginx_worker_processes = auto\ndatabase = off\n"
                                                 "plugins = bundled,my-plugin\n")
        rc, out, err = run_cli("check", path, env=self.env)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, f"configuration at {path} is valid\n")

    def test_invalid_values_are_all_reported(self):
        path = write_temp(self.tmp, "kong.conf",
                          "log_level = loud\nproxy_listen = 0.0.0.0:notaport\n"
                          "mem_cache_size = 128m\n")
        rc, out, err = run_cli("check", path, env=self.env)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn(f"Warning: {path}: ignoring settings silverback does not use: "
                      "mem_cache_size\n", err)
        self.assertIn(f"Error: {path}:1: log_level: invalid log_level 'loud'\n", err)
        self.assertRegex(err, rf"Error: {path}:2: proxy_listen: ")

    def test_environment_is_checked_too(self):
        env = dict(self.env, KONG_NGINX_WORKER_PROCESSES="many")
        rc, _, err = run_cli("check", env=env)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "Error: KONG_NGINX_WORKER_PROCESSES: invalid value 'many' for "
                              "nginx_worker_processes\n")
        rc, out, _ = run_cli("check", env=self.env)
        self.assertEqual((rc, out), (0, "configuration is valid (defaults and KONG_* environment)\n"))
        rc, _, err = run_cli("check", os.path.join(self.tmp, "missing.conf"), env=self.env)
        self.assertEqual((rc, err), (1, f"Error: no file at: {self.tmp}/missing.conf\n"))


class SettingsSourcesTest(GatewayTestCase):
    """Precedence: defaults < settings file < KONG_* < flags (Kong's order)."""

    def gateway(self, conf_text, env_extra, extra_args=()):
        up = self.make_upstream()
        gw = Gateway(CONFIG.format(port=up.port, path="/"), extra_args=extra_args,
                     env=dict({k: v for k, v in os.environ.items() if not k.startswith("KONG_")},
                              **env_extra))
        conf = write_temp(gw.tmpdir, "kong.conf", conf_text)
        # The harness passes --workers; the precedence under test is file vs env vs flag.
        i = gw.args.index("--workers")
        del gw.args[i:i + 2]
        gw.args += ["-c", conf]
        self.addCleanup(gw.kill)
        gw.start()
        self.addCleanup(self._stop_checked, gw)
        return gw

    def workers(self, gw):
        return admin(gw, "GET", "/").json()["configuration"]["nginx_worker_processes"]

    def test_file_then_environment_then_flags(self):
        conf = "nginx_worker_processes = 2\nheaders = off\nreal_ip_header = X-From-File\n"
        gw = self.gateway(conf, {})
        self.assertEqual(self.workers(gw), 2)
        r = request(gw.proxy_port, "GET", "/x")
        self.assertFalse(r.has("Via") or r.has("Server") or r.has("X-Kong-Proxy-Latency"), r)

        gw = self.gateway(conf, {"KONG_NGINX_WORKER_PROCESSES": "3", "KONG_HEADERS": "Via"})
        self.assertEqual(self.workers(gw), 3)
        r = request(gw.proxy_port, "GET", "/x")
        self.assertTrue(r.has("Via") and not r.has("Server"), r)

        gw = self.gateway(conf, {"KONG_NGINX_WORKER_PROCESSES": "3"}, ["--workers", "1"])
        self.assertEqual(self.workers(gw), 1)

    def test_declarative_config_and_prefix_from_file(self):
        up = self.make_upstream()
        tmp = tempfile.mkdtemp(prefix="sb-conf-")
        decl = write_temp(tmp, "decl.yaml", CONFIG.format(port=up.port, path="/from-file"))
        prefix = os.path.join(tmp, "pfx")
        proxy, adm = free_port(), free_port()
        conf = write_temp(tmp, "node.conf", f"declarative_config = {decl}\nprefix = {prefix}\n"
                                            f"proxy_listen = {LOOPBACK}:{proxy}\n"
                                            f"admin_listen = {LOOPBACK}:{adm}\n"
                                            "nginx_worker_processes = 1\n")
        proc = subprocess.Popen([BIN, "start", "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        wait_for(lambda: os.path.exists(os.path.join(prefix, "pids", "silverback.pid")),
                 timeout=10, message="no pid file in the prefix from the settings file")
        self.assertEqual(request(proxy, "GET", "/from-file").status, 200)
        rc, _, err = run_cli("stop", "-p", prefix)
        self.assertEqual(rc, 0, err)
        self.assertEqual(proc.wait(timeout=5), 0)

    def test_kong_environment_variables(self):
        up = self.make_upstream()
        env = {"KONG_TRUSTED_IPS": "127.0.0.1/32", "KONG_REAL_IP_HEADER": "X-Client-IP",
               "KONG_LOG_LEVEL": "error", "KONG_PLUGINS": "bundled,host-probe",
               "KONG_NGINX_WORKER_PROCESSES": "auto"}
        gw = Gateway(CONFIG.format(port=up.port, path="/"),
                     env=dict({k: v for k, v in os.environ.items() if not k.startswith("KONG_")},
                              **env))
        i = gw.args.index("--workers")
        del gw.args[i:i + 2]
        self.addCleanup(gw.kill)
        gw.start()
        self.addCleanup(self._stop_checked, gw)
        self.assertEqual(self.workers(gw), os.cpu_count())
        request(gw.proxy_port, "GET", "/ip", headers={"X-Client-IP": "10.1.2.3"})
        self.assertEqual(up.wait_requests(1)[-1].header("X-Real-IP"), "10.1.2.3")
        # log_level error: the notice-level start line is not logged.
        self.assertNotIn("silverback started", gw.stderr())


if __name__ == "__main__":
    unittest.main()
