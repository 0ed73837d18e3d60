#!/usr/bin/env python3
"""Silverback vs nginx reverse-proxy benchmark (Python 3 stdlib only).

One command:  bench/proxy_bench.py [--quick] [--16k] [--syscalls] [--https] [--handshakes]
              [--bin PATH]

What it does (see bench/README.md for the method and caveats):
  * upstream: one private nginx worker on CPU 0 returning a fixed 100-byte body
    (or a 16 KiB static file with --16k), keep-alive, no access log;
  * proxies under test, each alone on CPU 1 (taskset -c 1), single worker:
      nginx 1.22 reverse proxy (upstream keepalive 64, proxy_http_version 1.1,
      proxy_set_header Connection "") and silverback (--workers 1);
  * wrk on CPU 0: `wrk -t1 -c50 -dD --latency` after a 2 s warm-up, rounds alternate
    direct / nginx / silverback (the nginx/silverback order flips every round);
  * reports per-target median req/s, p50, p99 and the median of per-round ratios;
  * idle keep-alive memory: 5,000 connections, one request each, held; RSS growth / 5,000;
  * --syscalls: strace -c -f, (22,000 - 2,000 requests) difference / 20,000 for both proxies,
    plus user-space instructions per request via `perf stat` when available;
  * --https: both proxies terminate TLS (same EC P-256 certificate for bench.test, generated with
    the openssl CLI; TLS 1.2 + 1.3, Mozilla intermediate ciphers, session tickets on), the
    upstream stays plain http; every mode above then runs over https;
  * --handshakes (implies --https): new TLS connections per second, full handshake each (no
    resumption), one request, response read, close; Python client processes on CPU 0.
  * --plugins: two more targets in every round, silverback with key-auth + rate-limiting on
    the route (one consumer, a never-tripping local limit by consumer) and nginx doing the
    equivalent (map apikey -> consumer, 401, limit_req per consumer); wrk sends `apikey: <key>`
    to every target; 401 (no key, wrong key) / 200 (key) is checked on both first; reports the
    paired ratios plugins/plugin-free and silverback/nginx-equivalent (req/s, p99, CPU/req).
Every process it starts is killed on exit; nothing listens outside 127.0.0.1.
"""

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BODY_100 = "x" * 99 + "\n"  # exactly 100 bytes
BODY_16K = b"y" * (16 * 1024 - 1) + b"\n"

CHILDREN = []  # Popen objects to terminate on exit


# ----------------------------------------------------------------------------- utilities

def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 20000
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def spawn(argv, logfile, cpu=None):
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu)] + argv
    f = open(logfile, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    f.close()
    CHILDREN.append(p)
    return p


def stop(p, timeout=10):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)  # nginx: fast shutdown; silverback: graceful stop
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # its own session: only its process group
        except ProcessLookupError:
            pass
        p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def cleanup():
    for p in list(CHILDREN):
        stop(p, timeout=5)


def client_ssl_context():
    """No verification (self-signed), no session reuse unless asked: what a benchmark client needs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_http(url, timeout=10.0, proc=None, headers=None):
    deadline = time.time() + timeout
    last = None
    ctx = client_ssl_context() if url.startswith("https:") else None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=1, context=ctx) as r:
                r.read()
                return r.status
        except Exception as e:  # noqa: BLE001 - retry until the deadline
            last = e
            time.sleep(0.05)
    raise RuntimeError(f"{url} not up after {timeout}s: {last}")


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def real_pid(p):
    """The pid of the program itself (taskset execs, so it is the Popen pid)."""
    return p.pid


def proc_tree(pid):
    pids = [pid]
    for c in children_of(pid):
        pids += proc_tree(c)
    return pids


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_rss_kib(pid):
    return sum(vmrss_kib(p) for p in proc_tree(pid))


def tree_cpu_ns(pid):
    """On-CPU time (ns) of every thread of every process in the tree, from schedstat."""
    total = 0
    for p in proc_tree(pid):
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def tree_fds(pid):
    n = 0
    for p in proc_tree(pid):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


# ----------------------------------------------------------------------------- targets

NGINX_COMMON = """\
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 20000; multi_accept off; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
{body}
}}
"""

UPSTREAM_SERVER = """\
  sendfile on;
  tcp_nopush off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    default_type text/plain;
    location / {{ return 200 "{body}"; }}
    location = /16k {{ root {d}/www; try_files /16k.bin =404; }}
  }}
