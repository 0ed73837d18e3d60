"""Shared helpers for Silverback's integration tests.

Everything here talks to the REAL `silverback` binary over loopback sockets:

* Gateway      -- writes a kong.yaml to a temp dir, starts `silverback start`, waits for the admin
                  /status (configuration_hash), stops it with SIGTERM (asserting exit 0) and keeps
                  its stderr for diagnostics.
* RawClient    -- sends exact bytes, reads complete responses (content-length, chunked,
                  close-delimited, HEAD/1xx/204/304), keeps leftovers for pipelining.
* Upstream     -- a threaded raw-socket HTTP/1.1 server that records exactly what it received
                  (head, decoded body, raw bytes, per connection) and replies with a scripted
                  behaviour (see the Reply class and the handler factories at the bottom).

Python 3.11 standard library only.
"""

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

BIN = os.environ.get("SILVERBACK_BIN", "/work/main/build/silverback")
PRODUCT = "silverback/0.1.0"
VIA = "1.1 " + PRODUCT
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------------------------------------
# Ports


def wait_until(predicate, timeout, interval=0.05):
    """Polls `predicate` until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port():
    """A loopback port nobody listens on right now (bind to 0, read it, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port that refuses connections (for 'upstream refused' tests)."""
    return free_port()


# ------------------------------------------------------------------------------------------------
# Running the binary


def run_cli(*args, timeout=20, env=None):
    """Runs `silverback ARGS...` to completion: (exit code, stdout, stderr) as text."""
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else os.environ.copy())
    return p.returncode, p.stdout, p.stderr


def write_temp(tmpdir, name, text):
    """Writes a file atomically (a new file renamed over the old one), as config tools do, so a
    reload running meanwhile reads the old text or the new one, never half of each."""
    path = os.path.join(tmpdir, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    return path


class Gateway:
    """One `silverback start` process on free loopback ports."""

    def __init__(self, config_text, extra_args=(), workers=None, env=None, tls=False,
                 preexec_fn=None):
        # workers=None: one worker, or SILVERBACK_TEST_WORKERS (TSAN=1 scripts/test.sh sets 2
        # so that every test also exercises several loops); an explicit number always wins.
        if workers is None:
            workers = int(os.environ.get("SILVERBACK_TEST_WORKERS") or 1)
        self.tmpdir = tempfile.mkdtemp(prefix="sb-it-")
        self.config_path = write_temp(self.tmpdir, "kong.yaml", config_text)
        self.proxy_port = free_port()
        self.admin_port = free_port()
        # tls=True: a second proxy listener with Kong's `ssl` flag ("P, Q ssl") on tls_port.
        self.tls_port = free_port() if tls else None
        proxy_listen = f"{LOOPBACK}:{self.proxy_port}"
        if tls:
            proxy_listen += f", {LOOPBACK}:{self.tls_port} ssl"
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.stdout_path = os.path.join(self.tmpdir, "stdout.log")
        # Each gateway has its own prefix (pid file, access logs): tests run side by side.
        self.prefix = os.path.join(self.tmpdir, "prefix")
        self.args = [BIN, "start", "-c", self.config_path, "-p", self.prefix,
                     "--proxy-listen", proxy_listen,
                     "--admin-listen", f"{LOOPBACK}:{self.admin_port}",
                     "--workers", str(workers), *extra_args]
        self.env = env
        self.preexec_fn = preexec_fn  # runs in the child before exec (e.g. resource limits)
        self.proc = None
        self.status = None

    def start(self, timeout=10):
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.preexec_fn,
                                     env=self.env if self.env is not None else os.environ.copy())
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"silverback exited early with {self.proc.returncode}:\n"
                                     f"{self.stderr()}")
            try:
                with urllib.request.urlopen(
                        f"http://{LOOPBACK}:{self.admin_port}/status", timeout=1) as r:
                    body = json.loads(r.read())
                    if r.status == 200 and len(body.get("configuration_hash", "")) == 32:
                        # The proxy listener too (admin may come up first).
                        with socket.create_connection((LOOPBACK, self.proxy_port), timeout=1):
                            pass
                        if self.tls_port is not None:
                            with socket.create_connection((LOOPBACK, self.tls_port), timeout=1):
                                pass
                        self.status = body
                        return self
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"silverback did not come up ({last}):\n{self.stderr()}")

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM, wait; returns the exit code (tests assert 0)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("silverback did not exit within %ss of SIGTERM" % timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f:
                f.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=5):
        return RawClient(self.proxy_port, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# Raw HTTP client


class Response:
    def __init__(self, status, reason, version, headers, body, raw_head, raw_body=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers          # list of (name, value) in wire order
        self.body = body                # decoded (de-chunked)
        self.raw_head = raw_head
        self.raw_body = raw_body        # as on the wire
        self.chunked = False
        self.truncated = False

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def has(self, name):
        return any(n.lower() == name.lower() for n, _ in self.headers)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:300]!r}>"


def parse_head(data):
    """(version, status, reason, [(name, value)]) from a response head (without the blank line)."""
    lines = data.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    version = parts[0]
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name, value.strip(" \t")))
    return version, status, reason, headers


class ConnectionClosed(Exception):
    pass


class RawClient:
    """A client socket that writes exact bytes and parses responses itself."""

    def __init__(self, port, timeout=5, host=LOOPBACK):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("response timed out; have %r" % self.buf[:500])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed("connection closed; have %r" % self.buf[:500])
        self.buf += chunk

    def read_head(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False, timeout=None, allow_truncated=False):
        """One complete response. 1xx heads come back as their own Response."""
        deadline = time.monotonic() + (timeout or self.timeout)
        raw_head = self.read_head(timeout=timeout)
        version, status, reason, headers = parse_head(raw_head)
        r = Response(status, reason, version, headers, b"", raw_head)
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if head_request or status < 200 or status in (204, 304):
            return r
        try:
            if te is not None and "chunked" in te.lower():
                r.chunked = True
                body, raw = self._read_chunked(deadline)
                r.body, r.raw_body = body, raw
            elif cl is not None:
                r.body = self.read_exact(int(cl), timeout=max(0.01, deadline - time.monotonic()))
                r.raw_body = r.body
            else:
                while True:
                    try:
                        self._fill(deadline)
                    except ConnectionClosed:
                        break
                r.body, self.buf = self.buf, b""
                r.raw_body = r.body
        except ConnectionClosed:
            if not allow_truncated:
                raise
            r.truncated = True
            r.body = self.buf
            self.buf = b""
        return r

    def _read_chunked(self, deadline):
        body = b""
        raw = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill(deadline)
            line, _, self.buf = self.buf.partition(b"\r\n")
            raw += line + b"\r\n"
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers until the blank line
                while True:
                    while b"\r\n" not in self.buf:
                        self._fill(deadline)
                    t, _, self.buf = self.buf.partition(b"\r\n")
                    raw += t + b"\r\n"
                    if not t:
                        return body, raw
            while len(self.buf) < size + 2:
                self._fill(deadline)
            body += self.buf[:size]
            raw += self.buf[:size + 2]
            if self.buf[size:size + 2] != b"\r\n":
                raise AssertionError("bad chunk terminator %r" % self.buf[size:size + 8])
            self.buf = self.buf[size + 2:]

    def read_all_until_close(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except ConnectionClosed:
                break
        out, self.buf = self.buf, b""
        return out

    def closed_by_peer(self, timeout=2.0):
        """True when the server closes the connection within `timeout` (data is discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except ConnectionClosed:
            return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def request(self, method, target, headers=None, body=b"", version="HTTP/1.1",
                host="example.test", timeout=None):
        """Builds a simple request (Host first unless host=None), sends it, reads the reply."""
        self.send(build_request(method, target, headers, body, version, host))
        return self.read_response(head_request=(method == "HEAD"), timeout=timeout)


def build_request(method, target, headers=None, body=b"", version="HTTP/1.1", host="example.test"):
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    hdrs = list(headers.items() if isinstance(headers, dict) else (headers or []))
    names = {n.lower() for n, _ in hdrs}
    for n, v in hdrs:
        lines.append(f"{n}: {v}")
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def request(port, method, target, headers=None, body=b"", version="HTTP/1.1",
            host="example.test", timeout=5):
    with RawClient(port, timeout=timeout) as c:
        return c.request(method, target, headers, body, version, host, timeout)


def send_raw(port, data, timeout=5, head_request=False):
    """Sends exact bytes on a fresh connection and reads one response."""
    with RawClient(port, timeout=timeout) as c:
        c.send(data)
        return c.read_response(head_request=head_request)


def curl(*args, timeout=20):
    p = subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------------------------------------
# Scripted upstream


class Recorded:
    """One request as the upstream received it."""

    def __init__(self, conn_id, method, target, version, headers, body, raw, chunked):
        self.conn_id = conn_id
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers     # [(name, value)] in wire order, names as sent
        self.body = body           # decoded body bytes
        self.raw = raw             # raw head + body bytes as received
        self.chunked = chunked
        self.tls = None            # TLS upstreams: dict(sni, version, peer_cert) of the connection

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def has(self, name):
        return any(n.lower() == name.lower() for n, _ in self.headers)

    def __repr__(self):
        return f"<Recorded {self.method} {self.target} {self.headers!r}>"


class Reply:
    """What the upstream does with a request.

    raw:       bytes to send (a full response, or part of one)
    delay:     seconds to wait before sending anything
    parts:     list of (bytes, delay_after) sent one after another instead of raw
    close:     close the connection after sending
    reset:     abort with RST (SO_LINGER 0) after sending
    tunnel:    after sending, echo every byte received back (WebSocket after a 101)
    """

    def __init__(self, raw=b"", delay=0.0, parts=None, close=False, reset=False, tunnel=False):
        self.raw = raw if isinstance(raw, bytes) else raw.encode("latin-1")
        self.delay = delay
        self.parts = parts
        self.close = close
        self.reset = reset
        self.tunnel = tunnel


def http_response(status=200, body=b"", headers=None, reason=None, length=True):
    if isinstance(body, str):
        body = body.encode()
    reason = reason if reason is not None else {200: "OK", 201: "Created", 204: "No Content",
                                                304: "Not Modified", 404: "Not Found",
                                                500: "Internal Server Error"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}"]
    hdrs = list(headers.items() if isinstance(headers, dict) else (headers or []))
    for n, v in hdrs:
        lines.append(f"{n}: {v}")
    if length and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in hdrs):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def echo_reply(req):
    """200 with the request as JSON (method, target, headers, body)."""
    doc = {"method": req.method, "target": req.target, "version": req.version,
           "headers": req.headers, "body": req.body.decode("latin-1")}
    return Reply(http_response(200, json.dumps(doc), {"Content-Type": "application/json"}))


class Upstream:
    """Threaded raw HTTP/1.1 server on loopback that records everything it receives.

    handler(req: Recorded) -> Reply.  `head_only=True` handlers (see `reply_on_head`) are
    called before the body is read: used to reply or fail without consuming the body.
    """

    def __init__(self, handler=echo_reply, read_body=True, tls_context=None):
        """tls_context: an ssl.SSLContext (server side) to speak TLS on every accepted connection;
        the SNI each connection sent, its TLS version and the client certificate (getpeercert())
        are recorded in `tls_by_conn[cid]` and on each request as `req.tls`; failed handshakes
        are counted in `tls_failures` (messages in `tls_errors`)."""
        self.handler = handler
        self.read_body = read_body
        self.tls_context = tls_context
        self.tls_by_conn = {}
        self.tls_failures = 0
        self.tls_errors = []
        if tls_context is not None:
            previous = tls_context.sni_callback

            def remember_sni(sslobj, name, ctx):
                sslobj._sb_sni = name
                return previous(sslobj, name, ctx) if previous else None
            tls_context.sni_callback = remember_sni
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.requests = []
        self.connections = 0
        self.bytes_received = 0
        self.raw_by_conn = {}
        self.open_conns = set()
        self.ended_conns = set()     # conn ids whose connection is over (either side closed)
        self.errors = []
        self._stop = False
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # -- lifecycle
    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.open_conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    # -- observation
    def wait_requests(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"upstream saw {len(self.requests)} requests, wanted {n}")
                self.lock.wait(left)
            return list(self.requests)

    def wait_connections(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.connections < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"upstream saw {self.connections} connections, wanted {n}")
                self.lock.wait(left)

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def quiet_for(self, seconds=0.15):
        """Waits `seconds` so late bytes would show up; returns (requests, bytes_received)."""
        time.sleep(seconds)
        with self.lock:
            return len(self.requests), self.bytes_received

    def wait_target(self, target, timeout=5):
        """Waits for a request whose target is `target`; returns it."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for r in self.requests:
                    if r.target == target:
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"upstream never saw {target}; saw "
                                         f"{[r.target for r in self.requests][-10:]}")
                self.lock.wait(left)

    def mark(self):
        """A point in what this upstream has received, for received_since()."""
        with self.lock:
            return len(self.requests), {cid: len(b) for cid, b in self.raw_by_conn.items()}

    def received_since(self, mark):
        """(requests recorded since `mark`, {conn_id: bytes received on it since `mark`})."""
        count, lengths = mark
        with self.lock:
            raw = {cid: bytes(b[lengths.get(cid, 0):]) for cid, b in self.raw_by_conn.items()
                   if len(b) > lengths.get(cid, 0)}
            return list(self.requests[count:]), raw

    # -- server
    def _accept_loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
                self.raw_by_conn[cid] = bytearray()
                self.open_conns.add(conn)
                self.lock.notify_all()
            t = threading.Thread(target=self._serve, args=(conn, cid), daemon=True)
            t.start()

    def _recv(self, conn, cid):
        data = conn.recv(65536)
        if not data:
            raise ConnectionClosed()
        with self.lock:
            self.bytes_received += len(data)
            self.raw_by_conn[cid] += data  # a bytearray: appending is linear overall
        return data

    def _tls_handshake(self, conn, cid):
        """Wraps an accepted socket in TLS (tls_context); returns the SSL socket or None."""
        with self.lock:
            self.open_conns.discard(conn)
        try:
            conn.settimeout(10)
            s = self.tls_context.wrap_socket(conn, server_side=True,
                                             do_handshake_on_connect=False)
        except OSError as e:
            with self.lock:
                self.tls_failures += 1
                self.tls_errors.append(repr(e))
            conn.close()
            return None
        with self.lock:
            self.open_conns.add(s)
        try:
            s.do_handshake()
        except (OSError, ValueError) as e:
            with self.lock:
                self.tls_failures += 1
                self.tls_errors.append(repr(e))
                self.open_conns.discard(s)
                self.lock.notify_all()
            try:
                s.close()
            except OSError:
                pass
            return None
        info = {"sni": getattr(s, "_sb_sni", None), "version": s.version(),
                "peer_cert": s.getpeercert(), "cipher": s.cipher()}
        with self.lock:
            self.tls_by_conn[cid] = info
            self.lock.notify_all()
        return s

    def _serve(self, conn, cid):
        if self.tls_context is not None:
            conn = self._tls_handshake(conn, cid)
            if conn is None:
                return
        conn.settimeout(30)
        rb = _RecvBuffer(lambda: self._recv(conn, cid))
        try:
            while not self._stop:
                raw = rb.until(b"\r\n\r\n")
                lines = raw[:-4].split(b"\r\n")
                method, target, version = lines[0].decode("latin-1").split(" ", 2)
                headers = []
                for line in lines[1:]:
                    n, _, v = line.decode("latin-1").partition(":")
                    headers.append((n, v.strip(" \t")))
                req = Recorded(cid, method, target, version, headers, b"", raw, False)
                req.tls = self.tls_by_conn.get(cid)
                te = req.header("Transfer-Encoding")
                cl = req.header("Content-Length")
                if self.read_body:
                    if te and "chunked" in te.lower():
                        req.chunked = True
                        body, wire = [], [raw]
                        while True:
                            line = rb.until(b"\r\n")
                            wire.append(line)
                            size = int(line[:-2].split(b";")[0], 16)
                            if size == 0:
                                while True:
                                    t = rb.until(b"\r\n")
                                    wire.append(t)
                                    if t == b"\r\n":
                                        break
                                break
                            data = rb.exact(size + 2)
                            body.append(data[:size])
                            wire.append(data)
                        req.body = b"".join(body)
                        req.raw = b"".join(wire)
                    elif cl:
                        req.body = rb.exact(int(cl))
                        req.raw += req.body
                with self.lock:
                    self.requests.append(req)
                    self.lock.notify_all()
                reply = self.handler(req)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.parts:
                    for data, pause in reply.parts:
                        conn.sendall(data)
                        if pause:
                            time.sleep(pause)
                elif reply.raw:
                    conn.sendall(reply.raw)
                if reply.tunnel:
                    rest = rb.take_rest()
                    if rest:
                        conn.sendall(rest)
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        with self.lock:
                            self.bytes_received += len(data)
                            self.raw_by_conn[cid] += data
                        conn.sendall(data)
                    return
                if reply.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                if reply.close:
                    return
                if (req.header("Connection") or "").lower() == "close":
                    return
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError, socket.timeout, OSError):
            pass
        except Exception as e:  # noqa: BLE001 -- recorded for diagnostics
            self.errors.append(repr(e))
        finally:
            with self.lock:
                self.open_conns.discard(conn)
                self.ended_conns.add(cid)
                self.lock.notify_all()
            try:
                conn.close()
            except OSError:
                pass

    def wait_ended(self, cids, timeout=5):
        """Waits until every connection in `cids` is over."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not set(cids) <= self.ended_conns:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"upstream connections {set(cids) - self.ended_conns} "
                                         "still open")
                self.lock.wait(left)


