#!/usr/bin/env python3
"""The cgroup stats source against the engine's stats call, side by side (BENCHMARKS.md).

    python3 bench/cgroup.py                 # both parts (about 12 minutes on 2 cores)
    python3 bench/cgroup.py --only real     # real daemon, 100 sleeping containers
    python3 bench/cgroup.py --only tree     # synthetic cgroup trees on tmpfs + docker_sim

As root, after `cargo build --release -p docker_exporter -p docker_sim` and
scripts/testbed.sh (the real part needs the daemon and docker-exporter-test:busybox).

real: 100 `sleep` containers; 60 s windows at --collect.interval=2s: idle (no
  exporter), then each source with --collect.resync-interval=0s (list, /version
  and /info every cycle, as before it existed) and with its default (1m: within
  a 60 s window one cycle lists and reads /version and /info; the others ping), idle again. CPU of the
  exporter, dockerd, containerd and the containerd shims from /proc/<pid>/stat,
  with the CPU of the children they waited for (dockerd runs `runc --version`
  for /version and /info); the idle windows' mean is subtracted. Cycle wall time:
  the sum of the engine, containers and stats collectors' durations
  (docker_exporter_collector_duration_seconds), sampled every 2 s; with the
  default resync interval, engine and stats only (the containers collector ran
  once, in the window's first cycle: its duration is shown apart).
tree: docker_sim's synthetic list (N containers) and a cgroup tree written for
  its running containers on /dev/shm (v1 cgroupfs or v2 systemd layout), whose
  CPU and network counters a helper thread raises every 5 s; the exporter reads
  it through --path.sysfs/--path.procfs. N = 1,000: exporter CPU per cycle,
  engine source (simulator latency 2 ms) vs cgroup source, each with the default
  resync interval (a list a minute) and with a list every cycle. N = 10,000: cycle wall
  time, peak RSS, and gzip /metrics latency with 4 concurrent scrapers.

Everything it starts is ended by pid on exit; containers are named dexpbench-cg-*.
"""

import argparse
import gzip
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
EXPORTER = os.path.join(REL, "docker_exporter")
SIM = os.path.join(REL, "docker_sim")
TICK = os.sysconf("SC_CLK_TCK")
PREFIX = "dexpbench-cg-"
STARTED = []


def log(msg):
    print("==> " + msg, file=sys.stderr, flush=True)


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime + stime, and cutime + cstime: the children a process waited
        # for (dockerd runs `runc --version` for every /version and /info).
        return sum(int(f) for f in fields[11:15]) / TICK
    except OSError:
        return 0.0


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pids_named(prefix):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip().startswith(prefix):
                        out.append(int(d))
            except OSError:
                pass
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The exporter holds the live containers' cgroup files open within half of
# what its open-files limit leaves above 1,024 (README, "The stats source"):
# `--nofile N` sets the limit for the processes started here (a Docker
# container has 1,048,576; raising the hard limit needs CAP_SYS_RESOURCE);
# by default they keep this shell's.
NOFILE = [0]


def limit_open_files():
    if NOFILE[0]:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE[0], NOFILE[0]))


