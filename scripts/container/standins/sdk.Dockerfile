# Local stand-in for mcr.microsoft.com/dotnet/sdk:10.0, built FROM the runtime-deps stand-in by
# scripts/container/standin-images.sh; build context: the host's .NET install (/usr/share/dotnet, which
# holds the SDK, Microsoft.NETCore.App and Microsoft.AspNetCore.App), so nothing is downloaded.
# The real sdk image is aspnet <- runtime <- runtime-deps plus the SDK; one COPY gives the same tree.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0

# Versions as the real images expose them (taken from the copied install).
ARG DOTNET_VERSION=
ARG ASPNET_VERSION=
ARG DOTNET_SDK_VERSION=

ENV \
    DOTNET_VERSION=$DOTNET_VERSION \
    ASPNET_VERSION=$ASPNET_VERSION \
    DOTNET_SDK_VERSION=$DOTNET_SDK_VERSION \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    DOTNET_GENERATE_ASPNET_CERTIFICATE=false \
    DOTNET_USE_POLLING_FILE_WATCHER=true \
    NUGET_XMLDOC_MODE=skip

# The tools the real sdk image adds, for build stages that call them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        curl \
        git \
        libatomic1 \
        wget \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

COPY . /usr/share/dotnet/

# `dotnet help` runs the first-run setup once at build time, as the real image does.
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
    && dotnet help >/dev/null
