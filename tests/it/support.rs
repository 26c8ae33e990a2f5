//! Test support: the exporter and the simulated engine run in-process, the
//! real daemon through the docker CLI, and a tiny `/metrics` reader.

#![allow(dead_code)]

use docker_exporter::config::Config;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The real daemon's socket.
pub const DOCKER_SOCK: &str = "/var/run/docker.sock";

/// An exporter running in this process on 127.0.0.1 and a free port.
pub struct Exporter {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Exporter {
    /// Starts the exporter with these flags (plus a loopback listen address).
    pub async fn start(args: &[&str]) -> Exporter {
        let mut all = vec!["docker_exporter", "--web.listen-address=127.0.0.1:0"];
        all.extend_from_slice(args);
        let config = Config::try_from_args(all).expect("test flags parse");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            docker_exporter::run(config, listener, token).await.unwrap();
        });
        Exporter {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    /// Stops the exporter and waits for its tasks to end.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("exporter stops within 10 s")
                .unwrap();
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http_get(self.addr, path, headers).await
    }

    pub async fn metrics(&self) -> Metrics {
        Metrics::parse(&self.get("/metrics", &[]).await.text())
    }

    /// Polls `/-/ready` until it answers 200; every answer before must be 503.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.get("/-/ready", &[]).await.status {
                200 => return,
                503 => {}
                other => panic!("/-/ready answered {other}"),
            }
            assert!(Instant::now() < deadline, "not ready within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Scrapes until `ready` holds for the metrics, or panics after `timeout`
    /// with the last body.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.metrics().await;
            if ready(&m) {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last /metrics:\n{}",
                    m.body
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An HTTP answer.
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("utf-8 body")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    http_request(addr, "GET", path, headers).await
}

pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    try_http_request(addr, method, path, headers)
        .await
        .expect("the server answers")
}

pub async fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, hyper_util::client::legacy::Error> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Empty::new()).unwrap()).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// A parsed text-format `/metrics` body.
pub struct Metrics {
    pub body: String,
    /// `name{labels}` exactly as served → value.
    pub series: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(body: &str) -> Metrics {
        let mut series = BTreeMap::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').expect("sample line has a value");
            let v = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            series.insert(key.to_string(), v);
        }
        Metrics {
            body: body.to_string(),
            series,
        }
    }

    /// The series of family `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(&str, f64)> {
        self.series
            .iter()
            .filter(|(k, _)| {
                let (n, rest) = k.split_once('{').unwrap_or((k.as_str(), ""));
                n == name
                    && labels
                        .iter()
                        .all(|(lk, lv)| rest.contains(&format!("{lk}=\"{}\"", escape(lv))))
            })
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    /// The one value of `name` with `labels`, if exactly one series matches.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).as_slice() {
            [(_, v)] => Some(*v),
            [] => None,
            many => panic!("{} series of {name} match {labels:?}: {many:?}", many.len()),
        }
    }

    pub fn has_family(&self, name: &str) -> bool {
        self.body.contains(&format!("# TYPE {name} "))
    }
}

/// Label-value escaping of the exposition format.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Fails the test unless the real daemon answers. The tests that call it are
/// `#[ignore]`d, so that without the daemon they show as "ignored" in the
/// summary; `scripts/test.sh` runs them with `--include-ignored`, where a
/// missing daemon is a failure.
pub fn require_real_daemon() {
    let ok = Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "5",
            "--unix-socket",
            DOCKER_SOCK,
            "http://docker/_ping",
        ])
        .output()
        .map(|o| o.status.success() && o.stdout == b"OK")
        .unwrap_or(false);
    assert!(
        ok,
        "no Docker daemon answers on {DOCKER_SOCK}: run scripts/testbed.sh (or leave out --include-ignored)"
    );
}

/// The image the real-daemon tests run (built by scripts/testbed.sh).
pub fn test_image() -> String {
    std::env::var("DOCKER_EXPORTER_TEST_IMAGE")
        .unwrap_or_else(|_| "docker-exporter-test:busybox".into())
}

