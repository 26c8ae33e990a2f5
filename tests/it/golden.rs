//! Golden `/metrics` for each fixture set, served by the simulated engine in
//! replay mode. `UPDATE_GOLDEN=1 cargo test golden` rewrites the files.

use crate::exposition::{self, Syntax};
use crate::support::*;
use std::path::Path;
use std::time::Duration;

/// Replaces what changes from run to run (durations, the snapshot's time,
/// the build) with placeholders.
pub(crate) fn normalise(body: &str) -> String {
    body.lines()
        .map(|line| {
            if line.starts_with("docker_exporter_collector_duration_seconds{")
                || line.starts_with("docker_exporter_last_collection_timestamp_seconds ")
            {
                let (series, _) = line.rsplit_once(' ').unwrap();
                format!("{series} <varies>")
            } else if line.starts_with("docker_exporter_build_info{") {
                "docker_exporter_build_info{<build>} 1".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Compares `got` with `tests/golden/<name>.prom` (rewrites it first under
/// `UPDATE_GOLDEN`).
pub(crate) fn check(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        eprintln!("rewrote {}", path.display());
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (make it with UPDATE_GOLDEN=1)", path.display()));
    if got != want {
        panic!(
            "/metrics differs from {} ({} vs {} lines):\n{}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            first_differences(&want, got)
        );
    }
}

/// The first ten lines where `got` differs from `want`, as `- want` / `+ got`.
pub fn first_differences(want: &str, got: &str) -> String {
    let diff: Vec<String> = want
        .lines()
        .zip(got.lines())
        .filter(|(a, b)| a != b)
        .take(10)
        .map(|(a, b)| format!("- {a}\n+ {b}"))
        .collect();
    diff.join("\n")
}

/// The lines of `body` (HELP and TYPE included) of the series whose name,
/// or name and labels, start with one of `prefixes`, normalised; a
/// `*_timestamp_seconds` value becomes `<varies>`.
pub(crate) fn subset(body: &str, prefixes: &[&str]) -> String {
    let kept: Vec<String> = body
        .lines()
        .filter(|l| {
            let series = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            prefixes.iter().any(|p| series.starts_with(p))
        })
        .map(|l| match l.split_once("_timestamp_seconds ") {
            Some((series, _)) if !l.starts_with('#') => {
                format!("{series}_timestamp_seconds <varies>")
            }
            _ => l.to_string(),
        })
        .collect();
    normalise(&kept.join("\n"))
}

/// The exporter on the simulator serving fixture set `set`, with `extra`
/// flags, once its first cycle and the event stream have reported; the
/// simulator goes with it.
pub async fn on_fixtures(set: &str, extra: &[&str]) -> (Sim, Exporter, Metrics) {
    let sim = Sim::start(&["--fixtures", fixtures(set).to_str().unwrap()]);
    let host = sim.host();
    let mut args = vec![
        host.as_str(),
        "--collect.interval=60s",
        "--collect.container-labels=com.docker.compose.project,com.docker.compose.service,org.example.note",
    ];
    args.extend_from_slice(extra);
    let exporter = Exporter::start(&args).await;
    let m = exporter
        .wait_for(
            Duration::from_secs(20),
            "the first cycle and the event stream",
            |m| {
                ["stats", "events"].iter().all(|c| {
                    m.get("docker_exporter_collector_success", &[("collector", c)])
                        .is_some()
                })
            },
        )
        .await;
    (sim, exporter, m)
}

async fn golden(set: &str) {
    let (_sim, exporter, m) = on_fixtures(set, &[]).await;
    promtool_check(&m.body);
    // Both formats parse strictly, with the same series.
    let text = exposition::parse(&m.body, Syntax::Text).unwrap_or_else(|e| panic!("{set}: {e}"));
    let om = exporter
        .get(
            "/metrics",
            &[("accept", "application/openmetrics-text; version=1.0.0")],
        )
        .await
        .text();
    let om = exposition::parse(&om, Syntax::OpenMetrics).unwrap_or_else(|e| panic!("{set}: {e}"));
    let count = |f: &[exposition::Family]| f.iter().map(|f| f.samples.len()).sum::<usize>();
    assert!(text.len() > 40, "{set}: {} families", text.len());
    assert_eq!(
        count(&text),
        count(&om),
        "{set}: text and OpenMetrics series"
    );
    check(set, &normalise(&m.body));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_engine_20_10_cgroup_v1() {
    golden("engine-20.10-cgroupv1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_engine_25_cgroup_v2() {
    golden("engine-25-cgroupv2").await;
}

/// Podman 4.3's compatible API (recorded by `tests/fixtures/record-podman.sh`):
/// `engine="podman"`, Podman's cgroup paths in `id`, no pids limit or failcnt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_podman_4_3_cgroup_v1() {
    golden("podman-4.3-cgroupv1").await;
}

/// A Swarm manager's answers (recorded by `tests/swarm.rs`): the
/// `docker_swarm_*` families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_swarm_manager() {
    let sim = Sim::start(&["--fixtures", fixtures("swarm-20.10").to_str().unwrap()]);
    let exporter = Exporter::start(&[
        &sim.host(),
        "--collect.interval=200ms",
        "--collector.swarm.interval=200ms",
    ])
    .await;
    let m = exporter
        .wait_for(Duration::from_secs(20), "the swarm families", |m| {
            m.has_family("docker_swarm_service_replicas_desired")
        })
        .await;
    promtool_check(&m.body);
    exposition::parse(&m.body, Syntax::Text).unwrap();
    let services = m.find("docker_swarm_service_info", &[]);
    assert_eq!(services.len(), 2, "{}", m.body);
    for (series, _) in services {
        let name = Metrics::label(series, "service").unwrap();
        let want = if name.ends_with("-web") { 3.0 } else { 1.0 };
        assert_eq!(
            m.get(
                "docker_swarm_service_replicas_desired",
                &[("service", name)]
            ),
            Some(want)
        );
        assert_eq!(
            m.get(
                "docker_swarm_service_replicas_running",
                &[("service", name)]
            ),
            Some(want)
        );
    }
    check(
        "swarm-20.10",
        &subset(
            &m.body,
            &[
                "docker_swarm_",
                "docker_exporter_collector_success{collector=\"swarm\"}",
                "docker_exporter_collector_errors_total{collector=\"swarm\"}",
            ],
        ),
    );
    exporter.stop().await;
}
