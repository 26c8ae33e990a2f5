//! A real Prometheus (Debian's 2.42) scrapes the exporter: the target is up
//! and the series can be queried. Prometheus 2.x asks for OpenMetrics first,
//! so this covers that path; `promtool check metrics` covers the text format.

use crate::support::*;
use docker_sim::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(port: u16, q: &str) -> serde_json::Value {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let path = format!(
        "/api/v1/query?query={}",
        q.replace(' ', "%20")
            .replace('"', "%22")
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('=', "%3D")
    );
    match try_http_request(addr, "GET", &path, &[]).await {
        Ok(r) => serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
        // Not listening yet.
        Err(_) => serde_json::Value::Null,
    }
}

fn first_value(v: &serde_json::Value) -> Option<f64> {
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_exporter() {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let exporter = Exporter::start(&[&sim.host(), "--collect.interval=1s"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docker\n    static_configs:\n      - targets: ['{}']\n",
            exporter.addr
        ),
    )
    .unwrap();
    let check = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let port = free_port();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/testbed.sh installs it)"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = first_value(&query(port, "up{job=\"docker\"}").await);
        let running = first_value(
            &query(
                port,
                "docker_container_state{name=\"dexpfix-running\",state=\"running\"}",
            )
            .await,
        );
        let series = first_value(&query(port, "scrape_samples_scraped{job=\"docker\"}").await);
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
