"""The bundled transform plugins on the real gateway: request-transformer, response-transformer and
request-termination loaded with `--plugins bundled`, asserting bytes on the wire -- what the
upstream received (method, target, headers, body, Content-Length) and what the client got.

Expected values come from Kong 3.9's plugin sources and specs (spec/03-plugins/14-request-
termination, 15-response-transformer, 36-request-transformer); where Silverback differs on purpose
(key order of rewritten JSON, templates limited to look-ups) the plugin READMEs say so.

The module skips when the binary does not accept --plugins yet or the plugin .so files are
missing (build the request-transformer, response-transformer and request-termination targets).
"""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import (BIN, LOOPBACK, PRODUCT, GatewayTestCase, RawClient, Reply, Upstream,
                     build_request, class_upstream, echo_reply, free_port, http_response,
                     request, run_cli, start_class_gateway, write_temp)

PLUGINS = ("request-transformer", "response-transformer", "request-termination")
JSON_CT = "application/json; charset=utf-8"


def plugins_dir():
    return os.path.join(os.path.dirname(os.path.abspath(BIN)), "plugins")


def setUpModule():
    if not os.path.exists(BIN):
        raise unittest.SkipTest(f"no gateway binary at {BIN}")
    rc, out, err = run_cli("start", "--help")
    if not re.search(r"^\s*--plugins\s", out + err, re.M):
        raise unittest.SkipTest("the gateway binary does not accept --plugins yet")
    missing = [p for p in PLUGINS if not os.path.exists(os.path.join(plugins_dir(), p + ".so"))]
    if missing:
        raise unittest.SkipTest(f"plugin modules not built in {plugins_dir()}: {missing}")


def plugin_args():
    return ("--plugins", "bundled", "--plugins-dir", plugins_dir())


def plugin_yaml(name, config, indent):
    pad = " " * indent
    return f"{pad}- name: {name}\n{pad}  config: {json.dumps(config)}\n"


def route_yaml(name, hosts=None, paths=None, plugins=(), strip_path=None):
    out = f"      - name: {name}\n"
    if hosts:
        out += f"        hosts: {json.dumps(hosts)}\n"
    if paths:
        out += f"        paths: {json.dumps(paths)}\n"
    if strip_path is not None:
        out += f"        strip_path: {'true' if strip_path else 'false'}\n"
    if plugins:
        out += "        plugins:\n"
        for pname, cfg in plugins:
            out += plugin_yaml(pname, cfg, 10)
    return out


def gateway_config(port, routes, global_plugins=()):
    text = ('_format_version: "3.0"\nservices:\n'
            f"  - name: up\n    url: http://{LOOPBACK}:{port}\n    routes:\n" + "".join(routes))
    if global_plugins:
        text += "plugins:\n" + "".join(plugin_yaml(n, c, 2) for n, c in global_plugins)
    return text


def multipart(fields, boundary="XyZ"):
    out = b""
    for k, v in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                .encode())
    return out + f"--{boundary}--\r\n".encode() if out else out


