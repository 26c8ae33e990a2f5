#!/usr/bin/env bash
# Builds the docker_exporter image without a registry: the binary is built on
# the host with glibc linked statically (-C target-feature=+crt-static), then
# copied into a FROM scratch image (deploy/Dockerfile.host). Where a registry is
# reachable, `docker build .` (the multi-stage Dockerfile) gives the same image.
#
#   scripts/build-image.sh [TAG]        default TAG: docker-exporter:latest
#   scripts/build-image.sh --binary     only the static binary (scripts/test.sh
#                                       builds it before the tests, on its own)
#
# The static build has its own target dir (STATIC_TARGET_DIR, default
# target/static), so it does not disturb the normal one and is reused next time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BINARY_ONLY=false
if [ "${1:-}" = "--binary" ]; then
    BINARY_ONLY=true
    shift
fi
TAG=${1:-docker-exporter:latest}
TARGET_DIR=${STATIC_TARGET_DIR:-target/static}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$TRIPLE" --target-dir "$TARGET_DIR" --bin docker_exporter
$BINARY_ONLY && exit 0

context="$TARGET_DIR/image-context"
rm -rf "$context"
mkdir -p "$context"
cp "$TARGET_DIR/$TRIPLE/release/docker_exporter" "$context/docker_exporter"
docker build -q -f deploy/Dockerfile.host --build-arg "VERSION=$VERSION" -t "$TAG" "$context" >/dev/null
echo "built $TAG: binary $(stat -c %s "$context/docker_exporter") bytes, image $(docker image inspect -f '{{.Size}}' "$TAG") bytes"
