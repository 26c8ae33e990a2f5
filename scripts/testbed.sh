#!/usr/bin/env bash
# Sets up everything the test suite needs on a Debian 12 machine, as root:
#   - docker.io, busybox-static, prometheus (promtool), curl, nodejs and npm, chromium,
#     haproxy (the socket-proxy test), docker-compose, openssl and
#     systemd-analyze, installed with apt where missing;
#   - check-jsonschema and kubernetes-validate (the deploy/ recipe checks) from
#     PyPI, into the venv $TOOLS_VENV when not already on PATH (scripts/test.sh
#     puts its bin/ on PATH);
#   - a Docker daemon answering on /var/run/docker.sock (dockerd is started in the
#     background, detached, if nothing answers /_ping; no systemd needed);
#   - the test image docker-exporter-test:busybox, made with `docker import` from the
#     static busybox of the host (never pulled: there is no registry);
#   - podman (tests/podman.rs), with default_ulimits in /etc/containers/containers.conf
#     that this sandbox's hard limits allow, and the test image loaded into it
#     (`docker save | podman load`: localhost/docker-exporter-test:busybox).
# Idempotent: a second run installs, starts and builds nothing.
set -euo pipefail

SOCK=/var/run/docker.sock
IMAGE=${DOCKER_EXPORTER_TEST_IMAGE:-docker-exporter-test:busybox}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-testbed.log}
TOOLS_VENV=${TOOLS_VENV:-/opt/docker-exporter-testtools}
export PATH="$TOOLS_VENV/bin:$PATH"
# The docker CLI must talk to the daemon this script looks after.
export DOCKER_HOST="unix://$SOCK"

