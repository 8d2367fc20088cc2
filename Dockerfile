# EpollServer as a container daemon.
#
#   docker build -t epollserver .                          the server (the last stage)
#   docker build --target load -t epollserver-load .       the load generator, for the compose file's load service
#   docker run --rm -p 127.0.0.1:7007:7007 epollserver     echo on 7007; configure with -e EPOLLSERVER_*=...
#
# The image: the daemon as one NativeAOT binary (11.9 MB, with chat's Redis client linked in) on runtime-deps, which
# holds only the native libraries .NET needs. Against the trimmed single-file build it shipped before (20.1 MB) it
# starts in 15 ms instead of about 520 and idles in 14.9 MiB instead of 26.6 (loadtests/results/native/startup.md),
# and it serves the headline echo case as fast as the JIT build (1.00x, with pipelining 0.95x:
# loadtests/results/native/aot-vs-jit). The binary needs no ICU (InvariantGlobalization) and reads no files
# but /proc.
#
# The image is built only from code whose tests passed in this same build: the server stage copies from `test`.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# NativeAOT links with clang and needs zlib's headers; the SDK restores the ILCompiler packages by itself.
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The SDK is this image's (its tag pins it), so global.json is not copied; the portable lock files come with the
# sources, and the runtime-specific publishes below restore without them (Directory.Build.props says why).
# Restore from the project files alone first, so that a change to the code does not download the packages again.
COPY Directory.Build.props EpollServer.sln ./
COPY src/EpollServer.Core/EpollServer.Core.csproj src/EpollServer.Core/
COPY src/EpollServer.Host/EpollServer.Host.csproj src/EpollServer.Host/
COPY loadtests/EpollServer.LoadTests/EpollServer.LoadTests.csproj loadtests/EpollServer.LoadTests/
COPY loadtests/peers/SocketsEcho/SocketsEcho.csproj loadtests/peers/SocketsEcho/
COPY loadtests/peers/KestrelEcho/KestrelEcho.csproj loadtests/peers/KestrelEcho/
COPY loadtests/peers/KestrelHttp/KestrelHttp.csproj loadtests/peers/KestrelHttp/
COPY tests/EpollServer.Tests/EpollServer.Tests.csproj tests/EpollServer.Tests/
# The publish properties go to restore too: NativeAOT and self-contained each bring packages of their own.
RUN dotnet restore tests/EpollServer.Tests/EpollServer.Tests.csproj \
 && dotnet restore src/EpollServer.Host/EpollServer.Host.csproj -r linux-x64 -p:PublishAot=true \
 && dotnet restore loadtests/EpollServer.LoadTests/EpollServer.LoadTests.csproj -r linux-x64 -p:SelfContained=true
COPY src/ src/
COPY loadtests/ loadtests/
COPY tests/ tests/
COPY README.md ./
# Each publish restores again for its own properties (offline by now: the packages are in this layer's cache).
RUN dotnet publish src/EpollServer.Host/EpollServer.Host.csproj -c Release -r linux-x64 -p:PublishAot=true \
        -p:DebugType=none -p:StripSymbols=true -o /out/server \
 && dotnet publish loadtests/EpollServer.LoadTests/EpollServer.LoadTests.csproj -c Release -r linux-x64 --self-contained \
        -p:DebugType=none -o /out/load

# The suite on this image's kernel interface and libc, less what needs tools the SDK image lacks (gcc for the ABI
# probe and the stand-in libkqueue, lsof, fonts for the charts, wrk, promtool, redis-server) and the load engine's
# CPU-bound smoke runs; CI runs every test on the host (`scripts/test`).
FROM build AS test
ARG TEST_FILTER="FullyQualifiedName!~NativeAbiTests&FullyQualifiedName!~KeventAbiTests.Kevent_LayoutAndConstants_MatchLibkqueuesHeader&FullyQualifiedName!~FdAccountingTests&FullyQualifiedName!~LoadEngineTests&FullyQualifiedName!~LoadCommandTests&FullyQualifiedName!~PollerKqueue_RefusesALibkqueue&FullyQualifiedName!~ChartTests&FullyQualifiedName!~Wrk_&FullyQualifiedName!~WrkRun_&FullyQualifiedName!~PassPromtool&FullyQualifiedName!~RedisBackplaneTests"
RUN dotnet test tests/EpollServer.Tests/EpollServer.Tests.csproj -c Release --filter "$TEST_FILTER"

# The load generator, for the compose file's load service: `epollserver-load run echo --target server:7007`.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS load
# The reports' charts: ScottPlot's SkiaSharp (its no-dependencies build) reads fonts from /usr/share/fonts and
# draws no text, silently, without one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /work
COPY --from=test /out/load /app/
RUN chown "$APP_UID" /work
USER $APP_UID
ENTRYPOINT ["/app/epollserver-load"]
CMD ["run", "echo", "--target", "server:7007", "--duration", "10"]

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS server
COPY --from=test /out/server/epollserver /app/epollserver
# The runtime-deps images come with the unprivileged user `app` (APP_UID, 1654); ports above 1023 need no root.
USER $APP_UID
ENV EPOLLSERVER_PORT=7007 \
    EPOLLSERVER_PROTOCOL=echo \
    PATH="/app:${PATH}"
EXPOSE 7007/tcp 7007/udp
# The daemon is PID 1 (exec form, no shell): SIGTERM reaches it, and it stops gracefully within
# --shutdown-timeout (5 s) plus a 2 s linger, inside docker's default 10 s grace.
STOPSIGNAL SIGTERM
# The binary itself checks health (the image has no curl, and dash has no /dev/tcp): it asks one question in the
# configured protocol on the configured port and wants the right answer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/app/epollserver", "health", "--timeout", "2"]
ENTRYPOINT ["/app/epollserver"]
