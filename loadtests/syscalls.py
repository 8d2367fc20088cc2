#!/usr/bin/env python3
"""Syscalls per message on the reactor's own thread, measured with `strace -c`, for the README's claim.

Starts the Release daemon (echo, one reactor, pinned to the first CPU, on a free loopback port) and the load
engine's closed-model echo load (`epollserver-load run echo`, pinned to the second CPU), waits until replies flow,
then attaches `strace -c` to the reactor thread alone (kernel name `reactor-0`). The messages come from the daemon's
own byte counter (bytes-in at the start and end of a --seconds window inside strace's, divided by the message size),
not from strace, so the ratio has an independent denominator. strace slows the loop a lot; the ratio of calls per message
is what it is for, not the rate. Writes `<out>/syscalls-<N>c.txt` (strace's table) and `<out>/README.md`.

usage: loadtests/syscalls.py [--connections 64 1000] [--seconds 3] [--size 64] [--out loadtests/results/syscalls]
Loopback only; every wait has a deadline; only the processes it started are stopped, by pid.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "src", "EpollServer.Host", "bin", "Release", "net10.0", "epollserver.dll")
LOAD = os.path.join(ROOT, "loadtests", "EpollServer.LoadTests", "bin", "Release", "net10.0", "epollserver-load.dll")
DEADLINE_S = 30


def need_strace():
    """strace, through the scripts' one package list and installer (scripts/packages.sh)."""
    if shutil.which("strace"):
        return
    install = 'source scripts/packages.sh && packages_install loadtests/syscalls.py "$(packages_for strace)"'
    if subprocess.run(["bash", "-c", install], cwd=ROOT).returncode != 0:
        sys.exit(2)


def build():
    for project in ("src/EpollServer.Host", "loadtests/EpollServer.LoadTests"):
        subprocess.run(["dotnet", "build", os.path.join(ROOT, project), "-c", "Release", "-v", "q", "-nologo"],
                       check=True, stdout=subprocess.DEVNULL, timeout=600)


def wait_for(what, check, deadline_s=DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"syscalls.py: {what} within {deadline_s} s did not happen")


def start_server(log_path, folder):
    log = open(log_path, "w")
    # TMPDIR: where the daemon writes its stats snapshot (StatsFile.cs).
    server = subprocess.Popen(["taskset", "-c", "0", "dotnet", SERVER, "--port", "0", "--address", "127.0.0.1",
                               "--reactors", "1"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, TMPDIR=folder))

    def port():
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log_path).read())
        return int(match.group(1)) if match else None

    return server, wait_for("the daemon's 'listening on' line", port)


def stats(pid, folder):
    """The daemon's counters, straight from the snapshot it writes on SIGUSR1 (what `epollserver stats` reads), so
    that the window's edges are milliseconds apart from strace's, not a second command's start-up."""
    path = os.path.join(folder, f"epollserver-{pid}.stats")

    def written():
        try:
            with open(path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    old = (written() or {}).get("written-at-utc")
    os.kill(pid, signal.SIGUSR1)
    fresh = wait_for("a fresh stats snapshot", lambda: (s := written()) and s["written-at-utc"] != old and s)
    return fresh["counters"]


def reactor_tid(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as comm:
            if comm.read().strip() == "reactor-0":
                return int(tid)
    return None


def tracer_pid(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("TracerPid:"))


def parse_strace(table):
    """strace -c's table: {syscall: calls}."""
    calls = {}
    for line in table.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]) and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls


def measure(connections, seconds, size, out_dir):
    work = tempfile.mkdtemp(prefix="syscalls-")
    server, port = start_server(os.path.join(work, "server.log"), work)
    load = None
    try:
        load = subprocess.Popen(["dotnet", LOAD, "run", "echo", "--target", f"127.0.0.1:{port}", "--server-pid",
                                 str(server.pid), "--connections", str(connections), "--size", str(size),
                                 "--warmup", "0", "--duration", str(seconds + 20), "--server-cpus", "none",
                                 "--generator-cpus", "1", "-o", os.path.join(work, "load")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_for("replies flowing", lambda: stats(server.pid, work)["bytes-out"] > 100 * size * connections)
        tid = wait_for("the reactor thread", lambda: reactor_tid(server.pid))
        table_path = os.path.join(out_dir, f"syscalls-{connections}c.txt")
        # The counters are read while strace is attached, so both edges of the window run at strace's (slower)
        # pace: an untraced edge would add messages at the full rate and no calls. SIGINT ends strace -c and makes
        # it write its table.
        strace = subprocess.Popen(["strace", "-c", "-p", str(tid), "-o", table_path], stderr=subprocess.DEVNULL)
        wait_for("strace attached", lambda: tracer_pid(server.pid, tid) == strace.pid)
        before = stats(server.pid, work)
        time.sleep(seconds)  # the measurement window itself
        after = stats(server.pid, work)
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=DEADLINE_S)
        messages = (after["bytes-in"] - before["bytes-in"]) // size
        with open(table_path) as table:
            calls = parse_strace(table.read())
        return messages, calls
    finally:
        for proc in (load, server):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=DEADLINE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 1000])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", default=os.path.join(ROOT, "loadtests", "results", "syscalls"))
    args = parser.parse_args()
    need_strace()
    build()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for n in args.connections:
        messages, calls = measure(n, args.seconds, args.size, args.out)
        if messages <= 0:
            raise SystemExit(f"syscalls.py: no messages counted in the window at {n} connections")
        waits = calls.get("epoll_wait", 0) or calls.get("epoll_pwait", 0)
        rows.append((n, messages, calls.get("recvfrom", 0), calls.get("sendto", 0), waits,
                     sum(calls.values())))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    command = "loadtests/syscalls.py " + " ".join(sys.argv[1:])
    lines = [
        "# Syscalls per message on the reactor thread (`strace -c`)", "",
        f"Command: `{command.strip()}`; {datetime.date.today()}; {os.cpu_count()} CPUs ({cpu}), Linux "
        f"{platform.release()}. Server: Release `epollserver --reactors 1` (JIT) on CPU 0; generator: "
        f"`epollserver-load run echo` on CPU 1, {args.size}-byte messages, one in flight per connection. "
        f"strace attached to the reactor thread alone; messages from the daemon's "
        f"bytes-in counter over a {args.seconds} s window inside strace's. The full tables are beside this file.", "",
        "| connections | messages | recvfrom | sendto | epoll_wait | recvfrom / message | sendto / message "
        "| messages / epoll_wait | all syscalls / message |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, m, recv, send, waits, total in rows:
        per_wait = f"{m / waits:.1f}" if waits else "-"
        lines.append(f"| {n} | {m} | {recv} | {send} | {waits} | {recv / m:.3f} | {send / m:.3f} | {per_wait} "
                     f"| {total / m:.3f} |")
    with open(os.path.join(args.out, "README.md"), "w") as readme:
        readme.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
