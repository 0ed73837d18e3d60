"""Old plugin binaries keep working: abi-compat-1-0.so is compiled only against the frozen 1.0
header (sdk/abi/snapshots/silverback_plugin_1.0.h) and loaded into today's host through the
real loader; every scenario is checked on the wire (sdk/abi/README.md lists them)."""

import json
import socket
import struct
import time
import unittest

from harness import GatewayTestCase, Reply, http_response, request

ARGS = ["--plugins", "abi-compat-1-0"]


def config(port, mode, global_too=False):
    text = f"""
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:{port}
  routes:
  - name: r
    paths: ["/c"]
    plugins:
    - name: abi-compat-1-0
      config: {{"mode": "{mode}"}}
"""
    if global_too:
        text += "plugins:\n- name: abi-compat-1-0\n"
    return text


class AbiCompatTest(GatewayTestCase):
    def test_continue_and_lifecycle_hooks(self):
        up = self.make_upstream()
        gw = self.start_gateway(config(up.port, "continue"),
                                extra_args=ARGS + ["--log-level", "debug"])
        r = request(gw.proxy_port, "GET", "/c/x?q=hi")
        self.assertEqual(r.status, 200, r)
        sent = up.last()
        self.assertEqual(sent.header("X-Compat-Plugin"), "abi-compat-1-0")
        self.assertEqual(sent.header("X-Compat-Host-Minor"), "0")
        self.assertEqual(sent.header("X-Compat-Q"), "hi")
        self.assertEqual(r.header("X-Compat-Source"), "service")
        err = gw.stderr()
        self.assertIn("abi-compat-1-0: host ABI 1.0", err)
        self.assertIn("abi-compat-1-0: init_worker", err)
        self.assertIn("abi-compat-1-0: configure 1", err)

    def test_global_instance_sees_rewrite(self):
        up = self.make_upstream()
        gw = self.start_gateway(config(up.port, "continue", global_too=True), extra_args=ARGS)
        request(gw.proxy_port, "GET", "/other")  # 404, global instance only
        r = request(gw.proxy_port, "GET", "/c/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(up.last().header("X-Compat-Shared"), "rewrite")

    def test_exit_error_and_respond_error(self):
        up = self.make_upstream()
        for mode, status in (("exit", 418), ("respond_error", 403), ("error", 500)):
            gw = self.start_gateway(config(up.port, mode), extra_args=ARGS)
            r = request(gw.proxy_port, "GET", "/c/x", headers={"Accept": "application/json"})
            self.assertEqual(r.status, status, (mode, r))
            if mode == "exit":
                self.assertEqual(r.body, b"short-circuit by abi-compat-1-0")
                self.assertEqual(r.header("X-Compat-Source"), "exit")
            elif mode == "respond_error":
                self.assertEqual(r.json()["message"], "compat denied")
            else:
                self.assertEqual(r.json()["message"], "An unexpected error occurred")
        self.assertEqual(len(up.requests), 0)

    def test_pending_resume_body_modes(self):
        up = self.make_upstream(lambda req: Reply(http_response(200, "abc")))
        gw = self.start_gateway(config(up.port, "pending"), extra_args=ARGS)
        r = request(gw.proxy_port, "GET", "/c/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(up.last().header("X-Compat-Resumed"), "1")
        gw = self.start_gateway(config(up.port, "pending_exit"), extra_args=ARGS)
        r = request(gw.proxy_port, "GET", "/c/x")
        self.assertEqual((r.status, r.body), (202, b"resumed into an exit"))
        gw = self.start_gateway(config(up.port, "body"), extra_args=ARGS)
        r = request(gw.proxy_port, "GET", "/c/x")
        self.assertEqual(r.body, b"ABC|compat")
        self.assertFalse(r.has("Content-Length"))
        gw = self.start_gateway(config(up.port, "read_body"), extra_args=ARGS)
        r = request(gw.proxy_port, "POST", "/c/x", body=b"hello")
        self.assertEqual(up.last().body, b"compat:hello")
        self.assertEqual(up.last().header("X-Compat-Body-Length"), "5")

    def test_client_reset_while_parked(self):
        up = self.make_upstream()
        gw = self.start_gateway(config(up.port, "pending"), extra_args=ARGS)
        c = gw.client()
        c.send(b"GET /c/x HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(0.2)
        self.assertEqual(request(gw.proxy_port, "GET", "/c/y").status, 200)


if __name__ == "__main__":
    unittest.main()
