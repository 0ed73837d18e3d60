"""Access and error logs: Kong's kong_log_format lines (plus latencies) in PREFIX/logs, the admin
access log apart, /dev/stdout and off, and both logs reopened on SIGUSR1 (logrotate)."""

import os
import re
import signal
import unittest

from harness import GatewayTestCase, RawClient, Reply, echo_reply, request, send_raw
from ops_helpers import admin, wait_for

CONFIG = """_format_version: "3.0"
services:
  - name: svc
    url: http://127.0.0.1:{port}
    routes:
      - name: r
        paths: [/]
"""

LINE = re.compile(
    r'^(?P<ip>\d+\.\d+\.\d+\.\d+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" '
    r'"(?P<agent>[^"]*)" kong_request_id: "(?P<id>[0-9a-f]{32})" kong_latency: (?P<kong>\d+) '
    r'upstream_latency: (?P<upstream>\d+|-) request_latency: (?P<total>\d+)$')


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def lines(path):
    return [line for line in read(path).split("\n") if line]


def slow_or_tunnel(req):
    """/slow answers after 2 s; /ws switches to a WebSocket echo tunnel; the rest is echoed."""
    if req.target.startswith("/slow"):
        r = echo_reply(req)
        r.delay = 2.0
        return r
    if req.target.startswith("/ws"):
        key = (req.header("Sec-WebSocket-Key") or "").encode()
        return Reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + key + b"\r\n\r\n",
                     tunnel=True)
    return echo_reply(req)


