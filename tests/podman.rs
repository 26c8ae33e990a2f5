//! The exporter on a real Podman's Docker-compatible socket: the states
//! scenario, `engine="podman"`, the `id` label against `/proc/<pid>/cgroup`,
//! resources against `podman stats` and the cgroup files, events within a
//! second of `podman stop`, and `promtool check metrics`.
//!
//! A binary of its own (cargo runs test binaries one after another), so no
//! other real-daemon test runs beside it. Each test starts its own `podman
//! system service` on a temporary socket and stops it by pid; its containers
//! carry a unique name prefix, run with `--network none` and are removed in
//! every outcome. The exporter runs as a process, reaching Podman through
//! `CONTAINER_HOST` with `DOCKER_HOST` unset. The tests are `#[ignore]`d:
//! `scripts/test.sh` runs them with `--include-ignored`; there a missing
//! `podman` fails them under `CI=true` and skips them, visibly, otherwise.

#[path = "it/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// The image `scripts/testbed.sh` loads into Podman.
const IMAGE: &str = "localhost/docker-exporter-test:busybox";

/// False (after saying so) when podman is missing outside CI; panics in CI.
fn podman_available(test: &str) -> bool {
    let ok = Command::new("podman")
        .args(["image", "exists", IMAGE])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let why = format!("no podman with the image {IMAGE}: run scripts/testbed.sh");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: {why}"
        );
        eprintln!("SKIPPED {test}: {why}");
    }
    ok
}

/// `podman system service` on a temporary socket, stopped by pid on drop,
/// with the test's containers (name prefix) removed first.
struct Podman {
    service: Child,
    socket: PathBuf,
    prefix: String,
    _dir: tempfile::TempDir,
}

impl Podman {
    fn start(test: &str) -> Podman {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let service = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman system service starts");
        let p = Podman {
            service,
            socket,
            prefix: format!("dexppod-{test}-{}-", std::process::id()),
            _dir: dir,
        };
        wait_until(Duration::from_secs(30), "podman's API to answer", || {
            p.ping()
        });
        p.cleanup();
        p
    }

