//! The event stream against the real daemon: every state change shows on
//! `/metrics` without waiting for a periodic cycle (the interval here is a
//! minute), and the event counters count each event once.

use crate::support::*;
use std::collections::BTreeMap;
use std::process::Command;
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
            state_is("exited")(m)
                && count(m, "kill") >= 3.0
                && count(m, "restart") == 1.0
                && count(m, "die") >= 3.0
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

/// The per-container counters the exporter serves for names starting with `prefix`.
fn counted(m: &Metrics, prefix: &str) -> BTreeMap<(String, String), u64> {
    m.find("docker_container_events_total", &[])
        .into_iter()
        .filter_map(|(key, value)| {
            let name = Metrics::label(key, "name")?;
            let action = Metrics::label(key, "action")?;
            name.starts_with(prefix)
                .then(|| ((name.to_string(), action.to_string()), value as u64))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn a_concurrent_burst_is_counted_like_a_live_subscriber_sees_it() {
    require_real_daemon();
    let sc = Scenario::new("burst");
    let exporter = Exporter::start(&["--docker.host=unix:///var/run/docker.sock"]).await;
    exporter
        .wait_for(SOON, "the first collection", |m| {
            m.get("docker_up", &[]) == Some(1.0)
        })
        .await;
    let reference = EventSubscriber::start(&sc);
    // 10 shell loops at once, each 11 short-lived containers: 110 containers,
    // 440 counted events (create, start, die, destroy; attach is not per container).
    let burst = sc.name("b");
    let image = test_image();
    let loops: Vec<_> = (0..10)
        .map(|i| {
            let script = format!(
                "for j in $(seq 1 11); do docker run --rm --name {burst}{i}-$j {image} true >/dev/null || exit 1; done"
            );
            Command::new("sh").args(["-c", &script]).spawn().unwrap()
        })
        .collect();
    for mut l in loops {
        assert!(l.wait().unwrap().success(), "a docker run loop failed");
    }
    // The reference has seen every container go.
    let expected = |r: &EventSubscriber| {
        let counts = r.counts(&burst);
        let destroyed = counts.iter().filter(|((_, a), _)| a == "destroy").count();
        (destroyed == 110).then_some(counts)
    };
    let deadline = std::time::Instant::now() + SOON;
    let seen = loop {
        if let Some(c) = expected(&reference) {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the subscriber saw the burst"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let per_container: BTreeMap<_, _> = seen
        .into_iter()
        .filter(|((_, action), _)| action != "attach")
        .collect();
    let events: u64 = per_container.values().sum();
    assert!(events >= 400, "a burst of {events} events");
    let m = exporter
        .wait_for(SOON, "every event of the burst counted", |m| {
            counted(m, &burst).values().sum::<u64>() >= events
        })
        .await;
    assert_eq!(
        counted(&m, &burst),
        per_container,
        "the exporter's per-container counters against a live `docker events`"
    );
    assert_eq!(
        m.get("docker_exporter_event_stream_reconnects_total", &[]),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn a_burst_of_stops_shows_every_container_exited_through_events() {
    require_real_daemon();
    let sc = Scenario::new("stops");
    let names: Vec<String> = (0..12)
        .map(|i| {
            sc.run(&format!("s{i}"), &[], &["sleep", "3600"]);
            sc.name(&format!("s{i}"))
        })
        .collect();
    // One cycle at the start, the next in 10 minutes: only events can explain
    // what changes after the first collection.
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=10m",
    ])
    .await;
    let state = |m: &Metrics, name: &str, st: &str| {
        m.get("docker_container_state", &[("name", name), ("state", st)]) == Some(1.0)
    };
    let first = exporter
        .wait_for(SOON, "all running", |m| {
            names.iter().all(|n| state(m, n, "running"))
        })
        .await;
    let collected = first.get("docker_exporter_last_collection_timestamp_seconds", &[]);
    let mut stop = vec!["stop", "-t", "1"];
    stop.extend(names.iter().map(String::as_str));
    docker(&stop);
    let m = exporter
        .wait_for(SOON, "all exited", |m| {
            names.iter().all(|n| state(m, n, "exited"))
        })
        .await;
    assert_eq!(
        m.get("docker_exporter_last_collection_timestamp_seconds", &[]),
        collected,
        "no cycle ran: the events did it"
    );
    for n in &names {
        assert_eq!(
            m.get(
                "docker_container_events_total",
                &[("name", n), ("action", "die")]
            ),
            Some(1.0),
            "{n}"
        );
    }
    exporter.stop().await;
}
