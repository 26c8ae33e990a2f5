#!/usr/bin/env bash
# Churn and soak runs of docker_exporter against the simulated engine; the
# figures go to BENCHMARKS.md ("Churn and soak"). Not part of the test suite.
#
#   bench/soak.sh churn            # 10,000 containers created and destroyed (~15 min)
#   bench/soak.sh soak [MINUTES]   # 1,000 containers, churn, 4 scrapers (default 60 min)
#
# churn: 1,000 containers; a cold baseline 30 s after start; then every container
#   replaced once (50 a second for 20 s) and the 5-minute retention of per-name
#   event counters waited out: the warm baseline, the same series as after a churn;
#   then 50 containers replaced a second for 200 s (10,000 created and destroyed,
#   with their events), then quiet for the retention again; prints the series count
#   and the RSS at both baselines, at the peak and after (~15 min).
#   COMPARE_BIN=path/to/docker_exporter runs a second exporter (another build) with
#   the same flags on the same simulator and prints its RSS beside: side by side,
#   in one run. EXPORTER_BIN=path replaces the exporter measured first (default:
#   the release build of this tree). SOAK_LOGS=dir keeps the processes' logs.
# soak: 1,000 containers, 2 replaced a second, 50 events a second, 4 scrapers
#   (gzip, one scrape a second each); RSS sampled every 10 s, its slope (least
#   squares after the first 5 minutes), scrape failures, and the exporter's own
#   error counters (the simulator injects no fault here, so they must stay 0).
#
# Builds the release binaries; every process it starts is ended on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODE=${1:-}
MINUTES=${2:-60}
case "$MODE" in churn | soak) ;; *) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac

