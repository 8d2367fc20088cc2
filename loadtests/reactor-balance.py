#!/usr/bin/env python3
"""How evenly EpollServer's reactors get their connections, --accept handoff against --accept reuseport.

For each mode, and for clients in one process and in 16: starts the daemon with --reactors N on a free loopback
port, opens C connections (split over the client processes), reads each reactor's open connections from
`epollserver stats --json`, and prints max/min. Every connection is closed and the daemon stopped with SIGTERM (its
exit code checked) before the next trial. Loopback only; bounded by the counts and a 60 s deadline per trial.

usage: loadtests/reactor-balance.py [--reactors 4] [--connections 1000] [--dll PATH/epollserver.dll] [--out FILE.md]
"""
import argparse
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time

DEADLINE_S = 60


def hold(port, count, ready, release):
    """A client process: opens `count` connections, says so, and keeps them until told to let go."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) for _ in range(count)]
    ready.put(len(sockets))
    release.wait(DEADLINE_S)
    for s in sockets:
        s.close()


def reactor_connections(dll, pid):
    answer = subprocess.run(["dotnet", dll, "stats", "--pid", str(pid), "--json"], capture_output=True, text=True, timeout=20)
    if answer.returncode != 0:
        raise RuntimeError(f"epollserver stats failed: {answer.stderr.strip()}")
    return [int(re.search(r"connections=(\d+)", line).group(1)) for line in json.loads(answer.stdout)["reactors"]]


def trial(dll, reactors, accept, connections, processes):
    server = subprocess.Popen(
        ["dotnet", dll, "--address", "127.0.0.1", "--port", "0", "--reactors", str(reactors), "--accept", accept,
         "--max-connections", "0", "--max-connections-per-address", "0", "--idle-timeout", "0", "--first-byte-timeout", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in server.stdout:
            if m := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
                break
        if port is None:
            raise RuntimeError("the daemon did not start listening")
        ready, release = multiprocessing.Queue(), multiprocessing.Event()
        shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
        clients = [multiprocessing.Process(target=hold, args=(port, n, ready, release)) for n in shares]
        for c in clients:
            c.start()
        held = sum(ready.get(timeout=DEADLINE_S) for _ in clients)
        deadline = time.monotonic() + DEADLINE_S
        while sum(per := reactor_connections(dll, server.pid)) != held:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon holds {sum(per)} of {held} connections")
            time.sleep(0.2)
        release.set()
        for c in clients:
            c.join(DEADLINE_S)
        return per
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(DEADLINE_S)
        if code != 0:
            print(f"warning: the daemon exited with {code}", file=sys.stderr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reactors", type=int, default=4)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--dll", default=os.path.join(here, "..", "src", "EpollServer.Host", "bin", "Release", "net10.0", "epollserver.dll"))
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = ["| accept | client processes | connections per reactor | max/min |", "|---|---:|---|---:|"]
    for accept in ("handoff", "reuseport"):
        for processes in (1, 16):
            per = trial(args.dll, args.reactors, accept, args.connections, processes)
            ratio = f"{max(per) / min(per):.2f}" if min(per) > 0 else "inf"
            rows.append(f"| {accept} | {processes} | {' / '.join(map(str, per))} | {ratio} |")
            print(rows[-1], flush=True)
    report = "\n".join([f"{args.connections} connections, {args.reactors} reactors, {os.cpu_count()} CPUs "
                        f"(`loadtests/reactor-balance.py --reactors {args.reactors} --connections {args.connections}`)", ""] + rows) + "\n"
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report)
    print(report)


if __name__ == "__main__":
    main()
