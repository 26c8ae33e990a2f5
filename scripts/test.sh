#!/usr/bin/env bash
# The project's test command. On a fresh Debian 12 machine, as root, it does every
# set-up step itself (scripts/testbed.sh: packages, dockerd, test image), then runs
#   the dashboards check (dashboards/check: npm ci, then @grafana/schema + tsc)
#   npm ci for the overview page's browser test (tests/page; run by cargo test)
#   cargo fmt --all --check
#   cargo clippy --workspace --all-targets -- -D warnings
#   scripts/build-image.sh --binary   (the static binary the image test packs)
#   cargo test --workspace --all-targets [ARGS...] -- --include-ignored --skip real_podman_
#   cargo test --test podman -- --include-ignored   (the real Podman, alone)
#   fuzz/run.sh --smoke (every fuzz target for 10 s; nightly + cargo-fuzz)
# and stops at the first failure. Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -- --nocapture
#   scripts/test.sh real_daemon -- --test-threads=1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "scripts/testbed.sh"
bash scripts/testbed.sh

export DOCKER_EXPORTER_TEST_IMAGE=docker-exporter-test:busybox
# The PyPI tools scripts/testbed.sh installs (when they were not on PATH already).
export PATH="${TOOLS_VENV:-/opt/docker-exporter-testtools}/bin:$PATH"

if ! cargo fmt --version >/dev/null 2>&1; then
    step "rustup component add rustfmt"
    rustup component add rustfmt
fi
if ! cargo clippy --version >/dev/null 2>&1; then
    step "rustup component add clippy"
    rustup component add clippy
fi

step "dashboards: type-check against @grafana/schema (dashboards/check)"
# npm ci when node_modules is missing or older than the lock file.
if [ ! -f dashboards/check/node_modules/.package-lock.json ] ||
    [ dashboards/check/package-lock.json -nt dashboards/check/node_modules/.package-lock.json ]; then
    (cd dashboards/check && npm ci --no-audit --no-fund)
fi
node dashboards/check/check.mjs

step "overview page test: npm ci (tests/page: puppeteer-core, no browser download)"
# The test drives Debian's /usr/bin/chromium (scripts/testbed.sh installs it).
if [ ! -f tests/page/node_modules/.package-lock.json ] ||
    [ tests/page/package-lock.json -nt tests/page/node_modules/.package-lock.json ]; then
    (cd tests/page && npm ci --no-audit --no-fund)
fi

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The image test (tests/it/image.rs) needs the static release binary; built
# here, alone, rather than inside the test run next to timing-sensitive tests.
step "scripts/build-image.sh --binary (static binary for the image test)"
bash scripts/build-image.sh --binary

# The real-daemon tests are #[ignore]d, so that a plain `cargo test` shows
# them as ignored; here they run (the daemon is up), and fail if it is not.
args=("$@")
has_separator=false
for a in "${args[@]}"; do
    [[ $a == -- ]] && has_separator=true
done
if $has_separator; then args+=(--include-ignored); else args+=(-- --include-ignored); fi

# The real-Podman suite runs after the Docker suites, alone (its own step), so
# that Podman and dockerd are never busy with two suites at once.
step "cargo test --workspace --all-targets --no-fail-fast ${args[*]} --skip real_podman_"
status=0
cargo test --workspace --all-targets --no-fail-fast "${args[@]}" --skip real_podman_ || status=$?

step "cargo test --test podman -- --include-ignored (the real Podman)"
cargo test --test podman --no-fail-fast -- --include-ignored || status=$?
[ "$status" -eq 0 ] || exit "$status"

step "fuzz/run.sh --smoke (each cargo-fuzz target for 10 s)"
bash fuzz/run.sh --smoke

step "all checks passed"
