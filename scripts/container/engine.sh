# shellcheck shell=bash
# A private Docker engine for the container tests, started by hand and removed without trace.
#
# Sourced, not run. Public functions:
#   engine_require TOOL...   install the Debian packages of whichever TOOLs are missing (dockerd, docker-compose,
#                            debootstrap, iptables, nft); call it right before the step that uses them
#   docker ...               the docker CLI that came with the dockerd in use (see below), not whatever is on PATH
#   engine_start DIR         start dockerd with all its state under DIR; exports DOCKER_HOST
#   engine_stop DIR          stop it and undo everything it changed on the host (idempotent, EXIT-trap safe)
#   engine_check_clean DIR   print what the engine left behind; return 1 if anything
#
# Why by hand: the CI machines have no service manager (apt starts no daemon) and no registry. Keeping the
# socket, data root and exec root under one DIR means a run never meets a host engine or an earlier run's
# images, and removing DIR removes the engine's state. What dockerd changes outside DIR (docker0 and br-*
# bridges, DOCKER* iptables chains, FORWARD policy, ip_forward) is undone by engine_stop.
# Every function is safe under `set -euo pipefail`: expected failures are tested with `if`, never left to
# a bare `&&` whose false status would end the caller.

# The sysctls dockerd may flip when it starts; their values before the first start are kept in DIR.
# (Setting ip_forward back also resets the per-interface `forwarding` and all.accept_redirects that the
# kernel changed with it.)
ENGINE_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)

# What engine_start found before dockerd changed it ("key=value" lines), for engine_check_clean.
ENGINE_SAVED_SYSCTLS=''

# The Debian package that provides each tool engine_require knows.
declare -A ENGINE_PACKAGES=(
    [dockerd]=docker.io [docker-compose]=docker-compose [debootstrap]=debootstrap [iptables]=iptables [nft]=nftables [curl]=curl
)

