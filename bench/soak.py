#!/usr/bin/env python3
"""Soak test: mixed traffic through Silverback for a long time, with a SIGHUP reload every few
seconds alternating between two configs; fails on any unexpected error or memory growth.

    bench/soak.py --bin build-rel/silverback            # 30 minutes
    bench/soak.py --bin build-rel/silverback --quick    # 1 minute
    bench/soak.py --minutes 10 --rss-growth-mb 20
    bench/soak.py --quick --idle 10000                 # plus 10,000 idle keep-alive connections

Traffic (asyncio clients in this process; the upstream is an asyncio HTTP/1.1 server in a child
process so the two do not share one GIL):
  keep-alive   GET /s/echo?... on persistent connections, the echoed target checked
  new-conn     one GET per connection (Connection: close)
  upload       POST /s/upload, 64 KiB-1 MiB, Content-Length or chunked; the upstream answers
               the body's SHA-256, which must match
  chunked      GET /s/chunked?n=..., a chunked response of n chunks, content checked
  slow         GET /s/slow, a 256 KiB response trickled out over ~1 s
  websocket    an Upgrade to /s/ws, then data through the tunnel, echoed back and checked

--idle N also holds N keep-alive connections (one request each) for the whole run and checks at
the end that every one is still open and answers.

The upstream closes keep-alive connections idle for 2 s, so the gateway's pool keeps meeting
connections closed under it.

Every --reload-every seconds the config file is rewritten (config A or B: same routes, different
service names and a block of extra routes) and the gateway gets SIGHUP; the admin /status
configuration_hash must change within 5 s. RSS (VmRSS) and open descriptors (/proc/PID/fd) are
sampled; the report gives them at start, middle and end. Exit status 1 on any error or when RSS
grew more than --rss-growth-mb between the start (after warm-up) and the end (load stopped).
"""

import argparse
import asyncio
import collections
import hashlib
import json
import multiprocessing
import os
import random
import resource
import signal
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402  (Gateway: temp dir, start, stop)

# ------------------------------------------------------------------------------------------------
# Upstream (child process)


def chunk_payload(i):
    return (b"chunk-%d-" % i) * (1 + i % 50)


UPSTREAM_IDLE_S = 2  # the upstream closes idle keep-alive connections (the gateway must cope)


async def upstream_conn(reader, writer):
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), UPSTREAM_IDLE_S)
            except asyncio.TimeoutError:
                break
            lines = head[:-4].split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                n, _, v = line.partition(b":")
                headers[n.strip().lower()] = v.strip()
            body = b""
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass
                        break
                    parts.append((await reader.readexactly(size + 2))[:-2])
                body = b"".join(parts)
            elif b"content-length" in headers:
                body = await reader.readexactly(int(headers[b"content-length"]))
            path, _, query = target.partition(b"?")
            if path.endswith(b"/ws"):
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: websocket\r\n\r\n")
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    writer.write(data)
                    await writer.drain()
                return
            if path.endswith(b"/chunked"):
                n = int(query.split(b"=")[1]) if query else 10
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(n):
                    p = chunk_payload(i)
                    writer.write(b"%x\r\n%s\r\n" % (len(p), p))
                    if i % 16 == 0:
                        await writer.drain()
                writer.write(b"0\r\n\r\n")
            elif path.endswith(b"/slow"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (16 * 16384))
                for _ in range(16):
                    writer.write(b"s" * 16384)
                    await writer.drain()
                    await asyncio.sleep(0.06)
            else:
                if path.endswith(b"/upload"):
                    out = hashlib.sha256(body).hexdigest().encode()
                else:
                    out = b"echo:" + target
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
            await writer.drain()
            if headers.get(b"connection", b"").lower() == b"close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def run_upstream(port_queue):
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)

    async def main():
        server = await asyncio.start_server(upstream_conn, "127.0.0.1", 0, backlog=1024)
        port_queue.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()
    asyncio.run(main())


