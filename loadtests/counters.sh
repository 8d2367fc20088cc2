#!/usr/bin/env bash
# The EpollServer meter as dotnet-counters reads it: the artefact behind the README's "dotnet-counters collected
# every instrument". `loadtests/counters.sh [--out loadtests/results/counters]`
# Installs dotnet-counters (the version below, from the NuGet registry) into a temporary tool path, starts the
# Release daemon (echo, two reactors, a free loopback port), drives 8 s of echo load with the load engine, collects
# the EpollServer meter for 5 s of it as CSV, and lists each instrument (with its tags) that had a measurement
# against the ones the server defines. Everything it starts is stopped by its pid; the tool path is removed.
set -euo pipefail
cd "$(dirname "$0")/.."

version=10.0.750501
out=loadtests/results/counters
[[ ${1:-} == --out ]] && out=$2

work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

dotnet build src/EpollServer.Host -c Release -v q -nologo >/dev/null
dotnet build loadtests/EpollServer.LoadTests -c Release -v q -nologo >/dev/null
dotnet tool install --tool-path "$work/tool" dotnet-counters --version "$version" >/dev/null

server=src/EpollServer.Host/bin/Release/net10.0/epollserver.dll
dotnet "$server" --port 0 --address 127.0.0.1 --reactors 2 >"$work/server.log" 2>&1 &
pid=$!
pids+=("$pid")
port=''
for ((i = 0; i < 200; i++)); do # 20 s at most
    port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/server.log" | grep -oE '[0-9]+$' || true)
    [[ -z $port ]] || break
    sleep 0.1
done
[[ -n $port ]] || { echo "counters.sh: the daemon did not listen within 20 s" >&2; cat "$work/server.log" >&2; exit 1; }

dotnet loadtests/EpollServer.LoadTests/bin/Release/net10.0/epollserver-load.dll run echo --target "127.0.0.1:$port" \
    --server-pid "$pid" --connections 64 --warmup 1 --duration 8 --server-cpus none --generator-cpus none \
    -o "$work/load" >/dev/null 2>&1 &
pids+=("$!")
mkdir -p "$out"
"$work/tool/dotnet-counters" collect -p "$pid" --counters EpollServer --duration 00:00:00:05 --format csv \
    -o "$out/counters.csv" >/dev/null

# CSV rows: Timestamp,Provider,Counter Name,Counter Type,Mean/Increment; the counter name carries the tags.
seen=$(tail -n +2 "$out/counters.csv" | awk -F, '{print $3}' | sed -E 's/ \(.*//; s/\[.*//' | sort -u)
defined=$(grep -ohE '"epollserver\.[a-z_.]+"' src/EpollServer.Core/Diagnostics/*.cs | tr -d '"' | grep -vxE 'epollserver\.(port|protocol)' | sort -u) # those two are the meter's tags
{
    echo "# The EpollServer meter through dotnet-counters $version"
    echo
    echo "Command: \`loadtests/counters.sh\` at $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d): the Release daemon"
    echo "(two reactors) under 64 connections of echo load, \`dotnet-counters collect --counters EpollServer\` for 5 s"
    echo "([counters.csv](counters.csv))."
    echo
    echo "| instrument | seen by dotnet-counters |"
    echo "|---|---|"
    for name in $defined; do
        if grep -qxF "$name" <<<"$seen"; then s=yes; else s="no measurement in the window"; fi
        echo "| \`$name\` | $s |"
    done
} >"$out/README.md"
cat "$out/README.md"
