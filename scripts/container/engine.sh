# shellcheck shell=bash
# A private Docker engine for the container tests: started by hand beside nothing else, and removed without trace.
#
# Sourced, not run. Public functions:
#   engine_require TOOL...   install the Debian packages (scripts/packages.tsv) of whichever TOOLs are missing
#                            (dockerd, docker-compose, debootstrap, curl, ...); call it right before the step using them
#   docker ...               the docker CLI that came with the dockerd in use (see below), not whatever is on PATH
#   engine_check_host DIR    refuse, in one line and with status 1, to run beside another dockerd or on a taken
#                            bridge name or subnet (engine_start asks it too)
#   engine_start DIR         start dockerd with all its state under DIR; exports DOCKER_HOST. The host's state
#                            before it is recorded in DIR.host
#   engine_stop DIR          stop it and undo what it changed on the host, and only that (idempotent, EXIT-trap safe)
#   engine_check_clean DIR   compare the host with DIR.host; print every difference and return 1 if there is one
#
# Why by hand: the CI machines have no service manager (apt starts no daemon) and no registry. Keeping the
# socket, data root and exec root under one DIR means a run never meets a host engine or an earlier run's
# images, and removing DIR removes the engine's state.
#
# What it may do outside DIR, and why that touches nothing shared:
# - dockerd runs with --iptables=false --ip6tables=false --ip-forward=false: no iptables chain or rule (no DOCKER*,
#   no DOCKER-USER, no FORWARD policy), no ip_forward, no br_netfilter or bridge-nf-call-* sysctls. Published ports
#   still work (docker-proxy listens on the host and connects to the container over the bridge), containers on one
#   network reach each other over their bridge, and Docker's DNS (127.0.0.11) redirects inside each container's
#   own network namespace.
# - Its default bridge is one this script creates, epollci0 with 203.0.113.1/26 (TEST-NET-3, a documentation range),
#   and the networks it creates get /28s of 203.0.113.128/25. At stop each network the engine made is known by its
#   id (its bridge is br-<first 12 of the id>); only those bridges, ours, and veths on them are ever removed.
# - Before it starts, the host's links, iptables rules (nf_tables and legacy, IPv4 and IPv6), nf_tables ruleset,
#   modules and sysctls are recorded in DIR.host. engine_stop undoes the difference from that record in the rules,
#   nf_tables tables, modules and the sysctls the engine may change (none is expected with the flags above; each
#   undo is printed), on the premise that nothing else changes the host's firewall during the run.
#   engine_check_clean compares everything with the record, not with a name pattern.
#
# It refuses (one line, status 1) when another dockerd is running (one whose command line does not name DIR) or
# when epollci0 or its subnet is taken. EPOLLSERVER_ENGINE_SHARE=1 runs it anyway, beside the other dockerd, on
# the next free bridge and subnet (epollci1 on 198.51.100.0/24, epollci2 on 192.0.2.0/24). Then the other engine's
# rules may still filter our bridges' traffic (Docker's FORWARD policy DROP with br_netfilter loaded does).
#
# Every function is safe under `set -euo pipefail`: expected failures are tested with `if`, never left to
# a bare `&&` whose false status would end the caller.

# shellcheck source=scripts/packages.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/packages.sh"

# The bridge names and /24s the engine may take, in order (the next only with EPOLLSERVER_ENGINE_SHARE=1).
ENGINE_SLOTS=("epollci0 203.0.113" "epollci1 198.51.100" "epollci2 192.0.2")
# Chosen by engine_check_host.
ENGINE_BRIDGE='' ENGINE_NET=''

