# The executor image: a static binary on `scratch` — no shell, no package
# manager — with its bundled scripts, default graph, the bootstrap bundle
# (upstream Argo manifests verified against bundle/bundle.lock.yaml), CA
# certificates and a non-root numeric user. See docs/image.md.
#
# Two ways to get the binary (BINARY=...):
#   builder   (default) compile it here in a Rust builder stage, for any
#             TARGETARCH: docker buildx build --platform linux/amd64,linux/arm64 .
#   prebuilt  copy dist/<TARGETARCH>/executor built beforehand (build/image
#             does it with cargo-zigbuild); needs no base image at all, for
#             machines that cannot pull one.
# The bundle comes the same two ways: fetched and verified by bundle/fetch in
# the builder stage, or from dist/bundle/ (prepared, and verified, by
# `bundle/fetch --from <dir> dist/bundle`).

ARG BINARY=builder
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm

# ---- the standard path: build inside a Rust image --------------------------
# (build/image drops the lines from here to the end marker when the engine has
# no BuildKit: the classic builder would otherwise try to pull RUST_IMAGE.)
# >>> builder
FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS builder
ARG TARGETARCH
WORKDIR /src
RUN pip3 install --break-system-packages ziglang cargo-zigbuild 2>/dev/null || pip3 install ziglang cargo-zigbuild
COPY . .
RUN case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac && \
    rustup target add "$triple" && \
    cargo zigbuild --release --locked --target "$triple" -p executor --bin executor && \
    mkdir -p /out/bundle /out/etc/ssl/certs && \
    cp "target/$triple/release/executor" /out/executor && \
    sh bundle/fetch /out/bundle && \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

FROM scratch AS from-builder
COPY --from=builder /out/ /
# <<< builder

# ---- the offline path: everything prepared in dist/ ------------------------
FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/${TARGETARCH}/executor /executor
COPY dist/bundle/ /bundle/
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

FROM ${BINARY} AS binary

# ---- the image ---------------------------------------------------------------
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="executor" \
      org.opencontainers.image.description="Deploys, validates and tears down a Kubernetes platform through Argo CD, following a dependency graph" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/example/executor" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /executor /executor
COPY --from=binary /bundle/ /bundle/
COPY --from=binary /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The bundled scripts and graph are compiled into the binary; these copies
# are for operators to read and start their overrides from.
COPY scripts/ /usr/share/executor/scripts/
COPY stdlib/ /usr/share/executor/stdlib/
COPY bundle/dag.yaml bundle/bundle.lock.yaml /usr/share/executor/
ENV CONFIG_DIR=/config SECRETS_DIR=/secrets BUNDLE_DIR=/bundle SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/executor"]
CMD ["--help"]