engine_require() {
    local tool packages=() log
    for tool in "$@"; do
        if [[ -z ${ENGINE_PACKAGES[$tool]:-} ]]; then echo "engine_require: unknown tool $tool" >&2; return 1; fi
        command -v "$tool" >/dev/null 2>&1 || packages+=("${ENGINE_PACKAGES[$tool]}")
    done
    if ((${#packages[@]} == 0)); then return 0; fi
    # Quiet unless it fails: apt's output goes to a file that is shown only on failure. The lock timeout waits for
    # another apt (unattended-upgrades on a fresh machine, say) instead of failing at once.
    log=$(mktemp)
    echo "engine: installing ${packages[*]}"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
        echo "engine_require: apt-get failed (installing: ${packages[*]}):" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
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

engine_start() {
    local dir pid i t0
    dir=$(_engine_dir "${1:-}") || return 1
    export DOCKER_HOST="unix://$dir/docker.sock"
    if ! ENGINE_DOCKER=$(_engine_find_cli); then
        echo "engine_start: no docker CLI belongs to the dockerd on PATH ($(command -v dockerd || echo 'none'))" >&2
        return 1
    fi
    # Already running for this DIR (a second call): nothing to do.
    if _engine_answers "$dir"; then return 0; fi
    t0=$(_engine_now)
    mkdir -p "$dir"
    _engine_save_host_state "$dir"
    ENGINE_SAVED_SYSCTLS=$(<"$dir/sysctl.saved")
    # stdin from /dev/null so dockerd never holds the caller's terminal or pipe; its own pidfile is written
    # by dockerd itself, so $! goes to a second file for a daemon that dies before writing it.
    dockerd --host "$DOCKER_HOST" --data-root "$dir/root" --exec-root "$dir/exec" \
        --pidfile "$dir/dockerd.pid" </dev/null >"$dir/dockerd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/dockerd.launched.pid"
    # Ready in about 1 s here; give up after 30 s (120 x 0.25 s) or as soon as dockerd has died.
    for ((i = 0; i < 120; i++)); do
        if _engine_answers "$dir"; then
            # The pair proves itself: the CLI must talk to this engine at an API version both know.
            local pair
            if ! pair=$(docker version --format \
                'dockerd {{.Server.Version}} (API {{.Server.APIVersion}}), CLI {{.Client.Version}} (API {{.Client.APIVersion}})' 2>&1); then
                echo "engine_start: the docker CLI $ENGINE_DOCKER cannot talk to this dockerd: $pair" >&2
                return 1
            fi
            printf 'engine: %s from %s, ready in %.1f s (%s)\n' "$pair" "$ENGINE_DOCKER" "$(_engine_since "$t0")" "$dir"
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
    local dir t0
    dir=$(_engine_dir "${1:-}") || return 1
    t0=$(_engine_now)
    local backend='' policy='' saved_sysctls='' nft_before=''
    # Read what engine_start saved before DIR goes away (absent after a partial start: then skip it).
    if [[ -r $dir/iptables.backend ]]; then backend=$(<"$dir/iptables.backend"); fi
    if [[ -r $dir/forward.policy ]]; then policy=$(<"$dir/forward.policy"); fi
    if [[ -r $dir/sysctl.saved ]]; then saved_sysctls=$(<"$dir/sysctl.saved"); fi
    if [[ -r $dir/nft-tables.before ]]; then nft_before=$(<"$dir/nft-tables.before"); else nft_before='?'; fi

    _engine_remove_containers "$dir"
    _engine_stop_daemon "$dir"
    _engine_kill_leftovers "$dir"
    _engine_remove_cgroups "$dir"
    _engine_umount_under "$dir"
    if [[ -e $dir ]] && ! rm -rf --one-file-system "$dir" 2>/dev/null; then
        echo "engine_stop: could not remove all of $dir" >&2
    fi
    _engine_remove_bridges
    _engine_iptables_clean "$backend" "$policy" "$nft_before"
    _engine_restore_sysctls "$saved_sysctls"
    if [[ ${DOCKER_HOST:-} == "unix://$dir/docker.sock" ]]; then unset DOCKER_HOST; fi
    printf 'engine: stopped and cleaned in %.1f s (%s)\n' "$(_engine_since "$t0")" "$dir"
    return 0
}

engine_check_clean() {
    local dir out='' save line key value now
    dir=$(_engine_dir "${1:-}") || return 1
    out+=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
        grep -E '^(docker0|br-[0-9a-f]{12})$' | sed 's/^/link: /' || true)
    for save in iptables-nft-save iptables-legacy-save ip6tables-nft-save ip6tables-legacy-save; do
        if command -v "$save" >/dev/null 2>&1; then
            out+=$'\n'$("$save" 2>/dev/null | grep -E 'DOCKER|docker0|br-[0-9a-f]{12}' | sed "s/^/$save: /" || true)
        fi
    done
    while IFS='=' read -r key value; do
        [[ -n $key ]] || continue
        now=$(sysctl -n "$key" 2>/dev/null || echo '?')
        if [[ $now != "$value" ]]; then out+=$'\n'"sysctl: $key is $now, was $value"; fi
    done <<<"$ENGINE_SAVED_SYSCTLS"
    out+=$'\n'$(_engine_engine_pids "$dir" | sed 's/^/process: /' || true)
    out+=$'\n'$(_engine_mounts_under "$dir" | sed 's/^/mount: /' || true)
    if [[ -e $dir ]]; then out+=$'\n'"dir: $dir still exists"; fi
    out=$(printf '%s\n' "$out" | sed '/^$/d')
    if [[ -n $out ]]; then
        printf 'engine_check_clean: left behind:\n%s\n' "$out" >&2
        return 1
    fi
    echo "engine: nothing left behind (links, iptables and ip6tables in both backends, sysctls, processes, mounts)"
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

# Saved only once per DIR: a second start after a crash must not record docker's values as the originals.
_engine_save_host_state() {
    local dir=$1 key
    if [[ ! -e $dir/sysctl.saved ]]; then
        for key in "${ENGINE_SYSCTLS[@]}"; do
            if sysctl -n "$key" >/dev/null 2>&1; then echo "$key=$(sysctl -n "$key")"; fi
        done >"$dir/sysctl.saved"
    fi
    # dockerd runs whatever `iptables` is on PATH (here the nf_tables one); remember which, so the
    # FORWARD policy is put back in the same backend.
    if [[ ! -e $dir/iptables.backend ]]; then
        case $(iptables --version 2>/dev/null || true) in
            *nf_tables*) echo nft ;;
            *) echo legacy ;;
        esac >"$dir/iptables.backend"
    fi
    # dockerd sets FORWARD to DROP when it has to turn ip_forward on.
    if [[ ! -e $dir/forward.policy ]]; then
        iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}' >"$dir/forward.policy" || true
    fi
    # With nf_tables, iptables creates the "ip filter"/"ip nat" tables on first use; if they were not
    # there before, engine_stop drops them again once they are empty.
    if [[ ! -e $dir/nft-tables.before ]]; then
        if command -v nft >/dev/null 2>&1; then
            { nft list tables 2>/dev/null || true; } >"$dir/nft-tables.before"
        else
            echo '?' >"$dir/nft-tables.before"   # unknown: then no table is dropped at the end
        fi
    fi
}

# Containers first, while dockerd can still stop them cleanly (it removes their veths, netns mounts,
# DNAT rules and docker-proxy processes itself).
_engine_remove_containers() {
    local sock="unix://$1/docker.sock" ids
    [[ -S $1/docker.sock ]] || return 0
    ids=$(timeout 20 "${ENGINE_DOCKER:-docker}" -H "$sock" ps -q 2>/dev/null || true)
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086  # one id per word
        timeout 60 "${ENGINE_DOCKER:-docker}" -H "$sock" rm -f $ids >/dev/null 2>&1 || true
    fi
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

# docker0 and user-defined networks' br-<12 hex> bridges, with any veth still attached (normally gone
# with their containers).
_engine_remove_bridges() {
    local br veth
    for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
        grep -E '^(docker0|br-[0-9a-f]{12})$' || true); do
        for veth in $(ip -o link show master "$br" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
            ip link del "$veth" 2>/dev/null || true
        done
        ip link del "$br" 2>/dev/null || true
    done
}

# Both backends and both families are looked at, so whichever dockerd used is cleaned. In filter and nat:
# delete the rules of the built-in chains that jump to a DOCKER* chain or name a docker bridge (docker's
# MASQUERADE and FORWARD ACCEPT rules), then flush and delete every DOCKER* chain, all in one
# iptables-restore --noflush transaction per table. Then put the FORWARD policy back and drop nf_tables
# tables that did not exist before and are now empty.
_engine_iptables_clean() {
    local backend=$1 policy=$2 nft_before=$3 family b t
    for family in iptables ip6tables; do
        for b in nft legacy; do
            command -v "$family-$b-save" >/dev/null 2>&1 || continue
            for t in filter nat; do
                if _engine_iptables_has_table "$family" "$b" "$t"; then _engine_iptables_clean_table "$family-$b" "$t"; fi
            done
        done
    done
    if [[ -n $backend && -n $policy ]] && command -v "iptables-$backend" >/dev/null 2>&1; then
        "iptables-$backend" -P FORWARD "$policy" 2>/dev/null || true
    fi
    if [[ $backend == nft && $nft_before != '?' ]] && command -v nft >/dev/null 2>&1; then
        for t in filter nat; do
            if ! grep -qx "table ip $t" <<<"$nft_before" && _engine_iptables_table_empty "$t"; then
                nft delete table ip "$t" 2>/dev/null || true
            fi
        done
    fi
}

# Asked without touching the table. nf_tables: what iptables-nft-save lists (it needs no `nft` binary,
# which Debian's iptables package does not bring: an earlier teardown that asked `nft` found no tables and
# so cleaned none). Legacy: naming a table (iptables-legacy-save -t filter) instantiates it in the kernel
# for good, after which every iptables-nft-save prints "Warning: iptables-legacy tables present", so the
# kernel's list of tables is read instead.
_engine_iptables_has_table() {
    local family=$1 backend=$2 table=$3 names=/proc/net/ip_tables_names
    [[ $family == ip6tables ]] && names=/proc/net/ip6_tables_names
    case $backend in
        nft) "$family-nft-save" 2>/dev/null | grep -qx "\*$table" ;;
        legacy) grep -qx "$table" "$names" 2>/dev/null ;;
        *) return 1 ;;
    esac
}