"""

PROXY_SERVER = """\
  upstream backend {{
    server 127.0.0.1:{uport};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""

# --plugins: nginx doing what key-auth + rate-limiting do on the silverback route. The apikey
# header is looked up in a map (key -> consumer), no consumer -> 401 (rewrite phase, so before
# limit_req, as key-auth (priority 1250) runs before rate-limiting (910)); limit_req counts per
# consumer in a shared-memory zone with a rate that never trips; the consumer headers key-auth
# adds are sent upstream, and the rate-limit headers (static limit; the limit_req status as the
# stand-in for "remaining", which nginx cannot compute) are added to the response.
PROXY_SERVER_AUTH = """\
  map $http_apikey $consumer {{
    default "";
    "{key}" "alice";
  }}
  map $http_apikey $consumer_id {{
    default "";
    "{key}" "{consumer_id}";
  }}
  map $http_apikey $credential_id {{
    default "";
    "{key}" "{credential_id}";
  }}
  limit_req_zone $consumer zone=rl:10m rate={rate}r/s;
  upstream backend {{
    server 127.0.0.1:{uport};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      if ($consumer = "") {{ return 401; }}
      limit_req zone=rl burst=1000 nodelay;
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Consumer-ID $consumer_id;
      proxy_set_header X-Consumer-Username $consumer;
      proxy_set_header X-Credential-Identifier $credential_id;
      add_header X-RateLimit-Limit-Second {rate};
      add_header X-RateLimit-Remaining-Second $limit_req_status;
      add_header RateLimit-Limit {rate};
      add_header RateLimit-Remaining $limit_req_status;
      add_header RateLimit-Reset 1;
    }}
  }}
"""
BENCH_KEY = "sb-bench-key-3f9a1c"
BENCH_CONSUMER_ID = "6a1f2c3e-0b5d-4e8f-9a7b-1c2d3e4f5a6b"
BENCH_CREDENTIAL_ID = "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"
RL_RATE = 100000000

KONG_YAML_PLUGINS = """\
        plugins:
          - name: key-auth
          - name: rate-limiting
            config:
              second: {rate}
              policy: local
              limit_by: consumer
consumers:
  - id: {consumer_id}
    username: alice
    keyauth_credentials:
      - id: {credential_id}
        key: {key}
"""

# Mozilla "intermediate" TLS 1.2 suites, exactly silverback's list (core/net/tls.cpp kCiphers),
# so both proxies offer the same; TLS 1.3 suites are OpenSSL's default on both.
TLS_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
               "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")
TLS_NAME = "bench.test"

# One server, so it is also the default server: it serves the certificate for any SNI or none.
PROXY_SERVER_TLS = """\
  upstream backend {{
    server 127.0.0.1:{uport};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096 default_server;
    server_name {name};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {ciphers};
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets on;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""

KONG_YAML_CERTS = """\
certificates:
  - cert: |
{cert}
    key: |
{key}
    snis:
      - name: {name}
"""


def make_certificate(d):
    """EC P-256 self-signed certificate for TLS_NAME (SAN) with the openssl CLI; (cert, key) paths."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", f"/CN={TLS_NAME}",
                    "-addext", f"subjectAltName=DNS:{TLS_NAME}"],
                   check=True, capture_output=True)
    return cert, key


def served_certificate(port, sni):
    """Subject of the certificate the server on port presents for this SNI (None: no SNI)."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    argv += ["-servername", sni] if sni else ["-noservername"]
    out = subprocess.run(argv, input="", capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"^subject=(.*)$", out, re.M)
    return m.group(1).strip() if m else "?"


KONG_YAML = """\
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:{uport}
    routes:
      - name: all
        paths:
          - /
        strip_path: false