# ------------------------------------------------------------------------------------------------
# Configs


def config(variant, up_port):
    name = "soak-a" if variant == 0 else "soak-b"
    extra = 20 if variant == 0 else 60  # a different router each time
    routes = "".join(f"""      - name: {name}-extra-{i}
        paths: [/extra-{variant}-{i}]
""" for i in range(extra))
    return f"""_format_version: "3.0"
services:
  - name: {name}
    url: http://127.0.0.1:{up_port}
    read_timeout: 10000
    routes:
      - name: {name}-main
        paths: [/s]
        strip_path: false
{routes}"""


# ------------------------------------------------------------------------------------------------
# Client side


class Stats:
    def __init__(self):
        self.requests = collections.Counter()
        self.errors = collections.Counter()
        self.samples = []
        self.reloads = 0

    def error(self, kind, detail=""):
        self.errors[kind] += 1
        if self.errors[kind] <= 3:
            print(f"  error {kind}: {detail}"[:300], file=sys.stderr, flush=True)


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        n, _, v = line.partition(b":")
        headers[n.strip().lower()] = v.strip()
    if status == 101:
        return status, headers, b""
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        return status, headers, b"".join(parts)
    return status, headers, await reader.readexactly(int(headers.get(b"content-length", b"0")))


async def connect(port):
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


