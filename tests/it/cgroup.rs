//! The cgroup stats source (`--collect.stats-source`): on the recorded
//! fixtures' cgroup trees (cgroup v1 + cgroupfs, cgroup v2 + systemd) it gives
//! the engine path's golden output; broken trees fall back or skip, counted;
//! on the real daemon the `cgroup` and `engine` sources agree.

use crate::golden::{first_differences, normalise, on_fixtures};
use crate::support::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Families only the cgroup source serves (docs/resource-metrics.md), and the
/// counter of its misses.
const CGROUP_ONLY: [&str; 3] = [
    "container_processes",
    "container_memory_swap",
    "docker_exporter_stats_cgroup_misses_total",
];
/// Only the cgroup source serves these on cgroup v2 (the engine reports no
/// IO operation counts, nor a peak, there).
const CGROUP_ONLY_V2: [&str; 3] = [
    "container_fs_reads_total",
    "container_fs_writes_total",
    "container_memory_max_usage_bytes",
];

/// The body without the families of `drop`, and with `container_last_seen`
/// (the read time: the recording's on one source, now on the other) masked.
fn comparable(body: &str, drop: &[&str]) -> String {
    let family = |l: &str| {
        let s = l
            .strip_prefix("# HELP ")
            .or_else(|| l.strip_prefix("# TYPE "))
            .unwrap_or(l);
        s.split(['{', ' ']).next().unwrap_or("").to_string()
    };
    body.lines()
        .filter(|l| !drop.contains(&family(l).as_str()))
        .map(|l| match l.rsplit_once(' ') {
            Some((series, _)) if l.starts_with("container_last_seen{") => {
                format!("{series} <varies>")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Serves fixture set `set` from the simulator and the exporter reads stats
/// from the cgroup tree at `tree` with `source`; returns the first complete
/// `/metrics`.
async fn scrape(set: &str, tree: &Path, source: &str) -> Metrics {
    let sysfs = format!("--path.sysfs={}", tree.join("sys").display());
    let procfs = format!("--path.procfs={}", tree.join("proc").display());
    let source = format!("--collect.stats-source={source}");
    let (_sim, exporter, m) = on_fixtures(set, &[&source, &sysfs, &procfs]).await;
    promtool_check(&m.body);
    exporter.stop().await;
    m
}

fn golden_body(set: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{set}.prom"));
    std::fs::read_to_string(path).unwrap()
}

fn misses(m: &Metrics, reason: &str) -> f64 {
    m.get(
        "docker_exporter_stats_cgroup_misses_total",
        &[("reason", reason)],
    )
    .unwrap_or_else(|| panic!("no misses counter for {reason}:\n{}", m.body))
}

async fn same_as_engine(set: &str, tree: &str, v2: bool) {
    let m = scrape(set, &fixtures(tree), "auto").await;
    let drop: Vec<&str> = CGROUP_ONLY
        .iter()
        .chain(if v2 { &CGROUP_ONLY_V2[..] } else { &[] })
        .copied()
        .collect();
    let want = comparable(&golden_body(set), &drop);
    let got = comparable(&normalise(&m.body), &drop);
    if got != want {
        panic!(
            "{tree}: differs from the engine's golden:\n{}",
            first_differences(&want, &got)
        );
    }
    // The cgroup source was used: 7 running or paused containers read from
    // their trees; the restarting one (no pid) was asked of the engine.
    assert_eq!(m.find("container_processes", &[]).len(), 7, "{}", m.body);
    assert_eq!(misses(&m, "no_pid"), 1.0);
    assert_eq!(misses(&m, "gone"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroup_v1_cgroupfs_tree_gives_the_engine_golden() {
    same_as_engine("engine-20.10-cgroupv1", "cgroup-v1-cgroupfs", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroup_v2_systemd_tree_gives_the_engine_golden() {
    same_as_engine("engine-25-cgroupv2", "cgroup-v2-systemd", true).await;
    // The v2 extras are there, from io.stat.
    let m = scrape(
        "engine-25-cgroupv2",
        &fixtures("cgroup-v2-systemd"),
        "cgroup",
    )
    .await;
    assert_eq!(
        m.get(
            "container_fs_reads_total",
            &[("name", "dexpfix-busy"), ("device", "8:0")]
        ),
        Some(0.0)
    );
}

/// A copy of a fixture tree that a test may break.
struct TempTree(PathBuf);

impl TempTree {
    fn copy(tree: &str, test: &str) -> TempTree {
        let dir = std::env::temp_dir().join(format!("dexp-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ok = std::process::Command::new("cp")
            .arg("-r")
            .arg(fixtures(tree))
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cp -r {tree}");
        TempTree(dir)
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The directory of container `name`'s cgroup in a v2 tree (found by its pid).
fn v2_dir(tree: &Path, set: &str, name: &str) -> PathBuf {
    for e in std::fs::read_dir(fixtures(set).join("inspect")).unwrap() {
        let i: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        if i["Name"] == format!("/{name}") {
            let id = i["Id"].as_str().unwrap();
            return tree.join(format!("sys/fs/cgroup/system.slice/docker-{id}.scope"));
        }
    }
    panic!("no container {name} in {set}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_trees_fall_back_or_skip_counted() {
    let set = "engine-25-cgroupv2";
    let t = TempTree::copy("cgroup-v2-systemd", "cgroup-broken");
    // One container exited between the list and the read (its cgroup is
    // gone), one has a file that cannot be read (a directory in its place).
    std::fs::remove_dir_all(v2_dir(&t.0, set, "dexpfix-busy")).unwrap();
    let stat = v2_dir(&t.0, set, "dexpfix-wget").join("memory.stat");
    std::fs::remove_file(&stat).unwrap();
    std::fs::create_dir(&stat).unwrap();

    // auto: both asked of the engine: the output is still the engine's.
    let m = scrape(set, &t.0, "auto").await;
    assert_eq!(misses(&m, "gone"), 1.0);
    assert_eq!(misses(&m, "unreadable"), 1.0);
    let drop = [&CGROUP_ONLY[..], &CGROUP_ONLY_V2[..]].concat();
    assert_eq!(
        comparable(&normalise(&m.body), &drop),
        comparable(&golden_body(set), &drop)
    );
    assert_eq!(m.find("container_processes", &[]).len(), 5);
    for name in ["dexpfix-busy", "dexpfix-wget"] {
        assert!(m
            .get("container_cpu_usage_seconds_total", &[("name", name)])
            .is_some());
    }
    assert_eq!(
        m.get(
            "docker_exporter_collector_errors_total",
            &[("collector", "stats")]
        ),
        Some(0.0),
        "a fallback is not an error"
    );

    // cgroup: the gone one has no sample, the unreadable one is an error.
    let m = scrape(set, &t.0, "cgroup").await;
    assert_eq!(misses(&m, "gone"), 1.0);
    assert_eq!(misses(&m, "unreadable"), 1.0);
    for name in ["dexpfix-busy", "dexpfix-wget"] {
        assert_eq!(
            m.get("container_cpu_usage_seconds_total", &[("name", name)]),
            None
        );
    }
    assert!(m
        .get(
            "container_cpu_usage_seconds_total",
            &[("name", "dexpfix-httpd")]
        )
        .is_some());
    assert_eq!(
        m.get(
            "docker_exporter_collector_errors_total",
            &[("collector", "stats")]
        ),
        Some(1.0),
        "the unreadable one (the restarting one, without a pid, has no stats: no error)"
    );

    // A missing mount: every live container misses; auto asks the engine.
    let none = t.0.join("nothing-mounted-here");
    let m = scrape(set, &none, "auto").await;
    assert_eq!(misses(&m, "no_mount"), 7.0);
    assert!(m
        .get(
            "container_cpu_usage_seconds_total",
            &[("name", "dexpfix-httpd")]
        )
        .is_some());
    let m = scrape(set, &none, "cgroup").await;
    assert_eq!(misses(&m, "no_mount"), 7.0);
    assert!(m.find("container_cpu_usage_seconds_total", &[]).is_empty());
    assert!(m.has_family("docker_container_state"), "the rest is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_source_reads_no_cgroup_and_has_no_misses_counter() {
    let m = scrape(
        "engine-20.10-cgroupv1",
        &fixtures("cgroup-v1-cgroupfs"),
        "engine",
    )
    .await;
    assert!(!m.has_family("docker_exporter_stats_cgroup_misses_total"));
    assert!(m.find("container_processes", &[]).is_empty());
    let want = comparable(&golden_body("engine-20.10-cgroupv1"), &[]);
    assert_eq!(comparable(&normalise(&m.body), &[]), want);
}

/// A user-defined network of the test, removed in every outcome.
struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

/// `container_*` series of the test's containers: `family{labels}`, less the
/// families only one source serves.
fn series_of(m: &Metrics, prefix: &str) -> BTreeSet<String> {
    m.series
        .keys()
        .filter(|k| k.starts_with("container_") && k.contains(&format!("name=\"{prefix}")))
        .filter(|k| !CGROUP_ONLY.iter().any(|f| k.starts_with(&format!("{f}{{"))))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn cgroup_and_engine_sources_agree_on_the_real_daemon() {
    require_real_daemon();
    let sc = Scenario::new("cgsrc");
    let net = Network(sc.name("net"));
    docker(&["network", "create", &net.0]);
    sc.run_busy_cpu("cpu", &["--cpus", "0.5"]);
    sc.run(
        "mem",
        &["-m", "32m"],
        &["sh", "-c", "head -c 8m /dev/zero > /dev/shm/x; sleep 3600"],
    );
    sc.run(
        "pids",
        &["--pids-limit", "20"],
        &["sh", "-c", "for i in 1 2 3 4; do sleep 3600 & done; wait"],
    );
    let server = sc.name("httpd");
    sc.run(
        "httpd",
        &["--network", &net.0],
        &[
            "sh",
            "-c",
            "echo hello > /var/www/index.html; exec httpd -f -p 8080 -h /var/www",
        ],
    );
    let fetch = format!("while :; do wget -q -O /dev/null http://{server}:8080/; sleep 0.1; done");
    sc.run("wget", &["--network", &net.0], &["sh", "-c", &fetch]);

    // Only this scenario's containers: another test's restarting container
    // would count `gone` misses here.
    let only = format!("--container.include={}.*", sc.name(""));
    let common = [
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=1s",
        &only,
    ];
    let engine = Exporter::start(&[
        common[0],
        common[1],
        common[2],
        "--collect.stats-source=engine",
    ])
    .await;
    let cgroup = Exporter::start(&[
        common[0],
        common[1],
        common[2],
        "--collect.stats-source=cgroup",
    ])
    .await;
    let all = ["cpu", "mem", "pids", "httpd", "wget"];
    let ready = |m: &Metrics| {
        all.iter().all(|s| {
            m.get(
                "container_cpu_usage_seconds_total",
                &[("name", &sc.name(s))],
            )
            .is_some()
        }) && ["httpd", "wget"].iter().all(|s| {
            m.get(
                "container_network_transmit_bytes_total",
                &[("name", &sc.name(s)), ("interface", "eth0")],
            )
            .is_some_and(|v| v > 0.0)
        })
    };
    engine
        .wait_for(Duration::from_secs(30), "engine stats", ready)
        .await;
    cgroup
        .wait_for(Duration::from_secs(30), "cgroup stats", ready)
        .await;

    // Reads in the order engine, cgroup, engine, such that the cgroup sample
    // was taken between the two engine samples of every container.
    let seen = |m: &Metrics, s: &str| {
        m.get("container_last_seen", &[("name", &sc.name(s))])
            .unwrap()
    };
    let (e1, c, e2) = 'found: {
        for _ in 0..40 {
            let e1 = engine.metrics().await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            let c = cgroup.metrics().await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            let e2 = engine.metrics().await;
            if all
                .iter()
                .all(|s| seen(&e1, s) <= seen(&c, s) && seen(&c, s) <= seen(&e2, s))
            {
                break 'found (e1, c, e2);
            }
        }
        panic!("never a cgroup sample between two engine samples");
    };

    // The same series, except those only one source serves.
    let (se, sc_) = (series_of(&e2, &sc.prefix), series_of(&c, &sc.prefix));
    // 5 containers × at least the CPU, memory, threads and spec families.
    assert!(se.len() > 5 * 20, "{} series compared", se.len());
    eprintln!("{} series compared", se.len());
    assert_eq!(
        se.symmetric_difference(&sc_).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "series only one source has"
    );
    for s in all {
        let name = sc.name(s);
        let l = [("name", name.as_str())];
        // Counters: between the engine's two reads (the engine stamps its
        // sample a little after it reads the files: a small slack).
        for key in se
            .iter()
            .filter(|k| k.contains(&format!("name=\"{name}\"")))
        {
            let fam = key.split('{').next().unwrap();
            let (a, b, v) = (e1.series.get(key), e2.series[key], c.series[key]);
            let a = a.copied().unwrap_or(b);
            if fam.ends_with("_total") {
                let slack = if fam.starts_with("container_cpu") {
                    0.05
                } else {
                    0.0
                };
                assert!(
                    a - slack <= v && v <= b + slack,
                    "{key}: cgroup {v} not within the engine's {a}..{b}"
                );
            } else if fam.starts_with("container_memory") {
                let (lo, hi) = (a.min(b), a.max(b));
                let tol = 1_048_576.0_f64.max(0.1 * hi);
                assert!(
                    v >= lo - tol && v <= hi + tol,
                    "{key}: cgroup {v} vs engine {a}..{b}"
                );
            } else if fam == "container_threads" {
                // Short-lived children (the client's wget and sleep) come and go.
                let (lo, hi) = (a.min(b), a.max(b));
                assert!(
                    v >= lo - 3.0 && v <= hi + 3.0,
                    "{key}: cgroup {v} vs engine {a}..{b}"
                );
            } else if fam != "container_last_seen" {
                assert!(v == a || v == b, "{key}: cgroup {v} vs engine {a}, {b}");
            }
        }
        let processes = c.get("container_processes", &l).unwrap();
        assert!(processes >= 1.0, "{name}: {processes} processes");
    }
    let pids = [("name", sc.name("pids"))];
    let pids: Vec<(&str, &str)> = pids.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(c.get("container_processes", &pids).unwrap() >= 5.0);
    assert_eq!(c.get("container_threads_max", &pids), Some(20.0));
    let mem = [("name", sc.name("mem"))];
    let mem: Vec<(&str, &str)> = mem.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(c.get("container_memory_usage_bytes", &mem).unwrap() > 8.0 * 1_048_576.0);
    assert!(!c.body.contains("reason=\"gone\"} 1"), "{}", c.body);
    promtool_check(&c.body);
    engine.stop().await;
    cgroup.stop().await;
    drop(sc);
    drop(net);
}
