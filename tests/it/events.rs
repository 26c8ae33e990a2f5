//! The event stream against the real daemon: every state change shows on
//! `/metrics` without waiting for a periodic cycle (the interval here is a
//! minute), and the event counters count each event once.

use crate::support::*;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn state_changes_arrive_by_events() {
    require_real_daemon();
    let sc = Scenario::new("events");
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=60s",
    ])
    .await;
    exporter
        .wait_for(SOON, "the first collection", |m| {
            m.get("docker_up", &[]) == Some(1.0)
        })
        .await;
    let name = sc.name("life");
    let state_is = |st: &'static str| {
        let name = name.clone();
        move |m: &Metrics| {
            m.get("docker_container_state", &[("name", &name), ("state", st)]) == Some(1.0)
        }
    };
    let count = |m: &Metrics, action: &str| {
        m.get(
            "docker_container_events_total",
            &[("name", &name), ("action", action)],
        )
        .unwrap_or(0.0)
    };

    sc.run("life", &[], &["sleep", "3600"]);
    exporter
        .wait_for(SOON, "running", state_is("running"))
        .await;
    docker(&["pause", &name]);
    exporter.wait_for(SOON, "paused", state_is("paused")).await;
    docker(&["unpause", &name]);
    exporter
        .wait_for(SOON, "unpaused", state_is("running"))
        .await;
    docker(&["stop", "-t", "1", &name]);
    let m = exporter
        .wait_for(SOON, "exited after stop", state_is("exited"))
        .await;
    assert_eq!(
        m.get("docker_container_exit_code", &[("name", &name)]),
        Some(sc.inspect("life", "{{.State.ExitCode}}").parse().unwrap())
    );
    docker(&["start", &name]);
    exporter
        .wait_for(SOON, "running again", state_is("running"))
        .await;
    docker(&["restart", "-t", "1", &name]);
    docker(&["kill", &name]);
    let m = exporter
        .wait_for(SOON, "exited after kill, with every event counted", |m| {
            state_is("exited")(m) && count(m, "kill") >= 2.0 && count(m, "restart") == 1.0
        })
        .await;
    for (action, n) in [
        ("create", 1.0),
        ("start", 3.0),
        ("pause", 1.0),
        ("unpause", 1.0),
        ("restart", 1.0),
    ] {
        assert_eq!(count(&m, action), n, "{action}");
    }
    // stop sends a kill (SIGTERM) then a die; restart a kill, a die and a start.
    assert_eq!(count(&m, "die"), 3.0);
    assert_eq!(count(&m, "stop"), 2.0);
    assert!(m
        .find(
            "docker_container_events_total",
            &[("name", &name), ("action", "exec_create")]
        )
        .is_empty());

    // OOM kill: counted per container, and the state says so.
    let oom = sc.name(&sc.run_oom_killed("oom"));
    let m = exporter
        .wait_for(SOON, "the OOM kill on /metrics", |m| {
            m.get("docker_container_oom_killed", &[("name", &oom)]) == Some(1.0)
                && m.get("container_oom_events_total", &[("name", &oom)]) == Some(1.0)
                && m.get(
                    "docker_container_state",
                    &[("name", &oom), ("state", "exited")],
                ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.get(
            "docker_container_events_total",
            &[("name", &oom), ("action", "oom")]
        ),
        Some(1.0)
    );

    // Health turning unhealthy.
    sc.run_unhealthy("sick");
    let sick = sc.name("sick");
    exporter
        .wait_for(Duration::from_secs(30), "unhealthy", |m| {
            m.get(
                "docker_container_health_status",
                &[("name", &sick), ("status", "unhealthy")],
            ) == Some(1.0)
                && m.get(
                    "docker_container_events_total",
                    &[("name", &sick), ("action", "health_status_unhealthy")],
                ) == Some(1.0)
        })
        .await;

    // A --rm container that lives and dies between two cycles is still counted.
    let before = exporter
        .metrics()
        .await
        .get(
            "docker_events_total",
            &[("type", "container"), ("action", "die")],
        )
        .unwrap_or(0.0);
    let short = sc.name("short");
    let image = test_image();
    let out = std::process::Command::new("docker")
        .args([
            "run", "--rm", "--name", &short, &image, "sh", "-c", "exit 1",
        ])
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    let m = exporter
        .wait_for(SOON, "the short-lived container's die", |m| {
            m.get(
                "docker_events_total",
                &[("type", "container"), ("action", "die")],
            )
            .unwrap_or(0.0)
                >= before + 1.0
                && m.get(
                    "docker_container_events_total",
                    &[("name", &short), ("action", "destroy")],
                ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.get(
            "docker_container_events_total",
            &[("name", &short), ("action", "die")]
        ),
        Some(1.0)
    );
    assert!(
        m.find("docker_container_info", &[("name", &short)])
            .is_empty(),
        "destroyed: no info series"
    );
    // One stream the whole time (the changes came by events, not by cycles).
    assert_eq!(
        m.get("docker_exporter_event_stream_reconnects_total", &[]),
        Some(0.0)
    );
    promtool_check(&m.body);
    exporter.stop().await;
}