# The sysctls dockerd is known to write (the forwarding switches and bridge-nf-call-* with iptables on, the root
# key quotas always when they are lower); with those of any other key that changed while it started, they are
# the ones engine_stop puts back. (Setting ip_forward back also resets the per-interface `forwarding` and
# all.accept_redirects that the kernel changed with it.)
ENGINE_SYSCTLS=(net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.bridge.bridge-nf-call-arptables
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Counters that change by themselves, never compared.
ENGINE_VOLATILE_SYSCTLS='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr)|fs\.quota\.[a-z_]+|kernel\.(ns_last_pid|pty\.nr)|kernel\.random\.[a-z_]+|net\.netfilter\.nf_conntrack_count) = '
# What the record, the undo and the check read with: never skipped for want of a tool.
ENGINE_HOST_TOOLS=(ip sysctl ss iptables-save ip6tables-save iptables-nft-save iptables-legacy-save nft)
ENGINE_SAVES=(iptables-nft iptables-legacy ip6tables-nft ip6tables-legacy)

engine_require() {
    local tool missing=() still=() packages
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    packages=$(packages_for "${missing[@]}") || return 1
    # shellcheck disable=SC2086  # one package per word
    packages_install engine $packages || return 1
    for tool in "${missing[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || still+=("$tool")
    done
    if ((${#still[@]})); then
        echo "engine_require: still missing after installing $packages: ${still[*]}" >&2
        return 1
    fi
}

# The CLI shipped with the dockerd on PATH: the package that owns dockerd names its docker binary. Another
# docker found first on PATH (a machine image had a static 28.x CLI in /usr/local/bin beside no engine at
# all) is a different release whose defaults (buildx, API version) need not match this engine.
# Resolved in engine_start (a call inside $(...) could not keep what it found).
ENGINE_DOCKER=''
docker() {
    if [[ -z $ENGINE_DOCKER ]]; then echo "engine: docker called before engine_start chose the CLI" >&2; return 1; fi
    "$ENGINE_DOCKER" "$@"
}

engine_check_host() {
    local dir others slot name net share=${EPOLLSERVER_ENGINE_SHARE:-}
    dir=$(_engine_dir "${1:-}") || return 1
    engine_require ip || return 1
    others=$(_engine_other_dockerds "$dir")
    if [[ -n $others && $share != 1 ]]; then
        echo "engine: another dockerd is running here (pid ${others//$'\n'/, }), so this test will not start its own beside it; EPOLLSERVER_ENGINE_SHARE=1 runs it anyway" >&2
        return 1
    fi
    for slot in "${ENGINE_SLOTS[@]}"; do
        read -r name net <<<"$slot"
        if _engine_slot_free "$name" "$net"; then
            ENGINE_BRIDGE=$name ENGINE_NET=$net
            return 0
        fi
        if [[ $share != 1 ]]; then
            echo "engine: the bridge name $name or the subnet $net.0/24 is taken on this host (another engine, or one an earlier run left), so this test will not start; EPOLLSERVER_ENGINE_SHARE=1 takes the next free one" >&2
            return 1
        fi
    done
    echo "engine: every bridge name and subnet this engine may take (${ENGINE_SLOTS[*]}) is taken on this host" >&2
    return 1
}

engine_start() {
    local dir host pid i t0
    dir=$(_engine_dir "${1:-}") || return 1
    host=$dir.host
    export DOCKER_HOST="unix://$dir/docker.sock"
    if ! ENGINE_DOCKER=$(_engine_find_cli); then
        echo "engine_start: no docker CLI belongs to the dockerd on PATH ($(command -v dockerd || echo 'none'))" >&2
        return 1
    fi
    # Already running for this DIR (a second call): nothing to do.
    if _engine_answers "$dir"; then return 0; fi
    t0=$(_engine_now)
    engine_require "${ENGINE_HOST_TOOLS[@]}" || return 1
    if [[ -r /proc/modules ]]; then engine_require rmmod || return 1; fi
    # Recorded once per DIR: a second start after a crash must not take the engine's own changes for the host's.
    if [[ -r $host/slot ]]; then
        read -r ENGINE_BRIDGE ENGINE_NET <"$host/slot"
    else
        engine_check_host "$dir" || return 1
        mkdir -p "$host"
        _engine_snapshot "$host/before"
        echo "$ENGINE_BRIDGE $ENGINE_NET" >"$host/slot"
    fi
    mkdir -p "$dir"
    _engine_create_bridge "$host" || return 1
    # stdin from /dev/null so dockerd never holds the caller's terminal or pipe; its own pidfile is written
    # by dockerd itself, so $! goes to a second file for a daemon that dies before writing it.
    dockerd --host "$DOCKER_HOST" --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
        --bridge "$ENGINE_BRIDGE" --default-address-pool "base=$ENGINE_NET.128/25,size=28" \
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        </dev/null >"$dir/dockerd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/dockerd.launched.pid"
    # Ready in about 1 s here; give up after 30 s (120 x 0.25 s) or as soon as dockerd has died.
    for ((i = 0; i < 120; i++)); do
        if _engine_answers "$dir"; then
            # What dockerd changed while it started is its own to put back.
            _engine_sysctls >"$host/sysctls.started"
            # The pair proves itself: the CLI must talk to this engine at an API version both know.
            local pair
            if ! pair=$(docker version --format \
                'dockerd {{.Server.Version}} (API {{.Server.APIVersion}}), CLI {{.Client.Version}} (API {{.Client.APIVersion}})' 2>&1); then
                echo "engine_start: the docker CLI $ENGINE_DOCKER cannot talk to this dockerd: $pair" >&2
                return 1
            fi
            printf 'engine: %s from %s, ready in %.1f s (%s, bridge %s on %s.0/24)\n' "$pair" "$ENGINE_DOCKER" \
                "$(_engine_since "$t0")" "$dir" "$ENGINE_BRIDGE" "$ENGINE_NET"
            return 0
        fi
        if ! _engine_alive "$pid"; then break; fi
        sleep 0.25
    done
    echo "engine_start: dockerd did not answer within 30 s (or exited); last lines of $dir/dockerd.log:" >&2
    tail -n 30 "$dir/dockerd.log" >&2 || true
    return 1
}

engine_stop() {
    local dir host t0
    dir=$(_engine_dir "${1:-}") || return 1
    host=$dir.host
    t0=$(_engine_now)
    if [[ -d $host ]]; then _engine_record_networks "$dir" "$host"; fi
    _engine_remove_containers "$dir"
    _engine_stop_daemon "$dir"
    _engine_kill_leftovers "$dir"
    _engine_remove_cgroups "$dir"
    _engine_umount_under "$dir"
    # The network ids in dockerd's store, for a daemon that could not be asked (killed, crashed).
    if [[ -d $host && -r $dir/root/network/files/local-kv.db ]]; then
        grep -aoE '[0-9a-f]{64}' "$dir/root/network/files/local-kv.db" 2>/dev/null | sort -u >>"$host/networks" || true
    fi
    if [[ -e $dir ]] && ! rm -rf --one-file-system "$dir" 2>/dev/null; then
        echo "engine_stop: could not remove all of $dir" >&2
    fi
    # Nothing recorded: the engine never started here, so nothing outside DIR is ours.
    if [[ -r $host/before/links ]]; then
        _engine_remove_links "$host"
        _engine_undo_iptables "$host"
        _engine_undo_nft "$host"
        _engine_undo_modules "$host"
        _engine_restore_sysctls "$host"
    fi
    if [[ ${DOCKER_HOST:-} == "unix://$dir/docker.sock" ]]; then unset DOCKER_HOST; fi
    printf 'engine: stopped and cleaned in %.1f s (%s)\n' "$(_engine_since "$t0")" "$dir"
    return 0
}

engine_check_clean() {
    local dir host out='' now kind
    dir=$(_engine_dir "${1:-}") || return 1
    host=$dir.host
    if [[ -r $host/before/links ]]; then
        now=$(mktemp -d)
        _engine_snapshot "$now"
        for kind in links "${ENGINE_SAVES[@]}" nft modules; do
            out+=$'\n'$(diff "$host/before/$kind" "$now/$kind" 2>&1 | sed -n -E "s/^< (.*)/$kind: gone: \\1/p; s/^> (.*)/$kind: new: \\1/p" || true)
        done
        # Keys present before and now (a link's own keys come and go with it; the links say so).
        out+=$'\n'$(_engine_sysctl_changes "$host/before/sysctls" "$now/sysctls" |
            awk -F'\t' '{print "sysctl: " $1 " is " $2 ", was " $3}' || true)
        rm -rf "$now"
    fi
    out+=$'\n'$(_engine_engine_pids "$dir" | sed 's/^/process: /' || true)
    out+=$'\n'$(_engine_mounts_under "$dir" | sed 's/^/mount: /' || true)
    if [[ -e $dir ]]; then out+=$'\n'"dir: $dir still exists"; fi
    out=$(printf '%s\n' "$out" | sed '/^$/d')
    if [[ -n $out ]]; then
        printf 'engine_check_clean: the host differs from before the engine started:\n%s\n' "$out" >&2
        return 1
    fi
    if [[ -r $host/before/links ]]; then
        rm -rf "$host"
        echo "engine: the host is as it was before (links; iptables and ip6tables, nf_tables and legacy; nft ruleset; modules; sysctls), no process or mount left"
    fi
}

# ---- helpers ---------------------------------------------------------------------------------------

# An absolute DIR, refusing "" and "/" because engine_stop ends with rm -rf DIR.
_engine_dir() {
    local dir
    if [[ -z $1 ]]; then echo "engine: DIR argument required" >&2; return 1; fi
    dir=$(realpath -m -- "$1")
    if [[ $dir == / ]]; then echo "engine: refusing DIR=/" >&2; return 1; fi
    printf '%s\n' "$dir"
}

# The docker binary of the package that installed dockerd, else the one beside dockerd.
_engine_find_cli() {
    local dockerd package cli=''
    dockerd=$(command -v dockerd) || return 1
    package=$(dpkg -S "$(realpath "$dockerd")" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
    if [[ -n $package ]]; then cli=$(dpkg -L "$package" 2>/dev/null | grep -E '/bin/docker$' | head -n 1 || true); fi
    if [[ -z $cli ]]; then cli=$(dirname "$dockerd")/docker; fi
    [[ -x $cli ]] || return 1
    printf '%s\n' "$cli"
}

_engine_now() { date +%s.%N; }
_engine_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'; }

_engine_answers() {
    [[ -S $1/docker.sock ]] && timeout 5 "${ENGINE_DOCKER:-docker}" -H "unix://$1/docker.sock" info >/dev/null 2>&1
}

# Alive and not a zombie: a dockerd started from this shell stays a zombie until reaped, and kill -0
# succeeds on a zombie, so the state letter in /proc/PID/stat is what tells.
_engine_alive() {
    local state
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# Running dockerds that are not this DIR's (ours names DIR in its --data-root), one pid a line.
_engine_other_dockerds() {
    local dir=$1 p cmd
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == dockerd ]] || continue
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        if [[ $cmd != *"$dir/"* ]] && _engine_alive "${p#/proc/}"; then echo "${p#/proc/}"; fi
    done
}

# Free: no link of that name, and no route or address of the host inside NET.0/24.
_engine_slot_free() {
    local name=$1 net=$2
    if ip link show dev "$name" >/dev/null 2>&1; then return 1; fi
    if [[ -n $(ip -4 route show table all root "$net.0/24" 2>/dev/null) ]]; then return 1; fi
    ! ip -4 -o addr show 2>/dev/null | awk '{print $4}' | grep -qF "$net."
}

# The host's state, one normalised listing per kind under OUT, so that two snapshots compare with diff:
# links (names); each iptables backend and family (iptables-save without comments or counters); the nf_tables
# ruleset (without counters); modules; sysctls (without the counters that change by themselves).
_engine_snapshot() {
    local out=$1 b
    mkdir -p "$out"
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort >"$out/links" || true
    for b in "${ENGINE_SAVES[@]}"; do
        # Without -t: a save names only the tables that exist (naming a legacy table would create it for good).
        { "$b-save" 2>/dev/null || true; } | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//' >"$out/$b" || true
    done
    { nft list ruleset 2>/dev/null || true; } | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' >"$out/nft"
    if [[ -r /proc/modules ]]; then
        awk '{print $1}' /proc/modules | sort >"$out/modules"
    else
        echo '(none: this kernel has no loadable modules)' >"$out/modules"
    fi
    _engine_sysctls >"$out/sysctls"
}

_engine_sysctls() {
    { sysctl -a 2>/dev/null || true; } | grep -vE "$ENGINE_VOLATILE_SYSCTLS" | sort || true
}

# Our default bridge, named in the record before it exists so that a half-made one is still ours to remove.
_engine_create_bridge() {
    local host=$1
    echo "$ENGINE_BRIDGE" >"$host/bridge"
    if ip link show dev "$ENGINE_BRIDGE" >/dev/null 2>&1; then return 0; fi # a second start: already made
    if ! { ip link add name "$ENGINE_BRIDGE" type bridge &&
        ip addr add "$ENGINE_NET.1/26" dev "$ENGINE_BRIDGE" && ip link set dev "$ENGINE_BRIDGE" up; }; then
        echo "engine_start: could not create the bridge $ENGINE_BRIDGE ($ENGINE_NET.1/26)" >&2
        return 1
    fi
}

# While the daemon still answers: the ids of its networks and any bridge name they were given.
_engine_record_networks() {
    local dir=$1 host=$2 sock ids
    [[ -S $dir/docker.sock ]] || return 0
    sock="unix://$dir/docker.sock"
    ids=$(timeout 20 "${ENGINE_DOCKER:-docker}" -H "$sock" network ls -q --no-trunc 2>/dev/null || true)
    [[ -n $ids ]] || return 0
    echo "$ids" >>"$host/networks"
    # shellcheck disable=SC2086  # one id per word
    timeout 20 "${ENGINE_DOCKER:-docker}" -H "$sock" network inspect \
        -f '{{index .Options "com.docker.network.bridge.name"}}' $ids 2>/dev/null | sed '/^$/d' >>"$host/bridges" || true
}

# Containers first, while dockerd can still stop them cleanly (it removes their veths, netns mounts and
# docker-proxy processes itself).
_engine_remove_containers() {
    local sock="unix://$1/docker.sock" ids
    [[ -S $1/docker.sock ]] || return 0
    ids=$(timeout 20 "${ENGINE_DOCKER:-docker}" -H "$sock" ps -q 2>/dev/null || true)
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086  # one id per word
        timeout 60 "${ENGINE_DOCKER:-docker}" -H "$sock" rm -f $ids >/dev/null 2>&1 || true
    fi
    # Then its networks: dockerd removes their bridges itself.
    timeout 30 "${ENGINE_DOCKER:-docker}" -H "$sock" network prune -f >/dev/null 2>&1 || true
}

# TERM dockerd by its pidfile (or the pid we launched, if it died before writing one), wait up to 20 s,
# then KILL. The pid must still be a dockerd: never signal a recycled pid.
_engine_stop_daemon() {
    local dir=$1 pid='' f i
    for f in "$dir/dockerd.pid" "$dir/dockerd.launched.pid"; do
        if [[ -r $f ]]; then
            pid=$(<"$f")
            if _engine_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then break; fi
            pid=''
        fi
    done
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 80; i++)); do
        if ! _engine_alive "$pid"; then break; fi
        sleep 0.25
    done
    if _engine_alive "$pid"; then
        echo "engine_stop: dockerd $pid ignored TERM for 20 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            if ! _engine_alive "$pid"; then break; fi
            sleep 0.25
        done
    fi
    wait "$pid" 2>/dev/null || true # reap it if it is this shell's child
}

# Processes of this engine (dockerd, its containerd, container shims): their command lines name DIR.
_engine_engine_pids() {
    local dir=$1 p comm cmd
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        case $comm in dockerd | containerd | containerd-shim*) ;; *) continue ;; esac
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        if [[ $cmd == *"$dir/"* ]] && _engine_alive "${p#/proc/}"; then echo "${p#/proc/}"; fi
    done
}