def scripted(req):
    """Upstream replies chosen by path; everything else echoes the request as JSON."""
    path = req.target.split("?")[0]
    if path == "/json":
        return Reply(http_response(200, '{"url":"http://up.test/json", "keep" : [1, 2.50],'
                                        ' "drop":true, "num":1}',
                                   {"Content-Type": "application/json",
                                    "Access-Control-Allow-Origin": "*", "X-Old": "o"}))
    if path == "/text":
        return Reply(http_response(200, '{"url":"not json content-type"}',
                                   {"Content-Type": "text/plain", "X-Old": "o"}))
    if path == "/badjson":
        return Reply(http_response(200, "not a json value", {"Content-Type": "application/json"}))
    if path == "/chunked-json":
        return Reply(parts=[(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n", 0.02),
                            (b"9\r\n{\"a\":1,\"b\r\n", 0.02), (b"5\r\n\":2}\n\r\n0\r\n\r\n", 0)])
    return echo_reply(req)


class TransformCase(GatewayTestCase):
    up = None

    def find(self, path, timeout=5):
        """The upstream request whose path (without query) is `path`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.up.lock:
                for r in reversed(self.up.requests):
                    if r.target.split("?")[0] == path:
                        return r
            time.sleep(0.02)
        self.fail(f"the upstream never received {path}; got {self.up.requests!r}")

    def assertFraming(self, resp):
        if resp.has("Content-Length"):
            self.assertEqual(int(resp.header("Content-Length")), len(resp.body), resp)
            self.assertFalse(resp.has("Transfer-Encoding"), resp)
        else:
            self.assertTrue(resp.chunked, resp)

    def assertUpstreamBody(self, u, body):
        self.assertEqual(u.body, body)
        self.assertEqual(u.header_all("Content-Length"), [str(len(body))], u.headers)
        self.assertFalse(u.has("Transfer-Encoding"), u.headers)


# ------------------------------------------------------------------------------------------------


class RequestTransformerOnTheWire(TransformCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        routes = [
            route_yaml("headers", hosts=["headers.test"], plugins=[("request-transformer", {
                "remove": {"headers": ["x-to-remove"], "querystring": ["toremove"]},
                "rename": {"headers": ["x-to-rename:x-is-renamed"]},
                "replace": {"headers": ["x-to-replace:false"]},
                "add": {"headers": ["h1:v1", "h2:value:2", "X-aDDed:a1"],
                        "querystring": ["q1:v1", "p:a b/c"]},
                "append": {"headers": ["h1:v2", "X-aDDed:a2"], "querystring": ["q2:x"]}})]),
            route_yaml("json", hosts=["json.test"], plugins=[("request-transformer", {
                "remove": {"body": ["toremove"]},
                "replace": {"body": ["p1:new"]},
                "add": {"body": ["p2:v/2"]},
                "append": {"body": ["list:c"]}})]),
            route_yaml("form", hosts=["form.test"], plugins=[("request-transformer", {
                "rename": {"body": ["a:c"]}, "append": {"body": ["b:3"]}})]),
            route_yaml("multipart", hosts=["multipart.test"], plugins=[("request-transformer", {
                "remove": {"body": ["x"]}, "add": {"body": ["y:z"]}})]),
            route_yaml("method", hosts=["method.test"], plugins=[("request-transformer", {
                "http_method": "GET"})]),
            route_yaml("captures", hosts=["captures.test"],
                       paths=["~/users/(?<id>\\d+)/profile$"], strip_path=False,
                       plugins=[("request-transformer", {
                           "replace": {"uri": "/v2/profiles/$(uri_captures.id)"},
                           "add": {"querystring": ["user:$(uri_captures.id)"],
                                   "headers": ["x-from-query:$(query_params.q or 'none')",
                                               "x-shared:$(shared.nothing or 'default')"]}})]),
            route_yaml("host", hosts=["host.test"], plugins=[("request-transformer", {
                "replace": {"headers": ["host:changed.test"]}})]),
            route_yaml("plain", hosts=["plain.test"]),
        ]
        cls.gw = start_class_gateway(cls, gateway_config(cls.up.port, routes),
                                     extra_args=plugin_args())
        cls.port = cls.gw.proxy_port

    def test_headers_and_query(self):
        r = request(self.port, "GET", "/h?toremove=1&keep=2&q1=kept", host="headers.test",
                    headers=[("x-to-remove", "1"), ("x-to-rename", "r"), ("x-to-replace", "true"),
                             ("x-other", "o")])
        self.assertEqual(r.status, 200, r)
        u = self.find("/h")
        self.assertEqual(u.method, "GET")
        # kong.service.request.set_query: names sorted, values escaped as ngx.escape_uri.
        self.assertEqual(u.target, "/h?keep=2&p=a%20b%2Fc&q1=kept&q2=x")
        self.assertFalse(u.has("x-to-remove"))
        self.assertFalse(u.has("x-to-rename"))
        self.assertEqual(u.header_all("x-is-renamed"), ["r"])
        self.assertEqual(u.header_all("x-to-replace"), ["false"])
        self.assertEqual(u.header_all("h1"), ["v1", "v2"])
        self.assertEqual(u.header_all("h2"), ["value:2"])
        self.assertEqual(u.header_all("x-added"), ["a1", "a2"])
        self.assertIn("X-aDDed", [n for n, _ in u.headers], "configured case kept")
        self.assertEqual(u.header("x-other"), "o")
        self.assertEqual(u.header("Host"), "headers.test")

    def test_json_body_and_content_length(self):
        body = b'{"p1" : "v", "toremove": 1, "list": "a", "n": 1.50}'
        r = request(self.port, "POST", "/j", host="json.test", body=body,
                    headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        u = self.find("/j")
        self.assertUpstreamBody(u, b'{"p1":"new","list":["a","c"],"n":1.50,"p2":"v\\/2"}')

    def test_malformed_json_is_left_alone(self):
        r = request(self.port, "POST", "/jbad", host="json.test", body=b"malformed json body",
                    headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertUpstreamBody(self.find("/jbad"), b"malformed json body")

    def test_empty_json_body_gets_added_fields(self):
        r = request(self.port, "POST", "/jempty", host="json.test", body=b"",
                    headers={"Content-Type": "application/json", "Content-Length": "0"})
        self.assertEqual(r.status, 200, r)
        self.assertUpstreamBody(self.find("/jempty"), b'{"p2":"v\\/2","list":["c"]}')

    def test_chunked_json_body_is_rewritten_with_a_length(self):
        body = b'{"toremove":1,"p1":"old"}'
        raw = (b"POST /jchunked HTTP/1.1\r\nHost: json.test\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" +
               b"%x\r\n%s\r\n" % (10, body[:10]) + b"%x\r\n%s\r\n" % (len(body) - 10, body[10:]) +
               b"0\r\n\r\n")
        with RawClient(self.port) as c:
            c.send(raw)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertUpstreamBody(self.find("/jchunked"), b'{"p1":"new","p2":"v\\/2","list":["c"]}')

    def test_form_body(self):
        r = request(self.port, "POST", "/f", host="form.test", body=b"a=1&b=2",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        self.assertUpstreamBody(self.find("/f"), b"c=1&b=2&b=3")

    def test_multipart_body(self):
        body = multipart([("keep", "1"), ("x", "drop me")])
        r = request(self.port, "POST", "/m", host="multipart.test", body=body,
                    headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        self.assertEqual(r.status, 200, r)
        u = self.find("/m")
        self.assertUpstreamBody(u, multipart([("keep", "1"), ("y", "z")]))
        self.assertEqual(u.header("Content-Type"), "multipart/form-data; boundary=XyZ")

    def test_method_change_moves_the_form_into_the_query(self):
        r = request(self.port, "POST", "/m2?hello=world", host="method.test", body=b"name=marco",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        u = self.find("/m2")
        self.assertEqual(u.method, "GET")
        self.assertEqual(u.target, "/m2?hello=world&name=marco")

    def test_uri_and_templates(self):
        r = request(self.port, "GET", "/users/42/profile?q=%C3%A9t%C3%A9", host="captures.test")
        self.assertEqual(r.status, 200, r)
        u = self.find("/v2/profiles/42")
        self.assertEqual(u.target, "/v2/profiles/42?q=%C3%A9t%C3%A9&user=42")
        self.assertEqual(u.header("x-from-query").encode("latin-1"), "été".encode())
        self.assertEqual(u.header("x-shared"), "default")
        r = request(self.port, "GET", "/users/7/profile", host="captures.test")
        u = self.find("/v2/profiles/7")
        self.assertEqual(u.header("x-from-query"), "none")

    def test_replace_host(self):
        r = request(self.port, "GET", "/host", host="host.test")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.find("/host").header_all("Host"), ["changed.test"])

    def test_without_plugin_the_query_is_untouched(self):
        r = request(self.port, "GET", "/plain?b=2&a=1&a", host="plain.test")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.find("/plain").target, "/plain?b=2&a=1&a")


class RequestBodyStreaming(TransformCase):
    """SB_CFG_READS_REQUEST_BODY only for configs with body transforms: a header-only
    request-transformer keeps the request body streaming (when the host streams at all)."""

    @classmethod
    def setUpClass(cls):
        def head_only(req):
            return Reply(http_response(200, "early"), close=True)
        cls.up = Upstream(head_only, read_body=False)
        cls.addClassCleanup(cls.up.close)
        routes = [
            route_yaml("none", hosts=["none.test"]),
            route_yaml("hdr", hosts=["hdr.test"], plugins=[("request-transformer", {
                "add": {"headers": ["x-a:1"]}})]),
            route_yaml("body", hosts=["body.test"], plugins=[("request-transformer", {
                "add": {"body": ["x:1"]}})]),
        ]
        cls.gw = start_class_gateway(cls, gateway_config(cls.up.port, routes),
                                     extra_args=plugin_args())

    def head_arrives_early(self, host):
        before = len(self.up.requests)
        with RawClient(self.gw.proxy_port) as c:
            c.send(f"POST /s HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   "Content-Length: 20\r\n\r\n{\"half\":".encode())
            try:
                self.up.wait_requests(before + 1, timeout=1.0)
                early = True
            except AssertionError:
                early = False
            c.send(b'"a body"}   ')  # 8 + 12 = 20 bytes
            try:
                c.read_response(timeout=3)
            except Exception:
                pass
        return early

    def test_only_body_transforms_buffer_the_request(self):
        if not self.head_arrives_early("none.test"):
            self.skipTest("this host buffers request bodies even without plugins")
        self.assertTrue(self.head_arrives_early("hdr.test"),
                        "a header-only request-transformer must not make the host buffer")
        self.assertFalse(self.head_arrives_early("body.test"),
                         "a body transform needs the whole body before access")


# ------------------------------------------------------------------------------------------------


class ResponseTransformerOnTheWire(TransformCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        rt = {"remove": {"headers": ["Access-Control-Allow-Origin"], "json": ["drop"]},
              "rename": {"headers": ["X-Old:X-New"], "json": ["url:link"]},
              "replace": {"json": ["num:2"], "json_types": ["number"]},
              "add": {"headers": ["X-Added:yes"], "json": ["flag:true", "s:a/b"],
                      "json_types": ["boolean", "string"]},
              "append": {"headers": ["X-Added:again"], "json": ["keep:3"],
                         "json_types": ["number"]}}
        routes = [route_yaml("rt", hosts=["resp.test"], plugins=[("response-transformer", rt)])]
        cls.gw = start_class_gateway(cls, gateway_config(cls.up.port, routes),
                                     extra_args=plugin_args())
        cls.port = cls.gw.proxy_port

    def test_json_body_and_headers(self):
        r = request(self.port, "GET", "/json", host="resp.test")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"link":"http://up.test/json","keep":[1,2.50,3],"num":2,'
                                 b'"flag":true,"s":"a\\/b"}')
        self.assertFraming(r)
        self.assertFalse(r.has("Access-Control-Allow-Origin"))
        self.assertFalse(r.has("X-Old"))
        self.assertEqual(r.header_all("X-New"), ["o"])
        self.assertEqual(r.header_all("X-Added"), ["yes", "again"])
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_non_json_content_type_is_streamed_untouched(self):
        r = request(self.port, "GET", "/text", host="resp.test")
        self.assertEqual(r.body, b'{"url":"not json content-type"}')
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        self.assertEqual(r.header_all("X-New"), ["o"])

    def test_unparseable_json_is_untouched(self):
        r = request(self.port, "GET", "/badjson", host="resp.test")
        self.assertEqual(r.body, b"not a json value")
        self.assertFraming(r)

    def test_chunked_json_is_transformed_whole(self):
        r = request(self.port, "GET", "/chunked-json", host="resp.test")
        self.assertEqual(r.body, b'{"a":1,"b":2,"flag":true,"s":"a\\/b","keep":[3]}')
        self.assertFraming(r)


# ------------------------------------------------------------------------------------------------


class RequestTerminationOnTheWire(TransformCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        routes = [
            route_yaml("default", hosts=["api1.request-termination.test"],
                       plugins=[("request-termination", {})]),
            route_yaml("s404", hosts=["api2.request-termination.test"],
                       plugins=[("request-termination", {"status_code": 404})]),
            route_yaml("custom", hosts=["api3.request-termination.test"],
                       plugins=[("request-termination", {"status_code": 406,
                                                         "message": "Invalid"})]),
            route_yaml("html", hosts=["api5.request-termination.test"],
                       plugins=[("request-termination", {
                           "status_code": 451, "content_type": "text/html",
                           "body": "<html><body><h1>Service is down due to content "
                                   "infringement</h1></body></html>"})]),
            route_yaml("s204", hosts=["api8.request-termination.test"],
                       plugins=[("request-termination", {"status_code": 204})]),
            route_yaml("echo", hosts=["api9.request-termination.test"],
                       paths=["~/(?<parameter>[^#?/]+)/200"], strip_path=False,
                       plugins=[("request-termination", {"echo": True, "status_code": 404})]),
            route_yaml("trigger", hosts=["api10.request-termination.test"],
                       plugins=[("request-termination", {"echo": True,
                                                         "trigger": "gimme-an-echo",
                                                         "status_code": 404})]),
        ]
        cls.gw = start_class_gateway(cls, gateway_config(cls.up.port, routes),
                                     extra_args=plugin_args())
        cls.port = cls.gw.proxy_port

    def terminate(self, host, path="/status/200", **kw):
        before = len(self.up.requests)
        r = request(self.port, "GET", path, host=host, **kw)
        self.assertEqual(len(self.up.requests), before, "nothing may reach the upstream")
        self.assertFraming(r)
        return r

    def test_default_status_and_message(self):
        r = self.terminate("api1.request-termination.test")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.body, b'{"message":"Service unavailable"}')
        self.assertEqual(r.header("Content-Type"), JSON_CT)
        self.assertEqual(r.header("Content-Length"), "33")
        self.assertEqual(r.header("Server"), PRODUCT)

    def test_status_with_default_and_custom_message(self):
        r = self.terminate("api2.request-termination.test")
        self.assertEqual((r.status, r.body), (404, b'{"message":"Not found"}'))
        r = self.terminate("api3.request-termination.test")
        self.assertEqual((r.status, r.body), (406, b'{"message":"Invalid"}'))

    def test_body_and_content_type(self):
        r = self.terminate("api5.request-termination.test")
        self.assertEqual(r.status, 451)
        self.assertEqual(r.header("Content-Type"), "text/html")
        self.assertEqual(r.body, b"<html><body><h1>Service is down due to content infringement"
                                 b"</h1></body></html>")

    def test_204_without_content_length(self):
        with RawClient(self.port) as c:
            r = c.request("GET", "/status/204", host="api8.request-termination.test")
        self.assertEqual(r.status, 204)
        self.assertFalse(r.has("Content-Length"), r)
        self.assertFalse(r.has("Content-Type"), r)

    def test_echo(self):
        r = request(self.port, "GET", "/status/200?hello=there", body=b"cool body",
                    host="api9.request-termination.test")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Content-Type"), JSON_CT)
        j = r.json()
        self.assertEqual(j["message"], "Not found")
        self.assertEqual(set(j["kong"]), {"node_id", "worker_pid", "hostname"})
        self.assertIsInstance(j["kong"]["worker_pid"], int)
        req = j["request"]
        self.assertEqual(req["headers"]["content-length"], "9")
        self.assertEqual(req["headers"]["host"], "api9.request-termination.test")
        self.assertEqual(req["host"], "api9.request-termination.test")
        self.assertEqual(req["method"], "GET")
        self.assertEqual(req["path"], "/status/200")
        self.assertEqual(req["port"], self.port)
        self.assertEqual(req["query"], {"hello": "there"})
        self.assertEqual(req["raw_body"], "cool body")
        self.assertEqual(req["scheme"], "http")
        self.assertNotIn("body", req)
        self.assertEqual(req["uri_captures"]["unnamed"], ["status"])
        self.assertEqual(j["matched_route"]["name"], "echo")
        self.assertEqual(j["matched_service"]["name"], "up")

    def test_trigger(self):
        before = len(self.up.requests)
        r = request(self.port, "GET", "/status/200", host="api10.request-termination.test")
        self.assertEqual(r.status, 200, "no trigger: proxied")
        self.up.wait_requests(before + 1)
        r = self.terminate("api10.request-termination.test",
                           headers={"Gimme-An-Echo": "anything will do"})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["request"]["headers"]["gimme-an-echo"], "anything will do")
        r = self.terminate("api10.request-termination.test",
                           path="/status/200?hello=there&gimme-an-echo=anything%20will%20do")
        self.assertEqual(r.json()["request"]["query"],
                         {"hello": "there", "gimme-an-echo": "anything will do"})


# ------------------------------------------------------------------------------------------------


class ChainedTransforms(TransformCase):
    """request-transformer + response-transformer on one route, request-termination global with a
    trigger: the exit still goes through response-transformer (collected plugins' filters run)."""

    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls, scripted)
        routes = [route_yaml("chain", hosts=["chain.test"], plugins=[
            ("request-transformer", {"add": {"headers": ["x-req:1"], "querystring": ["a:1"],
                                             "body": ["added:yes"]},
                                     "remove": {"headers": ["x-secret"]}}),
            ("response-transformer", {"add": {"headers": ["x-resp:1"], "json": ["via:rt"]},
                                      "remove": {"json": ["headers"]}})])]
        cls.gw = start_class_gateway(
            cls, gateway_config(cls.up.port, routes,
                                global_plugins=[("request-termination",
                                                 {"trigger": "x-terminate", "status_code": 503})]),
            extra_args=plugin_args())
        cls.port = cls.gw.proxy_port

    def test_proxied_through_both_transformers(self):
        r = request(self.port, "POST", "/chain?z=0", host="chain.test", body=b'{"k":"v"}',
                    headers={"Content-Type": "application/json", "x-secret": "s"})
        self.assertEqual(r.status, 200, r)
        u = self.find("/chain")
        self.assertEqual(u.target, "/chain?a=1&z=0")
        self.assertEqual(u.header("x-req"), "1")
        self.assertFalse(u.has("x-secret"))
        self.assertUpstreamBody(u, b'{"k":"v","added":"yes"}')
        # The echo upstream answers JSON; response-transformer drops "headers", adds "via".
        self.assertEqual(r.header("x-resp"), "1")
        self.assertFraming(r)
        j = r.json()
        self.assertNotIn("headers", j)
        self.assertEqual(j["via"], "rt")
        self.assertEqual(j["method"], "POST")
        self.assertEqual(j["body"], '{"k":"v","added":"yes"}')
        self.assertTrue(r.body.endswith(b',"via":"rt"}'), r.body)

    def test_global_termination_with_trigger(self):
        before = len(self.up.requests)
        r = request(self.port, "GET", "/chain", host="chain.test", headers={"X-Terminate": "1"})
        self.assertEqual(r.status, 503)
        self.assertEqual(r.body, b'{"message":"Service unavailable","via":"rt"}')
        self.assertEqual(r.header("Content-Type"), JSON_CT)
        self.assertEqual(r.header("x-resp"), "1")
        self.assertFraming(r)
        r = request(self.port, "GET", "/chain?x-terminate", host="chain.test")
        self.assertEqual(r.status, 503)
        time.sleep(0.1)
        self.assertEqual(len(self.up.requests), before)


# ------------------------------------------------------------------------------------------------


class ConfigErrors(unittest.TestCase):
    """Plugin configs Kong rejects are rejected at load, with Kong's messages."""

    def start_fails(self, plugin, cfg, needle):
        up_port = free_port()
        text = gateway_config(up_port, [route_yaml("r", hosts=["x.test"], plugins=[(plugin, cfg)])])
        tmp = tempfile.mkdtemp(prefix="sb-it-")
        path = write_temp(tmp, "kong.yaml", text)
        args = [BIN, "start", "-c", path, "--proxy-listen", f"{LOOPBACK}:{free_port()}",
                "--admin-listen", f"{LOOPBACK}:{free_port()}", "--workers", "1", *plugin_args()]
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail(f"the gateway started with an invalid {plugin} config: {cfg}")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(needle, p.stderr)

    def test_request_termination_entity_checks(self):
        self.start_fails("request-termination", {"message": "m", "body": "b"},
                         "message cannot be used with content_type or body")
        self.start_fails("request-termination", {"content_type": "text/html"},
                         "content_type requires a body")
        self.start_fails("request-termination", {"echo": True, "body": "b"},
                         "echo cannot be used with content_type and body")
        self.start_fails("request-termination", {"status_code": 600},
                         "value should be between 100 and 599")

    def test_request_transformer_templates_and_headers(self):
        self.start_fails("request-transformer",
                         {"replace": {"uri": "/x/$(10 * uri_captures.user1)"}},
                         "Silverback does not run Lua")
        self.start_fails("request-transformer", {"add": {"querystring": ["k:"]}},
                         "key 'k' has no value")
        self.start_fails("request-transformer", {"add": {"headers": ["just_a_key"]}},
                         "invalid value: just_a_key")

    def test_response_transformer_header_names(self):
        self.start_fails("response-transformer",
                         {"rename": {"headers": ["x-requ,est-id:x-custom-request-id"]}},
                         "'x-requ,est-id' is not a valid header")


if __name__ == "__main__":
    unittest.main()
