# shellcheck shell=bash
# Local stand-ins for the Microsoft .NET base images, for machines with no image registry.
#
# Sourced, not run, after engine.sh's engine_start (it needs a running engine: DOCKER_HOST). Public:
#   standin_images_build WORKDIR      build whichever of the first three images below the engine lacks;
#                                     WORKDIR holds the temporary rootfs, build contexts and build logs
#   standin_prometheus_build WORKDIR  the fourth, when the engine lacks it
#   standin_service_build WORKDIR NAME  prometheus, redis or haproxy (the compose profiles' service images)
#
#   localhost/debian-base:bookworm              debootstrap --variant=minbase, imported as one layer
#   mcr.microsoft.com/dotnet/runtime-deps:10.0  standins/runtime-deps.Dockerfile, FROM the base
#   mcr.microsoft.com/dotnet/sdk:10.0           standins/sdk.Dockerfile, FROM runtime-deps + /usr/share/dotnet
#   prom/prometheus:v2.53.0                     standins/prometheus.Dockerfile, FROM runtime-deps + Debian's
#                                               prometheus (standin_prometheus_build, for the monitoring profile)
#   redis:7.0.15, haproxy:2.6.12                standins/redis.Dockerfile, haproxy.Dockerfile: the same with
#                                               Debian's redis-server and haproxy (the chat profile)
#
# A Dockerfile naming the two Microsoft tags then builds unchanged: an image present under the exact name
# is used and nothing is pulled. An image is rebuilt when an image it is built FROM was just rebuilt, so
# a stand-in never sits on a stale parent. Prints one line per image with the seconds it took.
# Safe under `set -euo pipefail`. Overridable before sourcing or calling: STANDIN_MIRROR,
# STANDIN_SECURITY_MIRROR (the Debian mirrors; default: the ones apt uses here), STANDIN_DOTNET_ROOT,
# STANDIN_CA_DIR.

STANDIN_DOCKERFILES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/standins
: "${STANDIN_MIRROR:=http://deb.debian.org/debian}"
: "${STANDIN_SECURITY_MIRROR:=http://deb.debian.org/debian-security}"
: "${STANDIN_DOTNET_ROOT:=/usr/share/dotnet}"
: "${STANDIN_CA_DIR:=/usr/local/share/ca-certificates}"
STANDIN_BASE=localhost/debian-base:bookworm
STANDIN_RUNTIME_DEPS=mcr.microsoft.com/dotnet/runtime-deps:10.0
STANDIN_SDK=mcr.microsoft.com/dotnet/sdk:10.0
# The compose file's monitoring profile names this tag; the stand-in holds Debian's prometheus (2.42) under it.
STANDIN_PROMETHEUS=prom/prometheus:v2.53.0
# The chat profile's: Debian's redis-server (7.0.15) and haproxy (2.6.12), under the official images' tags.
STANDIN_REDIS=redis:7.0.15
STANDIN_HAPROXY=haproxy:2.6.12

standin_images_build() {
    local work parent_rebuilt=0
    if [[ -z ${1:-} ]]; then echo "standin_images_build: WORKDIR argument required" >&2; return 1; fi
    work=$(realpath -m -- "$1")
    mkdir -p "$work"
    if _standin_missing "$STANDIN_BASE"; then
        _standin_build_base "$work" || return 1
        parent_rebuilt=1
    else
        _standin_present "$STANDIN_BASE"
    fi
    if ((parent_rebuilt)) || _standin_missing "$STANDIN_RUNTIME_DEPS"; then
        _standin_build_runtime_deps "$work" || return 1
        parent_rebuilt=1
    else
        _standin_present "$STANDIN_RUNTIME_DEPS"
    fi
    if ((parent_rebuilt)) || _standin_missing "$STANDIN_SDK"; then
        _standin_build_sdk "$work" || return 1
    else
        _standin_present "$STANDIN_SDK"
    fi
}

# prom/prometheus, FROM the runtime-deps stand-in with Debian's package (after standin_images_build).
# The service images of the compose file's profiles, each FROM the runtime-deps stand-in with Debian's package:
#   standin_service_build WORKDIR prometheus|redis|haproxy
standin_service_build() {
    local work=$1 tag t0
    case $2 in
        prometheus) tag=$STANDIN_PROMETHEUS ;;
        redis) tag=$STANDIN_REDIS ;;
        haproxy) tag=$STANDIN_HAPROXY ;;
        *) echo "standin_service_build: unknown service '$2'" >&2; return 1 ;;
    esac
    t0=$(_standin_now)
    if ! _standin_missing "$tag"; then
        _standin_present "$tag"
        return 0
    fi
    _standin_docker_build "$work/build-$2.log" -t "$tag" -f "$STANDIN_DOCKERFILES/$2.Dockerfile" "$STANDIN_DOCKERFILES" || return 1
    printf 'standin: %-44s built in %5s s, %s\n' "$tag" "$(_standin_since "$t0")" "$(_standin_size "$tag")"
}

standin_prometheus_build() { standin_service_build "$1" prometheus; }

# ---- helpers ---------------------------------------------------------------------------------------

_standin_missing() { ! docker image inspect "$1" >/dev/null 2>&1; }
_standin_now() { date +%s.%N; }
_standin_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }
_standin_size() { docker image inspect -f '{{.Size}}' "$1" 2>/dev/null | awk '{printf "%d MB", $1 / 1e6}'; }
_standin_present() { printf 'standin: %-44s present, not rebuilt\n' "$1"; }

