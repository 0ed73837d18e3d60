"""The plugin host end to end: the real gateway loads tests/plugins/host_probe.c (a plain-C99
plugin built only against sdk/include/silverback/plugin.h) and every ABI promise is checked on
the wire — phases, exits, errors, pending/resume with timers and outbound HTTP calls, header
maps, request and response bodies, consumers, scoping, the log phase, config errors, reloads."""

import json
import os
import signal
import socket
import struct
import time
import unittest

from harness import (BIN, GatewayTestCase, Reply, echo_reply, http_response, request, run_cli,
                     write_temp)

PROBE = ["--plugins", "host-probe"]


def config(upstream_port, plugins="", route_plugins="", consumers=""):
    return f"""
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:{upstream_port}
  routes:
  - name: main
    paths: ["/p"]
{route_plugins}
  - name: plain
    paths: ["/plain"]
{consumers}
plugins:
{plugins or "[]"}
"""


def probe(mode, indent="", **extra):
    lines = [f"{indent}- name: host-probe", f"{indent}  config:", f"{indent}    mode: {mode}"]
    for k, v in extra.items():
        lines.append(f"{indent}    {k}: {json.dumps(v)}")
    return "\n".join(lines)


def route_probe(mode, **extra):
    return "    plugins:\n" + probe(mode, indent="    ", **extra)


