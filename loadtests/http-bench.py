#!/usr/bin/env python3
"""HTTP plaintext measured with wrk, a client nobody here wrote: EpollServer against nginx and Kestrel.

Servers, each pinned to the server CPU with taskset and started fresh for every round:
  epollserver   `epollserver --protocol http --reactors 1` (the JIT build; limits for hostile peers off)
  nginx         nginx-light, one process (`master_process off`, which is one worker), access_log off,
                `return 200 'Hello, World!'` for /plaintext
  kestrel       a Kestrel minimal API, MapGet("/plaintext") (loadtests/peers/KestrelHttp)
Cases: GET /plaintext on 64 connections, and the same pipelined 16 deep (wrk's pipeline.lua pattern). wrk runs
pinned to the generator CPU with one thread. Rounds are interleaved (A B C A B C ...); medians are reported with
wrk's requests/s and latency percentiles, the server's CPU (utime + stime from /proc/PID/stat over the run) and
requests per CPU-second. Loopback only; every run is bounded by --duration, every start by a 20 s deadline.

usage: loadtests/http-bench.py [--rounds 3] [--duration 5] [--server-cpu 0] [--generator-cpu 1] [--out FILE.md]
"""
import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "loadtests", "EpollServer.LoadTests", "bin", "Release", "net10.0")
TICKS = os.sysconf("SC_CLK_TCK")
DEADLINE_S = 20

PIPELINE_LUA = """
init = function(args)
   local r = {}
   for i = 1, 16 do r[i] = wrk.format(nil, "/plaintext") end
   req = table.concat(r)
end
request = function() return req end
"""

NGINX_CONF = """
daemon off; master_process off; worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off; server_tokens off; keepalive_requests 1000000;
    client_body_temp_path {prefix}; proxy_temp_path {prefix}; fastcgi_temp_path {prefix}; uwsgi_temp_path {prefix}; scgi_temp_path {prefix};
    server {{ listen 127.0.0.1:{port} backlog=511; location = /plaintext {{ default_type text/plain; return 200 'Hello, World!'; }} }}
}}
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_reporting(command, cpu):
    """A server that prints 'listening on HOST:PORT' with the port it bound (port 0)."""
    server = subprocess.Popen(["taskset", "-c", str(cpu), *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + DEADLINE_S
    for line in server.stdout:
        match = re.search(r"listening on \S+:(\d+)", line)
        if match:
            return server, int(match.group(1))
        if time.time() > deadline:
            break
    server.kill()
    raise RuntimeError(f"{command[0]} did not report its port")


def start_nginx(cpu, workdir):
    """nginx cannot listen on port 0 and say which it got: try ports until one is free (no bind-and-release)."""
    for _ in range(10):
        port = random.randint(20000, 60000)
        prefix = tempfile.mkdtemp(dir=workdir)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, port=port))
        server = subprocess.Popen(["taskset", "-c", str(cpu), "nginx", "-c", conf, "-p", prefix],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + DEADLINE_S
        while time.time() < deadline and server.poll() is None:
            try:
                subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/plaintext"], check=True, timeout=2)
                return server, port
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        server.kill()
        server.wait()
    raise RuntimeError("nginx did not start on any of 10 ports")


def start(name, cpu, workdir):
    if name == "epollserver":
        return start_reporting(["dotnet", os.path.join(BIN, "epollserver.dll"), "--protocol", "http", "--address", "127.0.0.1",
                                "--port", "0", "--reactors", "1", "--max-connections-per-address", "0", "--idle-timeout", "0",
                                "--first-byte-timeout", "0", "--request-timeout", "0"], cpu)
    if name == "kestrel":
        return start_reporting(["dotnet", os.path.join(BIN, "kestrel-http.dll"), "0"], cpu)
    return start_nginx(cpu, workdir)


def run_wrk(port, pipelined, duration, cpu, workdir):
    args = ["taskset", "-c", str(cpu), "wrk", "-t1", "-c64", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if pipelined:
        script = os.path.join(workdir, "pipeline.lua")
        with open(script, "w") as f:
            f.write(PIPELINE_LUA)
        args += ["-s", script]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}/plaintext"], capture_output=True, text=True, timeout=duration + 30).stdout
    def latency(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value = float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)] if m else 0
        return value if value > 0 else float("nan")   # wrk prints 0.00us for a percentile it lost (it does, pipelined)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency(50), "p99": latency(99),
        "errors": ("Non-2xx" in out) + ("Socket errors" in out),
        "raw": out,
    }


def micros(values):
    known = [v for v in values if v == v]
    return f"{statistics.median(known):,.0f}" if known else "n/a (wrk)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--generator-cpu", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    servers = ["epollserver", "nginx", "kestrel"]
    cases = [("plaintext, 64 connections", False), ("plaintext, 64 connections x 16 pipelined", True)]
    results = {(c, s): [] for c, _ in cases for s in servers}
    workdir = tempfile.mkdtemp(prefix="epollserver-http-bench-")
    for _ in range(args.rounds):
        for case, pipelined in cases:
            for name in servers:
                server, port = start(name, args.server_cpu, workdir)
                try:
                    run_wrk(port, pipelined, 1, args.generator_cpu, workdir)   # warm-up, not measured
                    before, t0 = cpu_seconds(server.pid), time.time()
                    result = run_wrk(port, pipelined, args.duration, args.generator_cpu, workdir)
                    result["cpu"] = (cpu_seconds(server.pid) - before) / (time.time() - t0)
                    results[(case, name)].append(result)
                finally:
                    server.send_signal(signal.SIGTERM)
                    try:
                        server.wait(10)
                    except subprocess.TimeoutExpired:
                        server.kill()
                        server.wait()
    lines = [f"Command: `loadtests/http-bench.py --rounds {args.rounds} --duration {args.duration}`; servers on CPU "
             f"{args.server_cpu}, wrk (1 thread) on CPU {args.generator_cpu}; medians of {args.rounds} interleaved rounds; "
             f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.", ""]
    for case, _ in cases:
        reference = results[(case, "epollserver")]
        ref_rps = statistics.median(r["rps"] for r in reference)
        ref_eff = statistics.median(r["rps"] / r["cpu"] for r in reference)
        lines += [f"## {case}", "", "| server | requests/s | vs EpollServer | p50 µs | p99 µs | server CPU | per CPU-second | vs EpollServer | errors |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name in servers:
            rs = results[(case, name)]
            rps = statistics.median(r["rps"] for r in rs)
            eff = statistics.median(r["rps"] / r["cpu"] for r in rs)
            lines.append(f"| {name} | {rps:,.0f} | {rps / ref_rps:.2f}x | {micros([r['p50'] for r in rs])} | "
                         f"{micros([r['p99'] for r in rs])} | {statistics.median(r['cpu'] for r in rs) * 100:.0f}% | "
                         f"{eff:,.0f} | {eff / ref_eff:.2f}x | {sum(r['errors'] for r in rs)} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as out:
            out.write("# HTTP plaintext with wrk: EpollServer, nginx, Kestrel\n\n" + text)


if __name__ == "__main__":
    sys.exit(main())
