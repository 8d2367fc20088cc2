#!/usr/bin/env python3
"""What each way of shipping the daemon costs before it serves: size on disk, start to "listening on", idle RSS.

Publishes src/EpollServer.Host three ways into a temporary folder (unless --builds DIR already holds them):
  jit          framework-dependent `dotnet epollserver.dll` (the JIT with dynamic PGO; needs the .NET runtime)
  single-file  self-contained, trimmed, single file (the image's build before NativeAOT)
  aot          NativeAOT (the image's build now; clang and zlib1g-dev needed to publish)
then starts each --runs times on a free loopback port, measures from the exec to the "listening on" line and the
RSS (VmRSS) one second later with no connections, and stops it with SIGTERM (exit code 0 checked). Medians are
printed as a Markdown table. Loopback only; every start is bounded by a 20 s deadline.

usage: loadtests/native-startup.py [--runs 5] [--builds DIR] [--out FILE.md]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.join(ROOT, "src", "EpollServer.Host", "EpollServer.Host.csproj")
DEADLINE_S = 20

BUILDS = {
    "jit": ([], lambda d: ["dotnet", os.path.join(d, "epollserver.dll")]),
    "single-file": (["-r", "linux-x64", "--self-contained", "-p:PublishTrimmed=true", "-p:PublishSingleFile=true"],
                    lambda d: [os.path.join(d, "epollserver")]),
    "aot": (["-r", "linux-x64", "-p:PublishAot=true"], lambda d: [os.path.join(d, "epollserver")]),
}


def publish(name, folder):
    flags, _ = BUILDS[name]
    subprocess.run(["dotnet", "publish", PROJECT, "-c", "Release", "-p:DebugType=none", "-o", folder, *flags],
                   check=True, capture_output=True, timeout=600)
    for leftover in os.listdir(folder):  # symbols NativeAOT writes beside the binary are not shipped
        if leftover.endswith((".dbg", ".pdb")):
            os.remove(os.path.join(folder, leftover))


def size_mb(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 1e6


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def one_start(command):
    started = time.perf_counter()
    server = subprocess.Popen([*command, "--address", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = started + DEADLINE_S
        for line in server.stdout:
            if "listening on" in line:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("no 'listening on' line within the deadline")
        else:
            raise RuntimeError(f"the server exited before listening: {server.wait()}")
        to_listening_ms = (time.perf_counter() - started) * 1000
        time.sleep(1)
        rss = rss_mib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.stdout.read()
        code = server.wait(DEADLINE_S)
    if code != 0:
        raise RuntimeError(f"{command[0]} exited {code} after SIGTERM")
    return to_listening_ms, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--builds", help="a folder with jit/, single-file/ and aot/ already published")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()
    builds = args.builds or tempfile.mkdtemp(prefix="epollserver-builds-")
    rows = []
    for name, (_, command) in BUILDS.items():
        folder = os.path.join(builds, name)
        if not os.path.isdir(folder):
            publish(name, folder)
        starts = [one_start(command(folder)) for _ in range(args.runs)]
        rows.append((name, size_mb(folder), statistics.median(s[0] for s in starts), statistics.median(s[1] for s in starts)))
    table = ["| build | on disk MB | start to listening ms | idle RSS MiB |", "|---|---:|---:|---:|"]
    table += [f"| {n} | {size:.1f} | {ms:.0f} | {rss:.1f} |" for n, size, ms, rss in rows]
    text = (f"Command: `loadtests/native-startup.py --runs {args.runs}`; medians of {args.runs} starts; "
            f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}. jit's size is the app alone (the .NET runtime is extra).\n\n"
            + "\n".join(table) + "\n")
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text)


if __name__ == "__main__":
    sys.exit(main())
