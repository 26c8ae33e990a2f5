//! The exporter behind the socket-proxy recipe (`deploy/socket-proxy/haproxy.cfg`,
//! Debian's haproxy in front of the real socket: GET only on the exporter's
//! paths, 403 for everything else): it works fully through it (engine, list,
//! inspect, stats, events, no collector error), and the proxy refuses the rest.

use crate::support::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` through the proxy's socket: the status code.
fn status_through(socket: &str, method: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "-X",
            method,
            "--unix-socket",
            socket,
            &format!("http://docker{path}"),
        ])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn the_exporter_works_fully_through_the_read_only_socket_proxy() {
    let test = "the_exporter_works_fully_through_the_read_only_socket_proxy";
    require_real_daemon();
    if !tool_available(test, "haproxy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proxy = dir.path().join("docker.sock");
    let proxy_str = proxy.to_str().unwrap();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(deploy("socket-proxy/haproxy.cfg"))
            .env("PROXY_BIND", &proxy)
            .env("DOCKER_SOCKET", DOCKER_SOCK)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("haproxy starts"),
    );
    wait_until(Duration::from_secs(10), "the proxy's socket", || {
        status_through(proxy_str, "GET", "/_ping") == "200"
    });

    let sc = Scenario::new("proxy");
    let exporter = Exporter::start(&[
        &format!("--docker.host=unix://{proxy_str}"),
        "--collect.interval=500ms",
    ])
    .await;
    // Made after the exporter started: its events come through the proxy.
    sc.run("web", &[], &["sleep", "3600"]);
    let web = sc.name("web");
    let m = exporter
        .wait_for(
            Duration::from_secs(30),
            "engine, container, stats and events through the proxy",
            |m| {
                m.get("docker_up", &[]) == Some(1.0)
                    && m.get("docker_container_info", &[("name", &web)]).is_some()
                    && m.get("container_cpu_usage_seconds_total", &[("name", &web)])
                        .is_some()
                    && m.get(
                        "docker_container_events_total",
                        &[("name", &web), ("action", "start")],
                    ) == Some(1.0)
            },
        )
        .await;
    // No call of the exporter was refused.
    let errors = m.find("docker_exporter_collector_errors_total", &[]);
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|(_, v)| *v == 0.0),
        "collector errors through the proxy: {errors:?}"
    );
    promtool_check(&m.body);
    exporter.stop().await;

    // The proxy is read-only and limited to those paths.
    let id = sc.inspect("web", "{{.Id}}");
    for (method, path) in [
        ("POST", "/v1.41/containers/create".to_string()),
        ("POST", format!("/v1.41/containers/{id}/stop")),
        ("DELETE", format!("/v1.41/containers/{id}")),
        ("GET", format!("/v1.41/containers/{id}/logs?stdout=1")),
        ("GET", format!("/v1.41/containers/{id}/export")),
        ("GET", "/v1.41/images/json".to_string()),
        ("GET", "/v1.41/secrets".to_string()),
    ] {
        assert_eq!(
            status_through(proxy_str, method, &path),
            "403",
            "{method} {path} through the proxy"
        );
    }
    assert_eq!(sc.inspect("web", "{{.State.Status}}"), "running");
    assert_eq!(
        status_through(proxy_str, "GET", "/v1.41/containers/json"),
        "200"
    );
}