class AccessLogTest(GatewayTestCase):
    def setUp(self):
        self.up = self.make_upstream()

    def log_path(self, gw, name="access.log"):
        return os.path.join(gw.prefix, "logs", name)

    def wait_lines(self, path, n):
        return wait_for(lambda: len(lines(path)) >= n and lines(path),
                        message=f"{path}: wanted {n} lines, have {lines(path)}")

    def test_proxy_lines_in_kong_format(self):
        gw = self.start_gateway(CONFIG.format(port=self.up.port), workers=2)
        with RawClient(gw.proxy_port) as c:
            ok = c.request("GET", "/hello?x=1", headers={"Referer": "http://ref.test/",
                                                         "User-Agent": 'agent "007"'})
            head = c.request("HEAD", "/h")
        self.assertEqual(request(gw.proxy_port, "GET", "/nope", version="HTTP/1.0",
                                 host=None).status, 200)
        path = self.log_path(gw)
        got = self.wait_lines(path, 3)
        self.assertEqual(len(got), 3, got)
        parsed = [LINE.match(line) for line in got]
        self.assertTrue(all(parsed), got)
        by_id = {m["id"]: m for m in parsed}
        m = by_id[ok.header("X-Kong-Request-Id")]
        self.assertEqual((m["ip"], m["request"], m["status"]),
                         ("127.0.0.1", "GET /hello?x=1 HTTP/1.1", "200"))
        self.assertEqual(int(m["bytes"]), len(ok.body))
        self.assertEqual((m["referer"], m["agent"]), ("http://ref.test/", r"agent \x22007\x22"))
        self.assertNotEqual(m["upstream"], "-")
        self.assertGreaterEqual(int(m["total"]), int(m["upstream"]))
        h = by_id[head.header("X-Kong-Request-Id")]
        self.assertEqual((h["request"], h["bytes"], h["agent"]), ("HEAD /h HTTP/1.1", "0", "-"))
        self.assertIn('"GET /nope HTTP/1.0" 200', read(path))
        # Admin requests go to their own log.
        admin(gw, "GET", "/status")
        admin_lines = self.wait_lines(self.log_path(gw, "admin_access.log"), 1)
        self.assertTrue(any('"GET /status HTTP/1.1" 200' in line for line in admin_lines),
                        admin_lines)
        self.assertNotIn("/status", read(path))

    def test_gateway_made_responses_are_logged(self):
        gw = self.start_gateway(CONFIG.format(port=self.up.port).replace("paths: [/]",
                                                                         "paths: [/only]"))
        r = request(gw.proxy_port, "GET", "/missing")
        self.assertEqual(r.status, 404)
        (line,) = self.wait_lines(self.log_path(gw), 1)
        m = LINE.match(line)
        self.assertTrue(m, line)
        self.assertEqual((m["status"], m["upstream"], int(m["bytes"])), ("404", "-", len(r.body)))
        self.assertEqual(m["id"], r.header("X-Kong-Request-Id"))

    def test_client_gone_before_the_response_is_logged_499(self):
        up = self.make_upstream(slow_or_tunnel)
        gw = self.start_gateway(CONFIG.format(port=up.port))
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /slow/left HTTP/1.1\r\nHost: a\r\n\r\n")
            up.wait_requests(1)
        # The client left while the upstream was still thinking: nginx's 499, no body bytes.
        (line,) = self.wait_lines(self.log_path(gw), 1)
        m = LINE.match(line)
        self.assertTrue(m, line)
        self.assertEqual((m["request"], m["status"], m["bytes"]),
                         ("GET /slow/left HTTP/1.1", "499", "0"))
        self.assertEqual(request(gw.proxy_port, "GET", "/after").status, 200)
        self.assertEqual(len(self.wait_lines(self.log_path(gw), 2)), 2)

    def test_websocket_is_logged_when_the_tunnel_closes(self):
        up = self.make_upstream(slow_or_tunnel)
        gw = self.start_gateway(CONFIG.format(port=up.port))
        path = self.log_path(gw)
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n")
            self.assertEqual(c.read_response().status, 101)
            c.send(b"x" * 5000)
            self.assertEqual(c.read_exact(5000), b"x" * 5000)
            self.assertEqual(lines(path), [], "logged before the tunnel ended")
        (line,) = self.wait_lines(path, 1)
        m = LINE.match(line)
        self.assertTrue(m, line)
        self.assertEqual((m["request"], m["status"]), ("GET /ws HTTP/1.1", "101"))
        self.assertEqual(int(m["bytes"]), 5000)  # tunnel bytes sent to the client

    def test_malformed_request_logged_without_request_line(self):
        gw = self.start_gateway(CONFIG.format(port=self.up.port))
        r = send_raw(gw.proxy_port, b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        self.assertEqual(r.status, 400)
        (line,) = self.wait_lines(self.log_path(gw), 1)
        self.assertRegex(line, r'^127\.0\.0\.1 - - \[[^]]+\] "-" 400 \d+ "-" "-" kong_request_id: ')

    def test_stdout_from_environment_and_off(self):
        env = dict(os.environ, KONG_PROXY_ACCESS_LOG="/dev/stdout", KONG_ADMIN_ACCESS_LOG="off")
        gw = self.start_gateway(CONFIG.format(port=self.up.port), env=env)
        self.assertEqual(request(gw.proxy_port, "GET", "/to-stdout").status, 200)
        admin(gw, "GET", "/status")
        wait_for(lambda: "GET /to-stdout HTTP/1.1" in read(gw.stdout_path),
                 message="no access line on stdout")
        self.assertFalse(os.path.exists(self.log_path(gw)))
        self.assertFalse(os.path.exists(self.log_path(gw, "admin_access.log")))

    def test_sigusr1_reopens_access_and_error_logs(self):
        gw = self.start_gateway(CONFIG.format(port=self.up.port),
                                ["--proxy-error-log", "logs/error.log"], workers=2)
        access, error = self.log_path(gw), self.log_path(gw, "error.log")
        self.assertIn("silverback started", read(error))
        self.assertEqual(gw.stderr(), "")
        for i in range(4):
            self.assertEqual(request(gw.proxy_port, "GET", f"/before{i}").status, 200)
        self.wait_lines(access, 4)
        os.rename(access, access + ".1")
        os.rename(error, error + ".1")
        gw.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "log files reopened" in read(error), message="error log not reopened")
        for i in range(4):
            self.assertEqual(request(gw.proxy_port, "GET", f"/after{i}").status, 200)
        after = self.wait_lines(access, 4)
        self.assertEqual(len(after), 4)
        self.assertTrue(all("/after" in line for line in after), after)
        rotated = lines(access + ".1")
        self.assertEqual(len(rotated), 4)
        self.assertTrue(all("/before" in line for line in rotated), rotated)
        self.assertNotIn("log files reopened", read(error + ".1"))


if __name__ == "__main__":
    unittest.main()