TMP=$(mktemp -d /tmp/dexpsoak.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${SOAK_LOGS:-}" ]; then mkdir -p "$SOAK_LOGS" && cp "$TMP"/*.log "$SOAK_LOGS"/; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cargo build --release --workspace --bins >&2
BIN=target/release
SOCK=$TMP/sim.sock
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PORT2=$(free_port)
URL=http://127.0.0.1:$PORT

sim_set() { curl -sf --unix-socket "$SOCK" -d "$1" http://sim/_sim/set >/dev/null; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/${1:-$EXPORTER}/status"; }
# Both exporters are scraped alike (a cached body is part of the RSS).
series() {
    if [ -n "${OTHER:-}" ]; then curl -sf "http://127.0.0.1:$PORT2/metrics" >/dev/null || true; fi
    curl -sf "$URL/metrics" | grep -vc '^#'
}
errors() {
    curl -sf "$URL/metrics" |
        awk '/^docker_exporter_collector_errors_total/ {s += $2} END {print s + 0}'
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
rss_median() { for _ in 1 2 3 4 5; do rss_kib "$@"; sleep 2; done | median; }
# The RSS of the COMPARE_BIN exporter, or "-" without one.
other_rss() { if [ -n "${OTHER:-}" ]; then "$@" "$OTHER"; else echo -; fi; }

start() {
    "$BIN/docker_sim" --socket "$SOCK" --containers 1000 "$@" >/dev/null 2>"$TMP/sim.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
    "${EXPORTER_BIN:-$BIN/docker_exporter}" --docker.host="unix://$SOCK" --web.listen-address="127.0.0.1:$PORT" \
        --collect.interval="$INTERVAL" --log.level=warn 2>"$TMP/exporter.log" &
    EXPORTER=$!
    PIDS+=("$EXPORTER")
    for _ in $(seq 1 100); do curl -sf "$URL/-/ready" >/dev/null && break; sleep 0.2; done
    if [ -n "${COMPARE_BIN:-}" ]; then
        "$COMPARE_BIN" --docker.host="unix://$SOCK" --web.listen-address="127.0.0.1:$PORT2" \
            --collect.interval="$INTERVAL" --log.level=warn 2>"$TMP/other.log" &
        OTHER=$!
        PIDS+=("$OTHER")
    fi
}

if [ "$MODE" = churn ]; then
    INTERVAL=5s
    start --event-rate 20
    log "warming up 30 s"
    sleep 30
    cold_series=$(series)
    cold_rss=$(rss_median)
    cold_other=$(other_rss rss_median)
    log "cold baseline: $cold_series series, RSS $cold_rss KiB; replacing every container once"
    sim_set '{"churn_per_sec": "50"}'
    sleep 20
    sim_set '{"churn_per_sec": "0"}'
    sleep 320
    base_series=$(series)
    base_rss=$(rss_median)
    base_other=$(other_rss rss_median)
    log "warm baseline: $base_series series, RSS $base_rss KiB"
    sim_set '{"churn_per_sec": "50"}'
    peak_series=$base_series
    peak_rss=$base_rss
    peak_other=$base_other
    for _ in $(seq 1 100); do # 200 s: 10,000 containers replaced
        sleep 2
        s=$(series)
        r=$(rss_kib)
        [ "$s" -gt "$peak_series" ] && peak_series=$s
        [ "$r" -gt "$peak_rss" ] && peak_rss=$r
        o=$(other_rss rss_kib)
        [ "$o" != - ] && [ "$o" -gt "$peak_other" ] && peak_other=$o
    done
    sim_set '{"churn_per_sec": "0"}'
    log "churn over: peak $peak_series series, RSS $peak_rss KiB; waiting out the 5-minute retention"
    sleep 320
    after_series=$(series)
    after_rss=$(rss_median)
    after_other=$(other_rss rss_median)
    err=$(errors)
    python3 - "$cold_series" "$base_series" "$peak_series" "$after_series" "$cold_rss" "$base_rss" "$peak_rss" "$after_rss" "$err" \
        "$cold_other" "$base_other" "$peak_other" "$after_other" "${COMPARE_BIN:-}" <<'PY'
import sys
cs, bs, ps, as_, cr, br, pr, ar, err = (int(float(x)) for x in sys.argv[1:10])
other = sys.argv[10:14]
print("| churn: 10,000 containers replaced over 200 s | cold (30 s) | warm baseline | peak | after (5 min retention) |")
print("|---|---|---|---|---|")
print(f"| series on /metrics | {cs} | {bs} | {ps} | {as_} ({as_ - bs:+d} vs warm) |")
print(f"| RSS (MiB, median of 5) | {cr/1024:.1f} | {br/1024:.1f} | {pr/1024:.1f} (sampled) | {ar/1024:.1f} ({(ar/br - 1)*100:+.1f} % vs warm, {(ar/cr - 1)*100:+.1f} % vs cold) |")
if other[0] != "-":
    co, bo, po, ao = (int(x) for x in other)
    print(f"| RSS of {sys.argv[14]} (MiB) | {co/1024:.1f} | {bo/1024:.1f} | {po/1024:.1f} (sampled) | {ao/1024:.1f} ({(ao/bo - 1)*100:+.1f} % vs warm, {(ao/co - 1)*100:+.1f} % vs cold) |")
print(f"\ncollector errors counted: {err}")
PY
else
    INTERVAL=15s
    start --event-rate 50 --churn-per-sec 2
    for i in 1 2 3 4; do
        (
            fails=0
            while :; do
                code=$(curl -s -o /dev/null -w '%{http_code}' --compressed "$URL/metrics" || echo 000)
                [ "$code" = 200 ] || { fails=$((fails + 1)); echo "$fails" >"$TMP/fails.$i"; }
                sleep 1
            done
        ) &
        PIDS+=($!)
    done
    log "soak: $MINUTES min"
    end=$(($(date +%s) + MINUTES * 60))
    t0=$(date +%s)
    while [ "$(date +%s)" -lt "$end" ]; do
        echo "$(($(date +%s) - t0)) $(rss_kib)" >>"$TMP/rss"
        sleep 10
    done
    fails=$( (cat "$TMP"/fails.* 2>/dev/null || true) | awk '{s += $1} END {print s + 0}')
    err=$(errors)
    reconnects=$(curl -sf "$URL/metrics" | awk '/^docker_exporter_event_stream_reconnects_total/ {print $2}')
    python3 - "$TMP/rss" "$fails" "$err" "$reconnects" "$MINUTES" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
fails, err, reconnects, minutes = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
late = [(t, r) for t, r in rows if t >= 300] or rows
n = len(late)
mt = sum(t for t, _ in late) / n
mr = sum(r for _, r in late) / n
var = sum((t - mt) ** 2 for t, _ in late) or 1.0
slope = sum((t - mt) * (r - mr) for t, r in late) / var  # KiB per second
mib = [r / 1024 for _, r in rows]
print(f"| soak: {minutes} min, 1,000 containers, churn 2/s, 50 events/s, 4 scrapers | value |")
print("|---|---|")
print(f"| RSS at 5 min / at the end / max (MiB) | {late[0][1]/1024:.1f} / {rows[-1][1]/1024:.1f} / {max(mib):.1f} |")
print(f"| RSS slope after 5 min (least squares, {n} samples) | {slope * 3600 / 1024:+.2f} MiB/hour |")
print(f"| scrapes not answered 200 | {fails} |")
print(f"| collector errors counted (none injected) | {err} |")
print(f"| event stream reconnects | {reconnects} |")
# RSS swings with the cached bodies of the moment: per 10-minute window too.
print("\n| minutes | RSS min / median / max (MiB) |\n|---|---|")
for w in range(0, int(rows[-1][0]) + 1, 600):
    win = sorted(r / 1024 for t, r in rows if w <= t < w + 600)
    if win:
        print(f"| {w // 60}-{w // 60 + 10} | {win[0]:.1f} / {win[len(win) // 2]:.1f} / {win[-1]:.1f} |")
PY
fi
