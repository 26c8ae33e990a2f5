//! Test support: the exporter and the simulated engine run in-process, the
//! real daemon through the docker CLI (scenario containers, a proxy socket that
//! can take the engine away), a real Prometheus, and a tiny `/metrics` reader.

#![allow(dead_code)]

use docker_exporter::config::Config;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    /// The stats come from the engine unless `--collect.stats-source` is
    /// given: the simulated engine's pids are not this host's, and the
    /// engine path stays what most tests check.
    pub async fn start(args: &[&str]) -> Exporter {
        let mut all = vec!["docker_exporter", "--web.listen-address=127.0.0.1:0"];
        if !args.iter().any(|a| a.starts_with("--collect.stats-source")) {
            all.push("--collect.stats-source=engine");
        }
        all.extend_from_slice(args);
        let config = Config::try_from_args(all).expect("test flags parse");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            docker_exporter::run(config, vec![listener], token)
                .await
                .unwrap();
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

    /// The value of label `label` in a series key as served (`name{a="b",…}`).
    pub fn label<'k>(key: &'k str, label: &str) -> Option<&'k str> {
        let start = key.find(&format!("{label}=\""))? + label.len() + 2;
        let rest = &key[start..];
        let mut escaped = false;
        let end = rest.char_indices().find_map(|(i, c)| match c {
            '"' if !escaped => Some(i),
            '\\' => {
                escaped = !escaped;
                None
            }
            _ => {
                escaped = false;
                None
            }
        })?;
        Some(&rest[..end])
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

    /// Runs a container whose health check always passes (healthy after ~1 s).
    pub fn run_healthy(&self, short: &str) -> String {
        self.run(
            short,
            &["--health-cmd", "true", "--health-interval", "1s"],
            &["sleep", "3600"],
        )
    }

    /// Runs a container that exits 1 after 0.2 s under `--restart always`, so the
    /// engine keeps restarting it (with its growing back-off).
    pub fn run_restart_loop(&self, short: &str) -> String {
        self.run(
            short,
            &["--restart", "always"],
            &["sh", "-c", "sleep 0.2; exit 1"],
        )
    }

    /// Runs a sleeping container and pauses it.
    pub fn run_paused(&self, short: &str) -> String {
        let id = self.run(short, &[], &["sleep", "3600"]);
        docker(&["pause", &self.name(short)]);
        id
    }

    /// Runs a container that burns CPU (`yes > /dev/null`) under `limits`
    /// (e.g. `--cpus 0.5`).
    pub fn run_busy_cpu(&self, short: &str, limits: &[&str]) -> String {
        self.run(short, limits, &["sh", "-c", "yes > /dev/null"])
    }

    /// Runs a web server (busybox httpd on port 8080) named `server` and a
    /// client named `client` that fetches from it every 0.1 s, so both see
    /// network traffic both ways.
    pub fn run_web_pair(&self, server: &str, client: &str) {
        self.run(
            server,
            &[],
            &[
                "sh",
                "-c",
                "echo hello > /var/www/index.html; exec httpd -f -p 8080 -h /var/www",
            ],
        );
        let ip = self.inspect(server, "{{.NetworkSettings.IPAddress}}");
        let fetch = format!("while :; do wget -q -O /dev/null http://{ip}:8080/; sleep 0.1; done");
        self.run(client, &[], &["sh", "-c", &fetch]);
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

/// A live `docker events --filter type=container` subscriber: the reference
/// the exporter's counters are held to (not `docker events --since`, which
/// replays at most the engine's last 256 events).
pub struct EventSubscriber {
    child: Child,
    /// `(action, container name)` of each event seen, in arrival order.
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl EventSubscriber {
    /// Subscribes, and returns once the subscription is live (it has seen an
    /// event of a marker container made under `scenario`).
    pub fn start(scenario: &Scenario) -> EventSubscriber {
        let mut child = Command::new("docker")
            .args([
                "events",
                "--filter",
                "type=container",
                "--format",
                "{{.Action}}\t{{.Actor.Attributes.name}}",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events runs");
        let stdout = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((action, name)) = line.split_once('\t') {
                    sink.lock()
                        .unwrap()
                        .push((action.to_string(), name.to_string()));
                }
            }
        });
        let sub = EventSubscriber { child, seen };
        let marker = scenario.name("subscribed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sub.seen().iter().any(|(_, n)| *n == marker) {
            assert!(
                Instant::now() < deadline,
                "docker events saw no marker event"
            );
            docker_quiet(&["rm", "-f", &marker]);
            scenario.create("subscribed", &[], &["true"]);
            std::thread::sleep(Duration::from_millis(200));
        }
        sub
    }

    pub fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }

    /// Events seen per `(name, action)` for names starting with `prefix`.
    pub fn counts(&self, prefix: &str) -> BTreeMap<(String, String), u64> {
        let mut counts = BTreeMap::new();
        for (action, name) in self.seen() {
            if name.starts_with(prefix) {
                *counts.entry((name, action)).or_default() += 1;
            }
        }
        counts
    }
}

