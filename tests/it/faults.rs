//! Faults a real daemon can't show on demand, through the simulated engine:
//! bad bodies, errors, hangs, API versions, and an event stream that breaks.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(15);

fn collector(m: &Metrics, fam: &str, name: &str) -> f64 {
    m.get(fam, &[("collector", name)]).unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_and_errors_are_counted_not_fatal() {
    let sim = Sim::start(&["--containers", "10"]);
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "inspect", "kind": "garbage"})),
    )
    .await;
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "stats", "kind": "status500"})),
    )
    .await;
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=300ms"]).await;
    let m = exporter
        .wait_for(SOON, "failed cycles", |m| {
            collector(m, "docker_exporter_collector_errors_total", "containers") >= 10.0
        })
        .await;
    assert_eq!(
        m.get("docker_up", &[]),
        Some(1.0),
        "the engine answers, if badly"
    );
    assert_eq!(
        collector(&m, "docker_exporter_collector_success", "containers"),
        0.0
    );
    assert!(
        m.find("docker_container_info", &[]).is_empty(),
        "nothing made up from garbage"
    );
    promtool_check(&m.body);

    // Inspect recovers; stats still fail: containers, but no resource series.
    sim.control("POST", "/_sim/clear-faults", None).await;
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "stats", "kind": "status500"})),
    )
    .await;
    let m = exporter
        .wait_for(SOON, "containers back", |m| {
            m.find("docker_container_info", &[]).len() == 10
        })
        .await;
    assert_eq!(
        collector(&m, "docker_exporter_collector_success", "stats"),
        0.0
    );
    assert!(m.find("container_cpu_usage_seconds_total", &[]).is_empty());
    assert!(
        !m.find("container_spec_cpu_shares", &[]).is_empty(),
        "inspect-based families stay"
    );

    sim.control("POST", "/_sim/clear-faults", None).await;
    let m = exporter
        .wait_for(SOON, "stats back", |m| {
            !m.find("container_cpu_usage_seconds_total", &[]).is_empty()
        })
        .await;
    assert_eq!(
        collector(&m, "docker_exporter_collector_success", "stats"),
        1.0
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_body_cap_is_counted_and_collection_goes_on() {
    let sim = Sim::start(&["--containers", "3"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=300ms"]).await;
    let m = exporter
        .wait_for(SOON, "stats of all three", |m| {
            m.find("container_cpu_usage_seconds_total", &[]).len() == 3
        })
        .await;
    let errors = collector(&m, "docker_exporter_collector_errors_total", "stats");
    // One stats answer of 17 MiB: past the 16 MiB cap on one answer.
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "stats", "kind": "huge", "count": 1})),
    )
    .await;
    let m = exporter
        .wait_for(SOON, "the over-large answer counted", |m| {
            collector(m, "docker_exporter_collector_errors_total", "stats") >= errors + 1.0
        })
        .await;
    assert_eq!(
        collector(&m, "docker_exporter_collector_errors_total", "stats"),
        errors + 1.0,
        "counted once"
    );
    // The next cycles are clean again, every container with its stats.
    let m = exporter
        .wait_for(SOON, "a clean cycle after it", |m| {
            collector(m, "docker_exporter_collector_success", "stats") == 1.0
        })
        .await;
    assert_eq!(m.find("container_cpu_usage_seconds_total", &[]).len(), 3);
    assert_eq!(m.get("docker_up", &[]), Some(1.0));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_stats_call_delays_nothing_else() {
    let sim = Sim::start(&["--containers", "10"]);
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "stats", "kind": "hang", "count": 1})),
    )
    .await;
    let exporter = Exporter::start(&[
        &sim.host(),
        "--collect.interval=500ms",
        "--docker.timeout=1s",
    ])
    .await;
    let m = exporter
        .wait_for(SOON, "a cycle past the hung call", |m| {
            collector(m, "docker_exporter_collector_errors_total", "stats") >= 1.0
                && m.find("container_cpu_usage_seconds_total", &[]).len() >= 8
        })
        .await;
    // Every other running container has its stats from that same cycle.
    assert!(collector(&m, "docker_exporter_collector_duration_seconds", "stats") < 5.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_version_negotiation() {
    // A Docker 29-like engine: refuses anything below 1.44.
    let sim = Sim::start(&[
        "--containers",
        "2",
        "--api-version",
        "1.52",
        "--min-api-version",
        "1.44",
    ]);
    let exporter = Exporter::start(&[&sim.host()]).await;
    exporter
        .wait_for(SOON, "api_version 1.52", |m| {
            m.get("docker_engine_info", &[("api_version", "1.52")])
                .is_some()
        })
        .await;
    exporter.stop().await;

    // Newer than this client knows: the client's newest.
    let sim = Sim::start(&[
        "--containers",
        "2",
        "--api-version",
        "1.70",
        "--min-api-version",
        "1.44",
    ]);
    let exporter = Exporter::start(&[&sim.host()]).await;
    exporter
        .wait_for(SOON, "api_version 1.56", |m| {
            m.get("docker_engine_info", &[("api_version", "1.56")])
                .is_some()
        })
        .await;
    exporter.stop().await;

    // Pinned below what the engine accepts: the engine's refusal, counted.
    let exporter = Exporter::start(&[
        &sim.host(),
        "--docker.api-version=1.41",
        "--collect.interval=300ms",
    ])
    .await;
    let m = exporter
        .wait_for(SOON, "docker_up 0", |m| {
            collector(m, "docker_exporter_collector_errors_total", "engine") >= 1.0
        })
        .await;
    assert_eq!(m.get("docker_up", &[]), Some(0.0));
    exporter.stop().await;
}

/// Waits for the first reconnect and `total` events, then asserts exactly
/// `total`: each event once, none lost, none counted twice.
async fn reconnected_with(exporter: &Exporter, total: f64) -> Metrics {
    let m = exporter
        .wait_for(SOON, "the reconnect and the missed events", |m| {
            m.get("docker_exporter_event_stream_reconnects_total", &[]) == Some(1.0)
                && events_total(m) >= total
        })
        .await;
    assert_eq!(
        events_total(&m),
        total,
        "each event once, none lost:\n{}",
        m.body
    );
    m
}

fn events_total(m: &Metrics) -> f64 {
    m.find("docker_events_total", &[])
        .iter()
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_breaks_and_resumes_without_loss_or_double_count() {
    let sim = Sim::start(&["--containers", "3"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=60s"]).await;
    exporter
        .wait_for(SOON, "the stream", |m| {
            collector(m, "docker_exporter_collector_success", "events") == 1.0
        })
        .await;
    sim.post_event("sim-00000", "die").await;
    sim.post_event("sim-00000", "start").await;
    exporter
        .wait_for(SOON, "two events", |m| events_total(m) == 2.0)
        .await;

    // The stream breaks; events happen while it is down; it comes back.
    sim.break_event_streams().await;
    sim.post_event("sim-00001", "die").await;
    sim.post_event("sim-00001", "start").await;
    sim.post_event("sim-00002", "pause").await;
    let m = reconnected_with(&exporter, 5.0).await;
    assert_eq!(
        m.get(
            "docker_container_state",
            &[("name", "sim-00002"), ("state", "paused")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "docker_container_events_total",
            &[("name", "sim-00001"), ("action", "die")]
        ),
        Some(1.0)
    );

    // A line that is not an event: counted as an error, skipped, stream goes on.
    let errors = collector(&m, "docker_exporter_collector_errors_total", "events");
    sim.control(
        "POST",
        "/_sim/fault",
        Some(json!({"endpoint": "events", "kind": "garbage"})),
    )
    .await;
    sim.post_event("sim-00002", "unpause").await;
    let m = exporter
        .wait_for(SOON, "the event after the garbage", |m| {
            events_total(m) == 6.0
        })
        .await;
    assert_eq!(
        collector(&m, "docker_exporter_collector_errors_total", "events"),
        errors + 1.0
    );
    assert_eq!(
        m.get("docker_exporter_event_stream_reconnects_total", &[]),
        Some(1.0)
    );

    // A container that lives and dies between two cycles is still counted.
    for action in ["create", "start", "die", "destroy"] {
        sim.post_event("flash", action).await;
    }
    let m = exporter
        .wait_for(SOON, "the short-lived container's events", |m| {
            m.get(
                "docker_container_events_total",
                &[("name", "flash"), ("action", "destroy")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        m.get(
            "docker_events_total",
            &[("type", "container"), ("action", "die")]
        ),
        Some(3.0)
    );
    assert!(m
        .find("docker_container_info", &[("name", "flash")])
        .is_empty());
    exporter.stop().await;
}

/// Posts a full event with its own stamp, as the engine would serve it.
async fn post_stamped(sim: &Sim, id: &str, name: &str, action: &str, nano: i64) {
    sim.control(
        "POST",
        "/_sim/event",
        Some(json!({
            "Type": "container", "Action": action, "status": action, "id": id,
            "Actor": {"ID": id, "Attributes": {"name": name}},
            "time": nano / 1_000_000_000, "timeNano": nano,
        })),
    )
    .await;
}

fn per_container(m: &Metrics, name: &str, action: &str) -> Option<f64> {
    m.get(
        "docker_container_events_total",
        &[("name", name), ("action", action)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_out_of_stamp_order_are_each_counted_once_across_a_reconnect() {
    let sim = Sim::start(&["--containers", "3"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=60s"]).await;
    exporter
        .wait_for(SOON, "the stream", |m| {
            collector(m, "docker_exporter_collector_success", "events") == 1.0
        })
        .await;
    let list: serde_json::Value = serde_json::from_str(
        &sim.control("GET", "/v1.44/containers/json?all=true", None)
            .await,
    )
    .unwrap();
    let id = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"][0] == format!("/{name}"))
            .map(|c| c["Id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (a, b, c) = (id("sim-00000"), id("sim-00001"), id("sim-00002"));
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    // Three containers changing at once: the stamps go back a few microseconds
    // between containers, as a busy engine publishes them.
    post_stamped(&sim, &a, "sim-00000", "die", base + 5_000).await;
    post_stamped(&sim, &b, "sim-00001", "die", base + 3_000).await;
    post_stamped(&sim, &c, "sim-00002", "die", base + 4_000).await;
    post_stamped(&sim, &a, "sim-00000", "start", base + 9_000).await;
    post_stamped(&sim, &b, "sim-00001", "start", base + 8_000).await;
    post_stamped(&sim, &c, "sim-00002", "start", base + 7_000).await;
    let m = exporter
        .wait_for(SOON, "six live events", |m| events_total(m) >= 6.0)
        .await;
    assert_eq!(events_total(&m), 6.0, "{}", m.body);
    for name in ["sim-00000", "sim-00001", "sim-00002"] {
        assert_eq!(per_container(&m, name, "die"), Some(1.0), "{name}");
        assert_eq!(per_container(&m, name, "start"), Some(1.0), "{name}");
    }

    // The stream breaks; meanwhile one event stamped before the newest counted
    // (published late) and one newer; the stream comes back.
    sim.break_event_streams().await;
    post_stamped(&sim, &c, "sim-00002", "pause", base + 8_500).await;
    post_stamped(&sim, &b, "sim-00001", "pause", base + 20_000).await;
    let m = reconnected_with(&exporter, 8.0).await;
    assert_eq!(per_container(&m, "sim-00002", "pause"), Some(1.0));
    assert_eq!(per_container(&m, "sim-00001", "pause"), Some(1.0));
    assert_eq!(
        m.get(
            "docker_container_state",
            &[("name", "sim-00002"), ("state", "paused")]
        ),
        Some(1.0),
        "the late event's state change applied"
    );
    // And nothing more arrives later from the replay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events_total(&exporter.metrics().await), 8.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_flood_with_a_break_counts_exactly_what_the_engine_published() {
    let sim = Sim::start(&["--containers", "20", "--event-skew", "50us"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=60s"]).await;
    exporter
        .wait_for(SOON, "the stream", |m| {
            collector(m, "docker_exporter_collector_success", "events") == 1.0
        })
        .await;
    // The flood starts once the exporter listens, so it is to see all of it.
    sim.control("POST", "/_sim/set", Some(json!({"event_rate": "1500"})))
        .await;
    exporter
        .wait_for(SOON, "events pouring in", |m| events_total(m) > 500.0)
        .await;
    sim.break_event_streams().await;
    exporter
        .wait_for(SOON, "the reconnect", |m| {
            m.get("docker_exporter_event_stream_reconnects_total", &[]) == Some(1.0)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.control("POST", "/_sim/set", Some(json!({"event_rate": "0"})))
        .await;
    // Quiet (a die's follow-up start comes 2 s later): counted == published.
    let deadline = std::time::Instant::now() + SOON;
    let (mut published, mut counted, mut same) = (0, 0.0, 0);
    while same < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "counted {counted} of {published} published events"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
        let p = sim.calls().await["events_published"].as_u64().unwrap();
        counted = events_total(&exporter.metrics().await);
        same = if p == published && counted == p as f64 {
            same + 1
        } else {
            0
        };
        published = p;
    }
    assert!(published > 500, "a flood: {published}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_flood_starves_neither_scrapes_nor_cycles() {
    // Health-check noise: thousands of exec events a second.
    let sim = Sim::start(&["--containers", "50", "--event-rate", "3000"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=300ms"]).await;
    let first = exporter
        .wait_for(SOON, "a cycle and some events", |m| {
            m.get(
                "docker_exporter_collector_success",
                &[("collector", "stats")],
            )
            .is_some()
                && events_total(m) > 100.0
        })
        .await;
    // Cycles go on: the stats collector keeps calling while events pour in.
    let stats_calls = |c: &serde_json::Value| c["by_endpoint"]["stats"].as_u64().unwrap();
    let calls = sim.calls().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = exporter.metrics().await;
    assert!(
        stats_calls(&sim.calls().await) > stats_calls(&calls) + 40,
        "cycles ran during the flood"
    );
    assert!(
        events_total(&second) > events_total(&first) + 1000.0,
        "events keep being counted"
    );
    assert_eq!(second.get("docker_up", &[]), Some(1.0));
    assert_eq!(
        second.get(
            "docker_exporter_collector_success",
            &[("collector", "stats")]
        ),
        Some(1.0)
    );
    // Exec events are counted by type only, never per container.
    assert!(second
        .find("docker_container_events_total", &[("action", "exec_start")])
        .is_empty());
    assert!(
        second
            .get(
                "docker_events_total",
                &[("type", "container"), ("action", "exec_start")]
            )
            .unwrap()
            > 0.0
    );
    exporter.stop().await;
}
