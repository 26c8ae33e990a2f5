#!/usr/bin/env bash
# Runs every cargo-fuzz target of docker_exporter (RELIABILITY.md lists them).
#
#   fuzz/run.sh              # each target for 300 s (about half an hour)
#   fuzz/run.sh 60           # each target for 60 s
#   fuzz/run.sh --smoke      # each target for 10 s: the run .ci/run does
#
# Needs the nightly toolchain (on these machines) and cargo-fuzz (installed from
# crates.io when missing). The corpora (fuzz/corpus/<target>) are seeded from
# the recorded engine answers in tests/fixtures on every run and kept between
# runs; they and any crash (fuzz/artifacts/<target>) are not committed.
# libFuzzer's limits make "no unbounded allocation" a failure: a single
# allocation over 256 MiB or a process over 2 GiB stops the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SECONDS_EACH=300
case "${1:-}" in
    --smoke) SECONDS_EACH=10 ;;
    "") ;;
    *[!0-9]*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    *) SECONDS_EACH=$1 ;;
esac
TARGETS=(list inspect stats engine events pipeline)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: no nightly toolchain (cargo +nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# --- seeds from the recorded fixtures ------------------------------------------
FIX=../tests/fixtures
seed() { mkdir -p "corpus/$1"; }
for t in "${TARGETS[@]}"; do seed "$t"; done
for set in "$FIX"/engine-*/ "$FIX"/podman-*/; do
    s=$(basename "$set")
    cp "$set/containers.json" "corpus/list/$s.json"
    for f in "$set"/inspect/*.json; do cp "$f" "corpus/inspect/$s-$(basename "$f")"; done
    for f in "$set"/stats/*.json; do cp "$f" "corpus/stats/$s-$(basename "$f")"; done
    { cat "$set/version.json"; printf '\0'; cat "$set/info.json"; } >"corpus/engine/$s"
    { printf '\x40'; head -n 30 "$set/events.jsonl"; } >"corpus/events/$s"
    for f in "$set"/inspect/*.json; do
        id=$(basename "$f")
        { cat "$f"; printf '\0'; cat "$set/stats/$id"; printf '\0'; cat "$set/version.json"
          printf '\0'; cat "$set/info.json"; } >"corpus/pipeline/$s-$id"
    done
done

cargo +nightly fuzz build -O
status=0
for t in "${TARGETS[@]}"; do
    printf '==> fuzz %s for %ss\n' "$t" "$SECONDS_EACH"
    if ! cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=256 -max_len=65536 -print_final_stats=1 2>"corpus/$t.log"; then
        echo "fuzz/run.sh: $t FAILED; see fuzz/corpus/$t.log and fuzz/artifacts/$t/" >&2
        grep -E -A3 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "corpus/$t.log" | cut -c1-400 | head -n 20 >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "corpus/$t.log" | tr '\n' ' '
        echo
    fi
done
exit $status
