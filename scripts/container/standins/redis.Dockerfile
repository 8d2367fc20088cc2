# Local stand-in for the official redis image (the compose file's chat profile), built by scripts/container-test.sh
# FROM the runtime-deps stand-in (Debian bookworm) with Debian's redis-server package, whose service is not started
# (no init in a container). Laid out as the official image is: redis-server and redis-cli on the PATH, data in
# /data, run as the redis user, `redis-server` as the default command.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
