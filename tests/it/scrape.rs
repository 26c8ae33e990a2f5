//! The HTTP side against the simulated engine: formats, compression, probes,
//! and the invariant that scrapes (and the overview page) never reach the engine.

use crate::support::*;
use std::io::Read;
use std::time::Duration;

async fn started(sim: &Sim) -> Exporter {
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=60s"]).await;
    exporter
        .wait_for(Duration::from_secs(20), "the first cycle", |m| {
            m.get(
                "docker_exporter_collector_success",
                &[("collector", "stats")],
            )
            .is_some()
        })
        .await;
    exporter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_never_call_the_engine() {
    let sim = Sim::start(&["--containers", "50"]);
    let exporter = started(&sim).await;
    let before = sim.calls().await;
    for i in 0..200 {
        let headers: &[(&str, &str)] = match i % 4 {
            0 => &[],
            1 => &[("accept-encoding", "gzip")],
            2 => &[("accept", "application/openmetrics-text; version=1.0.0")],
            _ => &[
                ("accept", "application/openmetrics-text"),
                ("accept-encoding", "gzip"),
            ],
        };
        assert_eq!(exporter.get("/metrics", headers).await.status, 200);
    }
    // The overview page and its live part read the same snapshot.
    for path in ["/", "/?part=live"] {
        for _ in 0..20 {
            let page = exporter.get(path, &[]).await;
            assert_eq!(page.status, 200);
            assert_eq!(page.text().matches("<tr data-name=").count(), 50);
        }
    }
    let after = sim.calls().await;
    assert!(
        before["total"].as_u64().unwrap() > 0,
        "the collectors did call the engine"
    );
    assert_eq!(
        before["total"], after["total"],
        "before {before}\nafter {after}"
    );
    assert_eq!(after["non_get"], 0, "the exporter only reads");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_compression_and_probes() {
    let sim = Sim::start(&["--containers", "5"]);
    let exporter = started(&sim).await;
    assert_eq!(exporter.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(exporter.get("/-/ready", &[]).await.status, 200);
    sim.post_event("sim-00000", "pause").await;
    exporter
        .wait_for(Duration::from_secs(10), "the event to be counted", |m| {
            m.has_family("docker_events_total")
        })
        .await;

    let text = exporter.get("/metrics", &[]).await;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = text.text();
    assert!(body.contains("# TYPE docker_events_total counter"));
    assert!(body.contains("# TYPE docker_exporter_collector_errors_total counter"));
    assert!(!body.contains("# EOF"));
    promtool_check(&body);

    let om = exporter
        .get(
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )],
        )
        .await;
    assert!(om
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let om_body = om.text();
    assert!(om_body.ends_with("# EOF\n"));
    assert!(om_body.contains("# TYPE docker_exporter_collector_errors counter"));

    let gz = exporter
        .get("/metrics", &[("accept-encoding", "gzip, deflate")])
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, body, "same snapshot, same body");

    let head = http_request(exporter.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), text.header("content-type"));

    let landing = exporter.get("/", &[]).await;
    assert!(landing.text().contains("href=\"/metrics\""));
    assert_eq!(exporter.get("/nope", &[]).await.status, 404);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_telemetry_path() {
    let sim = Sim::start(&["--containers", "1"]);
    let exporter = Exporter::start(&[&sim.host(), "--web.telemetry-path=/custom"]).await;
    assert_eq!(exporter.get("/custom", &[]).await.status, 200);
    assert_eq!(exporter.get("/metrics", &[]).await.status, 404);
    assert!(exporter
        .get("/", &[])
        .await
        .text()
        .contains("href=\"/custom\""));
    exporter.stop().await;
}

/// Ready means a cycle has completed, not that the event stream subscribed
/// (which happens first, before the first list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_waits_for_the_first_cycle() {
    // Every engine call takes 300 ms: the stream is open well before the
    // first cycle (version and info, list, inspect, stats) has completed.
    let sim = Sim::start(&["--containers", "3", "--latency", "300ms"]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=60s"]).await;
    assert_eq!(exporter.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(exporter.get("/-/ready", &[]).await.status, 503);
    exporter.wait_ready(Duration::from_secs(20)).await;
    let m = exporter.metrics().await;
    assert!(
        m.get("docker_exporter_last_collection_timestamp_seconds", &[])
            .unwrap()
            > 0.0,
        "ready before a cycle completed:\n{}",
        m.body
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

/// An engine found down completes a cycle too: ready, serving `docker_up 0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_with_the_engine_down() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!(
        "--docker.host=unix://{}",
        dir.path().join("none.sock").display()
    );
    let exporter = Exporter::start(&[&host, "--collect.interval=60s"]).await;
    exporter.wait_ready(Duration::from_secs(20)).await;
    let m = exporter.metrics().await;
    assert_eq!(m.get("docker_up", &[]), Some(0.0));
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "engine")]
        ),
        Some(0.0)
    );
    exporter.stop().await;
}
