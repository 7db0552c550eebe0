# syntax=docker/dockerfile:1
# The llm-exporter image: the workspace binary on distroless, running as a non-root user.
#   docker build -t llm-exporter:0.1.0 .
# docker-compose.yml builds it the same way.

FROM rust:1.91-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY exporter ./exporter
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p llm-exporter \
    && install -D -m 0755 target/release/llm-exporter /out/llm-exporter

# A static wget for the HEALTHCHECK: distroless has no shell and no HTTP client.
FROM busybox:1.37.0-musl AS busybox

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/llm-exporter /usr/local/bin/llm-exporter
COPY --from=busybox /bin/busybox /usr/local/bin/busybox
# NVML comes from the host driver: the NVIDIA container toolkit mounts it when the
# container asks for a GPU with the "utility" capability.
ENV NVIDIA_DRIVER_CAPABILITIES=utility
USER 65532:65532
EXPOSE 10931
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:10931/"]
ENTRYPOINT ["/usr/local/bin/llm-exporter"]
