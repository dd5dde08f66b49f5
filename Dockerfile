# product-categorizer: the worker and the sample producer, with the bundled
# ONNX models and ONNX Runtime's shared library.
#
#   docker build -t product-categorizer .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=host:9092 -p 8080:8080 product-categorizer
#   docker run --rm --entrypoint sample-producer product-categorizer --rate 20
#
# Stages: build (Rust, release), ort (ONNX Runtime's libonnxruntime.so from
# the pinned, hash-checked PyPI wheel), runtime (debian slim, non-root).

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
FROM ${PYTHON_IMAGE} AS ort
ARG ORT_VERSION=1.32.0
ARG ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ARG ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
WORKDIR /ort
# pip checks the pinned hash (--require-hashes); sha256sum checks it again
# on the file itself. Only the shared library is kept, not the Python package.
RUN set -eu; \
    echo "onnxruntime==${ORT_VERSION} --hash=sha256:${ORT_WHEEL_SHA256}" > requirements.txt; \
    pip download --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        --require-hashes -r requirements.txt -d wheels; \
    echo "${ORT_WHEEL_SHA256}  wheels/${ORT_WHEEL}" | sha256sum -c -; \
    mkdir -p lib; \
    python -c 'import os, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime")]; assert any(".so." in n for n in names), names; [open(os.path.join("lib", os.path.basename(n)), "wb").write(z.read(n)) for n in names]; print("extracted", names)' "wheels/${ORT_WHEEL}"

# -------------------------------------------------------------- runtime ----
FROM ${RUNTIME_IMAGE} AS runtime
ARG ORT_VERSION=1.32.0
# libssl3 for rdkafka's TLS, libstdc++6 for ONNX Runtime, curl for HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 libstdc++6 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app
COPY --from=ort /ort/lib/ /usr/local/lib/onnxruntime/
COPY --from=build /out/product-categorizer /out/sample-producer /usr/local/bin/
COPY model/*.onnx /app/model/
WORKDIR /app
ENV ORT_DYLIB_PATH=/usr/local/lib/onnxruntime/libonnxruntime.so.${ORT_VERSION} \
    MODEL_PATH=/app/model/product_category.onnx \
    HTTP_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
USER app
EXPOSE 8080
# /healthz: the process is alive (readiness, /readyz, is for orchestrators).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
# Exec form: the worker is PID 1 and gets SIGTERM itself (it installs its
# own handler: finishes the batch in flight, commits, leaves the group).
ENTRYPOINT ["/usr/local/bin/product-categorizer"]
