#!/usr/bin/env bash
# The benchmark suite of docker_exporter, in one command (see BENCHMARKS.md):
#
#   bench/run.sh                 # everything (about 13-15 minutes on 2 cores)
#   bench/run.sh --quick         # N = 100 only, fewer runs, peer on the simulator only (~2-3 min)
#   bench/run.sh --only sim,real # a subset of: sim, oneshot, real, peer, page
#
# As root on Debian 12. It runs scripts/testbed.sh (Docker daemon and the test
# image; skip with --no-testbed), builds the release binaries and examples/scale.rs,
# sets up the peer exporter (glorpen-docker-exporter from PyPI) in a throwaway venv
# outside the repository and patches it there (bench/peer-patch.py), runs the
# suites and prints the tables. The tables also go to target/bench/results-*.md.
#
# Every suite runs under a timeout; on exit (normal, error, Ctrl-C) the trap ends
# the processes it started (by pid) and removes the dexpbench-* containers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARGS="$*"
QUICK=0
SUITES="sim oneshot real peer page"
TESTBED=1
PEER_VENV=${PEER_VENV:-/tmp/dexpbench-peer-venv}
PEER_VERSION=1.0.0

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) SUITES=${2//,/ }; shift ;;
        --only=*) SUITES=${1#--only=}; SUITES=${SUITES//,/ } ;;
        --no-testbed) TESTBED=0 ;;
        --venv) PEER_VENV=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for s in $SUITES; do
    case "$s" in sim | oneshot | real | peer | page) ;; *) echo "bench/run.sh: unknown suite $s" >&2; exit 2 ;; esac
done

log() { printf '\n==> %s\n' "$*" >&2; }
has() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

TMP=$(mktemp -d /tmp/dexpbench-run.XXXXXX)
export BENCH_PIDFILE="$TMP/pids"
: >"$BENCH_PIDFILE"
SCALE_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SCALE_PID" ] && kill -0 "$SCALE_PID" 2>/dev/null; then
        kill -TERM "$SCALE_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SCALE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SCALE_PID" 2>/dev/null || true
    fi
    # Children of the orchestrator, by pid, only if they are still what we started.
    if [ -s "$BENCH_PIDFILE" ]; then
        while read -r pid; do
            [ -n "$pid" ] || continue
            if grep -qaE 'docker_sim|docker_exporter|glorpen_docker_exporter' "/proc/$pid/cmdline" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
                sleep 0.2
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$BENCH_PIDFILE"
    fi
    if command -v docker >/dev/null 2>&1; then
        local left sweep
        # Twice: a `docker run` still in flight may create its container late.
        for sweep in 1 2; do
            left=$(timeout 30 docker ps -aq --filter 'name=^dexpbench-' 2>/dev/null || true)
            if [ -n "$left" ]; then
                echo "bench/run.sh: removing leftover dexpbench-* containers" >&2
                # shellcheck disable=SC2086
                timeout 120 docker rm -f $left >/dev/null 2>&1 || true
            fi
            [ "$sweep" = 2 ] || [ "$rc" = 0 ] || sleep 3
        done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs the orchestrator in the background (so the trap can reach it) under a timeout.
run_scale() {
    local limit=$1
    shift
    timeout --kill-after=30 "$limit" target/release/examples/scale "$@" >>"$OUT" &
    SCALE_PID=$!
    local rc=0
    wait "$SCALE_PID" || rc=$?
    SCALE_PID=""
    if [ "$rc" -ne 0 ]; then
        echo "bench/run.sh: 'scale $1' failed (exit $rc)" >&2
        printf '\n**scale %s failed (exit %s); see stderr.**\n\n' "$1" "$rc" >>"$OUT"
        FAILED=1
    fi
}

# --- 1. set-up ------------------------------------------------------------------------
if [ "$TESTBED" = 1 ] && { has real || has peer; }; then
    log "scripts/testbed.sh"
    timeout 900 bash scripts/testbed.sh
fi
export DOCKER_HOST=unix:///var/run/docker.sock

log "cargo build --release --bins --example scale"
timeout 1800 cargo build --release --bins --example scale

if has peer; then
    log "peer exporter: glorpen-docker-exporter==$PEER_VERSION in $PEER_VENV"
    if [ ! -x "$PEER_VENV/bin/python" ]; then
        if ! python3 -m venv "$PEER_VENV" 2>/dev/null; then
            rm -rf "$PEER_VENV"
            echo "bench/run.sh: python3 -m venv failed; installing python3-venv with apt" >&2
            apt-get update >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >/dev/null
            python3 -m venv "$PEER_VENV"
        fi
    fi
    if ! "$PEER_VENV/bin/python" -c 'import glorpen_docker_exporter' 2>/dev/null; then
        timeout 600 "$PEER_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "glorpen-docker-exporter==$PEER_VERSION"
    fi
    "$PEER_VENV/bin/python" bench/peer-patch.py
fi

# --- 2. the machine -------------------------------------------------------------------------
mkdir -p target/bench
OUT="target/bench/results-$(date -u +%Y%m%dT%H%M%SZ).md"
FAILED=0
{
    echo "# docker_exporter benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- command: \`bench/run.sh${ARGS:+ $ARGS}\` (suites: $SUITES$([ "$QUICK" = 1 ] && echo ", quick"))"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')"
    echo "- CPUs: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "- memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
    if command -v docker >/dev/null 2>&1; then
        echo "- Docker engine: $(timeout 10 docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo 'not answering')"
        echo "- cgroup: $(timeout 10 docker info --format 'v{{.CgroupVersion}}, driver {{.CgroupDriver}}' 2>/dev/null || echo unknown)"
    fi
    echo "- rustc: $(rustc --version)"
    echo
} >"$OUT"

# --- 3. the suites --------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    SIM_ARGS=(--sizes 100 --event-runs 50)
    ONESHOT_ARGS=(--sizes 100)
    REAL_ARGS=(--runs 20)
    PEER_ARGS=(--sizes 100 --requests 10 --real-containers 0)
    PAGE_ARGS=(--containers 100)
else
    SIM_ARGS=(--sizes 100,1000,5000)
    ONESHOT_ARGS=(--sizes 100,1000)
    REAL_ARGS=(--runs 50)
    PEER_ARGS=(--sizes 100,1000 --requests 20 --max-secs 45 --real-containers 100 --real-requests 2)
    PAGE_ARGS=(--containers 1000)
fi

if has sim; then
    log "suite: sim (synthetic engine)"
    run_scale 600 sim "${SIM_ARGS[@]}"
fi
if has oneshot; then
    log "suite: oneshot (old engines' stats tick)"
    run_scale 300 oneshot "${ONESHOT_ARGS[@]}"
fi
if has real; then
    log "suite: real (event-to-metric on the real daemon)"
    run_scale 300 real "${REAL_ARGS[@]}"
fi
if has peer; then
    log "suite: peer (glorpen-docker-exporter side by side)"
    run_scale 900 peer --python "$PEER_VENV/bin/python" "${PEER_ARGS[@]}"
fi
if has page; then
    log "suite: page (/metrics with and without the overview page polled)"
    run_scale 300 page "${PAGE_ARGS[@]}"
fi

log "results: $OUT"
cat "$OUT"
exit "$FAILED"
