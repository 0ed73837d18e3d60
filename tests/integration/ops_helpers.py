"""Helpers for the operations tests (Admin API, metrics, logs, reloads): HTTP to the admin
listener, a strict Prometheus text-format parser, polling."""

import hashlib
import http.client
import json
import re
import time

from harness import LOOPBACK


class AdminResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<AdminResponse {self.status} {self.body[:400]!r}>"


def admin(gw, method, path, body=None, headers=None, timeout=30):
    """One request to the gateway's admin listener (a fresh connection)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    elif isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(LOOPBACK, gw.admin_port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return AdminResponse(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def status(gw):
    return admin(gw, "GET", "/status").json()


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def wait_for(predicate, timeout=5.0, interval=0.02, message="condition not met"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)


# ------------------------------------------------------------------------------------------------
# Prometheus text format 0.0.4, parsed strictly (what a scraper would reject fails here)

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')


def parse_prometheus(text):
    """{family: {"type", "help", "samples": [(name, {labels}, value)]}}; asserts the format."""
    families = {}
    current = None
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name), line
            assert name not in families, f"family {name} declared twice"
            families[name] = {"help": help_text, "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current, f"TYPE {name} without its HELP first"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            families[name]["type"] = kind
        elif line.startswith("#"):
            continue
        else:
            m = _SAMPLE.match(line)
            assert m, f"bad sample line: {line!r}"
            name, labels_text, value = m.group(1), m.group(2) or "", m.group(3)
            assert current is not None and families[current]["type"], f"sample before TYPE: {line}"
            kind = families[current]["type"]
            allowed = {current}
            if kind == "histogram":
                allowed = {current + "_bucket", current + "_count", current + "_sum"}
            assert name in allowed, f"{name} outside family {current}"
            labels = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                      for k, v in _LABEL_RE.findall(labels_text)}
            families[current]["samples"].append((name, labels, float(value)))
    for name, fam in families.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    """Buckets ascending by le, cumulative counts, +Inf bucket == _count, _sum present."""
    series = {}
    for sname, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if sname.endswith("_bucket"):
            le = labels["le"]
            s["buckets"].append((float("inf") if le == "+Inf" else float(le), value))
        elif sname.endswith("_count"):
            s["count"] = value
        else:
            s["sum"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        assert les == sorted(les) and les[-1] == float("inf"), f"{name}{key}: le order {les}"
        counts = [c for _, c in s["buckets"]]
        assert all(a <= b for a, b in zip(counts, counts[1:])), f"{name}{key}: not cumulative"
        assert s["count"] == counts[-1], f"{name}{key}: _count {s['count']} != +Inf {counts[-1]}"
        assert s["sum"] is not None and s["sum"] >= 0, f"{name}{key}: no _sum"


def sample(families, family, name=None, **labels):
    """The value of the one sample of `family` (or `name`) whose labels include `labels`."""
    found = [v for n, ls, v in families[family]["samples"]
             if (name is None or n == name) and all(ls.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, f"several samples match {family} {labels}"
    return found[0] if found else None
