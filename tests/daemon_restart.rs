//! The real daemon restarted under a running exporter: the exporter reconnects
//! by itself, `docker_up` returns to 1, and its event counters match what
//! `docker events` reports for the test's container, before and after.
//!
//! A binary of its own, so that no other real-daemon test runs while dockerd
//! is down (cargo runs test binaries one after another).

#[path = "it/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Actions of `docker events` for one container name between two times,
/// in the exporter's spelling (`health_status: x` → `health_status_x`).
fn docker_events(name: &str, since: &str, until: &str) -> BTreeMap<String, f64> {
    let out = docker(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "type=container",
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    let mut counts = BTreeMap::new();
    for action in out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("exec_"))
    {
        *counts.entry(action.replace(": ", "_")).or_insert(0.0) += 1.0;
    }
    counts
}

fn restart_dockerd() {
    let pids = Command::new("pgrep")
        .args(["-x", "dockerd"])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&pids.stdout).to_string();
    assert!(!pids.trim().is_empty(), "no dockerd process to restart");
    for pid in pids.split_whitespace() {
        Command::new("kill").args(["-TERM", pid]).status().unwrap();
    }
    wait_until(Duration::from_secs(60), "dockerd to stop", || {
        !Command::new("pgrep")
            .args(["-x", "dockerd"])
            .status()
            .unwrap()
            .success()
    });
    let testbed = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed.sh");
    let status = Command::new("bash").arg(testbed).status().unwrap();
    assert!(status.success(), "scripts/testbed.sh starts dockerd again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn exporter_survives_a_daemon_restart() {
    require_real_daemon();
    let sc = Scenario::new("restart");
    let name = sc.name("c");
    let t0 = now();
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=1s",
    ])
    .await;
    exporter
        .wait_for(Duration::from_secs(15), "docker_up 1", |m| {
            m.get("docker_up", &[]) == Some(1.0)
        })
        .await;
    sc.run("c", &[], &["sleep", "3600"]);
    docker(&["stop", "-t", "1", &name]);
    docker(&["start", &name]);
    docker(&["stop", "-t", "1", &name]);
    // Stopped before the restart, so dockerd's shutdown makes no event for it.
    std::thread::sleep(Duration::from_millis(500));
    let t1 = now();
    let before = docker_events(&name, &t0, &t1);
    assert_eq!(before.get("start"), Some(&2.0), "{before:?}");

    restart_dockerd();
    let t2 = now();
    exporter
        .wait_for(
            Duration::from_secs(30),
            "reconnect after the restart",
            |m| {
                m.get("docker_up", &[]) == Some(1.0)
                    && m.get("docker_exporter_event_stream_reconnects_total", &[])
                        .unwrap_or(0.0)
                        >= 1.0
            },
        )
        .await;
    docker(&["start", &name]);
    docker(&["stop", "-t", "1", &name]);
    docker(&["rm", &name]);
    std::thread::sleep(Duration::from_millis(500));
    let after = docker_events(&name, &t2, &now());
    let mut expected = before.clone();
    for (action, n) in &after {
        *expected.entry(action.clone()).or_insert(0.0) += n;
    }
    let m = exporter
        .wait_for(
            Duration::from_secs(15),
            "the counters to match docker events",
            |m| {
                expected.iter().all(|(a, n)| {
                    m.get(
                        "docker_container_events_total",
                        &[("name", &name), ("action", a)],
                    ) == Some(*n)
                })
            },
        )
        .await;
    // Nothing counted that docker events does not list.
    let counted: f64 = m
        .find("docker_container_events_total", &[("name", &name)])
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        counted,
        expected.values().sum::<f64>(),
        "expected {expected:?}\n{}",
        m.body
    );
    assert!(m
        .find("docker_container_info", &[("name", &name)])
        .is_empty());
    promtool_check(&m.body);
    exporter.stop().await;
}