# Only does something when dockerd died without stopping containerd and the shims (KILLed, crashed).
_engine_kill_leftovers() {
    local dir=$1 pids i
    pids=$(_engine_engine_pids "$dir")
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        pids=$(_engine_engine_pids "$dir")
        [[ -n $pids ]] || return 0
        sleep 0.25
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
}

# Container processes outlive a killed shim; they are found by their cgroup (dockerd's cgroupfs driver
# puts container ID under <controller>/docker/ID). Then the empty cgroup directories are removed
# (rmdir only ever removes an empty cgroup, so a host engine's busy ones are safe).
_engine_remove_cgroups() {
    local dir=$1 c id procs
    for c in "$dir"/root/containers/*/; do
        [[ -d $c ]] || continue
        id=$(basename "$c")
        procs=$(cat /sys/fs/cgroup/*/docker/"$id"/cgroup.procs /sys/fs/cgroup/docker/"$id"/cgroup.procs \
            2>/dev/null | sort -u || true)
        if [[ -n $procs ]]; then
            # shellcheck disable=SC2086
            kill -KILL $procs 2>/dev/null || true
            sleep 0.5
        fi
        rmdir /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id" 2>/dev/null || true
    done
    rmdir /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker 2>/dev/null || true
}

_engine_mounts_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r
}

