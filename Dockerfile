# The docker_exporter image: one static binary in an empty (scratch) image,
# running as an unprivileged user. Built where a registry is reachable:
#
#   docker build -t docker-exporter .
#
# Where no registry is reachable (no rust image to pull), build the same image
# from a binary built on the host: scripts/build-image.sh (deploy/Dockerfile.host).
#
# Run it with the socket read-only and the socket's group added, e.g.
#   docker run -d -p 9417:9417 -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     --group-add "$(stat -c %g /var/run/docker.sock)" docker-exporter
#
# No HEALTHCHECK on purpose: Prometheus's `up` series is the health check, and
# the image has no shell or curl to run one (probes can use /-/healthy).

ARG RUST_VERSION=1.85
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# glibc linked statically: the binary needs no libc at run time.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$target" --bin docker_exporter \
 && cp "target/$target/release/docker_exporter" /docker_exporter

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="docker_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the Docker Engine" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /docker_exporter /docker_exporter
# nobody:nogroup; the socket is read through the group given with --group-add.
USER 65534:65534
EXPOSE 9417
ENTRYPOINT ["/docker_exporter"]
