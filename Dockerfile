# vault-kms: multi-stage build on official images; the runtime image holds only the
# binary, the bundled config and a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 vault-kms \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/vault-kms vault-kms \
    && mkdir -p /var/lib/vault-kms /etc/vault-kms \
    && chown vault-kms:vault-kms /var/lib/vault-kms \
    && chmod 0700 /var/lib/vault-kms
COPY --from=build /src/target/release/vault-kms /usr/local/bin/vault-kms
COPY config/vault-kms.yaml /etc/vault-kms/vault-kms.yaml

# The bundled config keeps `data_dir: ./data`, which resolves inside the volume.
ENV VAULT_KMS_CONFIG=/etc/vault-kms/vault-kms.yaml \
    VAULT_KMS_LISTEN=0.0.0.0:8200
WORKDIR /var/lib/vault-kms
VOLUME ["/var/lib/vault-kms"]
USER 10001:10001
EXPOSE 8200
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["vault-kms", "health", "--address", "127.0.0.1:8200"]
ENTRYPOINT ["vault-kms"]
CMD ["serve"]
