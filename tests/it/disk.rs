//! The `disk` collector (`--collector.disk`, `GET /system/df`): its families
//! from a fixture (golden), its own task (a slow answer delays no cycle and
//! no scrape, two runs never overlap, a failed run keeps the last figures),
//! and, on the real daemon, agreement with `docker system df` and
//! `docker ps --size`.

use crate::golden;
use crate::support::*;
use std::time::{Duration, Instant};

/// The families the disk collector adds.
const DISK_FAMILIES: [&str; 6] = [
    "docker_disk_",
    "docker_volume_usage_bytes",
    "container_fs_usage_bytes",
    "docker_container_size_",
    "docker_exporter_collector_success{collector=\"disk\"}",
    "docker_exporter_collector_errors_total{collector=\"disk\"}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_families_from_the_fixture_match_the_golden_file() {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let exporter =
        Exporter::start(&[&sim.host(), "--collect.interval=60s", "--collector.disk"]).await;
    let m = exporter
        .wait_for(
            Duration::from_secs(20),
            "the disk figures and a cycle",
            |m| {
                m.has_family("docker_disk_usage_bytes")
                    && m.get(
                        "docker_exporter_collector_success",
                        &[("collector", "stats")],
                    )
                    .is_some()
            },
        )
        .await;
    promtool_check(&m.body);
    let usage = |t: &str| m.get("docker_disk_usage_bytes", &[("type", t)]).unwrap();
    let reclaimable = |t: &str| {
        m.get("docker_disk_reclaimable_bytes", &[("type", t)])
            .unwrap()
    };
    // Writable layers: wget 12288, httpd 4096, oom 5 MiB, exited3 1024, running 2 MiB;
    // reclaimable: the ones not running, paused or restarting.
    assert_eq!(usage("containers"), 7_357_440.0);
    assert_eq!(reclaimable("containers"), 5_243_904.0);
    // The one image is in use: nothing to reclaim.
    assert_eq!(usage("images"), 1_984_132.0);
    assert_eq!(reclaimable("images"), 0.0);
    // Two sized volumes (one unreferenced), one the engine did not size.
    assert_eq!(usage("volumes"), 1_056_768.0);
    assert_eq!(reclaimable("volumes"), 8_192.0);
    assert_eq!(
        (usage("build_cache"), reclaimable("build_cache")),
        (0.0, 0.0)
    );
    assert!(m
        .get(
            "docker_volume_usage_bytes",
            &[("volume", "dexpfix-unsized")]
        )
        .is_none());
    // cAdvisor's family only for containers with a cgroup; the sizes for all.
    let fs = |name: &str| m.get("container_fs_usage_bytes", &[("name", name)]);
    assert_eq!(fs("dexpfix-running"), Some(2_097_152.0));
    assert_eq!(fs("dexpfix-paused"), Some(0.0));
    assert_eq!(fs("dexpfix-oom"), None);
    assert_eq!(
        m.get("docker_container_size_rw_bytes", &[("name", "dexpfix-oom")]),
        Some(5_242_880.0)
    );
    assert_eq!(
        m.get(
            "container_fs_usage_bytes",
            &[("name", "dexpfix-running"), ("device", "overlay2")]
        ),
        Some(2_097_152.0),
        "device is the storage driver"
    );

    golden::check(
        "disk-engine-20.10-cgroupv1",
        &golden::subset(&m.body, &DISK_FAMILIES),
    );

    // A removed container loses its series at the next cycle, without a new df.
    sim.post_event("dexpfix-running", "destroy").await;
    exporter
        .wait_for(
            Duration::from_secs(10),
            "the removed container's series to go",
            |m| {
                m.get(
                    "docker_container_size_rw_bytes",
                    &[("name", "dexpfix-running")],
                )
                .is_none()
                    && m.get("container_fs_usage_bytes", &[("name", "dexpfix-running")])
                        .is_none()
            },
        )
        .await;
    exporter.stop().await;
}

