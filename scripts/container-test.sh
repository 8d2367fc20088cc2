#!/usr/bin/env bash
# The container test (issue #6), from a bare machine: its own Docker engine, local stand-ins for the Microsoft base
# images (no registry here), then the real Dockerfile and docker-compose.yml, unchanged:
#   build (the image's test stage runs the suite) -> up -> healthy -> non-root -> echo through 127.0.0.1 ->
#   stats and fds (inside and from the host) -> the admin endpoint, and Prometheus scraping it (a PromQL query) ->
#   the load service -> chat on three daemons through Redis behind HAProxy (order across daemons, one daemon
#   killed, Redis stopped and started) -> SIGTERM -> exit 0 -> everything torn down.
# The engine touches nothing it did not create (scripts/container/engine.sh): it refuses to start beside another
# dockerd or on a taken bridge name (EPOLLSERVER_ENGINE_SHARE=1 lets it), and a sentinel proves it: a Docker-like
# bridge and DOCKER-USER rule made before the engine starts must be there, unchanged, after it is gone
# (scripts/container/sentinel.sh).
# Exit 0: passed, or skipped with the reason on the last line (not root) outside CI. Under CI (CI set, and neither
# "false" nor "0"; .ci/run sets it) a skip fails, with the reason. Anything else: failed, with the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container/engine.sh
source scripts/container/standin-images.sh
source scripts/container/sentinel.sh

# A skipped container test is not a pass in CI.
skip() {
    if [[ -n ${CI:-} && ${CI,,} != false && $CI != 0 ]]; then
        echo "container test: FAILED: it would be skipped, and under CI ($CI) a skip is a failure: $*"
        exit 1
    fi
    echo "container test: SKIPPED: $*"
    exit 0
}
[[ $(uname -s) == Linux ]] || skip "it needs Linux (its own dockerd)"
[[ $(id -u) == 0 ]] || skip "it starts its own dockerd, which needs root (CI runs as root)"

work=$(mktemp -d /tmp/epollserver-container.XXXXXX)
project="epollserver-ci-$$"
compose() { docker-compose -p "$project" -f docker-compose.yml -f ci/docker-compose.ci.yml "$@"; }
step() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }
fail() {
    echo "container test: FAILED: $*"
    compose logs --no-color --tail 40 server 2>/dev/null || true
    exit 1
}
# The host must be left as it was found: anything the engine left behind, or a sentinel it touched, fails the test,
# whatever else happened. Before the engine was started (a refusal) there is nothing to undo.
engine_started='' sentinel_made=''
cleanup() {
    local status=$? clean=1
    set +e
    if [[ -n $engine_started ]]; then
        if [[ -n ${DOCKER_HOST:-} ]]; then compose --profile load --profile monitoring --profile chat down --volumes --remove-orphans >/dev/null 2>&1; fi
        engine_stop "$work/engine" >/dev/null
        engine_check_clean "$work/engine" || clean=0
    fi
    if [[ -n $sentinel_made ]]; then
        sentinel_verify "$work/sentinel" || clean=0
        sentinel_remove "$work/sentinel" || clean=0
    fi
    rm -rf "$work"
    if ((!clean)); then
        echo "container test: FAILED: the engine changed this host (above)"
        exit 1
    fi
    exit "$status"
}
trap cleanup EXIT

step "host: no other dockerd here, and a free bridge name and subnet for ours"
engine_check_host "$work/engine"

# Each step installs what it uses right before it: a machine image may have some of these tools and not others
# (one had a docker CLI but no dockerd and no docker-compose).
step "compose files valid (docker-compose config -q)"
engine_require docker-compose
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml -f ci/docker-compose.ci.yml config -q

step "engine: install dockerd; a sentinel bridge and DOCKER-USER rule, like another engine's; start ours"
engine_require dockerd iptables nft
sentinel_made=1
sentinel_create "$work/sentinel"
engine_started=1
engine_start "$work/engine"

step "stand-in base images"
engine_require debootstrap
standin_images_build "$work/images"

# Free loopback ports for the published ones, so a host that already serves 7007, 9100 or 9090 does not fail the test.
free_port() {
    local p=$1
    while ss -Hltn "sport = :$p" | grep -q . || [[ " ${taken:-} " == *" $p "* ]]; do p=$((p + 1)); done
    taken="${taken:-} $p"
    echo "$p"
}
port=$(free_port 7007)
admin_port=$(free_port 9100)
prometheus_port=$(free_port 9090)
chat_port=$(free_port 7100)
export EPOLLSERVER_PUBLISH_PORT=$port EPOLLSERVER_ADMIN_PUBLISH_PORT=$admin_port EPOLLSERVER_PROMETHEUS_PORT=$prometheus_port
# The chat daemons' nicknames outlive a killed daemon by this long (the test waits for it).
export EPOLLSERVER_CHAT_PUBLISH_PORT=$chat_port EPOLLSERVER_BACKPLANE_TTL=4

