//! A real Prometheus (Debian's 2.42) scrapes the exporter: the target is up
//! and the series can be queried. Prometheus 2.x asks for OpenMetrics first,
//! so this covers that path; `promtool check metrics` covers the text format.

use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_exporter() {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=1s"]).await;
    let prometheus = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docker\n    static_configs:\n      - targets: ['{}']\n",
        exporter.addr
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = prometheus.value("up{job=\"docker\"}").await;
        let running = prometheus
            .value("docker_container_state{name=\"dexpfix-running\",state=\"running\"}")
            .await;
        let series = prometheus
            .value("scrape_samples_scraped{job=\"docker\"}")
            .await;
        if up == Some(1.0) && running == Some(1.0) {
            assert!(series.unwrap_or(0.0) > 400.0, "scraped {series:?} samples");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape: up={up:?} running={running:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    exporter.stop().await;
}