# Builds quietly into a log; on failure shows its tail. DOCKER_BUILDKIT=0: dockerd 20.10 with the
# docker CLI found here (28.x at /usr/local/bin) has no buildx, so the classic builder is what runs
# anyway, as under docker-compose 1.29; saying so keeps a DOCKER_BUILDKIT=1 in the environment from
# failing the build. --network host: the build's apt-get and dotnet restore go out like the host does.
_standin_docker_build() {
    local log=$1
    shift
    if ! DOCKER_BUILDKIT=0 docker build --network host "$@" >"$log" 2>&1; then
        echo "standin: docker build $* failed; last lines of $log:" >&2
        tail -n 40 "$log" >&2 || true
        return 1
    fi
}

# The mounts debootstrap makes inside the rootfs (proc, sys) stay behind if it fails half way.
_standin_remove_rootfs() {
    local rootfs=$1 mp
    [[ -e $rootfs ]] || return 0
    while read -r mp; do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done < <(awk -v d="$rootfs/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    rm -rf --one-file-system "$rootfs"
}

# Debian's own images are made the same way (debootstrap, then a single-layer import).
_standin_build_base() {
    local work=$1 rootfs=$1/rootfs t0 t1 deboot
    t0=$(_standin_now)
    _standin_remove_rootfs "$rootfs"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$STANDIN_MIRROR" >"$work/debootstrap.log" 2>&1; then
        echo "standin: debootstrap failed; last lines of $work/debootstrap.log:" >&2
        tail -n 40 "$work/debootstrap.log" >&2 || true
        _standin_remove_rootfs "$rootfs"
        return 1
    fi
    deboot=$(_standin_since "$t0")
    t1=$(_standin_now)
    _standin_slim_rootfs "$rootfs"
    if ! tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$STANDIN_BASE" >/dev/null; then
        echo "standin: docker import of $rootfs failed" >&2
        _standin_remove_rootfs "$rootfs"
        return 1
    fi
    _standin_remove_rootfs "$rootfs"
    printf 'standin: %-44s built in %5s s (debootstrap %s s, import %s s), %s\n' "$STANDIN_BASE" \
        "$(_standin_since "$t0")" "$deboot" "$(_standin_since "$t1")" "$(_standin_size "$STANDIN_BASE")"
}

# Make the rootfs look like debian:bookworm-slim where the images built on it care: apt sources with
# the updates and security suites (so libssl3 & co. come with their security fixes) in the deb822
# file Debian's images use; no package caches (debootstrap leaves 31 MB of .debs and 49 MB of lists);
# and Debian's docker-clean apt config, without which every `apt-get update` layer keeps 80 MB of
# pkgcache.bin/srcpkgcache.bin.
_standin_slim_rootfs() {
    local rootfs=$1
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    rm -f "$rootfs/etc/apt/sources.list"
    mkdir -p "$rootfs/etc/apt/sources.list.d"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $STANDIN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $STANDIN_SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
}

# Context: a temp dir with only extra-ca/ (the proxy's CA certificates), not the repository.
_standin_build_runtime_deps() {
    local work=$1 t0 ctx crt
    t0=$(_standin_now)
    ctx=$(mktemp -d "$work/runtime-deps-ctx.XXXXXX")
    mkdir "$ctx/extra-ca"
    for crt in "$STANDIN_CA_DIR"/*.crt; do
        if [[ -f $crt ]]; then cp "$crt" "$ctx/extra-ca/"; fi
    done
    if ! _standin_docker_build "$work/build-runtime-deps.log" \
        -t "$STANDIN_RUNTIME_DEPS" -f "$STANDIN_DOCKERFILES/runtime-deps.Dockerfile" "$ctx"; then
        rm -rf "$ctx"
        return 1
    fi
    rm -rf "$ctx"
    printf 'standin: %-44s built in %5s s, %s\n' "$STANDIN_RUNTIME_DEPS" "$(_standin_since "$t0")" \
        "$(_standin_size "$STANDIN_RUNTIME_DEPS")"
}

# Context: the host's .NET install itself (624 MB here); the versions the real image sets as ENV are
# read from its directory names.
_standin_build_sdk() {
    local work=$1 t0 root=$STANDIN_DOTNET_ROOT
    t0=$(_standin_now)
    if [[ ! -x $root/dotnet ]]; then echo "standin: no .NET install at $root" >&2; return 1; fi
    _standin_docker_build "$work/build-sdk.log" -t "$STANDIN_SDK" -f "$STANDIN_DOCKERFILES/sdk.Dockerfile" \
        --build-arg "DOTNET_VERSION=$(_standin_latest "$root/shared/Microsoft.NETCore.App")" \
        --build-arg "ASPNET_VERSION=$(_standin_latest "$root/shared/Microsoft.AspNetCore.App")" \
        --build-arg "DOTNET_SDK_VERSION=$(_standin_latest "$root/sdk")" \
        "$root" || return 1
    printf 'standin: %-44s built in %5s s, %s\n' "$STANDIN_SDK" "$(_standin_since "$t0")" \
        "$(_standin_size "$STANDIN_SDK")"
}

# Highest version directory under $1 ("" if none).
_standin_latest() {
    find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1 || true
}