"""


class Nginx:
    def __init__(self, name, root, server_block, cpu):
        self.name, self.cpu = name, cpu
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_COMMON.format(d=self.dir, body=server_block))
        self.p = None

    probe_headers = None

    def start(self, probe_url):
        self.p = spawn(["nginx", "-p", self.dir, "-c", self.conf, "-e",
                        os.path.join(self.dir, "error.log"), "-g", "daemon off;"],
                       os.path.join(self.dir, "stdout.log"), self.cpu)
        wait_http(probe_url, proc=self.p, headers=self.probe_headers)
        return self

    def pid(self):
        return real_pid(self.p)

    def worker_pids(self):
        return children_of(self.pid())

    def stop(self):
        stop(self.p)
        self.p = None


class Silverback:
    def __init__(self, root, binary, port, aport, uport, cpu, extra, tls=None, name="silverback",
                 plugins=False):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "kong.yaml")
        listen = f"127.0.0.1:{port}"
        with open(self.conf, "w") as f:
            f.write(KONG_YAML.format(uport=uport))
            if plugins:  # key-auth + rate-limiting on the route, one consumer with a key
                f.write(KONG_YAML_PLUGINS.format(rate=RL_RATE, key=BENCH_KEY,
                                                 consumer_id=BENCH_CONSUMER_ID,
                                                 credential_id=BENCH_CREDENTIAL_ID))
            if tls is not None:  # (cert path, key path): the PEMs as YAML block scalars
                pems = []
                for path in tls:
                    with open(path) as pf:
                        pems.append("\n".join("      " + ln for ln in pf.read().strip().splitlines()))
                f.write(KONG_YAML_CERTS.format(cert=pems[0], key=pems[1], name=TLS_NAME))
                listen += " ssl"
        # Access log off like the nginx proxy's; a prefix of its own for the pid file.
        self.argv = [binary, "start", "--workers", "1", "--proxy-listen", listen,
                     "--admin-listen", f"127.0.0.1:{aport}", "-c", self.conf,
                     "-p", self.dir, "--proxy-access-log", "off",
                     "--log-level", "error"] + extra
        if plugins:
            pdir = os.path.join(os.path.dirname(os.path.abspath(binary)), "plugins")
            self.argv += ["--plugins", "bundled"] + (["--plugins-dir", pdir]
                                                     if os.path.isdir(pdir) else [])
        self.aport, self.cpu, self.p = aport, cpu, None

    probe_headers = None

    def start(self, probe_url):
        self.p = spawn(self.argv, os.path.join(self.dir, "silverback.log"), self.cpu)
        wait_http(f"http://127.0.0.1:{self.aport}/status", proc=self.p, timeout=20)
        wait_http(probe_url, proc=self.p, headers=self.probe_headers)
        return self

    def pid(self):
        return real_pid(self.p)

    def worker_pids(self):
        return [self.pid()]

    def stop(self):
        stop(self.p)
        self.p = None


# ----------------------------------------------------------------------------- wrk

def parse_latency(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u]


def run_wrk(url, duration, conns, headers=()):
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0"] + argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    res = {"raw": out, "errors": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        res[key] = parse_latency(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    return res


def http_status(url, headers=None):
    """(status, response headers) of one GET; 4xx/5xx are returned, not raised."""
    ctx = client_ssl_context() if url.startswith("https:") else None
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            r.read()
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, dict(e.headers)


def check_auth(name, url, protected):
    """No key and a wrong key must get 401 from a protected target, the bench key 200; a plain
    target gets 200 for all three. Returns a one-line summary; raises if anything differs."""
    got = {}
    for label, hdrs in (("no key", {}), ("wrong key", {"apikey": BENCH_KEY + "-wrong"}),
                        ("good key", {"apikey": BENCH_KEY})):
        got[label] = http_status(url, hdrs)
    want = {"no key": 401 if protected else 200, "wrong key": 401 if protected else 200,
            "good key": 200}
    bad = [f"{k}: {got[k][0]} (want {want[k]})" for k in want if got[k][0] != want[k]]
    rl = {k: v for k, v in got["good key"][1].items() if "ratelimit" in k.lower()}
    summary = (f"{name}: " + ", ".join(f"{k} -> {got[k][0]}" for k in want) +
               (f"; rate-limit headers {rl}" if rl else ""))
    if bad:
        raise RuntimeError(f"auth check failed for {summary}: {'; '.join(bad)}")
    return summary


# ----------------------------------------------------------------------------- python clients

async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if m:
        await reader.readexactly(int(m.group(1)))
    elif re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


def _request(port, path):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: sb-bench\r\n"
            f"Accept: */*\r\n\r\n").encode()


async def _idle_open(port, path, n, concurrency, tls):
    sem = asyncio.Semaphore(concurrency)
    conns, bad = [], [0]
    req = _request(port, path)
    ctx = client_ssl_context() if tls else None

    async def one():
        async with sem:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
                w.write(req)
                st = await asyncio.wait_for(_read_response(r), 30)
                if st != 200:
                    bad[0] += 1
                conns.append((r, w))
            except Exception:  # noqa: BLE001
                bad[0] += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return conns, bad[0]


def idle_memory(target, port, path, n, hold_s, log_prefix, tls=False):
    """Open n keep-alive connections, one request each, hold; RSS growth of the proxy tree."""
    pid = target.pid()
    # warm the proxy (code paths, upstream pool) before the baseline
    run_wrk(f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}", 1, 50)
    time.sleep(0.5)
    rss0, fds0 = tree_rss_kib(pid), tree_fds(pid)
    loop = asyncio.new_event_loop()
    try:
        conns, bad = loop.run_until_complete(_idle_open(port, path, n, 100, tls))
        loop.run_until_complete(asyncio.sleep(hold_s))
        rss1, fds1 = tree_rss_kib(pid), tree_fds(pid)
        # are they still open? a closed connection reads EOF immediately
        open_now = 0
        for r, _ in conns:
            if not r.at_eof() and r.exception() is None:
                open_now += 1
        for _, w in conns:
            w.close()
        loop.run_until_complete(asyncio.sleep(0.2))
    finally:
        loop.close()
    per = (rss1 - rss0) * 1024 / n
    log(f"{log_prefix}: rss {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}, "
        f"ok {len(conns)}/{n}, errors {bad}, still open {open_now} -> {per:.0f} B/conn")
    return {"rss0": rss0, "rss1": rss1, "per_conn": per, "ok": len(conns), "bad": bad,
            "open": open_now, "fds": fds1 - fds0}


async def _fixed_requests(port, path, total, conns, tls):
    per = [total // conns + (1 if i < total % conns else 0) for i in range(conns)]
    req = _request(port, path)
    bad = [0]
    ctx = client_ssl_context() if tls else None

    async def worker(k):
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        for _ in range(k):
            w.write(req)
            if await _read_response(r) != 200:
                bad[0] += 1
        w.close()

    await asyncio.gather(*(worker(k) for k in per))
    return bad[0]


def fixed_requests(port, path, total, conns=10, tls=False):
    return asyncio.run(_fixed_requests(port, path, total, conns, tls))


# ----------------------------------------------------------------------------- handshakes

def _handshake_worker(port, path, duration, warmup, conn_out):
    """One client process on CPU 0: connect, full TLS handshake (a fresh session every time, so
    no resumption), one GET with Connection: close, read to EOF, close; for `duration` seconds
    after `warmup` seconds. Sends (count, errors, latencies_ms, version, cipher) back."""
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    ctx = client_ssl_context()
    req = (f"GET {path} HTTP/1.1\r\nHost: {TLS_NAME}\r\nUser-Agent: sb-bench\r\n"
           f"Accept: */*\r\nConnection: close\r\n\r\n").encode()
    count, errors, lat, version, cipher = 0, 0, [], "", ""
    start = time.monotonic()
    t_measure, t_end = start + warmup, start + warmup + duration
    while True:
        t0 = time.monotonic()
        if t0 >= t_end:
            break
        ok = False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname=TLS_NAME) as s:
                    s.sendall(req)
                    chunks = []
                    while True:
                        b = s.recv(65536)
                        if not b:
                            break
                        chunks.append(b)
                    data = b"".join(chunks)
                    ok = data.startswith(b"HTTP/1.1 200 ")
                    if not version:
                        version, cipher = s.version(), s.cipher()[0]
        except (OSError, ssl.SSLError):
            ok = False
        t1 = time.monotonic()
        if t0 >= t_measure:
            if ok:
                count += 1
                lat.append((t1 - t0) * 1000)
            else:
                errors += 1
    conn_out.send((count, errors, lat, version, cipher))
    conn_out.close()


def run_handshakes(port, path, duration, warmup, clients):
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    procs, pipes = [], []
    for _ in range(clients):
        a, b = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_handshake_worker, args=(port, path, duration, warmup, b))
        p.start()
        procs.append(p)
        pipes.append(a)
    res = {"count": 0, "errors": 0, "lat": [], "version": "", "cipher": ""}
    for a, p in zip(pipes, procs):
        count, errors, lat, version, cipher = a.recv()
        p.join()
        res["count"] += count
        res["errors"] += errors
        res["lat"] += lat
        res["version"] = res["version"] or version
        res["cipher"] = res["cipher"] or cipher
    res["hps"] = res["count"] / duration
    lat = sorted(res["lat"])
    res["p50"] = lat[len(lat) // 2] if lat else float("nan")
    res["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    return res


# ----------------------------------------------------------------------------- syscalls

def strace_counts(pids, port, path, total, tls=False):
    """strace -c -f attached to pids while `total` requests go through; {syscall: calls}."""
    outf = tempfile.mktemp(prefix="sb-strace-")
    argv = ["strace", "-c", "-f", "-o", outf]
    for p in pids:
        argv += ["-p", str(p)]
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach
    bad = fixed_requests(port, path, total, tls=tls)
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    st.wait(30)
    counts = {}
    with open(outf) as f:
        for line in f:
            parts = line.split()
            # % time  seconds  usecs/call  calls  [errors]  syscall
            if len(parts) >= 5 and re.match(r"^[\d.]+$", parts[0]) and parts[-1] != "total":
                calls = int(parts[3])
                counts[parts[-1]] = calls
    os.unlink(outf)
    if bad:
        log(f"  warning: {bad} non-200 responses during strace run")
    return counts


def perf_instructions(pids, port, path, total, tls=False):
    if not shutil.which("perf"):
        return None
    argv = ["perf", "stat", "-x,", "-e", "instructions:u", "-p", ",".join(map(str, pids))]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    fixed_requests(port, path, total, tls=tls)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and "instructions" in f[2]:
            try:
                return int(f[0])
            except ValueError:
                return None
    return None


def syscall_mode(target, port, path, small, large, tls=False):
    pids = target.worker_pids()
    a = strace_counts(pids, port, path, small, tls)
    b = strace_counts(pids, port, path, large, tls)
    n = large - small
    per = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}
    per = {k: v for k, v in per.items() if abs(v) >= 0.005}
    ia = perf_instructions(pids, port, path, small, tls)
    ib = perf_instructions(pids, port, path, large, tls)
    instr = (ib - ia) / n if ia is not None and ib is not None else None
    return per, instr


# ----------------------------------------------------------------------------- main

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 rounds x 3 s (default 5 x 10 s)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int, help="seconds per measured wrk run")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--16k", dest="k16", action="store_true", help="16 KiB body instead of 100 B")
    ap.add_argument("--idle", type=int, default=5000, help="idle keep-alive connections (0: skip)")
    ap.add_argument("--no-load", action="store_true", help="skip the wrk rounds")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count syscalls (strace) and instructions (perf) per request")
    ap.add_argument("--https", action="store_true",
                    help="both proxies terminate TLS (same EC P-256 cert); upstream stays http")
    ap.add_argument("--handshakes", action="store_true",
                    help="also new TLS connections/s (full handshake, 1 request, close); implies --https")
    ap.add_argument("--hs-clients", type=int, default=4,
                    help="handshake client processes on CPU 0 (default 4)")
    ap.add_argument("--bin", default=None, help="silverback binary (default: build-bench, build)")
    ap.add_argument("--sb-arg", action="append", default=[],
                    help="extra silverback flag, repeatable (e.g. --sb-arg=--upstream-keepalive-max-requests=1000)")
    ap.add_argument("--plugins", action="store_true",
                    help="also silverback with key-auth + rate-limiting on the route and nginx "
                         "doing the equivalent (map apikey -> consumer, 401, limit_req); wrk "
                         "sends the key to every target")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()
    if args.handshakes:
        args.https = True
    rounds = args.rounds or (3 if args.quick else 5)
    duration = args.duration or (3 if args.quick else 10)

    binary = args.bin
    if binary is None:
        for c in ("build-bench", "build"):
            cand = os.path.join(REPO, c, "silverback")
            if os.access(cand, os.X_OK):
                binary = cand
                break
    if binary is None or not os.access(binary, os.X_OK):
        sys.exit("silverback binary not found; build it or pass --bin")
    for tool in ("nginx", "wrk") + (("openssl",) if args.https else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found")

    nofile = raise_nofile()
    load_start = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="sb-bench-")
    uport, nport, sport, aport = free_port(), free_port(), free_port(), free_port()
    path = "/16k" if args.k16 else "/"
    body = "16 KiB" if args.k16 else "100 B"
    cmd = "bench/proxy_bench.py " + " ".join(sys.argv[1:])
    log(f"# workdir {root}, nofile {nofile}, silverback {binary}")

    results = {"direct": [], "nginx": [], "silverback": [], "nginx-auth": [],
               "silverback-plugins": []}
    pairs = [("silverback-plugins", "silverback"), ("silverback-plugins", "nginx-auth"),
             ("nginx-auth", "nginx"), ("silverback", "nginx")]
    pair_r = {pr: {"rps": [], "p99": [], "cpu": []} for pr in pairs}
    auth_checks = []
    wrk_headers = [f"apikey: {BENCH_KEY}"] if args.plugins else []
    ratios, p99_ratios, cpu_ratios = [], [], []
    idle = {}
    sysc = {}
    hs = {"nginx": [], "silverback": []}
    hs_ratios, hs_cpu_ratios = [], []
    served = {}
    scheme = "https" if args.https else "http"
    try:
        up = Nginx("upstream", root, UPSTREAM_SERVER.format(port=uport, body=BODY_100,
                                                              d=os.path.join(root, "upstream")), 0)
        with open(os.path.join(up.dir, "www", "16k.bin"), "wb") as f:
            f.write(BODY_16K)
        up.start(f"http://127.0.0.1:{uport}{path}")
        tls = make_certificate(root) if args.https else None
        if tls:
            block = PROXY_SERVER_TLS.format(port=nport, uport=uport, name=TLS_NAME, cert=tls[0],
                                            key=tls[1], ciphers=TLS_CIPHERS)
        else:
            block = PROXY_SERVER.format(port=nport, uport=uport)
        ngx = Nginx("nginx", root, block, 1)
        sb = Silverback(root, binary, sport, aport, uport, 1, args.sb_arg, tls)
        urls = {"direct": f"http://127.0.0.1:{uport}{path}",
                "nginx": f"{scheme}://127.0.0.1:{nport}{path}",
                "silverback": f"{scheme}://127.0.0.1:{sport}{path}"}
        procs = {"nginx": ngx, "silverback": sb}
        ports = {"nginx": nport, "silverback": sport}
        proxies = ["nginx", "silverback"]
        if args.plugins:
            if args.https:
                sys.exit("--plugins is http only")
            naport, spport, spaport = free_port(), free_port(), free_port()
            procs["nginx-auth"] = Nginx("nginx-auth", root, PROXY_SERVER_AUTH.format(
                port=naport, uport=uport, key=BENCH_KEY, consumer_id=BENCH_CONSUMER_ID,
                credential_id=BENCH_CREDENTIAL_ID, rate=RL_RATE), 1)
            procs["silverback-plugins"] = Silverback(root, binary, spport, spaport, uport, 1,
                                                     args.sb_arg, None, "silverback-plugins",
                                                     plugins=True)
            urls["nginx-auth"] = f"http://127.0.0.1:{naport}{path}"
            urls["silverback-plugins"] = f"http://127.0.0.1:{spport}{path}"
            ports.update({"nginx-auth": naport, "silverback-plugins": spport})
            proxies = ["nginx", "silverback", "silverback-plugins", "nginx-auth"]
            for t in proxies:
                procs[t].probe_headers = {"apikey": BENCH_KEY}
            # the benchmark must measure the right thing: 401 without/with a wrong key, 200 with it
            for t in proxies:
                procs[t].start(urls[t])
                try:
                    auth_checks.append(check_auth(t, urls[t], t in ("nginx-auth",
                                                                     "silverback-plugins")))
                finally:
                    procs[t].stop()
                log("auth check " + auth_checks[-1])

        if args.https:
            # Which certificate each proxy presents: wrk sends the URL's host (127.0.0.1) as SNI,
            # the handshake client sends bench.test.
            for t in ("nginx", "silverback"):
                procs[t].start(urls[t])
                try:
                    served[t] = {sni or "(none)": served_certificate(ports[t], sni)
                                 for sni in (TLS_NAME, "127.0.0.1", None)}
                finally:
                    procs[t].stop()
                log(f"certificate served by {t}: " +
                    ", ".join(f"SNI {k} -> {v}" for k, v in served[t].items()))

        if not args.no_load:
            for r in range(rounds):
                order = ["direct"] + (proxies if r % 2 == 0 else proxies[::-1])
                per_round = {}
                for t in order:
                    proc = procs.get(t)
                    if proc is not None:
                        proc.start(urls[t])  # fresh process per run: the two never share CPU 1
                    try:
                        if args.warmup:
                            run_wrk(urls[t], args.warmup, args.connections, wrk_headers)
                        cpu0 = tree_cpu_ns(proc.pid()) if proc is not None else 0
                        res = run_wrk(urls[t], duration, args.connections, wrk_headers)
                        cpu1 = tree_cpu_ns(proc.pid()) if proc is not None else 0
                        res["cpu_us"] = ((cpu1 - cpu0) / 1000 / res["requests"]
                                         if proc is not None and res["requests"] else float("nan"))
                    finally:
                        if proc is not None:
                            alive = proc.p.poll() is None
                            proc.stop()
                            if not alive:
                                log(f"!! {t} died during the run")
                    results[t].append(res)
                    per_round[t] = res
                    flag = ""
                    if res["errors"] or res["non2xx"]:
                        flag = f"  !! socket errors {res['errors']}, non-2xx {res['non2xx']}"
                    log(f"round {r + 1}/{rounds} {t:18s} {res['rps']:10.0f} req/s  "
                        f"p50 {res['p50']:.3f} ms  p99 {res['p99']:.3f} ms  "
                        f"proxy CPU {res['cpu_us']:.1f} us/req{flag}")
                for a, b in pairs:
                    if a in per_round and b in per_round and per_round[b]["rps"] > 0:
                        pair_r[(a, b)]["rps"].append(per_round[a]["rps"] / per_round[b]["rps"])
                        pair_r[(a, b)]["p99"].append(per_round[a]["p99"] / per_round[b]["p99"])
                        pair_r[(a, b)]["cpu"].append(per_round[a]["cpu_us"] /
                                                     per_round[b]["cpu_us"])
                if args.plugins:
                    log(f"round {r + 1}/{rounds} ratios: " + ", ".join(
                        f"{a}/{b} {pair_r[(a, b)]['rps'][-1]:.2f}" for a, b in pairs[:3]))
                cpu_ratios.append(per_round["silverback"]["cpu_us"] / per_round["nginx"]["cpu_us"])
                if per_round["nginx"]["rps"] > 0:
                    ratios.append(per_round["silverback"]["rps"] / per_round["nginx"]["rps"])
                    p99_ratios.append(per_round["silverback"]["p99"] / per_round["nginx"]["p99"])

        if args.idle:
            for t in ("nginx", "silverback"):
                proc = procs[t].start(urls[t])
                try:
                    idle[t] = idle_memory(proc, ports[t], path, args.idle, 2.0, f"idle {t}",
                                          args.https)
                finally:
                    procs[t].stop()

        if args.syscalls:
            for t in ("nginx", "silverback"):
                proc = procs[t].start(urls[t])
                try:
                    port = ports[t]
                    fixed_requests(port, path, 500, tls=args.https)  # warm the upstream pool
                    sysc[t] = syscall_mode(proc, port, path, 2000, 22000, args.https)
                    log(f"syscalls {t}: " + ", ".join(
                        f"{k} {v:.2f}" for k, v in sorted(sysc[t][0].items(), key=lambda kv: -kv[1])))
                finally:
                    procs[t].stop()

        if args.handshakes:
            for r in range(rounds):
                order = ["nginx", "silverback"] if r % 2 == 0 else ["silverback", "nginx"]
                per_round = {}
                for t in order:
                    proc = procs[t].start(urls[t])
                    try:
                        cpu0 = tree_cpu_ns(proc.pid())
                        t0 = time.monotonic()
                        res = run_handshakes(ports[t], path, duration, args.warmup,
                                             args.hs_clients)
                        # CPU over the whole client run (warm-up included) / all its connections
                        cpu1 = tree_cpu_ns(proc.pid())
                        wall = time.monotonic() - t0
                        res["cpu_us"] = (cpu1 - cpu0) / 1000 / (res["hps"] * wall) \
                            if res["count"] else float("nan")
                        res["cpu_util"] = (cpu1 - cpu0) / 1e9 / wall
                    finally:
                        alive = proc.p.poll() is None
                        procs[t].stop()
                        if not alive:
                            log(f"!! {t} died during the handshake run")
                    hs[t].append(res)
                    per_round[t] = res
                    flag = f"  !! errors {res['errors']}" if res["errors"] else ""
                    log(f"handshakes round {r + 1}/{rounds} {t:10s} {res['hps']:8.0f} conn/s  "
                        f"p50 {res['p50']:.2f} ms  p99 {res['p99']:.2f} ms  proxy CPU "
                        f"{res['cpu_us']:.0f} us/conn ({res['cpu_util'] * 100:.0f} % of CPU 1)  "
                        f"{res['version']} {res['cipher']}{flag}")
                if per_round["nginx"]["hps"] > 0:
                    hs_ratios.append(per_round["silverback"]["hps"] / per_round["nginx"]["hps"])
                    hs_cpu_ratios.append(per_round["silverback"]["cpu_us"] /
                                         per_round["nginx"]["cpu_us"])
    finally:
        cleanup()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"# kept {root}")

    # ------------------------------------------------------------------ report
    print()
    print(f"Command: `{cmd.strip()}`  ")
    if args.https:
        print(f"HTTPS to both proxies (plain http to the upstream): EC P-256 certificate for "
              f"{TLS_NAME}, TLS 1.2 + 1.3, Mozilla intermediate TLS 1.2 ciphers, session tickets "
              f"on; wrk connects to https://127.0.0.1:PORT (SNI 127.0.0.1). Certificates served: "
              + "; ".join(f"{t}: " + ", ".join(f"SNI {k} -> `{v}`" for k, v in served[t].items())
                          for t in served) + ".  ")
    print(f"Body {body}; wrk -t1 -c{args.connections} -d{duration}s --latency, {args.warmup} s "
          f"warm-up, {rounds} alternating rounds; proxy alone on CPU 1, wrk + upstream nginx on "
          f"CPU 0; single worker each; {time.strftime('%Y-%m-%d %H:%M')}; 1-min load average "
          f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end (2 CPUs: above ~2 means "
          f"other work competed).")
    print()
    if not args.no_load:
        print("| target | req/s (median) | p50 ms | p99 ms | req/s vs nginx (median of rounds) "
              "| p99 vs nginx | proxy CPU us/req | CPU vs nginx | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        nmed = median([x["rps"] for x in results["nginx"]])
        for t, label in (("direct", "upstream direct (ceiling)"), ("nginx", "nginx 1.22 proxy"),
                         ("silverback", "silverback")):
            xs = results[t]
            rps = median([x["rps"] for x in xs])
            err = sum(x["errors"] + x["non2xx"] for x in xs)
            cpu = "-" if t == "direct" else f"{median([x['cpu_us'] for x in xs]):.1f}"
            if t == "silverback":
                ratio = f"**{median(ratios):.2f}x** (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
                p99r = f"{median(p99_ratios):.2f}x"
                cpur = f"{median(cpu_ratios):.2f}x"
            elif t == "nginx":
                ratio, p99r, cpur = "1.00x", "1.00x", "1.00x"
            else:
                ratio, p99r, cpur = f"{rps / nmed:.2f}x" if nmed else "-", "-", "-"
            print(f"| {label} | {rps:,.0f} | {median([x['p50'] for x in xs]):.3f} | "
                  f"{median([x['p99'] for x in xs]):.3f} | {ratio} | {p99r} | {cpu} | {cpur} "
                  f"| {err} |")
        print()
    if args.plugins and not args.no_load:
        print("Plugins: `silverback-plugins` = the same route with key-auth (defaults: key in the "
              "`apikey` header) + rate-limiting (`second: "
              f"{RL_RATE}`, `policy: local`, `limit_by: consumer`) and one consumer with a "
              "keyauth_credentials key; `nginx-auth` = nginx with `map $http_apikey $consumer`, "
              "`if ($consumer = \"\") { return 401; }`, `limit_req_zone $consumer zone=rl:10m "
              f"rate={RL_RATE}r/s` + `limit_req zone=rl burst=1000 nodelay`, the consumer headers "
              "sent upstream and rate-limit headers added to the response. wrk sends "
              "`apikey: <key>` to every target. Checked before the rounds: " +
              "; ".join(auth_checks) + ".")
        print()
        print("| target | req/s (median) | p50 ms | p99 ms | proxy CPU us/req | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for t in proxies:
            xs = results[t]
            print(f"| {t} | {median([x['rps'] for x in xs]):,.0f} | "
                  f"{median([x['p50'] for x in xs]):.3f} | {median([x['p99'] for x in xs]):.3f} | "
                  f"{median([x['cpu_us'] for x in xs]):.1f} | "
                  f"{sum(x['errors'] + x['non2xx'] for x in xs)} |")
        print()
        print("| paired ratio (median of per-round ratios) | req/s | p99 | proxy CPU us/req |")
        print("|---|---:|---:|---:|")
        for a, b in pairs:
            pr = pair_r[(a, b)]
            print(f"| {a} / {b} | **{median(pr['rps']):.2f}x** (rounds: "
                  f"{', '.join(f'{x:.2f}' for x in pr['rps'])}) | {median(pr['p99']):.2f}x | "
                  f"{median(pr['cpu']):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in pr['cpu'])}) |")
        print()
    if args.handshakes and hs["nginx"]:
        r0 = hs["nginx"][0]
        print(f"New TLS connections: {args.hs_clients} Python client processes on CPU 0, each in a "
              f"loop: connect, full handshake (SNI {TLS_NAME}, no resumption; negotiated "
              f"{r0['version']} {r0['cipher']}), `GET {path}` with `Connection: close`, read to "
              f"EOF, close; {args.warmup} s warm-up + {duration} s, {rounds} alternating rounds.")
        print()
        print("| new TLS connections | conn/s (median) | p50 ms | p99 ms | conn/s vs nginx "
              "(median of rounds) | proxy CPU us/conn | CPU vs nginx | proxy CPU 1 busy | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t, label in (("nginx", "nginx 1.22 proxy"), ("silverback", "silverback")):
            xs = hs[t]
            if t == "silverback":
                ratio = (f"**{median(hs_ratios):.2f}x** (rounds: "
                         f"{', '.join(f'{r:.2f}' for r in hs_ratios)})")
                cpur = f"{median(hs_cpu_ratios):.2f}x"
            else:
                ratio, cpur = "1.00x", "1.00x"
            print(f"| {label} | {median([x['hps'] for x in xs]):,.0f} | "
                  f"{median([x['p50'] for x in xs]):.2f} | {median([x['p99'] for x in xs]):.2f} | "
                  f"{ratio} | {median([x['cpu_us'] for x in xs]):.0f} | {cpur} | "
                  f"{median([x['cpu_util'] for x in xs]) * 100:.0f} % | "
                  f"{sum(x['errors'] for x in xs)} |")
        print()
    if idle:
        kind = "TLS " if args.https else ""
        print(f"| idle keep-alive {kind}connections ({args.idle}, one request each) | RSS before KiB "
              "| RSS after KiB | bytes per connection | held open |")
        print("|---|---:|---:|---:|---:|")
        for t in ("nginx", "silverback"):
            if t in idle:
                i = idle[t]
                print(f"| {t} | {i['rss0']:,} | {i['rss1']:,} | **{i['per_conn']:,.0f}** | "
                      f"{i['open']}/{args.idle} |")
        print()
    if sysc:
        names = sorted(set(sysc["nginx"][0]) | set(sysc["silverback"][0]))
        print("| syscalls per request (22k-2k run difference / 20k) | nginx | silverback |")
        print("|---|---:|---:|")
        for n in names:
            print(f"| {n} | {sysc['nginx'][0].get(n, 0):.2f} | {sysc['silverback'][0].get(n, 0):.2f} |")
        tot = [sum(sysc[t][0].values()) for t in ("nginx", "silverback")]
        print(f"| **total** | **{tot[0]:.2f}** | **{tot[1]:.2f}** |")
        ins = [sysc[t][1] for t in ("nginx", "silverback")]
        if all(x is not None for x in ins):
            print(f"| user-space instructions per request (perf) | {ins[0]:,.0f} | {ins[1]:,.0f} |")
        print()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        sys.exit(130)
