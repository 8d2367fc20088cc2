# shellcheck shell=bash
# The container test's proof that its engine touches nothing it did not create: things that look like another
# Docker engine's, made before the engine starts and checked after it is gone. Sourced by scripts/container-test.sh.
#
#   sentinel_create DIR   a bridge named like a Docker network's (br- and 12 hex digits), docker0 as well when the
#                         host has none, and in the filter table of the iptables that dockerd would use (the one on
#                         PATH) a DOCKER-USER chain holding a harmless rule (-s 192.0.2.1/32 -j RETURN: TEST-NET-1,
#                         a documentation address). A DOCKER-USER chain the host already has is not made, only the
#                         rule added to it. Each is recorded exactly in DIR (ip -d link show; the chain's lines in
#                         iptables-save), and the host's links and iptables-save before any of it.
#   sentinel_verify DIR   each is still there and unchanged: one line per item; status 1 if one is not
#   sentinel_remove DIR   remove what sentinel_create made and only that (our rule alone from a chain the host had),
#                         then check that the host's links, iptables-save and nft ruleset are as before it; status 1
#                         if not
# Safe under `set -euo pipefail`; the old engine.sh deleted every one of these (every docker0 and br-<12 hex>
# link, every DOCKER* chain).

SENTINEL_RULE=(-s 192.0.2.1/32 -j RETURN)

sentinel_create() {
    local dir=$1 hex
    mkdir -p "$dir"
    _sentinel_host_state >"$dir/host.before"
    hex=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    echo "br-$hex" >"$dir/links"
    if ! ip link show dev docker0 >/dev/null 2>&1; then echo docker0 >>"$dir/links"; fi
    local name
    while read -r name; do
        ip link add name "$name" type bridge || return 1
        ip -d link show dev "$name" >"$dir/link.$name"
    done <"$dir/links"
    if iptables -t filter -S DOCKER-USER >/dev/null 2>&1; then
        echo host >"$dir/chain.owner"
    else
        echo sentinel >"$dir/chain.owner"
        iptables -t filter -N DOCKER-USER || return 1
    fi
    iptables -t filter -A DOCKER-USER "${SENTINEL_RULE[@]}" || return 1
    _sentinel_chain >"$dir/chain"
    echo "sentinel: bridges $(tr '\n' ' ' <"$dir/links")and the rule '${SENTINEL_RULE[*]}' in DOCKER-USER" \
        "($(<"$dir/chain.owner")'s chain, $(iptables --version)), made before the engine"
}

sentinel_verify() {
    local dir=$1 name bad=0
    while read -r name; do
        if ! ip -d link show dev "$name" 2>/dev/null | cmp -s - "$dir/link.$name"; then
            echo "sentinel: the bridge $name is gone or changed: it was"; sed 's/^/    /' "$dir/link.$name"
            bad=1
        else
            echo "sentinel: the bridge $name is still there, unchanged (ip -d link show)"
        fi
    done <"$dir/links"
    if ! _sentinel_chain | cmp -s - "$dir/chain"; then
        echo "sentinel: DOCKER-USER is gone or changed: it was"; sed 's/^/    /' "$dir/chain"
        echo "  and is"; _sentinel_chain | sed 's/^/    /'
        bad=1
    else
        echo "sentinel: DOCKER-USER and its rule are still there, unchanged (iptables-save)"
    fi
    return "$bad"
}

sentinel_remove() {
    local dir=$1 name
    [[ -r $dir/links ]] || return 0
    while read -r name; do ip link del "$name" 2>/dev/null || true; done <"$dir/links"
    while iptables -t filter -C DOCKER-USER "${SENTINEL_RULE[@]}" 2>/dev/null; do
        iptables -t filter -D DOCKER-USER "${SENTINEL_RULE[@]}"
        [[ $(<"$dir/chain.owner") == host ]] && break # the host's chain might hold the same rule itself
    done
    if [[ $(<"$dir/chain.owner") == sentinel ]]; then iptables -t filter -X DOCKER-USER 2>/dev/null || true; fi
    _sentinel_drop_new_nft_tables "$dir/host.before"
    if ! _sentinel_host_state | cmp -s - "$dir/host.before"; then
        echo "sentinel: the host differs from before the sentinel was made:"
        _sentinel_host_state | diff "$dir/host.before" - | sed 's/^/    /' || true
        return 1
    fi
    echo "sentinel: removed; the host's links, iptables-save and nft ruleset are as before it"
}

# ---- helpers ---------------------------------------------------------------------------------------

_sentinel_chain() {
    { iptables-save -t filter 2>/dev/null || true; } | grep -E '^(:DOCKER-USER |-A DOCKER-USER )' |
        sed -E 's/ \[[0-9]+:[0-9]+\]$//' || true
}

_sentinel_host_state() {
    echo '# links'
    ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
    echo '# iptables-save'
    { iptables-save 2>/dev/null || true; } | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//' || true
    echo '# nft list ruleset'
    { nft list ruleset 2>/dev/null || true; } | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' || true
}

# iptables-nft makes the "ip filter" table for the chain; when the host had none, it goes again with the chain.
_sentinel_drop_new_nft_tables() {
    local table
    command -v nft >/dev/null 2>&1 || return 0
    while read -r table; do
        # shellcheck disable=SC2086  # "family name"
        if [[ -n $table ]] && [[ -z $(nft list table $table 2>/dev/null | grep -vE '^table |^\s*}\s*$' || true) ]]; then
            nft delete table $table 2>/dev/null || true
        fi
    done < <(comm -13 <(sed -nE 's/^table (.*) \{$/\1/p' "$1" | sort) \
        <({ nft list tables 2>/dev/null || true; } | sed -nE 's/^table (.*)$/\1/p' | sort))
}