    fn ping(&self) -> bool {
        Command::new("curl")
            .args(["-sf", "--max-time", "2", "--unix-socket"])
            .arg(&self.socket)
            .arg("http://podman/_ping")
            .output()
            .is_ok_and(|o| o.stdout == b"OK")
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn name(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// The podman CLI through this service; panics with its output on failure.
    fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_status(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn cli_status(&self, args: &[&str]) -> std::process::Output {
        Command::new("podman")
            .args(["--remote", "--url", &self.url()])
            .args(args)
            .output()
            .expect("podman runs")
    }

    /// `podman run -d --network none --name <prefix><short> [args] IMAGE cmd…`.
    fn run(&self, short: &str, args: &[&str], cmd: &[&str]) -> String {
        let name = self.name(short);
        let mut all = vec!["run", "-d", "--network", "none", "--name", &name];
        all.extend_from_slice(args);
        all.push(IMAGE);
        all.extend_from_slice(cmd);
        self.cli(&all)
    }

    fn inspect(&self, short: &str, format: &str) -> String {
        self.cli(&["inspect", "-f", format, &self.name(short)])
    }

    fn cleanup(&self) {
        let out = Command::new("podman")
            .args(["ps", "-aq", "--filter", &format!("name=^{}", self.prefix)])
            .output();
        let ids = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        for id in ids.unwrap_or_default().split_whitespace() {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The exporter binary on this service through `CONTAINER_HOST`.
    fn exporter(&self, args: &[&str]) -> Process {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = self
            ._dir
            .path()
            .join(format!("exporter-{}.log", addr.port()));
        let child = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
            .env_remove("DOCKER_HOST")
            .env("CONTAINER_HOST", self.url())
            .arg(format!("--web.listen-address={addr}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Process { child, addr, log }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.cleanup();
        let _ = self.service.kill();
        let _ = self.service.wait();
    }
}

/// The exporter as a process, killed on drop.
struct Process {
    child: Child,
    addr: std::net::SocketAddr,
    /// Its stderr, shown when an assertion on its errors fails.
    log: std::path::PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for(&self, secs: u64, what: &str, ready: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(r) = try_http_request(self.addr, "GET", "/metrics", &[]).await {
                let m = Metrics::parse(&r.text());
                if ready(&m) {
                    return m;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out after {secs} s waiting for {what}; last /metrics:\n{}",
                    m.body
                );
            }
            assert!(Instant::now() < deadline, "the exporter never answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The container's cgroup path, as its init process's `/proc/<pid>/cgroup`
/// gives it for the memory controller (cgroup v1) or the unified hierarchy.
fn proc_cgroup(pid: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = text
        .lines()
        .find(|l| l.split(':').nth(1) == Some("memory"))
        .or_else(|| text.lines().find(|l| l.starts_with("0::")))
        .unwrap_or_else(|| panic!("no memory or unified line in:\n{text}"));
    line.splitn(3, ':').nth(2).unwrap().to_string()
}

/// A cgroup v1 controller file of a container, as a number.
fn cgroup_file(controller: &str, path: &str, file: &str) -> f64 {
    let p = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.trim().parse().unwrap()
}

/// `479.2kB`, `67.11MB`, `0B` (SI units, as `podman stats` prints sizes).
fn si_bytes(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("size {s:?}"));
    let scale = match unit {
        "B" | "" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other:?} in {s:?}"),
    };
    n * scale
}

/// A Go duration as `podman stats` prints CPU time (`27.692315ms`, `1.5s`, `1m2s`).
fn go_seconds(s: &str) -> f64 {
    let mut total = 0.0;
    let mut rest = s.trim();
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap();
        let (n, tail) = rest.split_at(split);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = n.parse().unwrap_or_else(|_| panic!("duration {s:?}"));
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "us" => 1e-6,
            "ns" => 1e-9,
            other => panic!("unit {other:?} in {s:?}"),
        };
        rest = tail;
    }
    total
}

#[test]
fn podman_stats_units_parse() {
    assert_eq!(si_bytes("479.2kB"), 479_200.0);
    assert_eq!(si_bytes("0B"), 0.0);
    assert!((go_seconds("27.692315ms") - 0.027692315).abs() < 1e-12);
    assert!((go_seconds("1m2.5s") - 62.5).abs() < 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs podman (scripts/testbed.sh); scripts/test.sh runs it"]
async fn real_podman_states_ids_resources_and_promtool() {
    if !podman_available("real_podman_states_ids_resources_and_promtool") {
        return;
    }
    let p = Podman::start("states");
    p.run(
        "limited",
        &[
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "--label",
            "com.docker.compose.project=demo",
        ],
        &["sleep", "3600"],
    );
    p.run("exited3", &[], &["sh", "-c", "exit 3"]);
    assert_eq!(p.cli(&["wait", &p.name("exited3")]), "3");
    p.run(
        "oom",
        &["-m", "16m", "--memory-swap", "16m"],
        &["tail", "/dev/zero"],
    );
    assert_eq!(
        p.cli(&["wait", &p.name("oom")]),
        "137",
        "killed by the kernel"
    );
    p.run("paused", &[], &["sleep", "3600"]);
    p.cli(&["pause", &p.name("paused")]);
    let created = p.name("created");
    p.cli(&[
        "create",
        "--network",
        "none",
        "--name",
        &created,
        IMAGE,
        "sleep",
        "1",
    ]);
    // Podman runs health checks from systemd timers, which this machine
    // lacks: the test runs them.
    let health = |short: &str, cmd: &str| {
        p.run(
            short,
            &[
                "--health-cmd",
                cmd,
                "--health-interval",
                "1h",
                "--health-retries",
                "1",
            ],
            &["sleep", "3600"],
        );
        let _ = p.cli_status(&["healthcheck", "run", &p.name(short)]);
    };
    health("healthy", "true");
    health("unhealthy", "false");

    let exporter = p.exporter(&[
        "--collect.interval=1s",
        "--collector.disk",
        "--collector.disk.interval=1s",
    ]);
    let name = |short: &str| p.name(short);
    let m = exporter
        .wait_for(30, "every container and a stats sample", |m| {
            m.get(
                "container_memory_usage_bytes",
                &[("name", &name("limited"))],
            )
            .is_some()
                && m.get("docker_container_info", &[("name", &name("created"))])
                    .is_some()
        })
        .await;

    // The engine is told apart, and promtool is happy.
    let version = p.cli(&["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(
        m.get(
            "docker_engine_info",
            &[("engine", "podman"), ("version", &version)]
        ),
        Some(1.0),
        "{}",
        m.body
    );
    promtool_check(&m.body);

    // States, exit codes, health: as podman inspect says.
    for (short, state) in [
        ("limited", "running"),
        ("exited3", "exited"),
        ("oom", "exited"),
        ("paused", "paused"),
        ("created", "created"),
        ("healthy", "running"),
    ] {
        assert_eq!(p.inspect(short, "{{.State.Status}}"), state, "{short}");
        let got = m.get(
            "docker_container_state",
            &[("name", &name(short)), ("state", state)],
        );
        assert_eq!(got, Some(1.0), "{short} is {state}:\n{}", m.body);
    }
    let exit_code = |short: &str| m.get("docker_container_exit_code", &[("name", &name(short))]);
    assert_eq!(exit_code("exited3"), Some(3.0));
    assert_eq!(exit_code("oom"), Some(137.0));
    // Podman 4.3.1 here does not report the kernel's OOM kill (docs/podman.md):
    // the exporter says what Podman says.
    let oom_killed = p.inspect("oom", "{{.State.OOMKilled}}") == "true";
    assert_eq!(
        m.get("docker_container_oom_killed", &[("name", &name("oom"))]),
        Some(f64::from(u8::from(oom_killed)))
    );
    for (short, status) in [("healthy", "healthy"), ("unhealthy", "unhealthy")] {
        assert_eq!(p.inspect(short, "{{.State.Health.Status}}"), status);
        assert_eq!(
            m.get(
                "docker_container_health_status",
                &[("name", &name(short)), ("status", status)]
            ),
            Some(1.0),
            "{short}"
        );
    }
    assert_eq!(
        m.get(
            "docker_container_health_status",
            &[("name", &name("limited")), ("status", "none")]
        ),
        Some(1.0)
    );

    // `id` is the cgroup path the kernel gives the container's process.
    let pid = p.inspect("limited", "{{.State.Pid}}");
    let cgroup = proc_cgroup(&pid);
    assert!(cgroup.starts_with("/libpod_parent/libpod-"), "{cgroup}");
    let id = p.inspect("limited", "{{.Id}}");
    assert_eq!(
        m.get(
            "docker_container_info",
            &[("name", &name("limited")), ("id", &cgroup)]
        ),
        Some(1.0),
        "id {cgroup} for {id}:\n{}",
        m.body
    );

    // Resources against the cgroup files and `podman stats`, read just after
    // a fresh sample (the container sleeps: its CPU and memory barely move).
    let limited = name("limited");
    let series = |m: &Metrics, family: &str| {
        m.get(family, &[("name", &limited), ("id", &cgroup)])
            .unwrap_or_else(|| panic!("no {family} for {limited}:\n{}", m.body))
    };
    let before = series(&m, "container_last_seen");
    let m = exporter
        .wait_for(10, "a newer stats sample", |m| {
            m.get("container_last_seen", &[("name", &limited)])
                .is_some_and(|t| t > before)
        })
        .await;
    let cpu_file = cgroup_file("cpuacct", &cgroup, "cpuacct.usage") / 1e9;
    let mem_file = cgroup_file("memory", &cgroup, "memory.usage_in_bytes");
    let limit_file = cgroup_file("memory", &cgroup, "memory.limit_in_bytes");
    let pids_file = cgroup_file("pids", &cgroup, "pids.current");
    let stats: serde_json::Value =
        serde_json::from_str(&p.cli(&["stats", "--no-stream", "--format", "json", &limited]))
            .unwrap();
    let stats = &stats[0];
    let cpu = m
        .get(
            "container_cpu_usage_seconds_total",
            &[("name", &limited), ("cpu", "total")],
        )
        .unwrap();
    assert!(
        cpu <= cpu_file && cpu_file - cpu < 0.05,
        "CPU {cpu} s, cgroup {cpu_file} s"
    );
    let podman_cpu = go_seconds(stats["cpu_time"].as_str().unwrap());
    assert!(
        (cpu - podman_cpu).abs() < 0.05,
        "CPU {cpu} s, podman stats {podman_cpu} s"
    );
    let mem = series(&m, "container_memory_usage_bytes");
    assert!(
        (mem - mem_file).abs() <= 64.0 * 1024.0,
        "memory {mem}, cgroup {mem_file}"
    );
    let (podman_mem, podman_limit) = stats["mem_usage"]
        .as_str()
        .unwrap()
        .split_once(" / ")
        .map(|(a, b)| (si_bytes(a), si_bytes(b)))
        .unwrap();
    assert!(
        (mem - podman_mem).abs() <= 64.0 * 1024.0,
        "memory {mem}, podman stats {podman_mem}"
    );
    let limit = series(&m, "container_spec_memory_limit_bytes");
    assert_eq!(limit, 64.0 * 1024.0 * 1024.0);
    assert_eq!(limit, limit_file);
    assert!(
        (limit - podman_limit).abs() < 0.01e6,
        "podman stats {podman_limit}"
    );
    assert_eq!(series(&m, "container_spec_cpu_quota"), 50_000.0);
    let threads = series(&m, "container_threads");
    assert_eq!(threads, pids_file);
    assert_eq!(
        threads.to_string(),
        stats["pids"].as_str().unwrap(),
        "podman stats pids"
    );
    // On this host the default source (auto) reads the cgroup files: the
    // pids limit Podman's stats leave out comes from pids.max.
    assert_eq!(series(&m, "container_processes"), 1.0);
    assert_eq!(
        series(&m, "container_threads_max"),
        cgroup_file("pids", &cgroup, "pids.max")
    );
    assert_eq!(series(&m, "container_threads_max"), 50.0);
    // (`gone` is a container that exited between the list and the read: the
    // other test's containers come and go on the same Podman.)
    let misses = m.find("docker_exporter_stats_cgroup_misses_total", &[]);
    assert_eq!(misses.len(), 6);
    for (key, value) in misses {
        if Metrics::label(key, "reason") != Some("gone") {
            assert_eq!(value, 0.0, "a cgroup miss on Podman: {key}");
        }
    }
    // On the engine's stats call Podman sends no pids limit and no failcnt:
    // no series rather than a wrong 0.
    let engine_source = p.exporter(&["--collect.interval=1s", "--collect.stats-source=engine"]);
    let m2 = engine_source
        .wait_for(30, "a stats sample from Podman's stats call", |m| {
            m.get("container_threads", &[("name", &limited)]).is_some()
        })
        .await;
    assert_eq!(
        series(&m2, "container_threads"),
        cgroup_file("pids", &cgroup, "pids.current")
    );
    assert!(!m2.has_family("container_threads_max"), "{}", m2.body);
    assert!(!m2.has_family("container_memory_failcnt_total"));
    assert!(!m2.has_family("container_processes"));
    assert!(!m2.has_family("docker_exporter_stats_cgroup_misses_total"));
    drop(engine_source);
    for collector in ["stats", "engine", "containers", "events"] {
        assert_eq!(
            m.get(
                "docker_exporter_collector_errors_total",
                &[("collector", collector)]
            ),
            Some(0.0),
            "{collector}; the exporter's log:\n{}",
            exporter.log()
        );
    }
    promtool_check(&m.body);

    // Podman's own `stopping` state (a stop waiting for its timeout: a
    // sleeping PID 1 ignores SIGTERM) is served as running, not an error.
    let stopping = name("stopping");
    p.run("stopping", &[], &["sleep", "3600"]);
    exporter
        .wait_for(10, "the stopping container known", |m| {
            m.get("docker_container_info", &[("name", &stopping)])
                .is_some()
        })
        .await;
    {
        let (url, name) = (p.url(), stopping.clone());
        std::thread::spawn(move || {
            let _ = Command::new("podman")
                .args(["--remote", "--url", &url, "stop", "-t", "20", &name])
                .output();
        });
    }
    wait_until(Duration::from_secs(10), "podman to say stopping", || {
        p.inspect("stopping", "{{.State.Status}}") == "stopping"
    });
    let since = docker_exporter::snapshot::now_unix();
    let m = exporter
        .wait_for(10, "a cycle that lists it stopping", |m| {
            m.get("docker_exporter_last_collection_timestamp_seconds", &[])
                .is_some_and(|t| t > since + 0.1)
        })
        .await;
    assert_eq!(
        p.inspect("stopping", "{{.State.Status}}"),
        "stopping",
        "still stopping after the cycle"
    );
    assert_eq!(
        m.get(
            "docker_container_state",
            &[("name", &stopping), ("state", "running")]
        ),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(
        m.get(
            "docker_exporter_collector_errors_total",
            &[("collector", "containers")]
        ),
        Some(0.0)
    );

    // Disk usage as `podman system df` adds it up (Podman's `LayersSize` is 0).
    let df = p.cli(&["system", "df", "--format", "{{.Type}}|{{.RawSize}}"]);
    let podman_df = |kind: &str| -> f64 {
        df.lines()
            .find_map(|l| l.strip_prefix(&format!("{kind}|")))
            .unwrap_or_else(|| panic!("no {kind} in podman system df:\n{df}"))
            .parse()
            .unwrap()
    };
    let images = podman_df("Images");
    assert!(images > 0.0, "{df}");
    let m = exporter
        .wait_for(10, "the disk collector", |m| {
            m.get("docker_disk_usage_bytes", &[("type", "images")])
                .is_some()
        })
        .await;
    assert_eq!(
        m.get("docker_disk_usage_bytes", &[("type", "images")]),
        Some(images),
        "{df}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs podman (scripts/testbed.sh); scripts/test.sh runs it"]
async fn real_podman_events_within_a_second() {
    if !podman_available("real_podman_events_within_a_second") {
        return;
    }
    let p = Podman::start("events");
    let name = p.name("victim");
    p.run("victim", &[], &["sleep", "3600"]);
    p.run(
        "checked",
        &["--health-cmd", "true", "--health-interval", "1h"],
        &["sleep", "3600"],
    );
    // A long interval: only the event stream can explain a change in time.
    let exporter = p.exporter(&["--collect.interval=60s"]);
    exporter
        .wait_for(30, "the victim running, the stream connected", |m| {
            m.get(
                "docker_container_state",
                &[("name", &name), ("state", "running")],
            ) == Some(1.0)
                && m.get(
                    "docker_exporter_collector_success",
                    &[("collector", "events")],
                )
                .is_some()
        })
        .await;
    // Podman subscribes the stream in the background: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // podman stop (a sleeping PID 1 ignores SIGTERM: -t 0 kills at once).
    // The CLI returns a while after the container died (it waits for the
    // clean-up): scrape meanwhile, from another thread.
    let stop = {
        let (url, name) = (p.url(), name.clone());
        std::thread::spawn(move || {
            Command::new("podman")
                .args(["--remote", "--url", &url, "stop", "-t", "0", &name])
                .output()
                .unwrap()
        })
    };
    let m = exporter
        .wait_for(5, "the stop seen", |m| {
            m.get(
                "docker_container_state",
                &[("name", &name), ("state", "exited")],
            ) == Some(1.0)
                && m.get(
                    "docker_container_events_total",
                    &[("name", &name), ("action", "die")],
                ) == Some(1.0)
        })
        .await;
    // Timed from the moment the container died, as Podman recorded it (the
    // CLI's own start-up is no part of it).
    let seen = docker_exporter::snapshot::now_unix();
    assert!(stop.join().unwrap().status.success(), "podman stop");
    let finished = p.inspect(
        "victim",
        "{{.State.FinishedAt.Format \"2006-01-02T15:04:05.000000000Z07:00\"}}",
    );
    let died = docker_exporter::snapshot::unix_time(&finished)
        .unwrap_or_else(|| panic!("FinishedAt {finished:?}"));
    let took = seen - died;
    eprintln!("container died -> state exited and die counted on /metrics: {took:.3} s");
    assert!((0.0..1.0).contains(&took), "the stop took {took} s to show");
    assert_eq!(
        m.get("docker_container_exit_code", &[("name", &name)]),
        Some(137.0)
    );

    // `remove` is counted as `destroy` and the container's series go.
    let removed = Instant::now();
    p.cli(&["rm", &name]);
    let m = exporter
        .wait_for(5, "the removal seen", |m| {
            m.get("docker_container_info", &[("name", &name)]).is_none()
                && m.get(
                    "docker_container_events_total",
                    &[("name", &name), ("action", "destroy")],
                ) == Some(1.0)
        })
        .await;
    assert!(
        removed.elapsed() < Duration::from_secs(1),
        "{:?}",
        removed.elapsed()
    );
    assert_eq!(
        m.get(
            "docker_events_total",
            &[("type", "container"), ("action", "remove")]
        )
        .map(|n| n >= 1.0),
        Some(true)
    );

    // Health: Podman's bare `health_status` event, status beside it. Podman
    // 4.3.1 reports the status before the check it ran, so the second run
    // is the first to say `healthy` (docs/podman.md).
    let checked = p.name("checked");
    for _ in 0..2 {
        p.cli(&["healthcheck", "run", &checked]);
    }
    let m = exporter
        .wait_for(5, "the health events", |m| {
            m.get(
                "docker_container_health_status",
                &[("name", &checked), ("status", "healthy")],
            ) == Some(1.0)
                && m.get(
                    "docker_container_events_total",
                    &[("name", &checked), ("action", "health_status_healthy")],
                ) == Some(1.0)
        })
        .await;
    promtool_check(&m.body);
}

#[test]
fn a_bad_container_host_names_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
        .env_remove("DOCKER_HOST")
        .env("CONTAINER_HOST", "ssh://core@host/run/podman/podman.sock")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--docker.host"), "{err}");
}

/// Podman answers the stats of a container that is not running with `200 OK`
/// and an empty body: that is no sample, while a cut-off body stays an error.
#[tokio::test]
async fn an_empty_stats_answer_is_no_sample_and_a_cut_one_an_error() {
    use docker_exporter::docker::{ApiVersion, Client, Endpoint};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = vec![0; 4096];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let body = if request.contains("/containers/stopped/") {
                ""
            } else {
                r#"{"read": "2026-12-07T12:46:16Z", "cpu_st"#
            };
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes()).await;
        }
    });
    let client = Client::new(
        Endpoint::Tcp(addr.to_string()),
        Duration::from_secs(5),
        Some(ApiVersion(1, 41)),
    );
    assert!(matches!(client.stats("stopped", true).await, Ok(None)));
    let cut = client.stats("cut", true).await;
    assert!(cut.is_err(), "a cut-off body is an error: {cut:?}");
}
