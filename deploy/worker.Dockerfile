# The BatchVlm worker image: `batchvlm worker --tasks ...`, one process per GPU. Built from the repository root by
# docker-compose.yml (`build: {context: ., dockerfile: deploy/worker.Dockerfile}`), which reserves one NVIDIA GPU
# per worker container (deploy.resources.reservations.devices).
# Same two stages as deploy/coordinator.Dockerfile (SDK publish → Debian 12 runtime with libvips42, libturbojpeg0,
# libopenblas0), plus the CUDA user-space libraries the engine's CUDA backend opens by P/Invoke (issue 8: CUDA
# runtime, cuBLASLt, NVRTC) from Debian 12 non-free (CUDA 11.8). The driver (libcuda.so.1) is not in the image:
# the NVIDIA container toolkit mounts the host's driver into a container that reserves a GPU.
# Build without the CUDA libraries (a CPU-only worker, e.g. for `inspect`): --build-arg CUDA_PACKAGES=

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
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

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS dotnet-runtime

FROM debian:bookworm-slim AS runtime
# Package names checked against bookworm's main and non-free indexes (libcudart11.0, libcublaslt11, libnvrtc11.2
# are 11.8.89 / 11.11.3.6 ~11.8.0-5~deb12u1).
ARG CUDA_PACKAGES="libcudart11.0 libcublas11 libcublaslt11 libnvrtc11.2 libnvrtc-builtins11.8"
RUN sed -i 's/^Components: main$/Components: main non-free/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g libvips42 libturbojpeg0 libopenblas0 \
      ${CUDA_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
COPY --from=build /app /app
RUN useradd --system --uid 10001 --home-dir /app batchvlm
USER batchvlm
WORKDIR /app
# What the NVIDIA container toolkit exposes to the container: all reserved GPUs, compute + nvidia-smi.
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_gcServer=0 BATCHVLM_STATE=/tmp/batchvlm \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
ENTRYPOINT ["dotnet", "/app/batchvlm.dll"]
CMD ["worker", "--tasks", "inspect"]
