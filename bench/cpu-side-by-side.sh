#!/usr/bin/env bash
# Exporter CPU of two builds (or two allocator settings) side by side on one
# simulator: 1,000 containers, 2 replaced a second, 50 events a second, each
# exporter scraped plain and gzip once a second. Prints the CPU seconds
# (utime + stime) of each over the window and their RSS at its end. Figures in
# BENCHMARKS.md ("Churn and soak"). Not part of the test suite.
#
#   bench/cpu-side-by-side.sh EXPORTER_A EXPORTER_B [SECONDS]
#
# An exporter may be a wrapper script that sets its environment (for example
# `_RJEM_MALLOC_CONF`) and `exec`s the binary. Needs `cargo build --release`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
A_BIN=$1 B_BIN=$2 SECONDS_=${3:-120}
T=$(mktemp -d /tmp/dexpcpu.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"' EXIT INT TERM
target/release/docker_sim --socket "$T/sim.sock" --containers 1000 --event-rate 50 --churn-per-sec 2 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$T/sim.sock" ] && break; sleep 0.1; done
"$A_BIN" --docker.host="unix://$T/sim.sock" --web.listen-address=127.0.0.1:19501 --collect.interval=5s --log.level=warn 2>/dev/null &
A=$!
PIDS+=($A)
"$B_BIN" --docker.host="unix://$T/sim.sock" --web.listen-address=127.0.0.1:19502 --collect.interval=5s --log.level=warn 2>/dev/null &
B=$!
PIDS+=($B)
sleep 20
cpu() { awk -v tck="$(getconf CLK_TCK)" '{print ($14 + $15) / tck}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
a0=$(cpu $A) b0=$(cpu $B)
end=$(($(date +%s) + SECONDS_))
while [ "$(date +%s)" -lt $end ]; do
    for port in 19501 19502; do
        curl -s --compressed -o /dev/null "127.0.0.1:$port/metrics" || true
        curl -s -o /dev/null "127.0.0.1:$port/metrics" || true
    done
    sleep 1
done
a1=$(cpu $A) b1=$(cpu $B)
python3 -c "
a, b = $a1 - $a0, $b1 - $b0
print(f'| exporter | CPU s over ${SECONDS_} s | RSS at the end (MiB) |')
print('|---|---|---|')
print(f'| A: $A_BIN | {a:.2f} | $(rss $A) |')
print(f'| B: $B_BIN | {b:.2f} ({(b / a - 1) * 100:+.1f} %) | $(rss $B) |')
"