def start(cmd, name):
    logf = open("/tmp/dexpbench-cg-%s.log" % name, "w")
    p = subprocess.Popen(cmd, stdout=logf, stderr=logf, preexec_fn=limit_open_files)
    STARTED.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def get(port, path="/metrics", gz=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path, headers={"Accept-Encoding": "gzip"} if gz else {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def metric(body, name, label=None):
    for line in body.decode().splitlines():
        if line.startswith(name) and (label is None or label in line):
            return float(line.rsplit(" ", 1)[1])
    return None


def cycle_s(body, listing=True):
    total = 0.0
    for c in ("engine", "containers", "stats") if listing else ("engine", "stats"):
        v = metric(body, "docker_exporter_collector_duration_seconds", 'collector="%s"' % c)
        total += v or 0.0
    return total


def exporter(args, name):
    port = free_port()
    p = start([EXPORTER, "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"] + args, name)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if get(port, "/-/ready")[0] == 200:
                return p, port
        except OSError:
            pass
        if p.poll() is not None:
            sys.exit("exporter %s exited: see /tmp/dexpbench-cg-%s.log" % (name, name))
        time.sleep(0.2)
    sys.exit("exporter %s not ready in 120 s" % name)


def window(seconds, procs, port=None, listing=True):
    """CPU seconds of each group of pids over `seconds` (nothing scraped meanwhile,
    so no encoding is counted), then cycle wall times (the sum of the engine,
    containers and stats collectors) and the stats collector's alone, sampled over
    5 cycles after it."""
    before = {k: sum(cpu_s(p) for p in v) for k, v in procs.items()}
    time.sleep(seconds)
    after = {k: sum(cpu_s(p) for p in v) for k, v in procs.items()}
    cycles, stats = [], []
    for _ in range(5 if port else 0):
        time.sleep(2.0)
        body = get(port)[1]
        cycles.append(cycle_s(body, listing))
        stats.append(metric(body, "docker_exporter_collector_duration_seconds", 'collector="stats"') or 0.0)
    return {k: after[k] - before[k] for k in procs}, (cycles, stats)


def fmt_ms(s):
    return "%.2f" % (s * 1000)


def real(args):
    n, secs, interval = args.containers, args.window, 2.0
    log("starting %d sleeping containers" % n)
    names = ["%s%03d" % (PREFIX, i) for i in range(n)]
    subprocess.run(["xargs", "-P4", "-I{}", "docker", "run", "-d", "--name", "{}",
                    "docker-exporter-test:busybox", "sleep", "86400"],
                   input="\n".join(names), text=True, stdout=subprocess.DEVNULL, check=True)
    time.sleep(10)
    engine_pids = {
        "dockerd": pids_named("dockerd"),
        "containerd": [p for p in pids_named("containerd") if p not in pids_named("containerd-shim")],
        "shims": pids_named("containerd-shim"),
    }
    results = {}
    log("idle window (%d s)" % secs)
    idle1, _ = window(secs, engine_pids)
    rows = [("engine", "0s"), ("cgroup", "0s"), ("engine", "1m"), ("cgroup", "1m")]
    for source, resync in rows:
        label = "%s, resync %s" % (source, "every cycle" if resync == "0s" else resync)
        p, port = exporter(["--collect.interval=2s", "--collect.stats-source=" + source,
                            "--collect.resync-interval=" + resync], "real-%s-%s" % (source, resync))
        time.sleep(4)
        log("%s window (%d s)" % (label, secs))
        cpu, cycles = window(secs, dict(engine_pids, exporter=[p.pid]), port, listing=resync == "0s")
        body = get(port)[1]
        listed = metric(body, "docker_exporter_collector_duration_seconds", 'collector="containers"')
        stop(p)
        results[label] = (cpu, cycles, listed)
    log("idle window again (%d s)" % secs)
    idle2, _ = window(secs, engine_pids)
    idle = {k: (idle1[k] + idle2[k]) / 2 for k in idle1}
    per = n * secs / interval
    out = ["", "### Real daemon: %d sleeping containers, %d s at --collect.interval=2s (%d cycles), idle subtracted" % (n, secs, secs / interval), "",
           "| source | exporter CPU s | dockerd s | containerd s | shims s | total s | total per container-cycle (ms) | exporter per container-cycle (ms) | cycle wall median / max (ms) | stats collector median (ms) | containers collector, last run (ms) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for source, (cpu, (cycles, stats), listed) in results.items():
        d = {k: cpu[k] - idle.get(k, 0.0) for k in cpu}
        total = sum(d.values())
        out.append("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %s / %s | %s | %s |" % (
            source, d["exporter"], d["dockerd"], d["containerd"], d["shims"], total,
            total / per * 1000, d["exporter"] / per * 1000,
            fmt_ms(statistics.median(cycles)), fmt_ms(max(cycles)), fmt_ms(statistics.median(stats)),
            fmt_ms(listed or 0.0)))
    out.append("")
    out.append("Idle (mean of the two idle windows): dockerd %.2f s, containerd %.2f s, shims %.2f s." % (
        idle["dockerd"], idle["containerd"], idle["shims"]))
    return "\n".join(out)


def sim_list(sock):
    c = http.client.HTTPConnection("localhost")
    c.sock = socket.socket(socket.AF_UNIX)
    c.sock.connect(sock)
    c.request("GET", "/containers/json?all=true")
    return json.loads(c.getresponse().read())


class Tree:
    """A cgroup tree on tmpfs for the simulator's running containers; counters grow."""

    def __init__(self, root, listed, version):
        self.root, self.version, self.stop = root, version, threading.Event()
        shutil.rmtree(root, ignore_errors=True)
        self.items = []
        for c in listed:
            if c["State"] not in ("running", "paused", "restarting"):
                continue
            serial = int(c["Names"][0].lstrip("/").split("-")[1])
            self.items.append((c["Id"], 10_000 + serial))
        self.write(0)
        self.thread = threading.Thread(target=self.grow, daemon=True)
        self.thread.start()

    def put(self, path, text):
        # A counter file is rewritten in place (the exporter holds its files
        # open between cycles, as the kernel's files change in place); its
        # numbers are zero-padded to a fixed width, so a read never sees a
        # half-written or shorter text. Other files are written once, aside and
        # renamed.
        path = os.path.join(self.root, path)
        data = text.encode()
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".new", "wb") as f:
                f.write(data)
            os.replace(path + ".new", path)
            return
        try:
            assert os.fstat(fd).st_size == len(data), path
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)

    def write(self, step, counters_only=False):
        for i, (cid, pid) in enumerate(self.items):
            cpu = (step + 1) * 10_000_000 * (1 + i % 7)
            net = "h\nh\n    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n  eth0: %020d %020d 0 0 0 0 0 0 %020d %020d 0 0 0 0 0 0\n" % (
                cpu // 1000, step * 3, cpu // 2000, step * 2)
            self.put("proc/%d/net/dev" % pid, net)
            if self.version == 1:
                d = "sys/fs/cgroup/%s/docker/" + cid + "/"
                self.put(d % "cpuacct" + "cpuacct.usage", "%020d\n" % cpu)
                self.put(d % "cpuacct" + "cpuacct.stat", "user %020d\nsystem %020d\n" % (cpu // 20_000_000, cpu // 50_000_000))
                self.put(d % "cpu" + "cpu.stat", "nr_periods %020d\nnr_throttled 0\nthrottled_time 0\n" % step)
                if counters_only:
                    continue
                self.put("proc/%d/cgroup" % pid, "".join(
                    "%d:%s:/docker/%s\n" % (k, c, cid) for k, c in enumerate(["blkio", "cpu", "cpuacct", "memory", "pids"], 1)) + "0::/\n")
                self.put(d % "memory" + "memory.usage_in_bytes", "%d\n" % (4_000_000 + i))
                self.put(d % "memory" + "memory.max_usage_in_bytes", "%d\n" % (8_000_000 + i))
                self.put(d % "memory" + "memory.failcnt", "0\n")
                self.put(d % "memory" + "memory.stat", "total_cache 4096\ntotal_rss 2000000\ntotal_mapped_file 0\ntotal_inactive_file 4096\ntotal_swap 0\n")
                self.put(d % "pids" + "pids.current", "1\n")
                self.put(d % "pids" + "pids.max", "max\n")
                self.put(d % "pids" + "cgroup.procs", "%d\n" % pid)
                self.put(d % "blkio" + "blkio.throttle.io_service_bytes", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n")
                self.put(d % "blkio" + "blkio.throttle.io_serviced", "8:0 Read 1\n8:0 Write 0\nTotal 1\n")
            else:
                d = "sys/fs/cgroup/system.slice/docker-%s.scope/" % cid
                self.put(d + "cpu.stat", "usage_usec %020d\nuser_usec %020d\nsystem_usec %020d\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n" % (
                    cpu // 1000, cpu // 2000, cpu // 2000))
                if counters_only:
                    continue
                self.put("proc/%d/cgroup" % pid, "0::/system.slice/docker-%s.scope\n" % cid)
                self.put(d + "memory.current", "%d\n" % (4_000_000 + i))
                self.put(d + "memory.stat", "anon 2000000\nfile 4096\nfile_mapped 0\ninactive_file 4096\n")
                self.put(d + "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
                self.put(d + "pids.current", "1\n")
                self.put(d + "pids.max", "max\n")
                self.put(d + "cgroup.procs", "%d\n" % pid)
                self.put(d + "io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")

    def grow(self):
        step = 1
        while not self.stop.wait(5.0):
            self.write(step, counters_only=True)
            step += 1

    def close(self):
        self.stop.set()
        self.thread.join()
        shutil.rmtree(self.root, ignore_errors=True)


def scrapers(port, workers, total):
    lat = []
    lock = threading.Lock()

    def run(k):
        for _ in range(k):
            t = time.perf_counter()
            status, body = get(port, gz=True)
            d = time.perf_counter() - t
            assert status == 200
            with lock:
                lat.append(d)
    ts = [threading.Thread(target=run, args=(total // workers,)) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    size = len(get(port, gz=True)[1])
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], size


def tree(args):
    out = ["", "### Synthetic cgroup trees on tmpfs, docker_sim's list, --collect.interval=2s", ""]
    rows = []
    for version in (1, 2):
        for n in args.sizes:
            sock = "/tmp/dexpbench-cg-sim-%d-%d.sock" % (version, n)
            sim = start([SIM, "--socket", sock, "--containers", str(n), "--cgroup-version", str(version),
                         "--latency", "2ms"], "sim-%d-%d" % (version, n))
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            root = "/dev/shm/dexpbench-cgtree"
            t = Tree(root, sim_list(sock), version)
            common = ["--docker.host=unix://" + sock, "--collect.interval=2s",
                      "--path.sysfs=" + root + "/sys", "--path.procfs=" + root + "/proc"]
            large = n == max(args.sizes) and len(args.sizes) > 1
            # With the default resync interval (1m) a cycle lists only once a
            # minute; `resync 0s` lists every cycle, as before that flag.
            sources = [("cgroup", "1m")] if large else [("engine", "1m"), ("cgroup", "1m"), ("engine", "0s"), ("cgroup", "0s")]
            for source, resync in sources:
                label = source if resync == "1m" else source + ", resync every cycle"
                log("tree v%d, N=%d, %s" % (version, n, label))
                p, port = exporter(common + ["--collect.stats-source=" + source, "--collect.resync-interval=" + resync],
                                   "tree-%d-%d-%s-%s" % (version, n, source, resync))
                time.sleep(4)
                w = 20 if large else args.window
                cpu, (cycles, stats) = window(w, {"exporter": [p.pid]}, port, listing=resync == "0s")
                body = get(port)[1]
                processes = body.count(b"\ncontainer_processes{")
                row = {"v": version, "n": n, "source": label, "live": len(t.items),
                       "cpu_per_cycle_ms": cpu["exporter"] / (w / 2.0) * 1000,
                       "cycle_med": statistics.median(cycles), "cycle_max": max(cycles),
                       "stats_med": statistics.median(stats),
                       "misses": sum(metric(body, "docker_exporter_stats_cgroup_misses_total", 'reason="%s"' % r) or 0
                                     for r in ("gone", "no_mount", "not_host_view", "unreadable", "bad_data")),
                       "from_cgroup": processes}
                if large:
                    p50, p99, size = scrapers(port, 4, args.scrapes)
                    row.update(p50=p50, p99=p99, gz=size)
                row["rss"] = peak_rss_mib(p.pid)
                stop(p)
                rows.append(row)
            t.close()
            stop(sim)
    out.append("| layout | N (live) | source | read from cgroups (misses) | exporter CPU per cycle (ms) | cycle wall median / max (ms) | stats collector median (ms) | peak RSS (MiB) | gzip scrape p50 / p99, 4 scrapers (ms) | gzip body |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append("| v%d | %d (%d) | %s | %d (%d) | %.1f | %s / %s | %s | %.0f | %s | %s |" % (
            r["v"], r["n"], r["live"], r["source"], r["from_cgroup"], r["misses"], r["cpu_per_cycle_ms"],
            fmt_ms(r["cycle_med"]), fmt_ms(r["cycle_max"]), fmt_ms(r["stats_med"]), r["rss"],
            ("%s / %s" % (fmt_ms(r["p50"]), fmt_ms(r["p99"]))) if "p99" in r else "-",
            ("%.0f KiB" % (r["gz"] / 1024)) if "gz" in r else "-"))
    return "\n".join(out)


def cleanup():
    for p in STARTED:
        try:
            stop(p)
        except Exception:
            pass
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "name=^" + PREFIX],
                          capture_output=True, text=True).stdout.split()
    if left:
        subprocess.run(["docker", "rm", "-f"] + left, stdout=subprocess.DEVNULL)
    shutil.rmtree("/dev/shm/dexpbench-cgtree", ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="real,tree")
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--nofile", type=int, default=NOFILE[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[1000, 10000])
    args = ap.parse_args()
    NOFILE[0] = args.nofile
    for b in (EXPORTER, SIM):
        if not os.access(b, os.X_OK):
            sys.exit("%s missing: cargo build --release -p docker_exporter -p docker_sim" % b)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        report = ["## Cgroup stats source (`bench/cgroup.py`, %s; open-files limit %s)" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), NOFILE[0] or resource.getrlimit(resource.RLIMIT_NOFILE)[0])]
        if "real" in args.only:
            report.append(real(args))
        if "tree" in args.only:
            report.append(tree(args))
        print("\n".join(report))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
