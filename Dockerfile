# syntax=docker/dockerfile:1
# The llm-exporter image: the workspace binary on distroless.
#   docker build --build-arg LLM_EXPORTER_REVISION="$(git rev-parse --short=12 HEAD)" -t llm-exporter:0.1.0 .
# docker-compose.yml builds it the same way. The base images are build arguments too, for a
# registry mirror or local copies (scripts/compose-test builds it from stand-ins).
ARG BUILDER_IMAGE=rust:1.91-slim-bookworm
ARG BUSYBOX_IMAGE=busybox:1.37.0-musl
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILDER_IMAGE} AS build
# The build context has no .git: the revision for llm_exporter_build_info comes from here.
ARG LLM_EXPORTER_REVISION=unknown
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY exporter ./exporter
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    LLM_EXPORTER_REVISION="${LLM_EXPORTER_REVISION}" cargo build --release --locked -p llm-exporter \
    && install -D -m 0755 target/release/llm-exporter /out/llm-exporter

# A static wget for the HEALTHCHECK: distroless has no shell and no HTTP client.
FROM ${BUSYBOX_IMAGE} AS busybox

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/llm-exporter /usr/local/bin/llm-exporter
COPY --from=busybox /bin/busybox /usr/local/bin/busybox
# NVML comes from the host driver: the NVIDIA container toolkit mounts it when the
# container asks for a GPU with the "utility" capability.
ENV NVIDIA_DRIVER_CAPABILITIES=utility
# Unprivileged by default. docker-compose.yml runs it as root with every capability dropped
# but CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, which reading other users' /proc/PID/fd and
# /proc/PID/io needs (docs/src/containers.md, "What the exporter needs").
USER 65532:65532
EXPOSE 10931
# /-/healthy needs no credentials, so the check passes with basic auth on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:10931/-/healthy"]
ENTRYPOINT ["/usr/local/bin/llm-exporter"]
