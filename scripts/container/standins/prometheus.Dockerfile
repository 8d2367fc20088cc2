# Local stand-in for prom/prometheus (the compose file's monitoring profile), built by scripts/container-test.sh
# FROM the runtime-deps stand-in (Debian bookworm, with the host's CA certificates) with Debian's `prometheus`
# package. Laid out as the official image is: /bin/prometheus, /etc/prometheus/prometheus.yml, data in /prometheus,
# run as nobody, the same default arguments.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
EXPOSE 9090
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