# $1: the tool prefix (iptables-nft, ip6tables-legacy, ...).
_engine_iptables_clean_table() {
    local b=$1 t=$2 save deletes chains script c
    save=$("$b-save" -t "$t" 2>/dev/null || true)
    [[ $save == *DOCKER* || $save == *docker0* || $save =~ br-[0-9a-f]{12} ]] || return 0
    deletes=$(grep -E '^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' <<<"$save" |
        grep -E -- '-j DOCKER|docker0|br-[0-9a-f]{12}' | sed 's/^-A /-D /' || true)
    chains=$(grep -oE '^:DOCKER[^ ]*' <<<"$save" | cut -c2- || true)
    script="*$t"$'\n'
    if [[ -n $deletes ]]; then script+="$deletes"$'\n'; fi
    for c in $chains; do script+="-F $c"$'\n'; done
    for c in $chains; do script+="-X $c"$'\n'; done
    script+="COMMIT"$'\n'
    if ! "$b-restore" --noflush <<<"$script" 2>/dev/null; then
        echo "engine_stop: $b-restore could not remove docker's $t rules:" >&2
        printf '%s' "$script" >&2
    fi
}

# Empty = only built-in chains, all with policy ACCEPT, and no rules: then the table changes nothing.
_engine_iptables_table_empty() {
    local save
    save=$(iptables-nft-save -t "$1" 2>/dev/null | grep -vE '^(#|\*|COMMIT)' || true)
    ! grep -qvE '^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT ' <<<"$save"
}

_engine_restore_sysctls() {
    local line
    while IFS= read -r line; do
        if [[ -n $line ]]; then sysctl -qw "$line" >/dev/null 2>&1 || true; fi
    done <<<"$1"
}
