//! A real Prometheus (Debian's 2.42) scrapes the exporter: the target is up
//! and the series can be queried. Prometheus 2.x asks for OpenMetrics first,
//! so this covers that path; `promtool check metrics` covers the text format.
//! Also over TLS with basic auth (`--web.config.file`).

use crate::support::*;
use std::time::{Duration, Instant};

/// Runs Prometheus with one job `docker` scraping every second (`scrape`: the
/// job's lines after `job_name`; the config passes `promtool check config`)
/// and waits until the job is up with the fixtures' running container.
async fn scrape_until_up(scrape: &str) {
    let prometheus = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docker\n{scrape}"
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_exporter() {
    let sim = fixtures_sim();
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=1s"]).await;
    scrape_until_up(&format!(
        "    static_configs:\n      - targets: ['{}']\n",
        exporter.addr
    ))
    .await;
    exporter.stop().await;
}

/// Over TLS (the exporter's certificate from a test CA) with basic auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_exporter_over_tls_with_basic_auth() {
    let sim = fixtures_sim();
    let secured = crate::web::secured_exporter(&[&sim.host(), "--collect.interval=1s"]).await;
    scrape_until_up(&format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: prometheus\n      password: {}\n    static_configs:\n      - targets: ['{}']\n",
        secured.ca_file.display(),
        secured.password,
        secured.exporter.addr
    ))
    .await;
    secured.exporter.stop().await;
}