class _RecvBuffer:
    """Received bytes with a read position: delimiters and exact lengths in linear time, so a
    multi-megabyte body costs the upstream thread one copy, not one per recv()."""

    def __init__(self, recv):
        self.recv = recv
        self.buf = bytearray()
        self.pos = 0

    def _more(self):
        if self.pos > 1 << 20 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += self.recv()

    def until(self, delim):
        """Bytes up to and including the next `delim`."""
        scan = self.pos
        while True:
            i = self.buf.find(delim, scan)
            if i >= 0:
                out = bytes(self.buf[self.pos:i + len(delim)])
                self.pos = i + len(delim)
                return out
            scan = max(self.pos, len(self.buf) - len(delim) + 1)
            base = self.pos
            self._more()
            scan -= base - self.pos  # the buffer may have been compacted

    def exact(self, n):
        while len(self.buf) - self.pos < n:
            self._more()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def take_rest(self):
        out = bytes(self.buf[self.pos:])
        self.buf, self.pos = bytearray(), 0
        return out


class RawListener:
    """Accepts connections and does something crude with them (reset at once, or hold them),
    counting connection attempts; for retry/refusal tests."""

    def __init__(self, mode="reset"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.bytes_received = 0
        self.held = []
        self.lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
            else:
                self.held.append(conn)

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.held:
            try:
                c.close()
            except OSError:
                pass


# ------------------------------------------------------------------------------------------------
# Config helpers


def service_yaml(name, port, routes_yaml, extra="", path=None, host=LOOPBACK):
    """A service entry (list item) with routes given as an already-indented YAML block."""
    url = f"http://{host}:{port}{path or ''}"
    return (f"  - name: {name}\n    url: {url}\n{extra}    routes:\n{routes_yaml}")


def config(*services, fmt="3.0", extra=""):
    return f'_format_version: "{fmt}"\nservices:\n' + "".join(services) + extra


class GatewayTestCase(unittest.TestCase):
    """Base class: upstreams/gateways created via helpers are always cleaned up."""

    def make_upstream(self, handler=echo_reply, **kw):
        u = Upstream(handler, **kw)
        self.addCleanup(u.close)
        return u

    def start_gateway(self, config_text, extra_args=(), check_exit=True, **kw):
        gw = Gateway(config_text, extra_args, **kw)
        self.addCleanup(gw.kill)
        gw.start()
        if check_exit:
            self.addCleanup(self._stop_checked, gw)
        return gw

    def _stop_checked(self, gw):
        if not gw.alive():
            rc = gw.proc.returncode
            self.fail(f"silverback died during the test (exit {rc}):\n{gw.stderr()[-3000:]}")
        rc = gw.stop()
        self.assertEqual(rc, 0, f"silverback exit code after SIGTERM:\n{gw.stderr()[-3000:]}")

    def assertKongError(self, resp, status, message, fmt="json"):
        """Kong 3.5+ error template, including request_id equal to X-Kong-Request-Id."""
        self.assertEqual(resp.status, status, resp)
        rid = resp.header("X-Kong-Request-Id")
        self.assertTrue(rid, f"no X-Kong-Request-Id on {resp!r}")
        if fmt == "json":
            self.assertEqual(resp.header("Content-Type"), "application/json; charset=utf-8")
            self.assertEqual(resp.body.decode(),
                             '{\n  "message":"%s",\n  "request_id":"%s"\n}' % (message, rid))
        elif fmt == "plain":
            self.assertEqual(resp.header("Content-Type"), "text/plain; charset=utf-8")
            self.assertEqual(resp.body.decode(), f"{message}\nrequest_id: {rid}\n")
        elif fmt == "html":
            self.assertEqual(resp.header("Content-Type"), "text/html; charset=utf-8")
            body = resp.body.decode()
            self.assertIn("<title>Error</title>", body)
            self.assertIn("<h1>Error</h1>", body)
            self.assertIn(f"<p>{message}.</p>", body)
            self.assertIn(f"<p>request_id: {rid}</p>", body)
        elif fmt == "xml":
            self.assertEqual(resp.header("Content-Type"), "application/xml; charset=utf-8")
            body = resp.body.decode()
            self.assertTrue(body.startswith("<?xml"), body)
            self.assertIn(f"<message>{message}</message>", body)
            self.assertIn(f"<requestid>{rid}</requestid>", body)
        if resp.has("Content-Length"):
            self.assertEqual(int(resp.header("Content-Length")), len(resp.body))
        self.assertEqual(resp.header("Server"), PRODUCT)
        self.assertTrue(resp.has("X-Kong-Response-Latency"), resp)
        self.assertFalse(resp.has("X-Kong-Upstream-Latency"), resp)
        self.assertFalse(resp.has("X-Kong-Proxy-Latency"), resp)


def start_class_gateway(cls, config_text, extra_args=(), **kw):
    """setUpClass helper: one gateway for the whole class, stopped (exit 0 asserted) at the end."""
    gw = Gateway(config_text, extra_args, **kw)
    cls.addClassCleanup(gw.kill)

    def stop_checked():
        if not gw.alive():
            raise AssertionError(f"silverback died (exit {gw.proc.returncode}):\n{gw.stderr()[-3000:]}")
        rc = gw.stop()
        if rc != 0:
            raise AssertionError(f"silverback exit code {rc} after SIGTERM:\n{gw.stderr()[-3000:]}")

    gw.start()
    cls.addClassCleanup(stop_checked)
    return gw


def class_upstream(cls, handler=echo_reply, **kw):
    u = Upstream(handler, **kw)
    cls.addClassCleanup(u.close)
    return u


def has_token(value, token):
    return value is not None and token.lower() in [t.strip().lower() for t in value.split(",")]
