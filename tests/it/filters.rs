//! Container filters on the real daemon: `--container.exclude`,
//! `--container.include` and the `docker_exporter.ignore=true` label leave a
//! container out of every series (resource, state and event families).

use crate::support::*;
use std::time::Duration;

/// Every `name="…"` label value in a body.
fn names(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Metrics::label(l, "name"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn excluded_and_ignored_containers_appear_in_no_series() {
    require_real_daemon();
    let sc = Scenario::new("filters");
    let exclude = format!("--container.exclude={}excluded-.*", sc.prefix);
    // Started first, so the containers' create/start/die events reach it live.
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=500ms",
        &exclude,
    ])
    .await;
    let include = format!("--container.include={}kept", sc.prefix);
    let only_kept = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=500ms",
        &include,
    ])
    .await;
    // The left-out ones change first: once the kept one's later events are
    // counted, theirs have been through the exporter too.
    sc.run("excluded-a", &[], &["sleep", "3600"]);
    sc.run(
        "ignored",
        &["--label", "docker_exporter.ignore=true"],
        &["sleep", "3600"],
    );
    sc.run("kept", &[], &["sleep", "3600"]);
    docker(&["kill", &sc.name("excluded-a")]);
    docker(&["kill", &sc.name("ignored")]);
    docker(&["start", &sc.name("excluded-a")]);
    docker(&["start", &sc.name("ignored")]);
    docker(&["kill", &sc.name("kept")]);
    docker(&["start", &sc.name("kept")]);
    let kept = sc.name("kept");
    let settled = |m: &Metrics| {
        m.get(
            "docker_container_events_total",
            &[("name", &kept), ("action", "die")],
        ) == Some(1.0)
            && m.get(
                "docker_container_events_total",
                &[("name", &kept), ("action", "start")],
            ) == Some(2.0)
            && m.get("container_cpu_usage_seconds_total", &[("name", &kept)])
                .is_some()
    };
    for e in [&exporter, &only_kept] {
        let m = e
            .wait_for(
                Duration::from_secs(30),
                "the kept container's events and stats",
                settled,
            )
            .await;
        // A full cycle after the events, too (list and inspect paths).
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let body = e.get("/metrics", &[]).await.text();
        for left_out in ["excluded-a", "ignored"] {
            assert!(
                !body.contains(&sc.name(left_out)),
                "{} appears in /metrics:\n{}",
                sc.name(left_out),
                body.lines()
                    .filter(|l| l.contains(&sc.name(left_out)))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(m.body.contains(&kept));
        promtool_check(&body);
    }
    // With --container.include, no other container of the daemon shows up.
    let body = only_kept.get("/metrics", &[]).await.text();
    let others: Vec<String> = names(&body).into_iter().filter(|n| *n != kept).collect();
    assert!(others.is_empty(), "not included but served: {others:?}");
    exporter.stop().await;
    only_kept.stop().await;
}