impl Drop for EventSubscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Unix socket that forwards to the real daemon, for making the engine
/// appear and vanish under the exporter.
pub struct Proxy {
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn start(path: &Path) -> Proxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::UnixStream::connect(DOCKER_SOCK).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { task }
    }

    /// Stops accepting and drops every forwarded connection.
    pub fn stop(self, path: &Path) {
        self.task.abort();
        let _ = std::fs::remove_file(path);
    }
}

/// Debian's `prometheus` (installed by scripts/testbed.sh) on 127.0.0.1 and a
/// free port, with its config and TSDB in a temp dir; killed on drop.
pub struct Prometheus {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Checks `config` (the text of prometheus.yml) with `promtool check
    /// config`, starts Prometheus with it and waits until it is ready.
    pub async fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        promtool_check_config(&file);
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/testbed.sh installs it)");
        let p = Prometheus {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.try_get("/-/ready").await.map(|r| r.status) != Some(200) {
            assert!(Instant::now() < deadline, "Prometheus not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        p
    }

    /// A directory next to the config, for extra files (rules) of the test.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    async fn try_get(&self, path: &str) -> Option<Response> {
        let addr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        try_http_request(addr, "GET", path, &[]).await.ok()
    }

    /// GET of an API path; the JSON answer (Null when not listening).
    pub async fn api(&self, path: &str) -> serde_json::Value {
        match self.try_get(path).await {
            Some(r) => serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
            None => serde_json::Value::Null,
        }
    }

    /// An instant query; the whole JSON answer.
    pub async fn query(&self, q: &str) -> serde_json::Value {
        self.api(&format!("/api/v1/query?query={}", urlencode(q)))
            .await
    }

    /// The first value of an instant query, if any.
    pub async fn value(&self, q: &str) -> Option<f64> {
        self.query(q).await["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use docker_sim::free_port;

/// Percent-encoding of a query-string value (everything but unreserved bytes).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    /// Ends every open `/events` stream at once (the exporter reconnects).
    pub async fn break_event_streams(&self) {
        self.control(
            "POST",
            "/_sim/fault",
            Some(serde_json::json!({"endpoint": "events", "kind": "close"})),
        )
        .await;
    }

    pub async fn post_event(&self, container: &str, action: &str) {
        self.control(
            "POST",
            "/_sim/event",
            Some(serde_json::json!({"container": container, "action": action})),
        )
        .await;
    }
}

/// The exporter binary, watching the simulated engine, under `prefix` (e.g.
/// `prlimit`); returns the child and its address.
pub fn spawn_exporter(
    prefix: &[&str],
    sim: &Sim,
    args: &[&str],
) -> (std::process::Child, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let exe = env!("CARGO_BIN_EXE_docker_exporter");
    let (program, pre) = match prefix {
        [] => (exe, &[][..]),
        [p, rest @ ..] => (*p, rest),
    };
    let mut cmd = Command::new(program);
    cmd.args(pre);
    if !prefix.is_empty() {
        cmd.arg(exe);
    }
    let child = cmd
        .arg(sim.host())
        .arg(format!("--web.listen-address={addr}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, addr)
}

/// Waits until `/-/healthy` answers on `addr`.
pub async fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while try_http_request(addr, "GET", "/-/healthy", &[])
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the exporter never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The repository's fixture directory `name`.
pub fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Whether `tool` (installed by scripts/testbed.sh) is on PATH; in CI
/// (`CI=true`) its absence fails the test, elsewhere the test is skipped with a
/// printed reason.
pub fn tool_available(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{test}: CI=true but {tool} is not installed; run scripts/testbed.sh");
        }
        eprintln!("SKIPPED {test}: {tool} is not installed (run scripts/testbed.sh; with CI=true this fails)");
    }
    found
}

/// Runs `program args…` in `dir`; returns (success, stdout + stderr).
pub fn run_tool(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The repository's `deploy/` directory, or a file under it.
pub fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// `promtool check config` on a Prometheus config file; panics with its complaint.
pub fn promtool_check_config(file: &Path) {
    let (ok, out) = run_tool(
        file.parent().unwrap(),
        "promtool",
        &["check", "config", file.to_str().unwrap()],
    );
    assert!(ok, "promtool check config {}: {out}", file.display());
}

/// What `curl` made of a request: its exit code, the HTTP status (`000` when
/// none), the headers and body, and its verbose/error output.
pub struct Curl {
    pub exit: i32,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

/// `curl -sS --max-time 10 [args] url`, with the status written after the body.
pub fn curl(args: &[&str], url: &str) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status: status.trim().to_string(),
        stdout: body.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// The simulated engine replaying the Engine 20.10 fixtures.
pub fn fixtures_sim() -> Sim {
    Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ])
}