log() { printf 'testbed: %s\n' "$*"; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
    SUDO=(sudo)
fi

# --- 1. packages -----------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# /bin/busybox must be the static one: it is copied into an image with no libc.
if [ ! -x /bin/busybox ] ||
    ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    missing+=(busybox-static)
fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    missing+=(prometheus)
fi
command -v curl >/dev/null 2>&1 || missing+=(curl)
# node and npm run the dashboards check (dashboards/check: @grafana/schema + tsc).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
pytools=()
command -v check-jsonschema >/dev/null 2>&1 || pytools+=(check-jsonschema)
command -v kubernetes-validate >/dev/null 2>&1 || pytools+=(kubernetes-validate)
if [ "${#pytools[@]}" -gt 0 ]; then
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi
# Debian's chromium: the overview page's browser test (tests/page, puppeteer-core).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Podman, for the real-Podman suite (tests/podman.rs).
command -v podman >/dev/null 2>&1 || missing+=(podman)

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing with apt: ${missing[*]}"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
    log "packages present: dockerd, busybox-static, prometheus/promtool, curl, node, npm, haproxy, docker-compose, openssl, systemd-analyze, chromium"
fi
if [ "${#pytools[@]}" -gt 0 ]; then
    log "installing from PyPI into $TOOLS_VENV: ${pytools[*]}"
    [ -x "$TOOLS_VENV/bin/pip" ] || "${SUDO[@]}" python3 -m venv "$TOOLS_VENV"
    "${SUDO[@]}" "$TOOLS_VENV/bin/pip" install --quiet "${pytools[@]}"
else
    log "PyPI tools present: check-jsonschema, kubernetes-validate"
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH after installing docker.io"

# --- 2. the daemon ---------------------------------------------------------------
ping_ok() {
    [ -S "$SOCK" ] || return 1
    [ "$(curl -s --max-time 3 --unix-socket "$SOCK" http://docker/_ping 2>/dev/null)" = "OK" ]
}

ensure_cgroups() {
    # dockerd needs a cgroup hierarchy. Machines of this project come with one
    # mounted (cgroup v1 controllers plus a cgroup2 "unified" mount); only when
    # nothing at all is mounted do we mount cgroup v2, which Engine 20.10 supports.
    if awk '$2 ~ /^\/sys\/fs\/cgroup/ && ($3 == "cgroup" || $3 == "cgroup2") {f = 1} END {exit !f}' /proc/self/mounts; then
        return 0
    fi
    log "no cgroup filesystem mounted: mounting cgroup2 on /sys/fs/cgroup"
    "${SUDO[@]}" mkdir -p /sys/fs/cgroup
    "${SUDO[@]}" mount -t cgroup2 none /sys/fs/cgroup || die "could not mount cgroup2 on /sys/fs/cgroup"
}

if ping_ok; then
    log "a Docker daemon answers /_ping on $SOCK"
else
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is running but does not answer yet: waiting for it"
    else
        ensure_cgroups
        log "starting dockerd in the background (log: $DOCKERD_LOG)"
        "${SUDO[@]}" mkdir -p "$(dirname "$DOCKERD_LOG")"
        # Fully detached: own session, no terminal, every fd redirected, so this
        # script (and CI's shell) can exit while the daemon keeps running.
        "${SUDO[@]}" setsid nohup dockerd --host="unix://$SOCK" \
            </dev/null >>"$DOCKERD_LOG" 2>&1 &
        disown || true
    fi
    for _ in $(seq 1 60); do
        ping_ok && break
        sleep 1
    done
    if ! ping_ok; then
        log "dockerd did not answer /_ping on $SOCK within 60 s; last lines of $DOCKERD_LOG:"
        tail -n 40 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "no Docker daemon"
    fi
    log "dockerd answers /_ping"
fi
log "engine: $(docker version --format 'Engine {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo unknown)"

# --- 3. the test image -------------------------------------------------------------
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE present"
else
    log "building $IMAGE with docker import from /bin/busybox"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/var/www"
    chmod 1777 "$tmp/tmp"
    cp /bin/busybox "$tmp/bin/busybox"
    n=0
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] && continue
        ln -sf busybox "$tmp/bin/$applet"
        n=$((n + 1))
    done
    log "  $n applet symlinks in bin/"
    tar -C "$tmp" -c . | docker import - "$IMAGE" >/dev/null
    rm -rf "$tmp"
    trap - EXIT
    docker image inspect "$IMAGE" >/dev/null || die "docker import did not produce $IMAGE"
    log "built $IMAGE ($(docker image inspect -f '{{.Id}}' "$IMAGE"))"
fi
# --- 4. podman --------------------------------------------------------------------------
# Podman asks for more open files and processes than the sandbox's hard limits
# allow ("error setting rlimit type 7"): cap them in containers.conf.
CONTAINERS_CONF=/etc/containers/containers.conf
if grep -qs '^default_ulimits' "$CONTAINERS_CONF"; then
    log "podman: default_ulimits already set in $CONTAINERS_CONF"
else
    log "podman: writing default_ulimits into $CONTAINERS_CONF"
    "${SUDO[@]}" mkdir -p /etc/containers
    if grep -qs '^\[containers\]' "$CONTAINERS_CONF"; then
        "${SUDO[@]}" sed -i '/^\[containers\]/a default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]' "$CONTAINERS_CONF"
    else
        printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n' |
            "${SUDO[@]}" tee -a "$CONTAINERS_CONF" >/dev/null
    fi
fi
PODMAN_IMAGE="localhost/$IMAGE"
if podman image exists "$PODMAN_IMAGE" 2>/dev/null; then
    log "podman: image $PODMAN_IMAGE present"
else
    log "podman: loading $IMAGE (docker save | podman load)"
    docker save "$IMAGE" | "${SUDO[@]}" podman load >/dev/null
    podman image exists "$PODMAN_IMAGE" || die "podman load did not produce $PODMAN_IMAGE"
fi
log "podman: $(podman version --format 'Podman {{.Client.Version}}' 2>/dev/null || echo unknown)"
log "ready"
