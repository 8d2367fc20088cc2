# Local stand-in for the official haproxy image (the compose file's chat profile), built by scripts/container-test.sh
# FROM the runtime-deps stand-in (Debian bookworm) with Debian's haproxy package. Laid out as the official image is:
# the configuration at /usr/local/etc/haproxy/haproxy.cfg, run as the haproxy user in the foreground.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