step "build the real Dockerfile: the server and load images (the test stage runs the suite inside)"
compose --profile load build > "$work/build.log" 2>&1 || { tail -n 60 "$work/build.log"; fail "docker build failed"; }
grep -E '(Passed|Failed)! +- Failed:' "$work/build.log" | sed 's/^/in the image: /'
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^epollserver' || true

step "start the server (compose up)"
compose up -d server
cid=$(compose ps -q server)
[[ -n $cid ]] || fail "compose started no server container"

step "wait until healthy (the image's HEALTHCHECK: epollserver health)"
for ((i = 0; i < 120; i++)); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$cid")
    [[ $health == healthy ]] && break
    [[ $(docker inspect -f '{{.State.Running}}' "$cid") == true ]] || fail "the server container exited"
    sleep 0.5
done
[[ $health == healthy ]] || fail "not healthy within 60 s (status: $health)"
docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$cid" | tail -n 2

step "runs as non-root, as PID 1"
uid=$(docker exec "$cid" awk '/^Uid:/ {print $2}' /proc/1/status)
comm=$(docker exec "$cid" cat /proc/1/comm)
echo "PID 1 is '$comm', uid $uid"
[[ $uid != 0 ]] || fail "the server runs as root"
[[ $comm == epollserver ]] || fail "PID 1 is $comm, not epollserver"

step "echo through 127.0.0.1:$port"
payload="hello-from-the-host-$RANDOM$RANDOM-$(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '%s\n' "$payload" >&3
IFS= read -r -t 5 answer <&3 || fail "no echo within 5 s"
exec 3>&-
[[ $answer == "$payload" ]] || fail "the echo differs from what was sent (${#answer} of ${#payload} bytes back)"
echo "echoed ${#payload} bytes back unchanged"

step "stats inside the container, and the fds from the host"
engine_require lsof nsenter
docker exec "$cid" epollserver stats | tee "$work/stats.txt"
grep -q "fds: the server's own" "$work/stats.txt" || fail "epollserver stats printed no fd accounting"
host_pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
inside=$(docker exec "$cid" ls /proc/1/fd | wc -l)
outside=$(ls "/proc/$host_pid/fd" | wc -l)
# lsof tells TCP sockets by /proc/net/tcp*, which is per network namespace: run it inside the container's.
tcp=$(nsenter -t "$host_pid" -n lsof -nP -a -p "$host_pid" -i TCP 2>/dev/null | tail -n +2 | wc -l || true)
echo "fds of the server: $inside seen inside (/proc/1/fd), $outside from the host (/proc/$host_pid/fd)," \
    "$tcp TCP sockets in lsof (nsenter -t $host_pid -n lsof -p $host_pid -i TCP)"
[[ $tcp -ge 1 ]] || fail "lsof shows no TCP socket for the server"

step "the admin endpoint from the host, and Prometheus scraping it (the monitoring profile)"
engine_require curl
curl -sf "http://127.0.0.1:$admin_port/healthz" | grep -qx ok || fail "GET /healthz on 127.0.0.1:$admin_port did not answer ok"
curl -sf "http://127.0.0.1:$admin_port/readyz" | grep -qx ready || fail "GET /readyz did not answer ready"
standin_prometheus_build "$work/images" || fail "the Prometheus stand-in did not build"
compose --profile monitoring up -d prometheus
query="http://127.0.0.1:$prometheus_port/api/v1/query?query=epollserver_connections_open"
for ((i = 0; i < 120; i++)); do
    answer=$(curl -s "$query" || true)
    grep -q '"__name__":"epollserver_connections_open"' <<<"$answer" && break
    sleep 0.5
done
grep -q '"__name__":"epollserver_connections_open"' <<<"$answer" || fail "Prometheus has no epollserver_connections_open series after 60 s: $answer"
grep -q '"job":"epollserver"' <<<"$answer" || fail "the series is not from the epollserver job: $answer"
echo "PromQL epollserver_connections_open through Prometheus's HTTP API: $(grep -o '"value":\[[^]]*\]' <<<"$answer" | head -n 1)"
compose --profile monitoring stop prometheus >/dev/null 2>&1

step "the load service: echo from its own container on the internal network"
compose --profile load run --rm load 2>&1 | tail -n 12 || fail "the load run failed"

source scripts/container/chat-check.sh

step "stop: SIGTERM to PID 1, graceful exit 0"
started=$SECONDS
compose stop server
took=$((SECONDS - started))
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
logs=$(docker logs "$cid" 2>&1)
grep -q "SIGTERM received: stopping gracefully" <<<"$logs" || fail "no graceful-stop line in the logs"
grep -q "stopped: connections open=0" <<<"$logs" || fail "no final stats line in the logs"
echo "exit code $code after ${took} s"
[[ $code == 0 ]] || fail "exit code $code"

step "tear down"
compose --profile load --profile monitoring --profile chat down --volumes --remove-orphans >/dev/null 2>&1
echo "container test: passed in ${SECONDS} s"