/// Runs the docker CLI; panics with its output when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the docker CLI, ignoring failure.
pub fn docker_quiet(args: &[&str]) {
    let _ = Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Containers of one test: a unique name prefix, all removed on drop.
pub struct Scenario {
    pub prefix: String,
}

impl Scenario {
    pub fn new(test: &str) -> Scenario {
        let prefix = format!("dexptest-{test}-{}-", std::process::id());
        let s = Scenario { prefix };
        s.cleanup();
        s
    }

    pub fn name(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// `docker run -d --name <prefix><short> [args] <image> cmd…`; returns the id.
    pub fn run(&self, short: &str, args: &[&str], cmd: &[&str]) -> String {
        let name = self.name(short);
        let image = test_image();
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(args);
        all.push(&image);
        all.extend_from_slice(cmd);
        docker(&all)
    }

    pub fn create(&self, short: &str, args: &[&str], cmd: &[&str]) -> String {
        let name = self.name(short);
        let image = test_image();
        let mut all = vec!["create", "--name", &name];
        all.extend_from_slice(args);
        all.push(&image);
        all.extend_from_slice(cmd);
        docker(&all)
    }

    /// Runs a container that eats memory under `-m 16m` until the kernel kills
    /// it; returns its short name. Engine 20.10 sometimes misses the kernel's
    /// OOM report (OOMKilled false, no `oom` event) when containerd reports it
    /// after the exit, so a fresh container under a new name tries again.
    pub fn run_oom_killed(&self, short: &str) -> String {
        for attempt in 0..4 {
            let name = format!("{short}{attempt}");
            self.run(
                &name,
                &["-m", "16m", "--memory-swap", "16m"],
                &["sh", "-c", "tail /dev/zero"],
            );
            docker(&["wait", &self.name(&name)]);
            if self.inspect(&name, "{{.State.OOMKilled}}") == "true" {
                return name;
            }
        }
        panic!("the engine reported no OOM kill in 4 tries");
    }

    /// Runs a container whose health check always fails (unhealthy after ~1 s).
    pub fn run_unhealthy(&self, short: &str) -> String {
        self.run(
            short,
            &[
                "--health-cmd",
                "false",
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
            &["sleep", "3600"],
        )
    }

    /// `docker inspect -f <format> <prefix><short>`.
    pub fn inspect(&self, short: &str, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.name(short)])
    }

    pub fn cleanup(&self) {
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("name=^{}", self.prefix)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            docker_quiet(&args);
        }
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Polls `cond` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `promtool check metrics` on a body; panics with its complaint.
pub fn promtool_check(body: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/testbed.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The simulated engine (`docker_sim`), running in this process.
pub struct Sim {
    running: docker_sim::Running,
    control: docker_sim::Control,
}

impl Sim {
    /// Starts `docker_sim` with `args` on a socket in a new temp dir.
    pub fn start(args: &[&str]) -> Sim {
        let running = docker_sim::Running::start(args).expect("docker_sim starts");
        let control = running.control();
        Sim { running, control }
    }

    /// `--docker.host=unix://<socket>`.
    pub fn host(&self) -> String {
        format!("--docker.host={}", self.running.docker_host())
    }

    /// Calls to the simulated engine so far: `(total, non-GET/HEAD)`.
    pub async fn calls(&self) -> serde_json::Value {
        self.control
            .get_json("/_sim/calls")
            .await
            .expect("docker_sim answers")
    }

    /// Sends a request to the simulator's control plane (never the exporter's client).
    pub async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> String {
        let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
        self.control
            .call(method, path, body.as_ref())
            .await
            .expect("docker_sim answers")
            .text()
    }

    /// Posts a container event (`action` on `container`) to the simulator.
    pub async fn post_event(&self, container: &str, action: &str) {
        self.control(
            "POST",
            "/_sim/event",
            Some(serde_json::json!({"container": container, "action": action})),
        )
        .await;
    }
}

/// The repository's fixture directory `name`.
pub fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
