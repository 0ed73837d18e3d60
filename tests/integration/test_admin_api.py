"""Admin API in Kong's DB-less shapes (kong-compat.md §7): entity collections and items with the
{"data","next"} envelope and size/offset pagination, entities with every field, writes refused
with Kong's messages, POST /config (every input form, check_hash, Kong's 400 bodies,
flatten_errors) and GET /config, and what a later SIGHUP does after POST /config."""

import json
import os
import signal
import subprocess
import tempfile
import unittest
import urllib.parse

from harness import (LOOPBACK, Gateway, GatewayTestCase, class_upstream, request,
                     start_class_gateway, write_temp)
from ops_helpers import admin, md5, status, wait_for

SERVICE_KEYS = {"id", "created_at", "updated_at", "name", "retries", "protocol", "host", "port",
                "path", "connect_timeout", "write_timeout", "read_timeout", "tags",
                "client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates",
                "enabled"}
ROUTE_KEYS = {"id", "created_at", "updated_at", "name", "protocols", "methods", "hosts", "paths",
              "headers", "https_redirect_status_code", "regex_priority", "strip_path",
              "path_handling", "preserve_host", "request_buffering", "response_buffering", "snis",
              "sources", "destinations", "tags", "service"}
CONSUMER_KEYS = {"id", "created_at", "updated_at", "username", "custom_id", "tags"}
UPSTREAM_KEYS = {"id", "created_at", "updated_at", "name", "algorithm", "hash_on", "hash_fallback",
                 "hash_on_header", "hash_fallback_header", "hash_on_cookie",
                 "hash_on_cookie_path", "hash_on_query_arg", "hash_fallback_query_arg",
                 "hash_on_uri_capture", "hash_fallback_uri_capture", "slots", "healthchecks",
                 "tags", "host_header", "client_certificate", "use_srv_name"}
TARGET_KEYS = {"id", "created_at", "updated_at", "upstream", "target", "weight", "tags"}
CERT_KEYS = {"id", "created_at", "updated_at", "cert", "key", "cert_alt", "key_alt", "tags", "snis"}
SNI_KEYS = {"id", "name", "created_at", "updated_at", "tags", "certificate"}


def make_cert(tmp):
    key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=api.example.test"], check=True, capture_output=True, timeout=30)
    with open(crt) as c, open(key) as k:
        return c.read(), k.read()


def indent(pem, n):
    return "\n".join(" " * n + line for line in pem.strip().split("\n"))


def rich_config(port, cert, key):
    fillers = "".join(f"""  - name: svc-{i}
    url: http://{LOOPBACK}:{port}/f{i}
    routes:
      - name: f{i}
        paths: [/f{i}]
""" for i in range(5))
    return f"""_format_version: "3.0"
services:
  - name: alpha
    url: http://{LOOPBACK}:{port}/base
    tags: [team-a, prod]
    routes:
      - name: a1
        paths: [/a1]
      - name: a2
        hosts: [a2.test]
        methods: [GET]
        headers:
          x-env: [blue]
  - name: beta
    host: {LOOPBACK}
    port: {port}
    tags: [team-b]
    routes:
      - name: b1
        paths: ["~/items/\\\\d+$"]
{fillers}consumers:
  - username: alice
    custom_id: c-1
  - username: bob
upstreams:
  - name: pool
    targets:
      - target: {LOOPBACK}:{port}
        weight: 50
      - target: 127.0.0.2:9
certificates:
  - cert: |
{indent(cert, 6)}
    key: |
{indent(key, 6)}
    snis: [api.example.test, "*.wild.test"]
"""


class EntityEndpointsTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sb-admin-")
        cls.cert, cls.key = make_cert(cls.tmp)
        cls.up = class_upstream(cls)
        cls.gw = start_class_gateway(cls, rich_config(cls.up.port, cls.cert, cls.key))

    def get(self, path, status_code=200):
        r = admin(self.gw, "GET", path)
        self.assertEqual(r.status, status_code, r)
        self.assertEqual(r.header("Content-Type"), "application/json; charset=utf-8")
        return r.json()

    def test_collections_use_kongs_envelope(self):
        for path, count in (("/services", 7), ("/routes", 8), ("/consumers", 2), ("/plugins", 0),
                            ("/upstreams", 1), ("/certificates", 1), ("/snis", 2),
                            ("/ca_certificates", 0)):
            with self.subTest(path=path):
                body = self.get(path)
                self.assertEqual(set(body), {"data", "next"})
                self.assertIsNone(body["next"])
                self.assertIsInstance(body["data"], list)
                self.assertEqual(len(body["data"]), count)

    def test_service_has_every_field(self):
        svc = self.get("/services/alpha")
        self.assertEqual(set(svc), SERVICE_KEYS)
        self.assertEqual((svc["name"], svc["protocol"], svc["host"], svc["port"], svc["path"]),
                         ("alpha", "http", LOOPBACK, self.up.port, "/base"))
        self.assertEqual(svc["tags"], ["team-a", "prod"])
        for unset in ("client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"):
            self.assertIsNone(svc[unset])
        self.assertEqual((svc["retries"], svc["read_timeout"], svc["enabled"]), (5, 60000, True))
        self.assertIsInstance(svc["created_at"], int)
        self.assertEqual(self.get("/services/beta")["path"], None)

    def test_item_by_name_or_id(self):
        by_name = self.get("/services/alpha")
        self.assertEqual(self.get("/services/" + by_name["id"]), by_name)
        self.assertEqual(self.get("/services/nope", 404), {"message": "Not found"})
        self.assertEqual(self.get("/routes/00000000-0000-4000-8000-000000000000", 404),
                         {"message": "Not found"})
        alice = self.get("/consumers/alice")
        self.assertEqual(set(alice), CONSUMER_KEYS)
        self.assertEqual((alice["username"], alice["custom_id"]), ("alice", "c-1"))
        self.assertIsNone(self.get("/consumers/bob")["custom_id"])

    def test_routes_with_their_service(self):
        alpha = self.get("/services/alpha")
        routes = self.get("/services/alpha/routes")["data"]
        self.assertEqual([r["name"] for r in routes], ["a1", "a2"])
        a2 = routes[1]
        self.assertEqual(set(a2), ROUTE_KEYS)
        self.assertEqual(a2["service"], {"id": alpha["id"]})
        self.assertEqual(a2["headers"], {"x-env": ["blue"]})
        self.assertEqual((a2["methods"], a2["hosts"], a2["paths"]), (["GET"], ["a2.test"], None))
        self.assertEqual(a2["protocols"], ["http", "https"])
        self.assertEqual(self.get("/routes/b1")["paths"], ["~/items/\\d+$"])
        self.assertEqual(self.get("/routes/a1/service")["id"], alpha["id"])
        self.assertEqual(self.get("/services/nope/routes", 404), {"message": "Not found"})
        self.assertEqual(self.get("/services/alpha/plugins"), {"data": [], "next": None})

    def test_upstreams_and_targets(self):
        pool = self.get("/upstreams/pool")
        self.assertEqual(set(pool), UPSTREAM_KEYS)
        hc = pool["healthchecks"]
        self.assertEqual(hc["active"]["healthy"]["http_statuses"], [200, 302])
        self.assertEqual(hc["passive"]["unhealthy"]["http_statuses"], [429, 500, 503])
        self.assertIsNone(hc["active"]["https_sni"])
        targets = self.get("/upstreams/pool/targets")["data"]
        self.assertEqual(len(targets), 2)
        self.assertEqual(set(targets[0]), TARGET_KEYS)
        self.assertEqual(targets[0]["upstream"], {"id": pool["id"]})
        self.assertEqual((targets[0]["target"], targets[0]["weight"]),
                         (f"{LOOPBACK}:{self.up.port}", 50))
        self.assertEqual(self.get(f"/upstreams/pool/targets/{LOOPBACK}:{self.up.port}")["id"],
                         targets[0]["id"])
        self.assertEqual(self.get("/upstreams/pool/targets/all")["data"], targets)

    def test_certificates_and_snis(self):
        cert = self.get("/certificates")["data"][0]
        self.assertEqual(set(cert), CERT_KEYS)
        self.assertEqual(cert["cert"].strip(), self.cert.strip())
        self.assertEqual(cert["snis"], ["api.example.test", "*.wild.test"])
        self.assertIsNone(cert["cert_alt"])
        self.assertEqual(self.get("/certificates/api.example.test")["id"], cert["id"])
        snis = self.get(f"/certificates/{cert['id']}/snis")["data"]
        self.assertEqual([s["name"] for s in snis], ["api.example.test", "*.wild.test"])
        self.assertEqual(set(snis[0]), SNI_KEYS)
        self.assertEqual(snis[0]["certificate"], {"id": cert["id"]})
        self.assertEqual(self.get("/snis/*.wild.test")["id"], snis[1]["id"])

    def test_pagination_walks_every_entity_once(self):
        everything = [s["id"] for s in self.get("/services")["data"]]
        seen, path, pages = [], "/services?size=3", 0
        while path:
            body = self.get(path)
            pages += 1
            seen += [s["id"] for s in body["data"]]
            if body["next"]:
                self.assertEqual(set(body), {"data", "offset", "next"})
                self.assertTrue(body["next"].startswith("/services?offset="), body["next"])
                self.assertIn("&size=3", body["next"])
            path = body["next"]
        self.assertEqual(seen, everything)
        self.assertEqual(pages, 3)

    def test_pagination_errors(self):
        self.assertEqual(self.get("/routes?offset=x", 400),
                         {"code": 7, "name": "invalid offset",
                          "message": "'x' is not a valid offset: bad base64 encoding"})
        self.assertEqual(self.get("/routes?size=abc", 400),
                         {"code": 9, "name": "invalid size", "message": "size must be a number"})
        for size in ("0", "1001", "2.5"):
            self.assertEqual(self.get(f"/routes?size={size}", 400)["message"],
                             "size must be an integer between 1 and 1000")

    def test_tags_filter(self):
        names = lambda q: [s["name"] for s in self.get("/services?tags=" + q)["data"]]  # noqa: E731
        self.assertEqual(names("team-a"), ["alpha"])
        self.assertEqual(names("team-a,prod"), ["alpha"])
        self.assertEqual(names("team-a,team-b"), [])
        self.assertEqual(names(urllib.parse.quote("team-a/team-b", safe="")), ["alpha", "beta"])

    def test_writes_refused_as_kong_dbless(self):
        alpha_id = self.get("/services/alpha")["id"]
        cases = [
            ("POST", "/services", "cannot create 'services' entities when not using a database"),
            ("POST", "/routes", "cannot create 'routes' entities when not using a database"),
            ("POST", "/services/alpha/routes",
             "cannot create 'routes' entities when not using a database"),
            ("PUT", "/services/alpha",
             "cannot create or update 'services' entities by 'name' when not using a database"),
            ("PATCH", "/services/" + alpha_id,
             "cannot update 'services' entities when not using a database"),
            ("DELETE", "/routes/a1",
             "cannot remove 'routes' entities by 'name' when not using a database"),
            ("DELETE", "/consumers/alice",
             "cannot remove 'consumers' entities by 'username' when not using a database"),
        ]
        for method, path, message in cases:
            with self.subTest(method=method, path=path):
                r = admin(self.gw, method, path, body={"name": "x"})
                self.assertEqual(r.status, 405, r)
                self.assertEqual(r.json(), {"code": 12, "name": "operation unsupported",
                                            "message": message})
        for method, path in (("DELETE", "/services"), ("PUT", "/routes"), ("POST", "/routes/a1"),
                             ("PUT", "/status"), ("DELETE", "/config")):
            with self.subTest(method=method, path=path):
                r = admin(self.gw, method, path)
                self.assertEqual((r.status, r.json()), (405, {"message": "Method not allowed"}))
        # Nothing changed.
        self.assertEqual(len(self.get("/services")["data"]), 7)

    def test_unknown_paths(self):
        for path in ("/nope", "/services/alpha/nope", "/services/alpha/routes/a1/x"):
            self.assertEqual(self.get(path, 404), {"message": "Not found"})
        r = admin(self.gw, "HEAD", "/services")
        self.assertEqual((r.status, r.body), (200, b""))


