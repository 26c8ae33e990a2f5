//! What a cycle asks the engine (`--collect.resync-interval`), counted by the
//! simulated engine: with the event stream up, a ping and the stats; the list,
//! `/version` and `/info` only on a resync, `/info` again after an event; with
//! the stream down, a list every cycle.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const SOON: Duration = Duration::from_secs(15);

fn by(calls: &Value, endpoint: &str) -> u64 {
    calls["by_endpoint"][endpoint].as_u64().unwrap()
}

/// Calls per endpoint over `wait`.
async fn calls_over(sim: &Sim, wait: Duration) -> impl Fn(&str) -> u64 {
    let before = sim.calls().await;
    tokio::time::sleep(wait).await;
    let after = sim.calls().await;
    move |e: &str| by(&after, e) - by(&before, e)
}

fn running(m: &Metrics, name: &str) -> Option<f64> {
    m.get("docker_engine_containers", &[("state", "running")])
        .filter(|_| {
            m.get(
                "docker_container_state",
                &[("name", name), ("state", "running")],
            ) == Some(1.0)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_resyncs_cycles_ping_and_events_keep_containers_current() {
    let sim = Sim::start(&["--containers", "10"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=200ms"]).await;
    let m = exporter
        .wait_for(SOON, "sim-00001 running, with stats", |m| {
            running(m, "sim-00001").is_some()
                && !m.find("container_cpu_usage_seconds_total", &[]).is_empty()
        })
        .await;
    let live = m.find("container_cpu_usage_seconds_total", &[]).len() as u64;
    let engine_running = running(&m, "sim-00001").unwrap();

    // Quiet: cycles ping and sample stats; no list, no /version, no /info.
    let d = calls_over(&sim, Duration::from_secs(2)).await;
    assert!(d("ping") >= 4, "a ping a cycle: {}", d("ping"));
    assert!(d("stats") >= 4 * live, "stats every cycle: {}", d("stats"));
    for e in ["list", "version", "info", "inspect"] {
        assert_eq!(d(e), 0, "{e} between resyncs");
    }

    // An event: its container is inspected and shown without a list, and the
    // next cycle reads /info again for the engine's counts.
    let before = sim.calls().await;
    sim.post_event("sim-00001", "die").await;
    let m = exporter
        .wait_for(SOON, "sim-00001 exited, counted by /info", |m| {
            m.get(
                "docker_container_state",
                &[("name", "sim-00001"), ("state", "exited")],
            ) == Some(1.0)
                && m.get("docker_engine_containers", &[("state", "running")])
                    == Some(engine_running - 1.0)
        })
        .await;
    let after = sim.calls().await;
    assert_eq!(by(&after, "list"), by(&before, "list"), "no list needed");
    assert!(by(&after, "info") > by(&before, "info"));
    assert_eq!(
        m.find("container_cpu_usage_seconds_total", &[]).len() as u64,
        live - 1,
        "no stats for the exited container"
    );

    // The stream down (every subscription refused): every cycle lists.
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "events", "kind": "status500"})),
    )
    .await;
    sim.break_event_streams().await;
    exporter
        .wait_for(SOON, "the stream down", |m| {
            m.get(
                "docker_exporter_collector_success",
                &[("collector", "events")],
            ) == Some(0.0)
        })
        .await;
    let d = calls_over(&sim, Duration::from_secs(2)).await;
    assert!(d("list") >= 4, "a list a cycle: {}", d("list"));
    assert!(d("version") >= 4 && d("info") >= 4);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_resync_interval_lists_every_cycle() {
    let sim = Sim::start(&["--containers", "5"]);
    let exporter = Exporter::start(&[
        &sim.host(),
        "--collect.interval=200ms",
        "--collect.resync-interval=0s",
    ])
    .await;
    exporter
        .wait_for(SOON, "the first cycle", |m| {
            m.get("docker_up", &[]) == Some(1.0)
        })
        .await;
    let d = calls_over(&sim, Duration::from_secs(2)).await;
    assert!(d("list") >= 4, "a list a cycle: {}", d("list"));
    assert!(d("version") >= 4 && d("info") >= 4);
    exporter.stop().await;
}