# dockerd bind-mounts its data root onto itself and leaves nsfs mounts under exec/netns; overlay mounts
# remain if it was killed. Deepest first (reverse sort puts a mount's children before it); lazy as a
# last resort. Mount points with spaces (\040 in mountinfo) are not handled: DIR must not have any.
_engine_umount_under() {
    local dir=$1 mp _
    for _ in 1 2 3; do
        local -a mps=()
        mapfile -t mps < <(_engine_mounts_under "$dir")
        ((${#mps[@]})) || return 0
        for mp in "${mps[@]}"; do
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
        done
    done
}

# Ours: the default bridge we made, the bridges of the networks the engine made (br-<12> of each id, or the name
# a network was given), and veths on them. Removed only if the record shows the host did not have it before.
_engine_remove_links() {
    local host=$1 name veth
    local -a candidates=()
    mapfile -t candidates < <({
        cat "$host/bridge" "$host/bridges" 2>/dev/null || true
        sed -nE 's/^([0-9a-f]{12})[0-9a-f]{52}$/br-\1/p' "$host/networks" 2>/dev/null || true
    } | grep -vxF '<no value>' | sort -u)
    for name in "${candidates[@]}"; do
        [[ -n $name ]] || continue
        if grep -qxF -- "$name" "$host/before/links"; then continue; fi
        if ! ip -d -o link show dev "$name" 2>/dev/null | grep -qw bridge; then continue; fi
        for veth in $(ip -o link show master "$name" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
            if ! grep -qxF -- "$veth" "$host/before/links"; then ip link del "$veth" 2>/dev/null || true; fi
        done
        ip link del "$name" 2>/dev/null || echo "engine_stop: could not remove the bridge $name" >&2
    done
}

# In each backend and family, for each table the host had before: delete the rules added since, flush and
# delete the chains added since, and put changed policies back, in one iptables-restore --noflush
# transaction (a built-in chain's ":CHAIN POLICY" line sets only its policy). A table new since the record is
# nf_tables' to drop (_engine_undo_nft); a new legacy table cannot be removed and engine_check_clean shows it.
_engine_undo_iptables() {
    local host=$1 b now script
    for b in "${ENGINE_SAVES[@]}"; do
        if [[ ! -r $host/before/$b ]] || ! command -v "$b-restore" >/dev/null 2>&1; then continue; fi
        now=$(mktemp)
        { "$b-save" 2>/dev/null || true; } | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//' >"$now" || true
        script=$(_engine_iptables_undo_script "$host/before/$b" "$now")
        rm -f "$now"
        [[ -n $script ]] || continue
        echo "engine_stop: undoing what changed in $b since the engine started:" >&2
        printf '    %s\n' "${script//$'\n'/$'\n'    }" >&2
        if ! "$b-restore" --noflush <<<"$script" 2>&1 | sed 's/^/    /' >&2; then
            echo "engine_stop: $b-restore failed" >&2
        fi
    done
}

# The restore script from two normalised saves (before, now); empty when nothing changed.
_engine_iptables_undo_script() {
    awk '
        FNR == 1 { file++ }
        /^\*/ { table = substr($0, 2); if (file == 1) had[table] = 1; else order[++tables] = table; next }
        /^COMMIT/ { next }
        /^:/ {
            split(substr($0, 2), f, " ")
            if (file == 1) { policy[table, f[1]] = f[2]; next }
            chains[table] = chains[table] " " f[1]; nowpolicy[table, f[1]] = f[2]; next
        }
        /^-A / { if (file == 1) before[table, $0]++; else { rules[table, ++count[table]] = $0; now[table, $0]++ }; next }
        END {
            for (t = 1; t <= tables; t++) {
                table = order[t]; if (!(table in had)) continue
                out = ""
                for (i = 1; i <= count[table]; i++) {
                    rule = rules[table, i]
                    if (now[table, rule] > before[table, rule]) { now[table, rule]--; out = out "-D" substr(rule, 3) "\n" }
                }
                n = split(chains[table], c, " ")
                for (i = 1; i <= n; i++) if (!((table, c[i]) in policy)) out = out "-F " c[i] "\n"
                for (i = 1; i <= n; i++) if (!((table, c[i]) in policy)) out = out "-X " c[i] "\n"
                for (i = 1; i <= n; i++)
                    if (((table, c[i]) in policy) && policy[table, c[i]] != "-" && policy[table, c[i]] != nowpolicy[table, c[i]])
                        out = out ":" c[i] " " policy[table, c[i]] " [0:0]\n"
                if (out != "") printf "*%s\n%sCOMMIT\n", table, out
            }
        }' "$1" "$2"
}

# nf_tables tables that appeared since the record (iptables-nft makes "ip filter" and "ip nat" on first use), and
# in the tables that were there, chains that appeared and are now empty with policy accept (iptables-nft makes a
# built-in chain when a rule is first added to it, and deleting the rule leaves the chain).
_engine_undo_nft() {
    local host=$1 table chain
    [[ -r $host/before/nft ]] || return 0
    while read -r table; do
        [[ -n $table ]] || continue
        echo "engine_stop: dropping the nf_tables table '$table', new since the engine started" >&2
        # shellcheck disable=SC2086  # "family name"
        nft delete table $table 2>&1 | sed 's/^/    /' >&2 || true
    done < <(comm -13 <(sed -nE 's/^table (.*) \{$/\1/p' "$host/before/nft" | sort) \
        <({ nft list tables 2>/dev/null || true; } | sed -nE 's/^table (.*)$/\1/p' | sort))
    while IFS=$'\t' read -r table chain; do
        echo "engine_stop: dropping the empty nf_tables chain '$chain' of '$table', new since the engine started" >&2
        # shellcheck disable=SC2086  # "family name"
        nft delete chain $table "$chain" 2>&1 | sed 's/^/    /' >&2 || true
    done < <(comm -13 <(_engine_nft_chains <"$host/before/nft" | cut -f1,2 | sort) \
        <({ nft list ruleset 2>/dev/null || true; } | _engine_nft_chains | awk -F'\t' '$3 == 0 && $4 != "drop"' | cut -f1,2 | sort) |
        grep -F -f <(sed -nE 's/^table (.*) \{$/\1\t/p' "$host/before/nft") || true)
}

# "family name<TAB>chain<TAB>rules<TAB>policy" for each chain of an `nft list ruleset`.
_engine_nft_chains() {
    awk '
        /^table / { table = $2 " " $3; next }
        /^\tchain / { chain = $2; rules = 0; policy = "-"; next }
        /^\t\t/ { if ($0 ~ /type .* hook /) { if (match($0, /policy [a-z]+/)) policy = substr($0, RSTART + 7, RLENGTH - 7) } else rules++; next }
        /^\t}/ { if (chain != "") printf "%s\t%s\t%d\t%s\n", table, chain, rules, policy; chain = ""; next }'
}

# Modules loaded since the record and now unused, dependents first (a few passes).
_engine_undo_modules() {
    local host=$1 pass module
    [[ -r /proc/modules ]] && grep -qv '^(none' "$host/before/modules" 2>/dev/null || return 0
    for pass in 1 2 3; do
        while read -r module; do
            [[ -n $module ]] || continue
            if [[ $(awk -v m="$module" '$1 == m {print $3}' /proc/modules) == 0 ]]; then
                echo "engine_stop: unloading $module, loaded since the engine started (pass $pass)" >&2
                rmmod "$module" 2>/dev/null || true
            fi
        done < <(comm -13 "$host/before/modules" <(awk '{print $1}' /proc/modules | sort))
    done
}

# The keys that differ from the record and that dockerd is known to write or changed while it started. A key
# the kernel lists more than once (a table, not a value) is not written back: engine_check_clean shows it.
_engine_restore_sysctls() {
    local host=$1 key value was started=/dev/null
    [[ -r $host/before/sysctls ]] || return 0
    if [[ -r $host/sysctls.started ]]; then started=$host/sysctls.started; fi
    local -A ours=()
    for key in "${ENGINE_SYSCTLS[@]}"; do ours[$key]=1; done
    while IFS=$'\t' read -r key _ _; do ours[$key]=1; done < <(_engine_sysctl_changes "$host/before/sysctls" "$started")
    while IFS=$'\t' read -r key value was; do
        [[ -n ${ours[$key]:-} && $was != *' | '* ]] || continue
        echo "engine_stop: setting $key back to $was (it is $value)" >&2
        sysctl -qw "$key=$was" >/dev/null 2>&1 || echo "engine_stop: could not set $key back to $was" >&2
    done < <(_engine_sysctl_changes "$host/before/sysctls" <(_engine_sysctls))
}

# "key<TAB>now<TAB>was" for each key in both listings whose value differs (a key listed on several lines
# has its values joined with " | ").
_engine_sysctl_changes() {
    awk -F' = ' '
        FNR == 1 { file++ }
        { key = $1; value = substr($0, length($1) + 4)
          if (file == 1) { joined = (key in was) ? was[key] " | " value : value; was[key] = joined }
          else { if (!(key in now)) keys[++n] = key; joined = (key in now) ? now[key] " | " value : value; now[key] = joined } }
        END { for (i = 1; i <= n; i++) if ((keys[i] in was) && was[keys[i]] != now[keys[i]]) print keys[i] "\t" now[keys[i]] "\t" was[keys[i]] }' "$1" "$2"
}
