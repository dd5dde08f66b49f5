# product-categorizer: the worker and the sample producer, with the bundled
# ONNX models and ONNX Runtime's shared library. linux/amd64 and linux/arm64.
#
#   docker build -t product-categorizer .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/product-categorizer:TAG --push .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=host:9092 -p 8080:8080 product-categorizer
#   docker run --rm --entrypoint sample-producer product-categorizer --rate 20
#
# Stages: build (Rust, release, on the target platform: native, or QEMU under
# buildx), ort (ONNX Runtime's libonnxruntime.so from the PyPI wheel for the
# target architecture, pinned by hash; runs on the build platform, it only
# unpacks a zip), runtime (debian slim, non-root uid/gid 10001 = the Helm
# chart's podSecurity.runAsUser/runAsGroup).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build ----
FROM ${RUST_IMAGE} AS build
# rdkafka (cmake-build, curl-static, ssl, zstd) builds librdkafka with cmake;
# the rest (g++, make, perl, pkg-config, libssl-dev) comes with the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake g++ make perl pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, in their own layer: the manifest, the lock file and a
# stub for every target the manifest names (so it parses), then a build that
# compiles only the dependencies. Source changes leave this layer cached.
COPY Cargo.toml Cargo.lock ./
RUN set -eu; \
    mkdir -p src; echo 'fn main() {}' > src/main.rs; : > src/lib.rs; \
    awk ' \
      function flush() { if (kind != "") { if (path == "") { \
          dir = (kind == "bin") ? "src/bin" : (kind == "bench") ? "benches" : (kind == "test") ? "tests" : "examples"; \
          path = dir "/" name ".rs"; }; print path; }; kind = ""; name = ""; path = ""; }; \
      /^\[\[(bin|bench|test|example)\]\]/ { flush(); kind = $0; gsub(/[^a-z]/, "", kind); next; }; \
      /^\[/ { flush(); next; }; \
      kind != "" && /^[ \t]*name[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*$/, "", v); name = v; }; \
      kind != "" && /^[ \t]*path[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*$/, "", v); path = v; }; \
      END { flush(); }' Cargo.toml \
    | while read -r p; do \
        mkdir -p "$(dirname "$p")"; \
        case "$p" in src/lib.rs) ;; *) [ -f "$p" ] || echo 'fn main() {}' > "$p" ;; esac; \
      done; \
    cargo build --release --locked; \
    rm -rf src target/release/.fingerprint/product-categorizer-* \
        target/release/deps/product_categorizer-* target/release/deps/libproduct_categorizer-* \
        target/release/deps/sample_producer-*

# The real sources (touched: their mtimes may predate the stub build).
COPY src ./src
RUN set -eu; \
    find src -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --bins; \
    mkdir -p /out; \
    cp target/release/product-categorizer target/release/sample-producer /out/; \
    /out/product-categorizer --help | grep -q KAFKA_BOOTSTRAP_SERVERS; \
    /out/sample-producer --help | grep -q -- --rate

# ------------------------------------------------------------------ ort ----
FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS ort
# Set by BuildKit from --platform (declared without a value so BuildKit fills
# it; amd64 when empty).
ARG TARGETARCH
ARG ORT_VERSION=1.32.0
# One wheel per architecture, each pinned by its sha256 (PyPI's published
# digests; checked 2026-12-03 with `pip download --platform ... ` + sha256sum).
ARG ORT_WHEEL_AMD64=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ARG ORT_WHEEL_SHA256_AMD64=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ARG ORT_WHEEL_ARM64=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl
ARG ORT_WHEEL_SHA256_ARM64=2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c
WORKDIR /ort
# pip checks the pinned hash (--require-hashes) of the wheel for the target
# platform (--platform: this stage may run on another architecture);
# sha256sum checks it again on the file itself. Only the shared library is
# kept, not the Python package.
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in \
      amd64) wheel="${ORT_WHEEL_AMD64}"; sha="${ORT_WHEEL_SHA256_AMD64}"; plat=manylinux_2_28_x86_64 ;; \
      arm64) wheel="${ORT_WHEEL_ARM64}"; sha="${ORT_WHEEL_SHA256_ARM64}"; plat=manylinux_2_28_aarch64 ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}: amd64 or arm64" >&2; exit 1 ;; \
    esac; \
    echo "onnxruntime==${ORT_VERSION} --hash=sha256:${sha}" > requirements.txt; \
    pip download --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform "${plat}" --python-version 3.11 --implementation cp --abi cp311 \
        --require-hashes -r requirements.txt -d wheels; \
    echo "${sha}  wheels/${wheel}" | sha256sum -c -; \
    mkdir -p lib; \
    python -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime")]; assert any(".so." in n for n in names), names; [open(os.path.join("lib", os.path.basename(n)), "wb").write(z.read(n)) for n in names]; print("extracted", names)' "wheels/${wheel}"

# -------------------------------------------------------------- runtime ----
FROM ${RUNTIME_IMAGE} AS runtime
ARG ORT_VERSION=1.32.0
# libssl3 for rdkafka's TLS, libstdc++6 for ONNX Runtime, curl for HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 libstdc++6 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home app
COPY --from=ort /ort/lib/ /usr/local/lib/onnxruntime/
COPY --from=build /out/product-categorizer /out/sample-producer /usr/local/bin/
COPY model/*.onnx /app/model/
WORKDIR /app
ENV ORT_DYLIB_PATH=/usr/local/lib/onnxruntime/libonnxruntime.so.${ORT_VERSION} \
    MODEL_PATH=/app/model/product_category.onnx \
    HTTP_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
# Numeric, so the kubelet can verify runAsNonRoot; the chart runs the pod as it.
USER 10001:10001
EXPOSE 8080
# /healthz: the process is alive (readiness, /readyz, is for orchestrators).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
# Exec form: the worker is PID 1 and gets SIGTERM itself (it installs its
# own handler: finishes the batch in flight, commits, leaves the group).
ENTRYPOINT ["/usr/local/bin/product-categorizer"]