CONFIG_A = """_format_version: "3.0"
services:
  - name: svc
    url: http://127.0.0.1:{port}/a
    routes:
      - name: r
        paths: [/one]
"""

CONFIG_B = """_format_version: "3.0"
services:
  - name: svc
    url: http://127.0.0.1:{port}/b
    routes:
      - name: r
        paths: [/two]
consumers:
  - username: pushed
"""


class PostConfigTest(GatewayTestCase):
    def setUp(self):
        self.up = self.make_upstream()
        self.a = CONFIG_A.format(port=self.up.port)
        self.b = CONFIG_B.format(port=self.up.port)
        self.gw = self.start_gateway(self.a)

    def serves(self, path):
        return request(self.gw.proxy_port, "GET", path).status

    def test_yaml_body_replaces_config(self):
        r = admin(self.gw, "POST", "/config", self.b, {"Content-Type": "text/yaml"})
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertEqual(set(body), {"services", "routes", "consumers"})
        (svc_id, svc), = body["services"].items()
        self.assertEqual((svc["id"], svc["path"]), (svc_id, "/b"))
        (route,) = body["routes"].values()
        self.assertEqual(route["service"], {"id": svc_id})
        self.assertEqual(self.serves("/two"), 200)
        self.assertEqual(self.serves("/one"), 404)
        self.assertEqual(self.up.last().target, "/b")
        self.assertEqual(status(self.gw)["configuration_hash"], md5(self.b))
        self.assertEqual(admin(self.gw, "GET", "/config").json(), {"config": self.b})
        self.assertEqual(admin(self.gw, "GET", "/consumers/pushed").status, 200)

    def test_every_input_form(self):
        boundary = "sbBoundary42"
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n"
                     f"{self.b}\r\n--{boundary}--\r\n")
        json_config = json.dumps({"_format_version": "3.0", "consumers": [{"username": "j"}]})
        forms = [
            ("raw yaml", self.b, {}),
            ("json config", json_config, {"Content-Type": "application/json"}),
            ("json field", json.dumps({"config": self.a}), {"Content-Type": "application/json"}),
            ("urlencoded", urllib.parse.urlencode({"config": self.b}),
             {"Content-Type": "application/x-www-form-urlencoded"}),
            ("multipart", multipart, {"Content-Type": f"multipart/form-data; boundary={boundary}"}),
        ]
        for name, body, headers in forms:
            with self.subTest(form=name):
                r = admin(self.gw, "POST", "/config", body, headers)
                self.assertEqual(r.status, 201, r)
                expected = json_config if name == "json config" else (
                    self.a if name == "json field" else self.b)
                self.assertEqual(status(self.gw)["configuration_hash"], md5(expected))

    def test_check_hash(self):
        r = admin(self.gw, "POST", "/config?check_hash=1", self.a)
        self.assertEqual((r.status, r.body), (304, b""))
        r = admin(self.gw, "POST", "/config?check_hash=1", self.b)
        self.assertEqual(r.status, 201)
        # GET /config gives text that round-trips to the same hash.
        text = admin(self.gw, "GET", "/config").json()["config"]
        self.assertEqual(admin(self.gw, "POST", "/config?check_hash=1",
                               {"config": text}).status, 304)

    def test_invalid_config_keeps_the_old_one(self):
        before = status(self.gw)["configuration_hash"]
        bad = '_format_version: "1.1"\nservices:\n- port: -12\n'
        r = admin(self.gw, "POST", "/config", {"config": bad})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json(), {
            "code": 14, "name": "invalid declarative configuration",
            "fields": {"services": [{"host": "required field missing",
                                     "port": "value should be between 0 and 65535"}]},
            "message": 'declarative config is invalid: {services={{host="required field missing",'
                       'port="value should be between 0 and 65535"}}}'})
        r = admin(self.gw, "POST", "/config", {"config": "bobby tables"})
        self.assertEqual(r.json()["fields"],
                         {"error": "failed parsing declarative configuration: expected an object"})
        self.assertEqual(status(self.gw)["configuration_hash"], before)
        self.assertEqual(self.serves("/one"), 200)
        self.assertIn("reload failed, keeping the current configuration", self.gw.stderr())

    def test_flattened_errors(self):
        bad = self.b.replace("paths: [/two]", "paths: [two]\n        colour: red")
        r = admin(self.gw, "POST", "/config?flatten_errors=1", bad)
        self.assertEqual(r.status, 400)
        body = r.json()
        self.assertEqual(body["fields"], {})
        self.assertEqual(body["message"], "declarative config is invalid: {}")
        (entry,) = body["flattened_errors"]
        self.assertEqual(entry["entity_type"], "route")
        self.assertEqual(entry["entity_name"], "r")
        self.assertEqual(entry["entity"], {"name": "r", "paths": ["two"], "colour": "red"})
        self.assertEqual(sorted((e["type"], e["field"]) for e in entry["errors"]),
                         [("field", "colour"), ("field", "paths.1")])
        plain = admin(self.gw, "POST", "/config", bad).json()
        self.assertNotIn("flattened_errors", plain)
        self.assertIn("services", plain["fields"])

    def test_no_input(self):
        for body, headers in ((None, {}), ("", {"Content-Type": "application/json"}),
                              ("other=1", {"Content-Type": "application/x-www-form-urlencoded"})):
            r = admin(self.gw, "POST", "/config", body, headers)
            self.assertEqual((r.status, r.json()),
                             (400, {"message": "expected a declarative configuration"}))

    def test_body_over_the_admin_limit(self):
        # The session keeps 16 MiB of an admin body; a longer one must not be parsed cut short.
        big = "# " + "x" * (17 * 1024 * 1024) + "\n" + self.b
        r = admin(self.gw, "POST", "/config", big)
        self.assertEqual((r.status, r.json()), (413, {"message": "Payload too large"}))
        self.assertEqual(status(self.gw)["configuration_hash"], md5(self.a))

    def test_sighup_rereads_declarative_config_after_post(self):
        # Kong 3.x: a reload with declarative_config set parses the file again.
        self.assertEqual(admin(self.gw, "POST", "/config", self.b).status, 201)
        self.gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: status(self.gw)["configuration_hash"] == md5(self.a),
                 message="SIGHUP did not bring the file's config back")
        self.assertEqual(self.serves("/one"), 200)


class NoDeclarativeConfigTest(GatewayTestCase):
    def test_starts_empty_and_sighup_keeps_the_pushed_config(self):
        up = self.make_upstream()
        gw = Gateway("unused")
        i = gw.args.index("-c")
        del gw.args[i:i + 2]
        self.addCleanup(gw.kill)
        gw.start()
        self.addCleanup(self._stop_checked, gw)
        self.assertEqual(gw.status["configuration_hash"], "0" * 32)
        self.assertEqual(request(gw.proxy_port, "GET", "/one").status, 404)
        text = CONFIG_A.format(port=up.port)
        self.assertEqual(admin(gw, "POST", "/config", text).status, 201)
        self.assertEqual(request(gw.proxy_port, "GET", "/one").status, 200)
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the current configuration" in gw.stderr())
        self.assertEqual(status(gw)["configuration_hash"], md5(text))
        self.assertEqual(request(gw.proxy_port, "GET", "/one").status, 200)


if __name__ == "__main__":
    unittest.main()
