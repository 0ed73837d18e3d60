#!/usr/bin/env python3
"""Config reload cost for a large kong.yaml: start time, reload time (POST /config, which answers
when the new config is published, and SIGHUP, timed until /status shows the new hash) and the
process's memory, for N services with one route each (optionally plugins).

    bench/reload_bench.py [--bin build-rel/silverback] [--services 10000] [--reloads 10]
                          [--workers 1] [--plugins-per-service 0 --plugin-name key-auth]

With config_load_bench built next to the binary (bench/config_load_bench), also prints where a
load's time goes: yaml-cpp's YAML::Load (for reference; the loader no longer uses it), the
whole loader, the Snapshot (router etc.).
Python 3 standard library only; markdown table on stdout, progress on stderr.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_config(n, tag, plugins_per_service, plugin_name):
    out = ['_format_version: "3.0"', "services:"]
    for i in range(n):
        out += [f"  - name: svc-{i}",
                f"    url: http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8080/{tag}/{i}",
                "    routes:",
                f"      - name: route-{i}",
                f"        paths: [/svc-{i}]",
                f"        hosts: [svc-{i}.example.test]",
                "        methods: [GET, POST]"]
        if plugins_per_service:
            out.append("    plugins:")
            for k in range(plugins_per_service):
                out.append(f"      - name: {plugin_name}")
                if k:
                    out.append(f"        instance_name: {plugin_name}-{i}-{k}")
    return "\n".join(out) + "\n"


def memory(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                vals[key] = int(rest.split()[0]) * 1024
    return vals


def cpu_seconds(pid):
    """User + system CPU time of the whole process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def admin(port, method, path, body=None, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers={"Content-Type": "text/yaml"} if body else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def config_hash(port):
    return json.loads(admin(port, "GET", "/status")[1])["configuration_hash"]


def mb(n):
    return f"{n / 1048576:.1f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", help="silverback binary (default build-rel, build-ops, build)")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--reloads", type=int, default=10, help="of each kind (POST /config, SIGHUP)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plugins-per-service", type=int, default=0,
                    help="plugin entities per service (needs the plugin host)")
    ap.add_argument("--plugin-name", default="key-auth")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.bin or next((p for p in (f"{root}/build-rel/silverback",
                                           f"{root}/build-ops/silverback",
                                           f"{root}/build/silverback") if os.path.exists(p)), None)
    if not binary:
        sys.exit("no silverback binary; build one or pass --bin")
    tmp = tempfile.mkdtemp(prefix="sb-reload-bench-")
    texts = [make_config(args.services, tag, args.plugins_per_service, args.plugin_name)
             for tag in ("a", "b")]
    paths = []
    for i, text in enumerate(texts):
        paths.append(os.path.join(tmp, f"kong-{i}.yaml"))
        with open(paths[-1], "w") as f:
            f.write(text)
    decl = os.path.join(tmp, "kong.yaml")
    shutil.copy(paths[0], decl)
    log(f"{args.services} services, {len(texts[0]) / 1048576:.1f} MiB of YAML, binary {binary}")

    breakdown = None
    lb = os.path.join(os.path.dirname(binary), "bench", "config_load_bench")
    if os.path.exists(lb):
        out = subprocess.run([lb, paths[0], "3"], capture_output=True, text=True, timeout=600)
        if out.returncode == 0:
            breakdown = json.loads(out.stdout)
        else:
            log("config_load_bench:", out.stderr.strip())

    aport = free_port()
    argv = [binary, "start", "-c", decl, "-p", os.path.join(tmp, "prefix"),
            "--proxy-listen", f"127.0.0.1:{free_port()}", "--admin-listen", f"127.0.0.1:{aport}",
            "--workers", str(args.workers), "--proxy-access-log", "off", "--log-level", "warn"]
    if args.plugins_per_service:
        argv += ["--plugins", f"bundled,{args.plugin_name}"]
    t0 = time.monotonic()
    with open(os.path.join(tmp, "stderr.log"), "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    try:
        while True:
            if proc.poll() is not None:
                with open(os.path.join(tmp, "stderr.log")) as f:
                    sys.exit(f"silverback exited:\n{f.read()[-3000:]}")
            try:
                config_hash(aport)
                break
            except OSError:
                time.sleep(0.01)
        start_s = time.monotonic() - t0
        mem_start = memory(proc.pid)
        log(f"started in {start_s:.2f} s, RSS {mb(mem_start['VmRSS'])}")

        start_cpu = cpu_seconds(proc.pid)
        post_times, hup_times, hup_cpu, rss_during = [], [], [], []
        for i in range(args.reloads):
            text = texts[(i + 1) % 2]
            t0 = time.monotonic()
            code, body = admin(aport, "POST", "/config", text)
            post_times.append(time.monotonic() - t0)
            if code != 201:
                sys.exit(f"POST /config answered {code}: {body[:500]!r}")
            time.sleep(1)  # let the replaced config be freed before measuring the next
            want = hashlib.md5(texts[i % 2].encode()).hexdigest()
            shutil.copy(paths[i % 2], decl)
            c0 = cpu_seconds(proc.pid)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            while config_hash(aport) != want:
                time.sleep(0.002)
            hup_times.append(time.monotonic() - t0)
            hup_cpu.append(cpu_seconds(proc.pid) - c0)
            rss_during.append(memory(proc.pid)["VmRSS"])
            time.sleep(1)
            log(f"reload {i + 1}: POST {post_times[-1]:.2f} s, SIGHUP {hup_times[-1]:.2f} s "
                f"({hup_cpu[-1]:.2f} s CPU), RSS {mb(rss_during[-1])}")
        time.sleep(3)  # replaced configs are freed (and the heap trimmed) 0.5 s after a reload
        mem_end = memory(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    def fmt_times(ts):
        return (f"{statistics.median(ts) * 1000:.0f} ms (min {min(ts) * 1000:.0f}, "
                f"max {max(ts) * 1000:.0f})")

    print(f"| {args.services:,} services, 1 route each"
          f"{f', {args.plugins_per_service} plugin(s) each' if args.plugins_per_service else ''}"
          f", {len(texts[0]) / 1048576:.1f} MiB YAML, {args.workers} worker(s) | |")
    print("|---|---:|")
    print(f"| start (process start to /status answering) | {start_s * 1000:.0f} ms "
          f"({start_cpu * 1000:.0f} ms CPU) |")
    print(f"| reload by POST /config, {args.reloads}x (request time: parse, validate, "
          f"compile, publish) | {fmt_times(post_times)} |")
    print(f"| reload by SIGHUP, {args.reloads}x (signal to new hash on /status) | "
          f"{fmt_times(hup_times)} |")
    print(f"| CPU time per SIGHUP reload (process utime+stime; steadier on a busy machine) | "
          f"{fmt_times(hup_cpu)} |")
    if breakdown:
        print(f"| of a load (config_load_bench, CPU): yaml-cpp YAML::Load alone | "
              f"{breakdown['yaml_load_ms']:.0f} ms |")
        print(f"| of a load: whole loader (event parse into our tree + validation + ids) | "
              f"{breakdown['loader_ms']:.0f} ms |")
        print(f"| of a load: Snapshot (router, targets) | {breakdown['snapshot_ms']:.0f} ms |")
        print(f"| freeing a replaced Snapshot (main thread, not a worker) | "
              f"{breakdown['free_ms']:.0f} ms |")
    print(f"| RSS after start | {mb(mem_start['VmRSS'])} |")
    print(f"| RSS right after a reload (old and new config both alive), median | "
          f"{mb(statistics.median(rss_during))} |")
    print(f"| RSS after {2 * args.reloads} reloads, settled (old config freed, heap trimmed) | "
          f"{mb(mem_end['VmRSS'])} |")
    print(f"| peak RSS (VmHWM) | {mb(mem_end['VmHWM'])} |")


if __name__ == "__main__":
    main()