class PluginHostTest(GatewayTestCase):
    def gateway(self, cfg, upstream=None, extra=()):
        return self.start_gateway(cfg, extra_args=PROBE + list(extra))

    def test_access_sets_upstream_and_response_headers(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("headers", tag="r1")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 200, r)
        sent = up.last()
        self.assertEqual(sent.header("X-Probe"), "r1")
        # Response headers set in access are kept for the response; header_filter ran too.
        self.assertEqual(r.header("X-Probe-Access"), "1")
        self.assertEqual(r.header("X-Probe-Status"), "200")
        self.assertEqual(r.header("X-Probe-Source"), "service")
        # A route without the plugin is untouched.
        r = request(gw.proxy_port, "GET", "/plain/x")
        self.assertFalse(r.has("X-Probe-Access"))
        self.assertFalse(up.last().has("X-Probe"))

    def test_exit_short_circuits_and_never_reaches_upstream(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("exit")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 418)
        self.assertEqual(r.body, b"teapot\n")
        self.assertEqual(r.header("X-Exit"), "yes")
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.header("Content-Length"), "7")
        # Filters still run on an exit (Kong), and see it as one.
        self.assertEqual(r.header("X-Probe-Status"), "418")
        self.assertEqual(r.header("X-Probe-Source"), "exit")
        self.assertEqual(r.header("X-Probe-Access"), "1")
        self.assertEqual(up.quiet_for(0.2)[0], 0)

    def test_error_result_is_kong_500_and_logged(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("error")))
        r = request(gw.proxy_port, "GET", "/p/x", headers={"Accept": "application/json"})
        self.assertKongError(r, 500, "An unexpected error occurred")
        self.assertEqual(len(up.requests), 0)
        self.assertIn("[host-probe] access phase: returned SB_ERROR", gw.stderr())
        # The gateway keeps serving.
        self.assertEqual(request(gw.proxy_port, "GET", "/plain/").status, 200)

    def test_respond_error_uses_kong_templates(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("error-exit")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertKongError(r, 401, "No API key found in request")
        r = request(gw.proxy_port, "GET", "/p/x", headers={"Accept": "text/html"})
        self.assertEqual(r.status, 401)
        self.assertIn(b"No API key found in request", r.body)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))

    def test_pending_then_resume_from_a_timer(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("async", delay_ms=150)))
        t0 = time.monotonic()
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        self.assertEqual(up.last().header("X-Async"), "done")
        # The loop was not blocked meanwhile: other requests are answered during the wait.
        with gw.client() as slow:
            slow.send(b"GET /p/slow HTTP/1.1\r\nHost: x\r\n\r\n")
            t1 = time.monotonic()
            fast = request(gw.proxy_port, "GET", "/plain/fast")
            self.assertEqual(fast.status, 200)
            self.assertLess(time.monotonic() - t1, 0.12)
            self.assertEqual(slow.read_response().status, 200)

    def test_pending_then_exit(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("async-exit", delay_ms=20)))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.body, b"denied later\n")
        self.assertEqual(r.header("X-Exit"), "async")
        self.assertEqual(len(up.requests), 0)

    def test_client_reset_while_pending_cancels_and_gateway_survives(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("async", delay_ms=300)))
        for _ in range(5):
            c = gw.client()
            c.send(b"GET /p/x HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.02)
            # RST: the request is gone; its timer completes as cancelled (ctx NULL).
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        time.sleep(0.5)
        self.assertTrue(gw.alive())
        self.assertEqual(len(up.requests), 0)
        self.assertEqual(request(gw.proxy_port, "GET", "/p/y").status, 200)

    def test_outbound_http_call(self):
        up = self.make_upstream()
        auth = self.make_upstream(lambda req: Reply(http_response(202, "from-auth")))
        gw = self.gateway(config(up.port, route_plugins=route_probe(
            "call", url=f"http://127.0.0.1:{auth.port}/check")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(up.last().header("X-Call-Status"), "202")
        self.assertEqual(up.last().header("X-Call-Body"), "from-auth")
        self.assertEqual(auth.last().target, "/check")

    def test_request_rewrites_and_refusals(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("rewrite-request")))
        r = request(gw.proxy_port, "GET", "/p/orig?q=hello%20world",
                    headers={"X-Remove-Me": "1", "X-Keep": "2"})
        self.assertEqual(r.status, 200)
        sent = up.last()
        self.assertEqual(sent.method, "PUT")
        self.assertEqual(sent.target, "/rewritten?a=1&b=two")
        self.assertFalse(sent.has("X-Remove-Me"))
        self.assertEqual(sent.header("X-Keep"), "2")
        self.assertEqual(sent.header("X-Query-Q"), "hello world")
        self.assertEqual(sent.header("X-Framing-Refused"), "yes")
        self.assertEqual(sent.header("X-Phase-Checked"), "yes")

    def test_request_body_buffered_and_replaced(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("echo-body")))
        body = b"a" * 70000
        with gw.client() as c:
            c.send(b"POST /p/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 10000):
                piece = body[i:i + 10000]
                c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                time.sleep(0.01)
            c.send(b"0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        sent = up.last()
        self.assertEqual(sent.header("X-Body-Size"), str(len(body)))
        self.assertEqual(sent.body, b"replaced body")
        self.assertEqual(sent.header("Content-Length"), "13")
        self.assertFalse(sent.has("Transfer-Encoding"))

    def test_buffered_body_filter_rewrites_response(self):
        up = self.make_upstream(lambda req: Reply(http_response(200, "hello world",
                                                                {"Content-Type": "text/plain"})))
        gw = self.gateway(config(up.port, route_plugins=route_probe("upper")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.body, b"HELLO WORLD")
        self.assertEqual(r.header("Content-Length"), "11")

    def test_resize_body_filter_switches_to_chunked(self):
        up = self.make_upstream(lambda req: Reply(http_response(200, "abc")))
        gw = self.gateway(config(up.port, route_plugins=route_probe("append")))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"abc[appended]\n")
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertFalse(r.has("Content-Length"))

    def test_consumer_lookup_and_authenticate(self):
        up = self.make_upstream()
        consumers = "consumers:\n- username: alice\n  id: 7a6c0d3e-3f5c-4f2b-9f3e-1d2c3b4a5f60\n"
        gw = self.gateway(config(up.port, route_plugins=route_probe("auth"), consumers=consumers))
        r = request(gw.proxy_port, "GET", "/p/x", headers={"X-Who": "alice"})
        self.assertEqual(r.status, 200)
        self.assertEqual(up.last().header("X-Consumer-Id"), "7a6c0d3e-3f5c-4f2b-9f3e-1d2c3b4a5f60")
        r = request(gw.proxy_port, "GET", "/p/x", headers={"X-Who": "mallory"})
        self.assertEqual(r.status, 401)

    def test_global_plugin_runs_on_404_response_phases(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, plugins=probe("headers", tag="global")))
        r = request(gw.proxy_port, "GET", "/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("X-Probe-Status"), "404")
        self.assertEqual(r.header("X-Probe-Source"), "error")
        # The global config applies to routed requests too.
        r = request(gw.proxy_port, "GET", "/plain/")
        self.assertEqual(up.last().header("X-Probe"), "global")

    def test_route_config_wins_over_global(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, plugins=probe("headers", tag="global"),
                                 route_plugins=route_probe("headers", tag="route")))
        request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(up.last().header("X-Probe"), "route")
        request(gw.proxy_port, "GET", "/plain/x")
        self.assertEqual(up.last().header("X-Probe"), "global")

    def test_disabled_config_is_invisible(self):
        up = self.make_upstream()
        route = "    plugins:\n" + probe("exit", indent="    ") + "\n      enabled: false"
        gw = self.gateway(config(up.port, plugins=probe("headers", tag="global"),
                                 route_plugins=route))
        r = request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(up.last().header("X-Probe"), "global")

    def test_log_phase_runs_with_serializer(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("headers", tag="logme")))
        request(gw.proxy_port, "GET", "/p/x")
        deadline = time.monotonic() + 3
        while "log phase: tag=logme" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertIn("[host-probe] log phase: tag=logme status=200 serialized=ok", gw.stderr())

    def test_schema_errors_name_file_line_and_field(self):
        path = write_temp(self.make_tmp(), "kong.yaml", config(
            1, route_plugins=route_probe("nonsense", delay_ms=-5)))
        rc, out, err = run_cli("config", "parse", path, "--plugins", "host-probe")
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(err, r"kong\.yaml:\d+:\d+: .*config\.mode: expected one of")
        self.assertRegex(err, r"kong\.yaml:\d+:\d+: .*config\.delay_ms: value should be "
                              r"between 0 and 60000")

    def test_plugin_rejecting_its_config_fails_start_with_location(self):
        path = write_temp(self.make_tmp(), "kong.yaml",
                          config(1, route_plugins=route_probe("reject")))
        rc, _, err = run_cli("start", "-c", path, "--plugins", "host-probe", "--proxy-listen",
                             "127.0.0.1:0", "--admin-listen", "off")
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"kong\.yaml:\d+:\d+: plugins\[host-probe\]: config: mode "
                                     r"'reject' is refused by the plugin")

    def test_unknown_plugin_name_is_a_config_error(self):
        path = write_temp(self.make_tmp(), "kong.yaml", config(1, plugins="- name: nope"))
        rc, _, err = run_cli("config", "parse", path, "--plugins", "host-probe")
        self.assertEqual(rc, 1)
        self.assertIn("plugin 'nope' not enabled", err)

    def test_missing_and_invalid_plugin_files_are_clear_errors(self):
        path = write_temp(self.make_tmp(), "kong.yaml", config(1))
        rc, _, err = run_cli("config", "parse", path, "--plugins", "no-such-plugin")
        self.assertEqual(rc, 1)
        self.assertIn("plugin 'no-such-plugin' is enabled but no-such-plugin.so was not found",
                      err)
        bogus = write_temp(self.make_tmp(), "bogus.so", "not an ELF file")
        rc, _, err = run_cli("config", "parse", path, "--plugins", bogus)
        self.assertEqual(rc, 1)
        self.assertIn("cannot load", err)

    def test_failed_reload_keeps_old_plugin_config_serving(self):
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("headers", tag="v1")))
        request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(up.last().header("X-Probe"), "v1")
        with open(gw.config_path, "w") as f:
            f.write(config(up.port, route_plugins=route_probe("reject")))
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 3
        while "reload failed" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertIn("reload failed", gw.stderr())
        request(gw.proxy_port, "GET", "/p/x")
        self.assertEqual(up.last().header("X-Probe"), "v1")
        with open(gw.config_path, "w") as f:
            f.write(config(up.port, route_plugins=route_probe("headers", tag="v2")))
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            request(gw.proxy_port, "GET", "/p/x")
            if up.last().header("X-Probe") == "v2":
                break
            time.sleep(0.05)
        self.assertEqual(up.last().header("X-Probe"), "v2")

    def test_admin_lists_plugins_and_serves_schemas(self):
        import urllib.error
        import urllib.request
        up = self.make_upstream()
        gw = self.gateway(config(up.port, route_plugins=route_probe("headers")))
        base = f"http://127.0.0.1:{gw.admin_port}"
        with urllib.request.urlopen(base + "/plugins/enabled") as r:
            self.assertEqual(json.loads(r.read()), {"enabled_plugins": ["host-probe"]})
        with urllib.request.urlopen(base + "/plugins/schema/host-probe") as r:
            schema = json.loads(r.read())
        self.assertEqual(schema["name"], "host-probe")
        self.assertEqual(schema["fields"][0]["config"]["type"], "record")
        with urllib.request.urlopen(base + "/") as r:
            root = json.loads(r.read())
        self.assertEqual(root["plugins"]["available_on_server"]["host-probe"],
                         {"version": "1.0.0", "priority": 1000})
        self.assertEqual(root["plugins"]["enabled_in_cluster"], ["host-probe"])
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/plugins/schema/nope")
        self.assertEqual(e.exception.code, 404)
        self.assertEqual(json.loads(e.exception.read()), {"message": "No plugin named 'nope'"})

    def test_certificate_phase_runs_global_configs_with_the_sni(self):
        import ssl
        up = self.make_upstream()
        gw = self.start_gateway(config(up.port, plugins=probe("headers", tag="g")),
                               extra_args=PROBE, tls=True)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", gw.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="cert.example.test") as tls:
                tls.sendall(b"GET /plain/ HTTP/1.1\r\nHost: cert.example.test\r\n"
                            b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertIn("[host-probe] certificate phase: sni=cert.example.test port_ok=1 "
                      "headers_refused=1", gw.stderr())

    def make_tmp(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="sb-ph-")
        return d


if __name__ == "__main__":
    unittest.main()
