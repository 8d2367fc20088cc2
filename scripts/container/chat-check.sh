# shellcheck shell=bash
# The container test's chat step (sourced by scripts/container-test.sh, which defines compose, step and fail):
# `docker-compose --profile chat up --scale chat=3` as the README documents it, then clients through HAProxy on
# 127.0.0.1:$chat_port: each on its own daemon (leastconn), one sender's lines in order on the other two, the
# sender's daemon killed (its client cut off, the others carry on, its nickname free after the TTL), and Redis
# stopped and started (one notice each way, then lines cross daemons again).

# Line helpers on bash's /dev/tcp fds: say FD LINE; expect FD REGEX [SECONDS] (skips other lines, kept in $skipped,
# so a line that came out of order makes the later wait fail); expect_eof FD [SECONDS].
say() { printf '%s\n' "$2" >&"$1"; }
expect() {
    local fd=$1 pattern=$2 deadline=$((SECONDS + ${3:-10})) line
    skipped=
    while ((SECONDS < deadline)); do
        IFS= read -r -t 1 line <&"$fd" || { (($? > 128)) && continue; chat_fail "client fd $fd: connection closed while waiting for /$pattern/"; }
        [[ $line =~ $pattern ]] && { matched=$line; return 0; }
        skipped+=$line$'\n'
    done
    chat_fail "client fd $fd: no line matching /$pattern/ within ${3:-10} s"
}
expect_eof() {
    local fd=$1 deadline=$((SECONDS + ${2:-10})) line
    while ((SECONDS < deadline)); do
        IFS= read -r -t 1 line <&"$fd" && continue
        (($? > 128)) || return 0
    done
    chat_fail "client fd $fd: still open ${2:-10} s after its daemon was killed"
}
# Connects through HAProxy and reads the welcome: the client's fd in $client, its nick in $joined; status 1 (and
# nothing left open) when HAProxy refuses or has no daemon up yet.
join() {
    local line
    exec {client}<>"/dev/tcp/127.0.0.1/$chat_port" 2>/dev/null || return 1
    if IFS= read -r -t 10 line <&"$client" && [[ $line =~ ^\*\ welcome\ to\ EpollServer\ chat:\ you\ are\ ([^ ]+)\  ]]; then
        joined=${BASH_REMATCH[1]}
        return 0
    fi
    exec {client}>&-
    return 1
}
chat_fail() {
    compose logs --no-color --tail 30 chat-lb chat redis 2>/dev/null || true
    fail "$*"
}

step "chat across daemons: Redis, 3 chat daemons and HAProxy (compose --profile chat up --scale chat=3)"
standin_service_build "$work/images" redis || chat_fail "the Redis stand-in did not build"
standin_service_build "$work/images" haproxy || chat_fail "the HAProxy stand-in did not build"
compose --profile chat up -d --scale chat=3 chat-lb
for ((i = 0; i < 120; i++)); do
    healthy=0
    for chat_cid in $(compose ps -q chat); do
        [[ $(docker inspect -f '{{.State.Health.Status}}' "$chat_cid") == healthy ]] && healthy=$((healthy + 1))
    done
    ((healthy == 3)) && break
    sleep 0.5
done
((healthy == 3)) || chat_fail "$healthy of 3 chat daemons healthy after 60 s"

step "three clients through HAProxy, each on its own daemon (leastconn; a daemon's guests carry its tag)"
tags=0
for ((i = 0; i < 30; i++)); do
    c1= c2= c3=
    if join; then c1=$client n1=$joined; fi
    if [[ -n $c1 ]] && join; then c2=$client n2=$joined; fi
    if [[ -n $c2 ]] && join; then c3=$client n3=$joined; fi
    if [[ -n $c3 ]]; then
        tags=$(printf '%s\n' "${n1:5:3}" "${n2:5:3}" "${n3:5:3}" | sort -u | wc -l)
        ((tags == 3)) && break
    fi
    for fd in $c1 $c2 $c3; do exec {fd}>&-; done   # HAProxy is not up, or has not seen every daemon up yet
    sleep 1
done
((tags == 3)) || chat_fail "three clients through HAProxy did not land on three daemons within 30 s (${n1:-} ${n2:-} ${n3:-})"
echo "clients $n1, $n2, $n3 on three daemons"

step "one sender's 50 lines reach the other two daemons' clients, in order"
say "$c1" "/nick alice"
expect "$c1" '^\* you are now alice$'
expect "$c2" "^\\* $n1 is now alice$"
expect "$c3" "^\\* $n1 is now alice$"
for i in $(seq 1 50); do say "$c1" "line $i"; done
for fd in "$c2" "$c3"; do
    for i in $(seq 1 50); do expect "$fd" "^<alice> line $i$"; done
done
echo "50 lines from alice arrived in order on both other daemons"

step "kill alice's daemon: her client is cut off, the others carry on, her nickname is free after the TTL"
owner=$(compose exec -T redis redis-cli GET epollserver:chat:nick:alice | tr -d '\r')
[[ $owner =~ ^[0-9a-f]{16}$ ]] || chat_fail "Redis holds no owner for alice ('$owner')"
victim=
for chat_cid in $(compose ps -q chat); do
    # Into a variable first: `grep -q` closing the pipe early would fail the pipeline under pipefail.
    chat_log=$(docker logs "$chat_cid" 2>&1)
    [[ $chat_log == *"as server $owner"* ]] && victim=$chat_cid
done
[[ -n $victim ]] || chat_fail "no chat daemon logged server id $owner"
docker kill -s KILL "$victim" >/dev/null
expect_eof "$c1" 10
say "$c2" "still here"
expect "$c3" "^<$n2> still here$"
for ((i = 0; i < 40; i++)); do
    say "$c2" "/nick alice"
    expect "$c2" "^(\\* you are now alice|ERR nickname 'alice' is taken)$"
    [[ $matched == "* you are now alice" ]] && break
    sleep 0.5
done
[[ $matched == "* you are now alice" ]] || chat_fail "alice was not free 20 s after her daemon died (TTL 4 s)"
echo "alice taken over by the client on another daemon after $((i / 2)) s"

step "stop Redis: each client is told once; start it: told again, and lines cross daemons again"
compose stop -t 5 redis >/dev/null 2>&1
expect "$c2" '^\* messages from other servers are not being delivered' 30
expect "$c3" '^\* messages from other servers are not being delivered' 30
compose start redis >/dev/null 2>&1
for fd in "$c2" "$c3"; do
    expect "$fd" '^\* messages from other servers are delivered again$' 60
    [[ $skipped != *"not being delivered"* ]] || chat_fail "client fd $fd was told twice that other servers cannot be reached"
done
for ((i = 0; i < 20; i++)); do
    say "$c2" "back $i"
    if IFS= read -r -t 1 line <&"$c3" && [[ $line == "<alice> back "* ]]; then break; fi
done
[[ ${line:-} == "<alice> back "* ]] || chat_fail "no line crossed daemons within 20 s of Redis coming back"
echo "after Redis came back: '$line'"
exec {c2}>&- {c3}>&-
compose --profile chat stop >/dev/null 2>&1