async fn df_calls(sim: &Sim) -> u64 {
    sim.calls().await["by_endpoint"]["df"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_system_df_delays_no_cycle_and_no_scrape() {
    let sim = Sim::start(&["--containers", "20"]);
    sim.control(
        "POST",
        "/_sim/set",
        Some(serde_json::json!({"df_latency": "4s"})),
    )
    .await;
    let exporter = Exporter::start(&[
        &sim.host(),
        "--collect.interval=200ms",
        "--collector.disk",
        // Shorter than the answer: the next run must wait for the last one.
        "--collector.disk.interval=500ms",
    ])
    .await;
    exporter.wait_ready(Duration::from_secs(10)).await;
    let first = exporter.metrics().await;
    let cycle_at = |m: &Metrics| {
        m.get("docker_exporter_last_collection_timestamp_seconds", &[])
            .unwrap()
    };
    let start = cycle_at(&first);
    // While the first df is under way: cycles go on every 200 ms, scrapes are fast.
    let mut slowest = Duration::ZERO;
    let mut cycles = std::collections::BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let t = Instant::now();
        let m = exporter.metrics().await;
        slowest = slowest.max(t.elapsed());
        assert!(!m.has_family("docker_disk_usage_bytes"), "no df answer yet");
        cycles.insert(cycle_at(&m).to_bits());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        cycles.len() >= 8,
        "cycles went on during the slow df: {} distinct cycle times in 3 s",
        cycles.len()
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest scrape {slowest:?}"
    );
    assert!(cycle_at(&exporter.metrics().await) > start);
    assert_eq!(df_calls(&sim).await, 1, "one df at a time");
    let m = exporter
        .wait_for(Duration::from_secs(10), "the slow df's answer", |m| {
            m.has_family("docker_disk_usage_bytes")
        })
        .await;
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "disk")]
        ),
        Some(1.0)
    );
    let took = m
        .get(
            "docker_exporter_collector_duration_seconds",
            &[("collector", "disk")],
        )
        .unwrap();
    assert!(took >= 4.0, "the disk run took {took} s");
    // Runs never overlap: one call per ~4 s answer, however short the interval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(df_calls(&sim).await <= 2, "one df at a time");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_df_keeps_the_last_figures_and_reports_the_error() {
    let sim = Sim::start(&["--containers", "20"]);
    let exporter = Exporter::start(&[
        &sim.host(),
        "--collect.interval=200ms",
        "--collector.disk",
        "--collector.disk.interval=300ms",
        "--collector.disk.timeout=500ms",
    ])
    .await;
    let m = exporter
        .wait_for(Duration::from_secs(10), "a first df answer", |m| {
            m.has_family("container_fs_usage_bytes")
        })
        .await;
    let before = m.get("docker_disk_usage_bytes", &[("type", "containers")]);
    assert!(before.unwrap() > 0.0);
    sim.control(
        "POST",
        "/_sim/set",
        Some(serde_json::json!({"df_latency": "5s"})),
    )
    .await;
    // A df that started before the latency was set may still succeed: the
    // figures to keep are the ones standing when the first failure is seen.
    let failed = |m: &Metrics| {
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "disk")],
        ) == Some(0.0)
    };
    let errors = |m: &Metrics| {
        m.get(
            "docker_exporter_collector_errors_total",
            &[("collector", "disk")],
        )
        .unwrap_or(0.0)
    };
    let first = exporter
        .wait_for(Duration::from_secs(10), "a timed-out df", failed)
        .await;
    assert!(errors(&first) >= 1.0);
    let stamp = first.get("docker_disk_collected_timestamp_seconds", &[]);
    assert!(stamp.is_some());
    let m = exporter
        .wait_for(Duration::from_secs(10), "a second timed-out df", |m| {
            failed(m) && errors(m) > errors(&first)
        })
        .await;
    assert_eq!(
        m.get("docker_disk_usage_bytes", &[("type", "containers")]),
        before
    );
    assert_eq!(
        m.get("docker_disk_collected_timestamp_seconds", &[]),
        stamp,
        "the figures are the last answer's"
    );
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "stats")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_is_off_by_default_and_swarm_silent_off_a_manager() {
    let sim = Sim::start(&["--containers", "5"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=200ms"]).await;
    exporter.wait_ready(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = exporter.metrics().await;
    assert!(!m.has_family("docker_disk_usage_bytes"));
    assert!(m
        .get(
            "docker_exporter_collector_success",
            &[("collector", "disk")]
        )
        .is_none());
    assert_eq!(df_calls(&sim).await, 0);
    // On a standalone engine the swarm collector (on by default) is silent too.
    assert_eq!(sim.calls().await["by_endpoint"]["swarm"], 0);
    assert!(m
        .get(
            "docker_exporter_collector_success",
            &[("collector", "swarm")]
        )
        .is_none());
    assert!(!m.has_family("docker_swarm_service_replicas_desired"));
    exporter.stop().await;
}

/// Bytes of a size as the docker CLI prints it (`23.23MB`, `0B`, `1.5kB`:
/// decimal units, 3 or 4 significant digits).
fn cli_bytes(s: &str) -> f64 {
    let s = s.split(" (").next().unwrap().trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => panic!("unit {other:?} in {s:?}"),
    };
    number.parse::<f64>().unwrap_or_else(|_| panic!("{s:?}")) * scale
}

/// Whether the exporter's `bytes` prints as the CLI's `shown` (rounded to
/// 3 significant digits at worst).
fn agrees(bytes: f64, shown: &str) -> bool {
    let cli = cli_bytes(shown);
    (bytes - cli).abs() <= cli * 0.005 + 1.0
}

/// `docker system df`: (type label, size, reclaimable) for each line.
fn system_df() -> Vec<(&'static str, String, String)> {
    docker(&["system", "df", "--format", "{{json .}}"])
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let kind = match v["Type"].as_str().unwrap() {
                "Images" => "images",
                "Containers" => "containers",
                "Local Volumes" => "volumes",
                "Build Cache" => "build_cache",
                other => panic!("type {other:?}"),
            };
            let text = |k: &str| v[k].as_str().unwrap().to_string();
            (kind, text("Size"), text("Reclaimable"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn disk_figures_agree_with_docker_system_df_and_docker_ps_size() {
    require_real_daemon();
    let sc = Scenario::new("disk");
    sc.run(
        "writer",
        &[],
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/fill bs=1M count=5 && sleep 3600",
        ],
    );
    let name = sc.name("writer");
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=500ms",
        "--collector.disk",
        "--collector.disk.interval=1s",
    ])
    .await;
    let m = exporter
        .wait_for(Duration::from_secs(60), "the 5 MiB writable layer", |m| {
            m.get("container_fs_usage_bytes", &[("name", &name)])
                .is_some_and(|v| v >= 5.0 * 1024.0 * 1024.0)
        })
        .await;
    let rw = m
        .get("container_fs_usage_bytes", &[("name", &name)])
        .unwrap();
    let filter = format!("name=^/{name}$");
    let shown = docker(&["ps", "--size", "--filter", &filter, "--format", "{{.Size}}"]);
    // `5.24MB (virtual 7.23MB)`: the writable layer, and the root filesystem.
    assert!(agrees(rw, &shown), "{rw} vs docker ps --size {shown:?}");
    let root_fs = m
        .get("docker_container_size_root_fs_bytes", &[("name", &name)])
        .unwrap();
    let virtual_size = shown
        .split("virtual ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    assert!(agrees(root_fs, virtual_size), "{root_fs} vs {shown:?}");

    // Other tests change the daemon meanwhile: compare an exporter answer
    // taken between two identical `docker system df` answers.
    let mut last = String::new();
    for _ in 0..20 {
        let before = system_df();
        let since = docker_exporter::snapshot::now_unix();
        let m = exporter
            .wait_for(
                Duration::from_secs(20),
                "a df answer newer than the CLI's",
                |m| {
                    m.get("docker_disk_collected_timestamp_seconds", &[])
                        .is_some_and(|t| t > since)
                },
            )
            .await;
        let after = system_df();
        let ours = |family: &str, kind: &str| m.get(family, &[("type", kind)]).unwrap();
        let matching = before.iter().all(|(kind, size, reclaimable)| {
            agrees(ours("docker_disk_usage_bytes", kind), size)
                && agrees(ours("docker_disk_reclaimable_bytes", kind), reclaimable)
        });
        if before == after && matching {
            assert_eq!(before.len(), 4, "{before:?}");
            eprintln!(
                "writable layer {rw} B, root fs {root_fs} B ({shown}); docker system df {before:?}"
            );
            exporter.stop().await;
            return;
        }
        last = format!(
            "docker system df {before:?} then {after:?}; exporter:\n{}",
            m.body
        );
    }
    panic!("the disk figures never agreed with docker system df: {last}");
}
