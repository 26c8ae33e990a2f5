#!/usr/bin/env bash
# Fragment encoding (issue 14, part B), old vs new side by side in one run:
# the `sim` suite of examples/scale.rs with the base commit's exporter and with
# this checkout's, alternating per size, so both see the same machine load.
#
#   bench/frag.sh OLD_BIN_DIR [SIZES]     # SIZES default 1000,5000,10000
#
# OLD_BIN_DIR holds the base commit's release `docker_exporter`, e.g.
#   git worktree add /tmp/frag-old 73181e0
#   (cd /tmp/frag-old && CARGO_TARGET_DIR=/tmp/frag-old/target cargo build --release --bins)
#   bench/frag.sh /tmp/frag-old/target/release
# Tables go to stdout and to target/bench/frag-<time>.md. No Docker daemon needed.
# EVENT_RUNS sets the event-to-metric runs per size (default 50, 20 above 5,000).
# SCALE_ARGS adds arguments to `scale sim`, e.g. SCALE_ARGS="--e2m-poll full" for
# event-to-metric polled as whole bodies (the method before 2026-12-07; the
# default streams each poll and stops at the sample, see examples/scale.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OLD=${1:?usage: bench/frag.sh OLD_BIN_DIR [SIZES]}
SIZES=${2:-1000,5000,10000}
[ -x "$OLD/docker_exporter" ] || { echo "bench/frag.sh: no docker_exporter in $OLD" >&2; exit 2; }
cargo build --release --bins --example scale >&2
mkdir -p target/bench
OUT="target/bench/frag-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "# fragment encoding, old vs new, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- new: $(git rev-parse --short HEAD); old: $(git -C "$OLD" rev-parse --short HEAD 2>/dev/null || echo "$OLD")"
    echo "- CPUs: $(nproc); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- scale sim arguments: --event-runs ${EVENT_RUNS:-50 (20 above N = 5,000)} ${SCALE_ARGS:-}"
    echo
} >"$OUT"
for n in ${SIZES//,/ }; do
    runs=${EVENT_RUNS:-50}
    [ -n "${EVENT_RUNS:-}" ] || [ "$n" -le 5000 ] || runs=20
    for side in old new; do
        dir=target/release
        [ "$side" = new ] || dir=$OLD
        echo "==> N=$n, $side ($dir)" >&2
        echo "## N = $n, $side" >>"$OUT"
        # shellcheck disable=SC2086 # SCALE_ARGS is a list of words
        timeout 900 target/release/examples/scale --bin-dir "$dir" sim --sizes "$n" --event-runs "$runs" ${SCALE_ARGS:-} >>"$OUT"
        echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
    done
done
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT"
cat "$OUT"
