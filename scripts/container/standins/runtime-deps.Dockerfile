# Local stand-in for mcr.microsoft.com/dotnet/runtime-deps:10.0 (no registry on the CI machines).
# Built by scripts/container/standin-images.sh; build context: a temp dir holding extra-ca/ = copies of
# the host's /usr/local/share/ca-certificates/*.crt (the TLS-intercepting proxy's CAs, which `dotnet
# restore` in a build stage needs). Those CAs belong in this stand-in only, never in the shipped Dockerfile.
#
# Mirrors the real image where a Dockerfile can notice: same ENV, the same .NET dependencies, and the
# non-root user app with UID/GID 1654 ($APP_UID). Differences: Debian 12 (debootstrap minbase) instead of
# the real tag's Ubuntu 24.04, hence libicu72/libssl3 instead of libicu74/libssl3t64.
FROM localhost/debian-base:bookworm

ENV \
    APP_UID=1654 \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_RUNNING_IN_CONTAINER=true

COPY extra-ca/ /usr/local/share/ca-certificates/

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        libc6 \
        libgcc-s1 \
        libicu72 \
        libssl3 \
        libstdc++6 \
        tzdata \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

RUN groupadd --gid=$APP_UID app \
    && useradd --no-log-init --uid=$APP_UID --gid=$APP_UID --create-home app
