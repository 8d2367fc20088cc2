# shellcheck shell=bash
# The one list of Debian packages the scripts install (scripts/packages.tsv), and the one way they install them.
#
# Sourced, not run (by scripts/test, scripts/stress-suite and scripts/container/engine.sh; by loadtests/syscalls.py
# through bash). Public functions:
#   packages_for NAME...       the package providing each NAME (a command, or the header/font file the list names),
#                              one per line, each once; status 1 (and one line) for a NAME the list lacks
#   packages_install WHO PKG...  apt-get update (once per shell) and install PKG quietly, its output shown only on
#                              failure; WHO prefixes the one line saying what is installed. Status 1 with one line
#                              when this is not root with apt-get.
# apt never starts a package's service (on a systemd host it would start the system dockerd, containerd or
# redis-server): a policy-rc.d answering 101 stands for the time of the install, and one already there is left alone.
# Safe under `set -euo pipefail`.

PACKAGES_LIST=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/packages.tsv
PACKAGES_UPDATED=''

packages_for() {
    local name package seen=' '
    for name in "$@"; do
        package=$(awk -F'\t' -v n="$name" '!/^#/ { k = split($2, p, ","); for (i = 1; i <= k; i++) if (p[i] == n) { print $1; exit } }' "$PACKAGES_LIST")
        if [[ -z $package ]]; then echo "packages_for: $name is not in $PACKAGES_LIST" >&2; return 1; fi
        if [[ $seen != *" $package "* ]]; then echo "$package"; seen+="$package "; fi
    done
}

packages_install() {
    local who=$1 log status=0
    shift
    (($#)) || return 0
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: needs the Debian packages $*: install them (sudo apt-get install $*) and run this again" >&2
        return 1
    fi
    echo "$who: installing $*"
    log=$(mktemp)
    # In a subshell whose EXIT trap removes our policy-rc.d however apt ends (a signal included). The lock
    # timeout waits for another apt (unattended-upgrades on a fresh machine) instead of failing at once.
    (
        policy=/usr/sbin/policy-rc.d
        if [[ ! -e $policy ]]; then
            trap 'rm -f "$policy"' EXIT
            printf '#!/bin/sh\n# Written by EpollServer scripts/packages.sh for one apt-get install: start no service.\nexit 101\n' >"$policy"
            chmod +x "$policy"
        fi
        export DEBIAN_FRONTEND=noninteractive
        { [[ -n $PACKAGES_UPDATED ]] || apt-get -o DPkg::Lock::Timeout=300 update -qq; } &&
            apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "$@"
    ) >"$log" 2>&1 || status=$?
    if ((status)); then
        echo "$who: apt-get failed (installing $*):" >&2
        cat "$log" >&2
    else
        PACKAGES_UPDATED=1
    fi
    rm -f "$log"
    return "$status"
}
