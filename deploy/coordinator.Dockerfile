# The BatchVlm coordinator image: `batchvlm coordinator` (jobs, shards, leases, outcomes). Built from the repository
# root by docker-compose.yml (`build: {context: ., dockerfile: deploy/coordinator.Dockerfile}`).
# Stage 1 publishes the CLI with the .NET SDK; stage 2 is Debian 12 (bookworm) — the distribution the fleet is
# developed and tested on — with only the .NET runtime and the native libraries the CLI loads.
# Why bookworm rather than the runtime image's default (Ubuntu 24.04 for .NET 10): the imaging code P/Invokes
# libvips.so.42 / libturbojpeg.so.0 and the engine libopenblas.so.0 by soname, verified against Debian 12's
# libvips42 8.14, libturbojpeg0 2.1.5 and libopenblas0 0.3.21 (research/infra-probe.md §5).

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Project files first so the restore layer is cached until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY contracts/BatchVlm.Contracts/BatchVlm.Contracts.csproj contracts/BatchVlm.Contracts/
COPY storage/BatchVlm.Storage/BatchVlm.Storage.csproj storage/BatchVlm.Storage/
COPY coordinator/BatchVlm.Coordinator/BatchVlm.Coordinator.csproj coordinator/BatchVlm.Coordinator/
COPY worker/BatchVlm.Worker/BatchVlm.Worker.csproj worker/BatchVlm.Worker/
COPY engine/BatchVlm.Engine/BatchVlm.Engine.csproj engine/BatchVlm.Engine/
COPY engine/BatchVlm.Imaging/BatchVlm.Imaging.csproj engine/BatchVlm.Imaging/
COPY engine/BatchVlm.Tokenizers/BatchVlm.Tokenizers.csproj engine/BatchVlm.Tokenizers/
COPY cli/BatchVlm.Cli/BatchVlm.Cli.csproj cli/BatchVlm.Cli/
RUN dotnet restore cli/BatchVlm.Cli/BatchVlm.Cli.csproj
COPY contracts/ contracts/
COPY storage/ storage/
COPY coordinator/ coordinator/
COPY worker/ worker/
COPY engine/ engine/
COPY cli/ cli/
RUN dotnet publish cli/BatchVlm.Cli/BatchVlm.Cli.csproj -c Release --no-restore -o /app

# The runtime files only; copied into bookworm below.
FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS dotnet-runtime

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g libvips42 libturbojpeg0 libopenblas0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
COPY --from=build /app /app
# Unprivileged; configuration arrives as BATCHVLM_* environment variables (docker-compose.yml).
RUN useradd --system --uid 10001 --home-dir /app batchvlm
USER batchvlm
WORKDIR /app
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_gcServer=0 BATCHVLM_STATE=/tmp/batchvlm
ENTRYPOINT ["dotnet", "/app/batchvlm.dll"]
CMD ["coordinator"]