def request_bytes(method, target, body=b"", chunked=False, close=False, extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: soak.test\r\n" % (method, target) + extra
    if close:
        head += b"Connection: close\r\n"
    if chunked:
        out = head + b"Transfer-Encoding: chunked\r\n\r\n"
        for i in range(0, len(body), 50000):
            piece = body[i:i + 50000]
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
        return out + b"0\r\n\r\n"
    if body or method == b"POST":
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


async def guarded(stats, kind, coro, timeout=15):
    try:
        await asyncio.wait_for(coro, timeout)
        stats.requests[kind] += 1
        return True
    except asyncio.TimeoutError:
        stats.error(f"{kind}: timeout")
    except asyncio.IncompleteReadError as e:
        stats.error(f"{kind}: connection closed early", repr(e)[:200])
    except ConnectionError as e:
        stats.error(f"{kind}: {type(e).__name__}", str(e))
    except AssertionError as e:
        stats.error(f"{kind}: wrong answer", str(e))
    return False


async def keepalive_worker(port, stats, stop, wid):
    reader = writer = None
    n = 0
    while not stop.is_set():
        if writer is None:
            reader, writer = await connect(port)

        async def one():
            target = b"/s/echo?w=%d&n=%d" % (wid, n)
            writer.write(request_bytes(b"GET", target))
            status, headers, body = await read_response(reader)
            assert status == 200, (status, body[:200])
            assert body == b"echo:" + target, body[:200]
            return headers
        if not await guarded(stats, "keep-alive", one()):
            writer.close()
            writer = None
        n += 1
        # Kong's upstream keepalive_max_requests (100) means the gateway reconnects upstream
        # regularly; the client side keeps one connection for the whole run.
    if writer is not None:
        writer.close()


async def newconn_worker(port, stats, stop, wid):
    n = 0
    while not stop.is_set():
        async def one():
            reader, writer = await connect(port)
            try:
                target = b"/s/echo?new=%d&n=%d" % (wid, n)
                writer.write(request_bytes(b"GET", target, close=True))
                status, _, body = await read_response(reader)
                assert status == 200 and body == b"echo:" + target, (status, body[:200])
                assert await reader.read() == b"", "bytes after a Connection: close response"
            finally:
                writer.close()
        await guarded(stats, "new-conn", one())
        n += 1


async def upload_worker(port, stats, stop, wid):
    rnd = random.Random(wid)
    reader = writer = None
    n = 0
    while not stop.is_set():
        if writer is None:
            reader, writer = await connect(port)
        size = rnd.choice((65536, 200000, 1 << 20))
        body = rnd.randbytes(size)
        chunked = n % 2 == 1

        async def one():
            writer.write(request_bytes(b"POST", b"/s/upload", body, chunked=chunked))
            status, _, got = await read_response(reader)
            assert status == 200, (status, got[:200])
            assert got == hashlib.sha256(body).hexdigest().encode(), "upload corrupted"
        if not await guarded(stats, "upload-chunked" if chunked else "upload", one(), 30):
            writer.close()
            writer = None
        n += 1
    if writer is not None:
        writer.close()


async def chunked_worker(port, stats, stop, wid):
    reader, writer = await connect(port)
    n = 0
    while not stop.is_set():
        count = 1 + (n * 7 + wid) % 300

        async def one():
            writer.write(request_bytes(b"GET", b"/s/chunked?n=%d" % count))
            status, _, body = await read_response(reader)
            assert status == 200, status
            assert body == b"".join(chunk_payload(i) for i in range(count)), "chunked body differs"
        if not await guarded(stats, "chunked", one()):
            writer.close()
            reader, writer = await connect(port)
        n += 1
    writer.close()


async def slow_worker(port, stats, stop, wid):
    while not stop.is_set():
        async def one():
            reader, writer = await connect(port)
            try:
                writer.write(request_bytes(b"GET", b"/s/slow"))
                status, _, body = await read_response(reader)
                assert status == 200 and body == b"s" * (16 * 16384), (status, len(body))
            finally:
                writer.close()
        await guarded(stats, "slow-download", one())


async def websocket_worker(port, stats, stop, wid):
    rnd = random.Random(1000 + wid)
    while not stop.is_set():
        async def one():
            reader, writer = await connect(port)
            try:
                writer.write(request_bytes(
                    b"GET", b"/s/ws", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"))
                status, _, _ = await read_response(reader)
                assert status == 101, status
                for _ in range(20):
                    msg = rnd.randbytes(rnd.randint(1, 20000))
                    writer.write(msg)
                    assert await reader.readexactly(len(msg)) == msg, "tunnel data differs"
            finally:
                writer.close()
        await guarded(stats, "websocket", one())


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_hash(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/status", timeout=5) as r:
        return json.loads(r.read())["configuration_hash"]


async def reloader(gw, up_port, stats, stop, every):
    variant = 0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            break
        except asyncio.TimeoutError:
            pass
        variant ^= 1
        before = await loop.run_in_executor(None, status_hash, gw.admin_port)
        with open(gw.config_path, "w") as f:
            f.write(config(variant, up_port))
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            h = await loop.run_in_executor(None, status_hash, gw.admin_port)
            if h != before:
                stats.reloads += 1
                break
            if time.monotonic() > deadline:
                stats.error("reload: hash unchanged after 5 s")
                break
            await asyncio.sleep(0.05)


async def sampler(pid, stats, stop, t_start, period=5):
    while not stop.is_set():
        stats.samples.append((time.monotonic() - t_start, proc_rss_kb(pid), proc_fds(pid)))
        try:
            await asyncio.wait_for(stop.wait(), period)
        except asyncio.TimeoutError:
            pass


async def open_idle(port, n, stats):
    """n keep-alive connections, one request answered on each, then held."""
    conns = []
    sem = asyncio.Semaphore(200)

    async def one(i):
        async with sem:
            reader, writer = await connect(port)
            target = b"/s/echo?idle=%d" % i
            writer.write(request_bytes(b"GET", target))
            status, _, body = await read_response(reader)
            assert status == 200 and body == b"echo:" + target, (status, body[:100])
            conns.append((reader, writer))
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            stats.error("idle: open", repr(r))
    return conns


async def check_idle(conns, stats):
    """Every held connection still answers; then closed."""
    sem = asyncio.Semaphore(200)

    async def one(i, reader, writer):
        async with sem:
            target = b"/s/echo?idle-again=%d" % i
            writer.write(request_bytes(b"GET", target))
            status, _, body = await read_response(reader)
            assert status == 200 and body == b"echo:" + target, (status, body[:100])
            writer.close()
    results = await asyncio.gather(*(asyncio.wait_for(one(i, r, w), 30)
                                     for i, (r, w) in enumerate(conns)), return_exceptions=True)
    bad = [r for r in results if isinstance(r, BaseException)]
    for r in bad[:3]:
        stats.error("idle: dropped or wrong answer at the end", repr(r))
    for r in bad[3:]:
        stats.errors["idle: dropped or wrong answer at the end"] += 1
    stats.requests["idle (held, asked again at the end)"] += len(results) - len(bad)


async def run_load(gw, up_port, args, stats):
    pid = gw.proc.pid
    stop = asyncio.Event()
    t_start = time.monotonic()
    port = gw.proxy_port
    idle = await open_idle(port, getattr(args, "idle", 0), stats)
    if idle:
        print(f"  holding {len(idle)} idle keep-alive connections: RSS {proc_rss_kb(pid)} KiB, "
              f"{proc_fds(pid)} fds", file=sys.stderr, flush=True)
    tasks = [asyncio.create_task(keepalive_worker(port, stats, stop, i)) for i in range(8)]
    tasks += [asyncio.create_task(newconn_worker(port, stats, stop, i)) for i in range(3)]
    tasks += [asyncio.create_task(upload_worker(port, stats, stop, i)) for i in range(2)]
    tasks += [asyncio.create_task(chunked_worker(port, stats, stop, i)) for i in range(2)]
    tasks += [asyncio.create_task(slow_worker(port, stats, stop, i)) for i in range(2)]
    tasks += [asyncio.create_task(websocket_worker(port, stats, stop, i)) for i in range(1)]
    tasks.append(asyncio.create_task(reloader(gw, up_port, stats, stop, args.reload_every)))
    tasks.append(asyncio.create_task(sampler(pid, stats, stop, t_start)))
    duration = args.minutes * 60
    middle = None
    last_print = t_start
    while time.monotonic() - t_start < duration:
        await asyncio.sleep(1)
        if not gw.alive():
            stats.error("gateway died", gw.stderr()[-2000:])
            break
        elapsed = time.monotonic() - t_start
        if middle is None and elapsed >= duration / 2:
            middle = (proc_rss_kb(pid), proc_fds(pid))
        if time.monotonic() - last_print >= 30:
            last_print = time.monotonic()
            print(f"  {elapsed:6.0f} s: {sum(stats.requests.values())} requests, "
                  f"{sum(stats.errors.values())} errors, {stats.reloads} reloads, "
                  f"RSS {proc_rss_kb(pid)} KiB, {proc_fds(pid)} fds", file=sys.stderr, flush=True)
    stop.set()
    await asyncio.wait(tasks, timeout=20)
    for t in tasks:
        t.cancel()
    if idle:
        await check_idle(idle, stats)
    return middle or (proc_rss_kb(pid), proc_fds(pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=None, help="silverback binary (default build-rel/, build/)")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--quick", action="store_true", help="1 minute")
    ap.add_argument("--workers", type=int, default=2, help="gateway worker threads")
    ap.add_argument("--reload-every", type=float, default=3, help="seconds between SIGHUPs")
    ap.add_argument("--rss-growth-mb", type=float, default=20,
                    help="fail if RSS grew more than this from start to end")
    ap.add_argument("--idle", type=int, default=0,
                    help="also hold this many idle keep-alive connections for the whole run")
    args = ap.parse_args()
    if args.quick:
        args.minutes = 1
    root = os.path.dirname(HERE)
    binary = args.bin or next((p for p in (os.path.join(root, "build-rel", "silverback"),
                                           os.path.join(root, "build", "silverback"))
                               if os.path.exists(p)), None)
    if binary is None or not os.path.exists(binary):
        sys.exit("no silverback binary: pass --bin")
    harness.BIN = os.path.abspath(binary)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    ports = multiprocessing.Queue()
    upstream = multiprocessing.Process(target=run_upstream, args=(ports,), daemon=True)
    upstream.start()
    up_port = ports.get(timeout=10)
    keepalive_ms = int((args.minutes * 60 + 120) * 1000)  # idle connections outlive the run
    gw = harness.Gateway(config(0, up_port), ["--keepalive-timeout", str(keepalive_ms)],
                         workers=args.workers)
    stats = Stats()
    rc = 1
    try:
        gw.start()
        pid = gw.proc.pid
        # Warm-up: fill pools, caches and the allocator before the baseline.
        warm = Stats()
        asyncio.run(run_load(gw, up_port, argparse.Namespace(minutes=0.1, reload_every=1e9,
                                                             idle=0), warm))
        time.sleep(UPSTREAM_IDLE_S + 1)  # pooled upstream connections closed by the upstream
        start_rss, start_fds = proc_rss_kb(pid), proc_fds(pid)
        print(f"soak: {binary}, {args.workers} workers, {args.minutes:g} min, reload every "
              f"{args.reload_every:g} s; baseline RSS {start_rss} KiB, {start_fds} fds "
              f"(warm-up: {sum(warm.requests.values())} requests, "
              f"{sum(warm.errors.values())} errors)", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        mid_rss, mid_fds = asyncio.run(run_load(gw, up_port, args, stats))
        elapsed = time.monotonic() - t0
        peak_rss = max((s[1] for s in stats.samples), default=0)
        peak_fds = max((s[2] for s in stats.samples), default=0)
        # Let the closed connections go, then the end figures.
        deadline = time.monotonic() + 10 + UPSTREAM_IDLE_S
        while proc_fds(pid) > start_fds + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        end_rss, end_fds = proc_rss_kb(pid), proc_fds(pid)
        exit_code = gw.stop(timeout=30)
        total = sum(stats.requests.values())
        growth_mb = (end_rss - start_rss) / 1024
        idle_note = f", {args.idle} idle connections held" if args.idle else ""
        print(f"\n| soak ({args.minutes:g} min, {args.workers} workers{idle_note}) | value |")
        print("|---|---:|")
        print(f"| duration | {elapsed:.0f} s |")
        print(f"| requests (all kinds) | {total:,} ({total / elapsed:.0f}/s) |")
        for kind, n in sorted(stats.requests.items()):
            print(f"| - {kind} | {n:,} |")
        print(f"| reloads (SIGHUP, hash changed) | {stats.reloads} |")
        print(f"| errors | {sum(stats.errors.values())} |")
        for kind, n in sorted(stats.errors.items()):
            print(f"| - {kind} | {n} |")
        print(f"| RSS start / middle / end (peak) | {start_rss:,} / {mid_rss:,} / {end_rss:,} KiB "
              f"({peak_rss:,}) |")
        print(f"| open fds start / end (peak) | {start_fds} / {end_fds} ({peak_fds}) |")
        print(f"| exit code after SIGTERM | {exit_code} |")
        failures = []
        if stats.errors:
            failures.append(f"{sum(stats.errors.values())} errors")
        if growth_mb > args.rss_growth_mb:
            failures.append(f"RSS grew {growth_mb:.1f} MB (> {args.rss_growth_mb:g})")
        if end_fds > start_fds + 2:
            failures.append(f"fds {start_fds} -> {end_fds}")
        if exit_code != 0:
            failures.append(f"exit code {exit_code}")
        if stats.reloads == 0 and args.minutes * 60 > 2 * args.reload_every:
            failures.append("no reload took effect")
        print("\nresult: " + ("FAIL: " + "; ".join(failures) if failures else "ok"))
        rc = 1 if failures else 0
    finally:
        gw.kill()
        upstream.terminate()
        upstream.join(5)
    sys.exit(rc)


if __name__ == "__main__":
    main()
