//! # scale: the benchmark suite of `docker_exporter`
//!
//! An orchestrator, run on demand (never by `cargo test`): it starts the
//! simulated engine in-process (`docker_sim::Running`, on its own thread and
//! runtime) and `target/release/docker_exporter` as a separate process, drives
//! them over loopback and the simulator's Unix socket, reads
//! `/proc/<pid>` of the exporter, and prints markdown tables on stdout (progress
//! goes to stderr). `bench/run.sh` builds everything and runs every suite;
//! `BENCHMARKS.md` has the results and how to read them.
//!
//! ```text
//! cargo build --release --bins --example scale
//! target/release/examples/scale sim      # synthetic engine, N = 100, 1,000, 5,000
//! target/release/examples/scale oneshot  # Engine < 25 one-shot stats tick vs Engine 25
//! target/release/examples/scale real     # event-to-metric latency on /var/run/docker.sock
//! target/release/examples/scale peer --python /tmp/peer-venv/bin/python
//! target/release/examples/scale page     # /metrics with and without the overview page polled
//! target/release/examples/scale encode   # encoding in-process: full encode vs fragments, gzip
//! ```
//!
//! The exporter's binary is looked up in `--bin-dir`, else next to the example's
//! own directory (`target/release/examples/..`). Every process it starts is ended by
//! it (also on SIGINT/SIGTERM); every Docker container it creates is named
//! `dexpbench-*` and removed at the end. With `BENCH_PIDFILE` set it appends the
//! pid of each child there, so that a wrapper script can end them if this
//! process is killed outright.
//!
//! ## What is measured, and how
//!
//! * **Scrape latency**: `GET /metrics` with a keep-alive hyper client per
//!   scraper, 1 or 4 scrapers, with and without `Accept-Encoding: gzip`; the
//!   time is from sending the request to the last byte of the body (the gzip
//!   body is not decompressed). A request count and a time cap per
//!   configuration bound each run (the cap matters at N = 5,000).
//! * **Cycle wall time**: the sum of `docker_exporter_collector_duration_seconds`
//!   of `engine`, `containers` and `stats` (the three run one after the other in
//!   a cycle), read once per cycle right after the simulator sees the next
//!   cycle's list call; median and maximum over the sampled cycles.
//! * **CPU per cycle and engine calls per cycle**: over K whole cycles with no
//!   scrape at all, delimited by the simulator's list-call counter
//!   (`GET /_sim/calls`): each end is taken once the cycle that just listed has
//!   settled (no engine call for 60 ms); utime and stime of `/proc/<pid>/stat`
//!   ÷ K, and the per-endpoint call deltas ÷ K.
//! * **Peak RSS**: `VmHWM` of `/proc/<pid>/status`, once after the quiet cycles
//!   (collection only) and once at the end of a size's run (the highest of
//!   the whole run); and for each scrape-latency configuration on its own:
//!   `VmHWM` reset to the current RSS (`5` into `/proc/<pid>/clear_refs`)
//!   before it, read after it.
//! * **Event-to-metric**: `POST /_sim/event` (`die`, then `start` back) and poll
//!   `/metrics` (plain, every ~1 ms) until the expected `docker_container_state`
//!   sample; the time runs from just before the POST to the receipt of the
//!   chunk that shows it. Against the real daemon: from `docker stop -t 5`
//!   returning to the first poll with `state="exited"} 1` (and from issuing it).
//!   Each poll is one GET whose body is read as it arrives (`--e2m-poll stream`,
//!   the default): frame by frame, searched incrementally for the sample line
//!   inside its family (`# TYPE docker_container_state` up to the next
//!   `# HELP`); the poll stops at the frame that shows the sample, or at the
//!   end of the family without it, and drops the response and its connection
//!   there (the next poll opens a new one, ~0.1 ms on loopback). The family is
//!   the second of a container's, so a poll reads a few KiB to a few MiB, not
//!   the whole body, and the exporter's own delay is what is measured.
//!   `--e2m-poll full` is the method of the figures before 2026-12-07: each
//!   poll fetches the whole body (8 MiB at N = 1,000, 42 MiB at N = 5,000)
//!   and then searches it, so one poll's transfer is the floor; the output
//!   names the method used. `--event-gap-ms G` pauses G/2 to 3G/2 ms
//!   (pseudo-random, repeatable) before each event, so that the events land
//!   at every phase of the collection cycle and the p99 includes the ones
//!   that meet a cycle's snapshot being encoded; back to back, 50 runs take
//!   1-2 s, less than one cycle, and their tail is a matter of luck.
//! * **Peer** (`peer`): ours and the peer run side by side on the same engine
//!   and are scraped alternately by one client, the pairs spread over a window
//!   of at least 30 s; CPU seconds of each process over that window, `VmHWM`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[derive(Parser, Debug)]
#[command(name = "scale", about = "Benchmark suite of docker_exporter")]
struct Cli {
    /// Directory holding the release `docker_exporter`
    /// (default: the parent of this example's directory).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Synthetic engine: scrape latency, sizes, cycle cost, engine calls, events.
    Sim(SimArgs),
    /// One-shot stats of old engines (1 s tick, Engine 20.10) vs new ones.
    Oneshot(OneshotArgs),
    /// Event-to-metric latency against the real daemon.
    Real(RealArgs),
    /// Side by side with the peer exporter (glorpen-docker-exporter).
    Peer(PeerArgs),
    /// `/metrics` latency and peak RSS with and without the overview page polled.
    Page(PageArgs),
    /// Encoding in-process: a full encode vs fragments (cold, one change), gzip.
    Encode(EncodeArgs),
}

#[derive(clap::Args, Debug)]
struct EncodeArgs {
    /// Numbers of synthetic containers (7 in 8 running, with stats).
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    sizes: Vec<usize>,
    /// Snapshots with one container changed, per size and format.
    #[arg(long, default_value_t = 41)]
    changes: usize,
    /// Write the text body of the last size to this file.
    #[arg(long)]
    dump: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct SimArgs {
    /// Numbers of synthetic containers.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    sizes: Vec<u64>,
    /// Latency the simulator adds to every engine call.
    #[arg(long, default_value = "2ms")]
    latency: String,
    /// Requests per latency configuration (split among the scrapers).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Time cap of one latency configuration, seconds.
    #[arg(long, default_value_t = 20.0)]
    max_secs: f64,
    /// Event-to-metric runs (each a die and a start).
    #[arg(long, default_value_t = 50)]
    event_runs: usize,
    /// Mean pause before each event, ms (each pause drawn between half and
    /// one and a half times this): events then land at every phase of the
    /// collection cycle, as real ones do, rather than in one burst of runs
    /// that may miss every cycle. 0: back to back (the runs before
    /// 2026-12-07).
    #[arg(long, default_value_t = 0)]
    event_gap_ms: u64,
    /// Seconds of quiet cycles over which CPU and engine calls are counted.
    #[arg(long, default_value_t = 20.0)]
    cpu_window_secs: f64,
    /// How event-to-metric polls `/metrics` (see the header: `full` is the
    /// method of the figures before 2026-12-07's issue 14 part B run).
    #[arg(long, value_enum, default_value_t = PollMode::Stream)]
    e2m_poll: PollMode,
    /// Cycles sampled for the cycle wall time.
    #[arg(long, default_value_t = 4)]
    duration_cycles: u64,
}

#[derive(clap::Args, Debug)]
struct PageArgs {
    /// Synthetic containers.
    #[arg(long, default_value_t = 1000)]
    containers: u64,
    /// Requests of the `/metrics` latency run (one keep-alive scraper, plain).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// How often the page's live part is fetched while it is "in use", ms
    /// (the page itself refreshes every 5 s: 1,000 ms is five open pages).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
}

#[derive(clap::Args, Debug)]
struct OneshotArgs {
    /// Numbers of synthetic containers.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    sizes: Vec<u64>,
    /// Latency the simulator adds to every engine call.
    #[arg(long, default_value = "2ms")]
    latency: String,
}

#[derive(clap::Args, Debug)]
struct RealArgs {
    /// Stop/start runs.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Docker socket.
    #[arg(long, default_value = "/var/run/docker.sock")]
    socket: PathBuf,
    /// How `/metrics` is polled (see the header).
    #[arg(long, value_enum, default_value_t = PollMode::Stream)]
    e2m_poll: PollMode,
    /// Image of the test container (must exist locally; never pulled).
    #[arg(
        long,
        env = "DOCKER_EXPORTER_TEST_IMAGE",
        default_value = "docker-exporter-test:busybox"
    )]
    image: String,
}

#[derive(clap::Args, Debug)]
struct PeerArgs {
    /// Python interpreter of the venv where glorpen-docker-exporter is installed.
    #[arg(long)]
    python: PathBuf,
    /// Synthetic engine sizes.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    sizes: Vec<u64>,
    /// Scrapes of each exporter per synthetic size (interleaved).
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Stop starting new scrape pairs after this many seconds (synthetic).
    #[arg(long, default_value_t = 60.0)]
    max_secs: f64,
    /// Shortest measurement window, seconds (scrapes are spread over it).
    #[arg(long, default_value_t = 30.0)]
    min_window_secs: f64,
    /// Containers to create on the real daemon (0: skip the real daemon).
    #[arg(long, default_value_t = 100)]
    real_containers: usize,
    /// Scrapes of each exporter against the real daemon.
    #[arg(long, default_value_t = 2)]
    real_requests: usize,
    /// Docker socket.
    #[arg(long, default_value = "/var/run/docker.sock")]
    socket: PathBuf,
    /// Image of the test containers (must exist locally; never pulled).
    #[arg(
        long,
        env = "DOCKER_EXPORTER_TEST_IMAGE",
        default_value = "docker-exporter-test:busybox"
    )]
    image: String,
}

// ---------------------------------------------------------------------------
// Processes and containers we own, ended on every exit path
// ---------------------------------------------------------------------------

static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static CONTAINERS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Set on SIGINT/SIGTERM: no new container is created after it.
static STOPPING: std::sync::atomic::AtomicBool = AtomicBool::new(false);

/// A temporary directory, removed when dropped or on a signal.
fn temp_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("dexpbench-").tempdir()?;
    lock(&DIRS).push(dir.path().to_path_buf());
    Ok(dir)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("scale: {}", msg.as_ref());
}

/// A child process, ended (SIGTERM, then SIGKILL after 5 s) when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        // Under the lock: the signal handler either sees this pid or we see STOPPING.
        let mut pids = lock(&PIDS);
        if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
            bail!("stopping: not starting {name}");
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let pid = child.id();
        pids.push(pid);
        drop(pids);
        if let Ok(path) = std::env::var("BENCH_PIDFILE") {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{pid}");
            }
        }
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails when the process has already exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "{} exited early ({status}); last log lines:\n{}",
                self.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }
}

fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id();
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(pid);
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        lock(&PIDS).retain(|p| *p != pid);
    }
}

/// Removes the containers we created (`docker rm -f`), in batches.
fn remove_containers(names: &[String]) {
    for chunk in names.chunks(50) {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(chunk)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    lock(&CONTAINERS).retain(|c| !names.contains(c));
}

/// Owns Docker containers; removes them when dropped.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            progress(format!("removing {} container(s)", self.0.len()));
            remove_containers(&self.0);
        }
    }
}

/// On SIGINT/SIGTERM: end the children, remove the containers, exit.
async fn cleanup_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    progress("signal: ending children and removing containers");
    let pids = lock(&PIDS).clone();
    for pid in pids {
        terminate(pid);
    }
    let containers = lock(&CONTAINERS).clone();
    remove_containers(&containers);
    if !containers.is_empty() {
        // A `docker run` already in flight may still create its container.
        std::thread::sleep(Duration::from_secs(3));
        remove_containers(&containers);
    }
    // Give the children a moment to go (they remove their sockets), then the dirs.
    std::thread::sleep(Duration::from_millis(300));
    for pid in lock(&PIDS).clone() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
    for dir in lock(&DIRS).clone() {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(130);
}

// ---------------------------------------------------------------------------
// Small helpers: /proc, percentiles, formatting, metrics text
// ---------------------------------------------------------------------------

fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime and stime of a process (all its threads, dead ones included), seconds.
fn cpu_split(pid: u32) -> Result<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &s[s.rfind(')').context("malformed /proc/pid/stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).context("no utime")?.parse()?;
    let stime: u64 = f.get(12).context("no stime")?.parse()?;
    Ok((utime as f64 / clk_tck(), stime as f64 / clk_tck()))
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let (u, s) = cpu_split(pid)?;
    Ok(u + s)
}

/// `VmHWM` (peak resident set) of a process, KiB.
/// Resets `VmHWM` of a process to its current resident set (`clear_refs` 5),
/// so that the next [`peak_rss_kib`] is the peak since now.
fn reset_peak_rss(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of {pid}"))
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("malformed VmHWM")?
        .parse()?)
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        return "n/a".into();
    }
    let r = a / b;
    if r >= 0.01 {
        format!("{r:.3}")
    } else {
        format!("{r:.1e}")
    }
}

/// The value of the first sample whose line starts with `series ` (name and labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn series_count(body: &str) -> usize {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn collector_duration(body: &str, collector: &str) -> Option<f64> {
    sample(
        body,
        &format!("docker_exporter_collector_duration_seconds{{collector=\"{collector}\"}}"),
    )
}

/// WARN and ERROR lines of a JSON-logging exporter, counted by message.
fn log_problems(log: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            if !line.trim().is_empty() {
                *out.entry(format!("(not JSON) {line}")).or_default() += 1;
            }
            continue;
        };
        let level = v["level"].as_str().unwrap_or("");
        if level == "WARN" || level == "ERROR" {
            let mut msg = format!("{level} {}", v["fields"]["message"].as_str().unwrap_or("?"));
            if let Some(e) = v["fields"]["error"].as_str() {
                let e: String = e.chars().take(120).collect();
                msg.push_str(&format!(" (error: {e})"));
            }
            *out.entry(msg).or_default() += 1;
        }
    }
    out
}

/// A markdown table.
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn print(&self) {
        println!("| {} |", self.head.join(" | "));
        println!(
            "|{}|",
            self.head
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.rows {
            println!("| {} |", r.join(" | "));
        }
        println!();
    }
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} CPUs ({cpu})")
}

// ---------------------------------------------------------------------------
// HTTP: loopback scrapes and the simulator's Unix socket
// ---------------------------------------------------------------------------

type Http = Client<HttpConnector, Empty<Bytes>>;

fn http_client() -> Http {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4)
        .build(conn)
}

struct Fetched {
    status: StatusCode,
    body: Bytes,
    took: Duration,
}

/// One GET; the time runs to the last byte of the body.
async fn fetch(client: &Http, url: &str, gzip: bool, timeout: Duration) -> Result<Fetched> {
    let uri: Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let mut req = Request::get(uri);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let req = req.body(Empty::new())?;
    let start = Instant::now();
    let work = async {
        let resp = client.request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| anyhow!("GET {url}: no answer within {timeout:?}"))??;
    Ok(Fetched {
        status,
        body,
        took: start.elapsed(),
    })
}

fn gunzip(b: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out)?;
    Ok(out)
}

/// The simulator's control plane (and engine API, for set-up reads).
struct SimCtl {
    control: docker_sim::Control,
    sock: PathBuf,
}

impl SimCtl {
    fn new(sock: &Path) -> SimCtl {
        SimCtl {
            control: docker_sim::Control::new(sock),
            sock: sock.to_path_buf(),
        }
    }

    async fn get_json(&self, path: &str) -> Result<Value> {
        within(path, self.control.get_json(path)).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<()> {
        within(path, self.control.post(path, &body)).await.map(drop)
    }

    async fn calls(&self) -> Result<BTreeMap<String, u64>> {
        let v = self.get_json("/_sim/calls").await?;
        let by = v["by_endpoint"].as_object().context("no by_endpoint")?;
        Ok(by
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect())
    }

    async fn list_calls(&self) -> Result<u64> {
        Ok(self.calls().await?.get("list").copied().unwrap_or(0))
    }

    /// Waits until the list-call counter reaches `n`; returns the counter.
    async fn wait_list(&self, n: u64, timeout: Duration) -> Result<u64> {
        let until = Instant::now() + timeout;
        loop {
            let c = self.list_calls().await?;
            if c >= n {
                return Ok(c);
            }
            if Instant::now() > until {
                bail!("the exporter made {c} list calls, not {n}, within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until no engine call has arrived for 60 ms (the cycle in progress
    /// is over); returns the counters then.
    async fn settle(&self) -> Result<BTreeMap<String, u64>> {
        let until = Instant::now() + Duration::from_secs(60);
        let mut last = self.calls().await?;
        loop {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let now = self.calls().await?;
            if now == last {
                return Ok(now);
            }
            if Instant::now() > until {
                bail!("the engine calls did not settle within 60 s");
            }
            last = now;
        }
    }

    /// Containers the exporter samples (running, paused, restarting) and all.
    async fn live_and_total(&self) -> Result<(u64, u64)> {
        let v = self.get_json("/containers/json?all=true").await?;
        let list = v.as_array().context("list is not an array")?;
        let live = list
            .iter()
            .filter(|c| {
                matches!(
                    c["State"].as_str(),
                    Some("running" | "paused" | "restarting")
                )
            })
            .count();
        Ok((live as u64, list.len() as u64))
    }
}

/// A simulator call, under a 30 s timeout.
async fn within<T>(
    path: &str,
    call: impl std::future::Future<Output = Result<T, docker_sim::launch::Error>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .map_err(|_| anyhow!("simulator: {path} timed out"))?
        .map_err(|e| anyhow!("simulator: {e}"))
}

// ---------------------------------------------------------------------------
// Starting the simulator, the exporter and the peer
// ---------------------------------------------------------------------------

struct Bins {
    exporter: PathBuf,
}

fn find_bins(dir: Option<PathBuf>) -> Result<Bins> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("cannot locate target/release from the example's path")?
            .to_path_buf(),
    };
    let bins = Bins {
        exporter: dir.join("docker_exporter"),
    };
    if !bins.exporter.is_file() {
        bail!(
            "{} not found: run `cargo build --release --bins` (or pass --bin-dir)",
            bins.exporter.display()
        );
    }
    Ok(bins)
}

/// Starts the simulator in-process on `<dir>/<tag>.sock`.
async fn start_sim(dir: &Path, tag: &str, args: &[&str]) -> Result<(docker_sim::Running, SimCtl)> {
    let sock = dir.join(format!("{tag}.sock"));
    let sim = docker_sim::Running::start_at(&sock, args).map_err(|e| anyhow!("docker_sim: {e}"))?;
    let ctl = SimCtl::new(&sock);
    Ok((sim, ctl))
}

/// Starts the exporter on an ephemeral loopback port; returns it and its base URL.
async fn start_exporter(
    bins: &Bins,
    dir: &Path,
    tag: &str,
    host: &str,
    extra: &[&str],
) -> Result<(Proc, String)> {
    let mut cmd = Command::new(&bins.exporter);
    cmd.args([
        "--docker.host",
        host,
        "--web.listen-address",
        "127.0.0.1:0",
        "--log.format",
        "json",
        // These suites measure the engine's stats path (the simulator's pids
        // are not this host's); bench/cgroup.py measures the cgroup source.
        "--collect.stats-source",
        "engine",
    ])
    .args(extra)
    .env_remove("DOCKER_HOST")
    .env_remove("DOCKER_API_VERSION");
    let mut p = Proc::spawn(
        &format!("docker_exporter ({tag})"),
        cmd,
        dir.join(format!("{tag}-exporter.log")),
    )?;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let address = p.log_text().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == "serving metrics")
                .then(|| v["fields"]["address"].as_str().map(String::from))
                .flatten()
        });
        if let Some(a) = address {
            return Ok((p, format!("http://{a}")));
        }
        p.check_alive()?;
        if Instant::now() > until {
            bail!("the exporter did not log its address within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the peer exporter; returns it and its base URL.
async fn start_peer(
    python: &Path,
    dir: &Path,
    tag: &str,
    docker_host: &str,
    sysfs: &Path,
) -> Result<(Proc, String)> {
    let port = docker_sim::free_port();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "glorpen_docker_exporter", "-a", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .arg("--sysfs")
        .arg(sysfs)
        .env("DOCKER_HOST", docker_host)
        .env_remove("DOCKER_API_VERSION")
        .env("PYTHONUNBUFFERED", "1");
    let mut p = Proc::spawn(
        &format!("glorpen-docker-exporter ({tag})"),
        cmd,
        dir.join(format!("{tag}-peer.log")),
    )?;
    let until = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        p.check_alive()?;
        if Instant::now() > until {
            bail!("the peer did not listen on port {port} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((p, format!("http://127.0.0.1:{port}")))
}

/// Waits for `/-/ready` to answer 200.
async fn wait_ready(client: &Http, base: &str, p: &mut Proc, timeout: Duration) -> Result<()> {
    let until = Instant::now() + timeout;
    loop {
        if let Ok(f) = fetch(
            client,
            &format!("{base}/-/ready"),
            false,
            Duration::from_secs(5),
        )
        .await
        {
            if f.status == StatusCode::OK {
                return Ok(());
            }
        }
        p.check_alive()?;
        if Instant::now() > until {
            bail!("the exporter was not ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

struct Latency {
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
    body_len: usize,
    /// The exporter's `VmHWM` over this run alone (0: not measured).
    peak_kib: u64,
}

/// `scrapers` concurrent keep-alive clients, `total` requests in all (or until `cap`).
async fn scrape_latency(
    url: &str,
    scrapers: usize,
    gzip: bool,
    total: usize,
    cap: Duration,
) -> Result<Latency> {
    let per = total.div_ceil(scrapers);
    let until = Instant::now() + cap;
    let mut tasks = Vec::new();
    for _ in 0..scrapers {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let client = http_client();
            let mut took = Vec::with_capacity(per);
            let (mut errors, mut body_len) = (0usize, 0usize);
            // Untimed: opens the keep-alive connection.
            let _ = fetch(&client, &url, gzip, Duration::from_secs(60)).await;
            for _ in 0..per {
                if Instant::now() > until {
                    break;
                }
                match fetch(&client, &url, gzip, Duration::from_secs(60)).await {
                    Ok(f) if f.status == StatusCode::OK => {
                        body_len = f.body.len();
                        took.push(f.took);
                    }
                    _ => errors += 1,
                }
            }
            (took, errors, body_len)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut body_len) = (0, 0);
    for t in tasks {
        let (took, e, b) = t.await?;
        all.extend(took);
        errors += e;
        body_len = body_len.max(b);
    }
    all.sort();
    Ok(Latency {
        n: all.len(),
        p50: pct(&all, 0.50),
        p99: pct(&all, 0.99),
        max: all.last().copied().unwrap_or_default(),
        errors,
        body_len,
        peak_kib: 0,
    })
}

/// How event-to-metric reads `/metrics`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum PollMode {
    /// Each poll reads the body as it arrives and stops (dropping the
    /// connection) once the sample is seen or its family has ended.
    Stream,
    /// Each poll fetches the whole body, then searches it (the method before
    /// 2026-12-07: the body's transfer is the floor).
    Full,
}

impl PollMode {
    fn describe(self) -> &'static str {
        match self {
            PollMode::Stream => {
                "streamed: each poll reads the plain body as it arrives and stops at the sample \
                 or at the end of its family (`--e2m-poll stream`)"
            }
            PollMode::Full => {
                "whole body: each poll fetches the whole plain body, then searches it \
                 (`--e2m-poll full`, the method of the figures before 2026-12-07)"
            }
        }
    }
}

/// Polls `/metrics` (plain) every ~1 ms until `needle` (a whole sample line)
/// appears; the time from `t0` to the receipt of the chunk (stream) or body
/// (full) that shows it.
async fn poll_until(
    client: &Http,
    url: &str,
    needle: &str,
    t0: Instant,
    timeout: Duration,
    mode: PollMode,
) -> Result<Duration> {
    loop {
        let seen = poll_once(client, url, needle, mode).await?;
        let at = t0.elapsed();
        if seen {
            return Ok(at);
        }
        if at > timeout {
            bail!("{needle:?} not in /metrics after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// One poll: whether `/metrics` shows `needle` (a whole sample line).
async fn poll_once(client: &Http, url: &str, needle: &str, mode: PollMode) -> Result<bool> {
    Ok(match mode {
        PollMode::Full => {
            let f = fetch(client, url, false, Duration::from_secs(30)).await?;
            f.status == StatusCode::OK
                && std::str::from_utf8(&f.body).is_ok_and(|s| s.contains(needle))
        }
        PollMode::Stream => within_secs(30, url, stream_search(client, url, needle)).await?,
    })
}

async fn within_secs<T>(
    secs: u64,
    what: &str,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .map_err(|_| anyhow!("{what}: no answer within {secs} s"))?
}

/// One GET of the plain body, read frame by frame: true as soon as a frame
/// completes the line `needle`, false once its family has ended without it
/// (or the body has). The response is then dropped unread, and with it the
/// connection (the next poll opens a new one).
async fn stream_search(client: &Http, url: &str, needle: &str) -> Result<bool> {
    let uri: Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let resp = client
        .request(Request::get(uri).body(Empty::new())?)
        .await?;
    if resp.status() != StatusCode::OK {
        return Ok(false);
    }
    let family = needle.split(['{', ' ']).next().unwrap_or(needle);
    let mut search = FamilySearch::new(family, needle);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if let Some(found) = search.feed(&data) {
                return Ok(found);
            }
        }
    }
    Ok(false)
}

/// An incremental search of a text exposition for one sample line, inside its
/// family: fed the body in pieces, it keeps only the bytes a match could still
/// start in.
struct FamilySearch {
    /// `\n# TYPE <family> `: where the family's series begin.
    start: Vec<u8>,
    /// `\n<sample line>`.
    needle: Vec<u8>,
    inside: bool,
    /// Unsearched bytes, and the tail of the searched ones a match could
    /// still begin in; starts with a newline (the body starts a line).
    pending: Vec<u8>,
}

/// What starts the next family.
const NEXT_FAMILY: &[u8] = b"\n# HELP ";

impl FamilySearch {
    fn new(family: &str, needle: &str) -> FamilySearch {
        FamilySearch {
            start: format!("\n# TYPE {family} ").into_bytes(),
            needle: format!("\n{needle}").into_bytes(),
            inside: false,
            pending: vec![b'\n'],
        }
    }

    /// `Some(true)`: the sample is there; `Some(false)`: its family has
    /// ended without it; `None`: read on.
    fn feed(&mut self, chunk: &[u8]) -> Option<bool> {
        self.pending.extend_from_slice(chunk);
        let mut from = 0;
        while let Some(i) = self.pending[from..].iter().position(|&b| b == b'\n') {
            let at = &self.pending[from + i..];
            let keep_from = from + i;
            // A line cut short by the piece may still turn out to be `p`.
            let cut_short = |p: &[u8]| at.len() < p.len() && p.starts_with(at);
            if !self.inside {
                if at.starts_with(&self.start) {
                    self.inside = true;
                } else if cut_short(&self.start) {
                    return self.keep(keep_from);
                }
            } else {
                if at.starts_with(&self.needle) {
                    return Some(true);
                }
                if at.starts_with(NEXT_FAMILY) {
                    return Some(false);
                }
                if cut_short(&self.needle) || cut_short(NEXT_FAMILY) {
                    return self.keep(keep_from);
                }
            }
            from += i + 1;
        }
        self.pending.clear();
        None
    }

    fn keep(&mut self, from: usize) -> Option<bool> {
        self.pending.drain(..from);
        None
    }
}

/// A small deterministic pseudo-random sequence (xorshift64) for the event
/// pauses, so that a run can be repeated.
struct Jitter(u64);

impl Jitter {
    /// A value in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn state_line(name: &str, state: &str) -> String {
    format!("docker_container_state{{name=\"{name}\",state=\"{state}\"}} 1\n")
}

struct EventStats {
    down: Vec<Duration>,
    up: Vec<Duration>,
    failures: usize,
}

impl EventStats {
    fn cells(&mut self) -> Vec<String> {
        self.down.sort();
        self.up.sort();
        vec![
            self.down.len().to_string(),
            ms(pct(&self.down, 0.5)),
            ms(pct(&self.down, 0.99)),
            ms(self.down.last().copied().unwrap_or_default()),
            ms(pct(&self.up, 0.5)),
            ms(pct(&self.up, 0.99)),
            self.failures.to_string(),
        ]
    }
}

// ---------------------------------------------------------------------------
// Suite 1: the synthetic engine
// ---------------------------------------------------------------------------

struct SimRow {
    n: u64,
    live: u64,
    interval: Duration,
    series: usize,
    plain: usize,
    gzip: usize,
    cycle: Vec<f64>,
    stats_part: Vec<f64>,
    /// user, system seconds per cycle
    cpu_per_cycle: (f64, f64),
    cycles: u64,
    /// VmHWM after the quiet cycles, before any scrape.
    collect_peak_kib: u64,
    calls: BTreeMap<String, f64>,
    peak_kib: u64,
    latency: Vec<(usize, bool, Latency)>,
    /// Scrapes that were the first of a new snapshot (they encode it), sorted.
    fresh: Vec<Duration>,
    events: EventStats,
    problems: BTreeMap<String, usize>,
}

/// The collection interval used at a size: short, so that a run sees many cycles,
/// yet longer than a cycle (else cycles run back to back).
fn sim_interval(n: u64) -> Duration {
    if n <= 1000 {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    }
}

async fn sim_one(bins: &Bins, dir: &Path, n: u64, a: &SimArgs) -> Result<SimRow> {
    let tag = format!("sim{n}");
    let interval = sim_interval(n);
    let (_sim, ctl) = start_sim(
        dir,
        &tag,
        &["--containers", &n.to_string(), "--latency", &a.latency],
    )
    .await?;
    let (live, _total) = ctl.live_and_total().await?;
    let list0 = ctl.list_calls().await?;
    let interval_s = format!("{}ms", interval.as_millis());
    let (mut exp, base) = start_exporter(
        bins,
        dir,
        &tag,
        &format!("unix://{}", ctl.sock.display()),
        &["--collect.interval", &interval_s],
    )
    .await?;
    let pid = exp.pid();
    let client = http_client();
    let metrics = format!("{base}/metrics");
    wait_ready(&client, &base, &mut exp, Duration::from_secs(60)).await?;
    // Cycle 1 (full), cycle 2 (the resync once the event stream is up), then steady.
    ctl.wait_list(list0 + 3, interval * 6 + Duration::from_secs(30))
        .await?;
    progress(format!(
        "N={n}: steady; counting CPU and engine calls over quiet cycles"
    ));

    // Window A: K whole cycles, no scrape.
    let k = ((a.cpu_window_secs / interval.as_secs_f64()).ceil() as u64).max(3);
    let cur = ctl.list_calls().await?;
    let b0 = ctl.wait_list(cur + 1, interval * 3).await?;
    let calls0 = ctl.settle().await?;
    let cpu0 = cpu_split(pid)?;
    ctl.wait_list(b0 + k, interval * (k as u32 + 3)).await?;
    let calls1 = ctl.settle().await?;
    let cpu1 = cpu_split(pid)?;
    let collect_peak_kib = peak_rss_kib(pid)?;
    let calls: BTreeMap<String, f64> = calls1
        .iter()
        .map(|(ep, v)| {
            let d = v.saturating_sub(calls0.get(ep).copied().unwrap_or(0));
            (ep.clone(), d as f64 / k as f64)
        })
        .collect();
    let cpu_per_cycle = ((cpu1.0 - cpu0.0) / k as f64, (cpu1.1 - cpu0.1) / k as f64);

    // Window B: the collectors' own durations, once per cycle.
    progress(format!("N={n}: sampling cycle durations"));
    let (mut cycle, mut stats_part, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    let (mut series, mut plain) = (0, 0);
    for _ in 0..a.duration_cycles {
        let cur = ctl.list_calls().await?;
        ctl.wait_list(cur + 1, interval * 3).await?;
        let f = fetch(&client, &metrics, false, Duration::from_secs(60)).await?;
        // Nobody scraped since the last cycle published: this scrape encodes
        // (the first), or finds the body made ahead (an exporter that encodes
        // ahead, once it has seen a scrape).
        fresh.push(f.took);
        let text = String::from_utf8_lossy(&f.body);
        let parts: Vec<f64> = ["engine", "containers", "stats"]
            .iter()
            .filter_map(|c| collector_duration(&text, c))
            .collect();
        if parts.len() == 3 {
            cycle.push(parts.iter().sum());
            stats_part.push(parts[2]);
        }
        series = series_count(&text);
        plain = f.body.len();
    }
    fresh.sort();
    let gz = fetch(&client, &metrics, true, Duration::from_secs(60)).await?;
    let gzip = gz.body.len();
    let unzipped = gunzip(&gz.body)?;
    if series_count(&String::from_utf8_lossy(&unzipped)).abs_diff(series) > series / 100 + 50 {
        progress(format!(
            "N={n}: WARNING: the gzip body's series count differs from the plain one's"
        ));
    }

    // Scrape latency, and the peak RSS of each configuration on its own.
    let mut latency = Vec::new();
    let mut overall_peak = 0;
    for (scrapers, gz) in [(1, false), (1, true), (4, false), (4, true)] {
        progress(format!(
            "N={n}: scrape latency, {scrapers} scraper(s), {}",
            if gz { "gzip" } else { "plain" }
        ));
        overall_peak = overall_peak.max(peak_rss_kib(pid)?);
        reset_peak_rss(pid)?;
        let mut l = scrape_latency(
            &metrics,
            scrapers,
            gz,
            a.requests,
            Duration::from_secs_f64(a.max_secs),
        )
        .await?;
        l.peak_kib = peak_rss_kib(pid)?;
        latency.push((scrapers, gz, l));
    }

    // Event-to-metric through the simulator.
    progress(format!("N={n}: event-to-metric, {} runs", a.event_runs));
    let name = "sim-00001";
    let mut events = EventStats {
        down: Vec::new(),
        up: Vec::new(),
        failures: 0,
    };
    poll_until(
        &client,
        &metrics,
        &state_line(name, "running"),
        Instant::now(),
        Duration::from_secs(10),
        a.e2m_poll,
    )
    .await?;
    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15 ^ n);
    for _ in 0..a.event_runs {
        if a.event_gap_ms > 0 {
            let ms = a.event_gap_ms / 2 + jitter.below(a.event_gap_ms + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let t0 = Instant::now();
        ctl.post(
            "/_sim/event",
            json!({"container": name, "action": "die", "exitCode": 1}),
        )
        .await?;
        match poll_until(
            &client,
            &metrics,
            &state_line(name, "exited"),
            t0,
            Duration::from_secs(10),
            a.e2m_poll,
        )
        .await
        {
            Ok(d) => events.down.push(d),
            Err(e) => {
                events.failures += 1;
                progress(format!("N={n}: {e}"));
            }
        }
        let t0 = Instant::now();
        ctl.post("/_sim/event", json!({"container": name, "action": "start"}))
            .await?;
        match poll_until(
            &client,
            &metrics,
            &state_line(name, "running"),
            t0,
            Duration::from_secs(10),
            a.e2m_poll,
        )
        .await
        {
            Ok(d) => events.up.push(d),
            Err(e) => {
                events.failures += 1;
                progress(format!("N={n}: {e}"));
            }
        }
    }
    exp.check_alive()?;
    let peak_kib = overall_peak.max(peak_rss_kib(pid)?);
    let problems = log_problems(&exp.log_text());
    Ok(SimRow {
        n,
        live,
        interval,
        series,
        plain,
        gzip,
        cycle,
        stats_part,
        cpu_per_cycle,
        cycles: k,
        collect_peak_kib,
        calls,
        peak_kib,
        latency,
        fresh,
        events,
        problems,
    })
}

/// One exporter, one configuration of the page suite.
struct PageRow {
    polled: bool,
    latency: Latency,
    peak_kib: u64,
    /// Latencies and size of the page's live part, when polled.
    page: Vec<Duration>,
    page_bytes: usize,
}

/// A fresh simulator and exporter at `--collect.interval 2s`; with `polled`, a
/// task fetches `/` once and then `/?part=live` every `poll` while `/metrics` is
/// timed, as open pages do.
async fn page_one(bins: &Bins, dir: &Path, a: &PageArgs, polled: bool) -> Result<PageRow> {
    let tag = format!("page{}", if polled { "-polled" } else { "" });
    let n = a.containers.to_string();
    let (_sim, ctl) = start_sim(dir, &tag, &["--containers", &n, "--latency", "2ms"]).await?;
    let list0 = ctl.list_calls().await?;
    let host = format!("unix://{}", ctl.sock.display());
    let (mut exp, base) =
        start_exporter(bins, dir, &tag, &host, &["--collect.interval", "2s"]).await?;
    let client = http_client();
    wait_ready(&client, &base, &mut exp, Duration::from_secs(60)).await?;
    ctl.wait_list(list0 + 3, Duration::from_secs(60)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = polled.then(|| {
        let (base, stop) = (base.clone(), stop.clone());
        let every = Duration::from_millis(a.poll_ms);
        tokio::spawn(async move {
            let client = http_client();
            let (mut took, mut size) = (Vec::new(), 0);
            let _ = fetch(&client, &format!("{base}/"), false, Duration::from_secs(30)).await;
            while !stop.load(Ordering::Relaxed) {
                let live = format!("{base}/?part=live");
                if let Ok(f) = fetch(&client, &live, false, Duration::from_secs(30)).await {
                    took.push(f.took);
                    size = f.body.len();
                }
                tokio::time::sleep(every).await;
            }
            (took, size)
        })
    });
    progress(format!(
        "page suite: N={n}, {}",
        if polled { "page polled" } else { "no page" }
    ));
    let latency = scrape_latency(
        &format!("{base}/metrics"),
        1,
        false,
        a.requests,
        Duration::from_secs(60),
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let (mut page, page_bytes) = match poller {
        Some(p) => p.await?,
        None => (Vec::new(), 0),
    };
    page.sort();
    exp.check_alive()?;
    Ok(PageRow {
        polled,
        latency,
        peak_kib: peak_rss_kib(exp.pid())?,
        page,
        page_bytes,
    })
}

async fn suite_page(bins: &Bins, a: &PageArgs) -> Result<()> {
    let dir = temp_dir()?;
    let mut rows = Vec::new();
    for polled in [false, true] {
        rows.push(page_one(bins, dir.path(), a, polled).await?);
    }
    println!(
        "## /metrics with and without the overview page in use (docker_sim, N = {})\n",
        a.containers
    );
    println!(
        "Machine: {}. One keep-alive scraper, plain text; \"polled\": `/?part=live` every {} ms meanwhile.\n",
        machine_line(),
        a.poll_ms
    );
    let mut t = Table::new(&[
        "page",
        "requests",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "peak RSS MiB",
        "page fetches",
        "page p50 ms",
        "page max ms",
        "page body",
    ]);
    for r in &rows {
        let l = &r.latency;
        t.row(vec![
            if r.polled { "polled" } else { "no" }.into(),
            l.n.to_string(),
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            l.errors.to_string(),
            mib(r.peak_kib),
            r.page.len().to_string(),
            if r.page.is_empty() {
                "–".into()
            } else {
                ms(pct(&r.page, 0.5))
            },
            r.page.last().map_or("–".into(), |d| ms(*d)),
            if r.polled {
                bytes(r.page_bytes)
            } else {
                "–".into()
            },
        ]);
    }
    t.print();
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max_f(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

async fn suite_sim(bins: &Bins, a: &SimArgs) -> Result<()> {
    let dir = temp_dir()?;
    let mut rows = Vec::new();
    for &n in &a.sizes {
        progress(format!("sim suite: N={n}"));
        rows.push(
            sim_one(bins, dir.path(), n, a)
                .await
                .with_context(|| format!("sim suite, N={n}"))?,
        );
    }
    println!("## Synthetic engine (docker_sim --latency {})\n", a.latency);
    println!(
        "Machine: {}. Exporter `--collect.interval` 2s (N ≤ 1,000) or 5s (N = 5,000).\n",
        machine_line()
    );
    println!("### /metrics latency (loopback, keep-alive hyper client per scraper)\n");
    let mut t = Table::new(&[
        "N",
        "scrapers",
        "encoding",
        "requests",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "body",
        "peak RSS MiB (this run)",
    ]);
    for r in &rows {
        for (s, gz, l) in &r.latency {
            t.row(vec![
                r.n.to_string(),
                s.to_string(),
                if *gz { "gzip" } else { "plain" }.into(),
                l.n.to_string(),
                ms(l.p50),
                ms(l.p99),
                ms(l.max),
                l.errors.to_string(),
                bytes(l.body_len),
                format!("{:.1}", l.peak_kib as f64 / 1024.0),
            ]);
        }
    }
    t.print();
    println!("### Size and cost\n");
    let mut t = Table::new(&[
        "N",
        "live",
        "series",
        "body plain",
        "body gzip",
        "cycle wall p50 ms",
        "cycle wall max ms",
        "of which stats p50 ms",
        "first scrape of a new snapshot ms (plain; encodes it unless made ahead)",
        "CPU ms/cycle (user+sys)",
        "CPU µs per stats call",
        "cycles counted",
        "peak RSS MiB, collecting only",
        "peak RSS MiB, after the scrape runs",
    ]);
    for r in &rows {
        t.row(vec![
            r.n.to_string(),
            r.live.to_string(),
            r.series.to_string(),
            bytes(r.plain),
            bytes(r.gzip),
            format!("{:.0}", median(&r.cycle) * 1e3),
            format!("{:.0}", max_f(&r.cycle) * 1e3),
            format!("{:.0}", median(&r.stats_part) * 1e3),
            ms(pct(&r.fresh, 0.5)),
            format!(
                "{:.1} ({:.1}+{:.1})",
                (r.cpu_per_cycle.0 + r.cpu_per_cycle.1) * 1e3,
                r.cpu_per_cycle.0 * 1e3,
                r.cpu_per_cycle.1 * 1e3
            ),
            format!(
                "{:.0}",
                (r.cpu_per_cycle.0 + r.cpu_per_cycle.1) * 1e6
                    / r.calls.get("stats").copied().unwrap_or(f64::NAN)
            ),
            format!("{} × {}s", r.cycles, r.interval.as_secs()),
            mib(r.collect_peak_kib),
            mib(r.peak_kib),
        ]);
    }
    t.print();
    println!("### Engine calls per cycle (simulator's counters, quiet cycles)\n");
    let eps = [
        "list", "inspect", "stats", "info", "version", "ping", "events", "other",
    ];
    let mut head = vec!["N", "live (expected stats)"];
    head.extend(eps);
    let mut t = Table::new(&head);
    for r in &rows {
        let mut cells = vec![r.n.to_string(), r.live.to_string()];
        for ep in eps {
            let v = r.calls.get(ep).copied().unwrap_or(0.0);
            cells.push(if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            });
        }
        t.row(cells);
    }
    t.print();
    println!("### Event-to-metric through the simulator (POST /_sim/event → first /metrics poll showing it)\n");
    println!("Polls: {}.", a.e2m_poll.describe());
    match a.event_gap_ms {
        0 => println!("Runs back to back.\n"),
        g => println!(
            "A pause of {}-{} ms before each event (`--event-gap-ms {g}`).\n",
            g / 2,
            g + g / 2
        ),
    }
    let mut t = Table::new(&[
        "N",
        "runs",
        "die→exited p50 ms",
        "p99 ms",
        "max ms",
        "start→running p50 ms",
        "p99 ms",
        "failures",
    ]);
    for r in &mut rows {
        let mut cells = vec![r.n.to_string()];
        cells.extend(r.events.cells());
        t.row(cells);
    }
    t.print();
    print_problems(rows.iter().map(|r| (format!("N={}", r.n), &r.problems)));
    Ok(())
}

fn print_problems<'a>(items: impl Iterator<Item = (String, &'a BTreeMap<String, usize>)>) {
    let mut any = false;
    for (what, p) in items {
        for (msg, n) in p {
            if !any {
                println!("Exporter log, WARN/ERROR lines:\n");
                any = true;
            }
            println!("- {what}: {n} × {msg}");
        }
    }
    if any {
        println!();
    } else {
        println!("Exporter log: no WARN or ERROR line.\n");
    }
}

// ---------------------------------------------------------------------------
// Suite 2: one-shot stats of old engines
// ---------------------------------------------------------------------------

async fn suite_oneshot(bins: &Bins, a: &OneshotArgs) -> Result<()> {
    let dir = temp_dir()?;
    struct Case {
        label: &'static str,
        engine: &'static str,
        api: &'static str,
        tick: &'static str,
        concurrency: Option<&'static str>,
        interval: &'static str,
        cycles: u64,
    }
    let cases = [
        Case {
            label: "new (25.0.5)",
            engine: "25.0.5",
            api: "1.44",
            tick: "0s",
            concurrency: None,
            interval: "2s",
            cycles: 3,
        },
        Case {
            label: "old (20.10.24)",
            engine: "20.10.24",
            api: "1.41",
            tick: "1s",
            concurrency: None,
            interval: "4s",
            cycles: 3,
        },
        Case {
            label: "old (20.10.24)",
            engine: "20.10.24",
            api: "1.41",
            tick: "1s",
            concurrency: Some("16"),
            interval: "8s",
            cycles: 1,
        },
    ];
    let mut t = Table::new(&[
        "N",
        "engine",
        "--stats-tick",
        "stats concurrency",
        "interval",
        "cycles",
        "engine ms",
        "containers ms",
        "stats ms",
        "cycle wall ms (median)",
        "range ms",
        "stats errors (calls unanswered at the deadline)",
    ]);
    let mut problems = Vec::new();
    for &n in &a.sizes {
        for c in &cases {
            let tag = format!(
                "oneshot{n}-{}-{}",
                c.engine,
                c.concurrency.unwrap_or("auto")
            );
            progress(format!(
                "oneshot suite: N={n}, engine {}, concurrency {}",
                c.engine,
                c.concurrency.unwrap_or("auto")
            ));
            let (_sim, ctl) = start_sim(
                dir.path(),
                &tag,
                &[
                    "--containers",
                    &n.to_string(),
                    "--latency",
                    &a.latency,
                    "--stats-tick",
                    c.tick,
                    "--engine-version",
                    c.engine,
                    "--api-version",
                    c.api,
                ],
            )
            .await?;
            let mut extra = vec!["--collect.interval", c.interval];
            if let Some(conc) = c.concurrency {
                extra.extend(["--collect.stats-concurrency", conc]);
            }
            let list0 = ctl.list_calls().await?;
            let (mut exp, base) = start_exporter(
                bins,
                dir.path(),
                &tag,
                &format!("unix://{}", ctl.sock.display()),
                &extra,
            )
            .await?;
            let client = http_client();
            let interval = humantime::parse_duration(c.interval)?;
            let metrics = format!("{base}/metrics");
            // Cycle 3 is the first steady one. A cycle's figures are published
            // before the next cycle lists; the errors counter is read at both ends.
            let err_series = "docker_exporter_collector_errors_total{collector=\"stats\"}";
            ctl.wait_list(list0 + 3, interval * 4 + Duration::from_secs(30))
                .await?;
            let first = fetch(&client, &metrics, false, Duration::from_secs(60)).await?;
            let mut e_prev =
                sample(&String::from_utf8_lossy(&first.body), err_series).unwrap_or(0.0);
            let (mut walls, mut parts, mut errors) = (Vec::new(), Vec::new(), 0.0);
            for i in 0..c.cycles {
                ctl.wait_list(list0 + 4 + i, interval * 3 + Duration::from_secs(30))
                    .await?;
                let f = fetch(&client, &metrics, false, Duration::from_secs(60)).await?;
                let text = String::from_utf8_lossy(&f.body);
                let e = sample(&text, err_series).unwrap_or(0.0);
                errors += e - e_prev;
                e_prev = e;
                let d = |c| collector_duration(&text, c).unwrap_or(f64::NAN);
                let (de, dc, ds) = (d("engine"), d("containers"), d("stats"));
                walls.push(de + dc + ds);
                parts.push((de, dc, ds));
            }
            let mid = {
                let m = median(&walls);
                parts
                    .iter()
                    .zip(&walls)
                    .find(|(_, w)| **w == m)
                    .map_or((f64::NAN, f64::NAN, f64::NAN), |(p, _)| *p)
            };
            let lo = walls.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = max_f(&walls);
            t.row(vec![
                n.to_string(),
                c.label.into(),
                c.tick.into(),
                c.concurrency.map_or_else(
                    || format!("auto ({})", if c.tick == "0s" { 32 } else { 512 }),
                    String::from,
                ),
                c.interval.into(),
                walls.len().to_string(),
                format!("{:.0}", mid.0 * 1e3),
                format!("{:.0}", mid.1 * 1e3),
                format!("{:.0}", mid.2 * 1e3),
                format!("{:.0}", median(&walls) * 1e3),
                format!("{:.0}–{:.0}", lo * 1e3, hi * 1e3),
                format!("{errors:.0}"),
            ]);
            exp.check_alive()?;
            problems.push((
                format!("N={n} {} c={}", c.engine, c.concurrency.unwrap_or("auto")),
                log_problems(&exp.log_text()),
            ));
        }
    }
    println!("## One-shot stats: old engines (1 s tick) vs new\n");
    println!(
        "Simulator `--latency {}`; the cycles measured are the third and later (steady ones); \
         the engine, containers and stats columns are those of the median cycle. The stats \
         fan-out has a deadline (now the larger of the interval and `--docker.timeout`, 10 s): \
         calls unanswered then count as stats errors.\n",
        a.latency
    );
    t.print();
    print_problems(problems.iter().map(|(w, p)| (w.clone(), p)));
    Ok(())
}

// ---------------------------------------------------------------------------
// Suite 3: event-to-metric against the real daemon
// ---------------------------------------------------------------------------

/// Runs the docker CLI on a blocking thread; its stdout, or an error with stderr.
async fn docker(args: Vec<String>) -> Result<String> {
    if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
        bail!("stopping: not running docker {}", args.join(" "));
    }
    tokio::task::spawn_blocking(move || {
        let out = Command::new("docker")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .context("running the docker CLI")?;
        if !out.status.success() {
            bail!(
                "docker {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
    .await?
}

fn sv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

async fn check_docker(socket: &Path, image: &str) -> Result<String> {
    let version = docker(sv(&[
        "version",
        "--format",
        "{{.Server.Version}} (API {{.Server.APIVersion}})",
    ]))
    .await
    .with_context(|| format!("no Docker daemon on {}", socket.display()))?;
    docker(sv(&["image", "inspect", "--format", "{{.Id}}", image]))
        .await
        .with_context(|| format!("image {image} missing: run scripts/testbed.sh"))?;
    Ok(version)
}

async fn suite_real(bins: &Bins, a: &RealArgs) -> Result<()> {
    let version = check_docker(&a.socket, &a.image).await?;
    let dir = temp_dir()?;
    let name = "dexpbench-ev";
    let _ = docker(sv(&["rm", "-f", name])).await;
    lock(&CONTAINERS).push(name.into());
    let _owned = Containers(vec![name.into()]);
    docker(sv(&[
        "create",
        "--name",
        name,
        &a.image,
        "sh",
        "-c",
        "trap \"exit 0\" TERM; while :; do sleep 1; done",
    ]))
    .await?;
    let (mut exp, base) = start_exporter(
        bins,
        dir.path(),
        "real",
        &format!("unix://{}", a.socket.display()),
        &[],
    )
    .await?;
    let client = http_client();
    let metrics = format!("{base}/metrics");
    wait_ready(&client, &base, &mut exp, Duration::from_secs(60)).await?;
    progress(format!("real daemon {version}: {} stop/start runs", a.runs));
    let mut ev = EventStats {
        down: Vec::new(),
        up: Vec::new(),
        failures: 0,
    };
    let mut first_poll_hits = 0;
    let (mut from_issue, mut cli, mut start_issue) = (Vec::new(), Vec::new(), Vec::new());
    let exited = state_line(name, "exited");
    for i in 0..a.runs {
        // Start, and time from issuing `docker start` to the first body showing running.
        let t0 = Instant::now();
        let start = tokio::spawn(docker(sv(&["start", name])));
        let up = poll_until(
            &client,
            &metrics,
            &state_line(name, "running"),
            t0,
            Duration::from_secs(10),
            a.e2m_poll,
        )
        .await;
        start.await??;
        match up {
            Ok(d) => start_issue.push(d),
            Err(e) => {
                ev.failures += 1;
                progress(format!("run {i}: {e}"));
                continue;
            }
        }
        // Stop, polling from the moment it is issued; the CLI's return time is kept.
        let t0 = Instant::now();
        let stop = tokio::spawn(async move {
            docker(sv(&["stop", "-t", "5", name]))
                .await
                .map(|_| t0.elapsed())
        });
        let seen = poll_until(
            &client,
            &metrics,
            &exited,
            t0,
            Duration::from_secs(15),
            a.e2m_poll,
        )
        .await;
        let returned = stop.await??;
        match seen {
            Ok(seen) => {
                from_issue.push(seen);
                cli.push(returned);
                if seen <= returned {
                    // Shown before the CLI returned: the first body fetched after the
                    // return shows it; its fetch time is the latency.
                    let t1 = Instant::now();
                    if poll_once(&client, &metrics, &exited, a.e2m_poll).await? {
                        first_poll_hits += 1;
                        ev.down.push(t1.elapsed());
                    } else {
                        ev.failures += 1;
                        progress(format!("run {i}: exited shown, then not shown"));
                    }
                } else {
                    ev.down.push(seen - returned);
                }
            }
            Err(e) => {
                ev.failures += 1;
                progress(format!("run {i}: {e}"));
            }
        }
    }
    from_issue.sort();
    cli.sort();
    ev.up = start_issue;
    exp.check_alive()?;
    let peak = peak_rss_kib(exp.pid())?;
    let problems = log_problems(&exp.log_text());
    println!("## Event-to-metric against the real daemon\n");
    println!(
        "Engine {version}; container `{name}` (`sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'`); \
         exporter with default flags on {} (interval 15s, so only the event stream can be this fast). \
         `/metrics` is polled every ~1 ms from the moment `docker stop -t 5` is issued; \"from return\" is the time \
         from the CLI returning to the first body with `state=\"exited\"}} 1` (when it was already shown before \
         the return, the time of the next poll). start→running is from issuing `docker start`. Polls: {}.\n",
        a.socket.display(),
        a.e2m_poll.describe()
    );
    let mut t = Table::new(&[
        "runs",
        "stop→exited from return p50 ms",
        "p99 ms",
        "max ms",
        "from issuing stop p50 ms",
        "p99 ms",
        "`docker stop` CLI p50 ms",
        "already shown at return",
        "start→running from issue p50 ms",
        "p99 ms",
        "failures",
        "exporter peak RSS MiB",
    ]);
    let c = ev.cells();
    t.row(vec![
        c[0].clone(),
        c[1].clone(),
        c[2].clone(),
        c[3].clone(),
        ms(pct(&from_issue, 0.5)),
        ms(pct(&from_issue, 0.99)),
        ms(pct(&cli, 0.5)),
        format!("{first_poll_hits}/{}", ev.down.len()),
        c[4].clone(),
        c[5].clone(),
        c[6].clone(),
        mib(peak),
    ]);
    t.print();
    print_problems(std::iter::once(("real".to_string(), &problems)));
    Ok(())
}

// ---------------------------------------------------------------------------
// Suite 4: side by side with the peer
// ---------------------------------------------------------------------------

struct Side {
    took: Vec<Duration>,
    non_200: usize,
    cpu: f64,
    peak_kib: u64,
    series: usize,
    body: usize,
    containers: usize,
}

impl Side {
    fn new() -> Side {
        Side {
            took: Vec::new(),
            non_200: 0,
            cpu: 0.0,
            peak_kib: 0,
            series: 0,
            body: 0,
            containers: 0,
        }
    }
}

struct PeerRow {
    target: String,
    window: Duration,
    ours: Side,
    peer: Side,
}

/// Both exporters are up; scrape them alternately and account CPU over the same window.
async fn side_by_side(
    target: String,
    ours: (&Proc, &str),
    peer: (&Proc, &str),
    requests: usize,
    cap: Duration,
    min_window: Duration,
    timeout: Duration,
) -> Result<PeerRow> {
    let (co, cp) = (http_client(), http_client());
    let (uo, up) = (format!("{}/metrics", ours.1), format!("{}/metrics", peer.1));
    let (mut so, mut sp) = (Side::new(), Side::new());
    // Untimed warm-up of both (first-connection costs, the peer's imports).
    let _ = fetch(&co, &uo, false, timeout).await;
    let _ = fetch(&cp, &up, false, timeout).await;
    let (o0, p0) = (cpu_seconds(ours.0.pid())?, cpu_seconds(peer.0.pid())?);
    let t0 = Instant::now();
    // Pairs are spread over at least `min_window`, so that the window holds
    // some of our periodic cycles as well as the scrapes.
    let spacing = min_window / requests.max(1) as u32;
    for i in 0..requests {
        if i > 0 && t0.elapsed() > cap.max(min_window) {
            break;
        }
        tokio::time::sleep_until((t0 + spacing * i as u32).into()).await;
        for (client, url, side, who) in [(&co, &uo, &mut so, "ours"), (&cp, &up, &mut sp, "peer")] {
            match fetch(client, url, false, timeout).await {
                Ok(f) => {
                    side.took.push(f.took);
                    if f.status == StatusCode::OK {
                        let text = String::from_utf8_lossy(&f.body);
                        side.series = series_count(&text);
                        side.body = f.body.len();
                        let family = if who == "ours" {
                            "docker_container_info{"
                        } else {
                            "container_status{"
                        };
                        side.containers = text.lines().filter(|l| l.starts_with(family)).count();
                    } else {
                        side.non_200 += 1;
                    }
                }
                Err(e) => {
                    side.non_200 += 1;
                    progress(format!("{target}: {who}: {e}"));
                }
            }
        }
        progress(format!(
            "{target}: pair {} done ({:.0} s)",
            i + 1,
            t0.elapsed().as_secs_f64()
        ));
    }
    tokio::time::sleep_until((t0 + min_window).into()).await;
    let window = t0.elapsed();
    so.cpu = cpu_seconds(ours.0.pid())? - o0;
    sp.cpu = cpu_seconds(peer.0.pid())? - p0;
    so.peak_kib = peak_rss_kib(ours.0.pid())?;
    sp.peak_kib = peak_rss_kib(peer.0.pid())?;
    so.took.sort();
    sp.took.sort();
    Ok(PeerRow {
        target,
        window,
        ours: so,
        peer: sp,
    })
}

/// A fake sysfs that names the simulator's block device 8:0 (the peer resolves
/// every blkio device through `<sysfs>/dev/block/M:m/uevent`).
fn fake_sysfs(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("sysfs");
    let dev = root.join("dev/block/8:0");
    std::fs::create_dir_all(&dev)?;
    std::fs::write(
        dev.join("uevent"),
        "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n",
    )?;
    Ok(root)
}

async fn create_containers(image: &str, names: &[String]) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for chunk in names.chunks(names.len().div_ceil(4).max(1)) {
        let chunk = chunk.to_vec();
        let image = image.to_string();
        set.spawn(async move {
            for n in chunk {
                if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                docker(sv(&["run", "-d", "--name", &n, &image, "sleep", "3600"])).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

async fn suite_peer(bins: &Bins, a: &PeerArgs) -> Result<()> {
    if !a.python.is_file() {
        bail!(
            "{} not found: bench/run.sh sets up the peer's venv",
            a.python.display()
        );
    }
    let dir = temp_dir()?;
    let sysfs = fake_sysfs(dir.path())?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for &n in &a.sizes {
        let tag = format!("peer{n}");
        progress(format!("peer suite: synthetic N={n}"));
        let (_sim, ctl) = start_sim(
            dir.path(),
            &tag,
            &["--containers", &n.to_string(), "--latency", "2ms"],
        )
        .await?;
        let host = format!("unix://{}", ctl.sock.display());
        let (mut ours, ob) = start_exporter(bins, dir.path(), &tag, &host, &[]).await?;
        wait_ready(&http_client(), &ob, &mut ours, Duration::from_secs(60)).await?;
        let (mut peer, pb) = start_peer(&a.python, dir.path(), &tag, &host, &sysfs).await?;
        let row = side_by_side(
            format!("docker_sim N={n} (2 ms/call)"),
            (&ours, &ob),
            (&peer, &pb),
            a.requests,
            Duration::from_secs_f64(a.max_secs),
            Duration::from_secs_f64(a.min_window_secs),
            Duration::from_secs(300),
        )
        .await?;
        ours.check_alive()?;
        peer.check_alive()?;
        problems.push((tag.clone(), log_problems(&ours.log_text())));
        report_peer_log(&tag, &peer.log_text());
        rows.push(row);
    }
    let mut real_version = None;
    if a.real_containers > 0 {
        let version = check_docker(&a.socket, &a.image).await?;
        let names: Vec<String> = (0..a.real_containers)
            .map(|i| format!("dexpbench-p{i:03}"))
            .collect();
        remove_containers(&names);
        lock(&CONTAINERS).extend(names.iter().cloned());
        let _owned = Containers(names.clone());
        progress(format!(
            "peer suite: creating {} containers on the real daemon",
            names.len()
        ));
        create_containers(&a.image, &names).await?;
        let host = format!("unix://{}", a.socket.display());
        let (mut ours, ob) = start_exporter(bins, dir.path(), "peer-real", &host, &[]).await?;
        wait_ready(&http_client(), &ob, &mut ours, Duration::from_secs(60)).await?;
        let (mut peer, pb) =
            start_peer(&a.python, dir.path(), "peer-real", &host, Path::new("/sys")).await?;
        let running = docker(sv(&["ps", "-q"])).await?.lines().count();
        let row = side_by_side(
            format!("real daemon, {running} running containers"),
            (&ours, &ob),
            (&peer, &pb),
            a.real_requests,
            Duration::from_secs(3600),
            Duration::from_secs_f64(a.min_window_secs),
            Duration::from_secs(600),
        )
        .await?;
        ours.check_alive()?;
        peer.check_alive()?;
        problems.push(("peer-real".into(), log_problems(&ours.log_text())));
        report_peer_log("peer-real", &peer.log_text());
        rows.push(row);
        real_version = Some(version);
    }
    println!("## Side by side with glorpen-docker-exporter 1.0.0\n");
    println!(
        "Ours with default flags (interval 15s), the peer as `python -m glorpen_docker_exporter` (it collects at scrape \
         time, one stats call after another); one scraper, plain text, the two scraped alternately, the pairs spread over a \
         window of at least {:.0} s (so that it holds periodic cycles of ours too); CPU seconds of each process \
         over that same wall-clock window.{}\n",
        a.min_window_secs,
        real_version.map_or_else(String::new, |v| format!(" Real daemon: Engine {v}."))
    );
    let mut t = Table::new(&[
        "engine",
        "exporter",
        "scrapes",
        "non-200",
        "p50 ms",
        "p99 ms",
        "CPU s in window",
        "window s",
        "peak RSS MiB",
        "containers in body",
        "series",
        "body",
    ]);
    for r in &rows {
        for (who, s) in [("ours", &r.ours), ("peer", &r.peer)] {
            t.row(vec![
                r.target.clone(),
                who.into(),
                s.took.len().to_string(),
                s.non_200.to_string(),
                ms(pct(&s.took, 0.5)),
                ms(pct(&s.took, 0.99)),
                format!("{:.3}", s.cpu),
                format!("{:.0}", r.window.as_secs_f64()),
                mib(s.peak_kib),
                s.containers.to_string(),
                s.series.to_string(),
                bytes(s.body),
            ]);
        }
    }
    t.print();
    println!("Ratios, ours ÷ peer (below 1: ours is lower):\n");
    let mut t = Table::new(&["engine", "p50 latency", "p99 latency", "CPU s", "peak RSS"]);
    for r in &rows {
        let f = |d: Duration| d.as_secs_f64();
        t.row(vec![
            r.target.clone(),
            ratio(f(pct(&r.ours.took, 0.5)), f(pct(&r.peer.took, 0.5))),
            ratio(f(pct(&r.ours.took, 0.99)), f(pct(&r.peer.took, 0.99))),
            ratio(r.ours.cpu, r.peer.cpu),
            ratio(r.ours.peak_kib as f64, r.peer.peak_kib as f64),
        ]);
    }
    t.print();
    print_problems(problems.iter().map(|(w, p)| (w.clone(), p)));
    Ok(())
}

fn report_peer_log(tag: &str, log: &str) {
    let tracebacks = log.matches("Traceback").count();
    if tracebacks > 0 {
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        progress(format!(
            "{tag}: the peer logged {tracebacks} traceback(s); last line: {last}"
        ));
        println!("Peer ({tag}) logged {tracebacks} traceback(s); last line: `{last}`\n");
    }
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Suite 6: encoding in-process (fragments, issue 14)
// ---------------------------------------------------------------------------

/// A synthetic snapshot of `n` containers, values varied like a real engine's.
fn synthetic(n: usize) -> docker_exporter::snapshot::Snapshot {
    use docker_exporter::snapshot::*;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let containers = (0..n)
        .map(|i| {
            let id = format!("{:016x}{:048x}", next(), i);
            let live = i % 8 != 0;
            let c = Container {
                cgroup_path: format!("/docker/{id}"),
                pid: None,
                host_network: false,
                id,
                name: format!("sim-{i:05}"),
                image: format!("registry.example/app-{}:1.{}", i % 17, i % 5),
                image_id: format!("sha256:{:064x}", i % 17),
                labels: vec![(
                    "container_label_com_docker_compose_service".into(),
                    format!("svc-{}", i % 40),
                )],
                state: if live { State::Running } else { State::Exited },
                health: Health::None,
                restart_count: next() % 3,
                exit_code: 0,
                oom_killed: false,
                created: Some(1.7e9 + (next() % 86_400) as f64),
                started_at: Some(1.7e9 + (next() % 86_400) as f64 + 0.25),
                finished_at: None,
                spec: Spec {
                    cpu_period: 100_000,
                    cpu_shares: 1024,
                    memory_limit: ((next() % 4) as i64) << 28,
                    ..Spec::default()
                },
            };
            let mut v = || Some(next() % 10_000_000_000);
            let s = Stats {
                read_at: 1.7e9 + 86_400.0 + (i % 1000) as f64 / 1e3,
                cpu_total_ns: v(),
                cpu_user_ns: v(),
                cpu_system_ns: v(),
                memory: Some(Memory {
                    usage: v().unwrap(),
                    working_set: v(),
                    rss: v(),
                    cache: v(),
                    mapped_file: v(),
                    swap: Some(0),
                    max_usage: v(),
                    failcnt: Some(0),
                }),
                networks: vec![(
                    "eth0".into(),
                    Network {
                        rx_bytes: v(),
                        rx_packets: v(),
                        rx_dropped: Some(0),
                        rx_errors: Some(0),
                        tx_bytes: v(),
                        tx_packets: v(),
                        tx_dropped: Some(0),
                        tx_errors: Some(0),
                    },
                )],
                blkio: vec![BlockDevice {
                    device: "8:0".into(),
                    read_bytes: v(),
                    write_bytes: v(),
                    reads: v(),
                    writes: v(),
                }],
                pids_current: Some(next() % 50),
                pids_limit: Some(0),
                ..Stats::default()
            };
            ContainerEntry {
                container: Arc::new(c),
                stats: live.then(|| Arc::new(s)),
            }
        })
        .collect();
    Snapshot {
        engine_up: true,
        containers,
        ..Snapshot::default()
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

/// In-process, one thread: the full encode every snapshot cost before
/// fragments (`metrics::render`, kept as the fallback), the fragment path with
/// nothing to reuse (a stats cycle changes every container), one container
/// changed (an event), and gzip of the body.
fn suite_encode(a: &EncodeArgs) -> Result<()> {
    use docker_exporter::metrics::{render, ExpositionCache, Format};
    use docker_exporter::snapshot::State;
    let mut t = Table::new(&[
        "N",
        "format",
        "body",
        "full encode ms (median of 5)",
        "fragments, nothing reused ms (median of 5)",
        "fragments, one container changed: p50 / p99 ms",
        "blocks re-encoded per change",
        "gzip ms; size",
    ]);
    for &n in &a.sizes {
        progress(format!("encode suite: N={n}"));
        let base = Arc::new(synthetic(n));
        for format in [Format::Text, Format::OpenMetrics] {
            let mut full = Vec::new();
            let mut cold = Vec::new();
            let mut len = 0;
            for _ in 0..5 {
                let (d, body) = timed(|| render(&base, format, 0));
                full.push(d);
                len = body.len();
                drop(body);
                let cache = ExpositionCache::default();
                let (d, body) = timed(|| cache.get(base.clone()).body(format, false));
                cold.push(d);
                if body.len() != len {
                    bail!(
                        "N={n} {format:?}: the assembled body differs in length from a full encode"
                    );
                }
            }
            let cache = ExpositionCache::default();
            let exposition = cache.get(base.clone());
            exposition.body(format, false);
            let (gz_took, gz) = timed(|| exposition.body(format, true));
            if format == Format::Text {
                if let (Some(path), true) = (&a.dump, Some(&n) == a.sizes.last()) {
                    std::fs::write(path, exposition.body(format, false).to_bytes())?;
                }
            }
            let mut one = Vec::new();
            let mut blocks = 0;
            for k in 0..a.changes {
                let mut s = (*base).clone();
                let i = (k * 7919) % n;
                let mut c = (*s.containers[i].container).clone();
                c.state = if c.state == State::Running {
                    State::Exited
                } else {
                    State::Running
                };
                s.containers[i].container = Arc::new(c);
                let s = Arc::new(s);
                let (d, body) = timed(|| cache.get(s.clone()).body(format, false));
                one.push(d);
                blocks = blocks.max(cache.reuse(format).blocks_encoded);
                if k == 0 && body.to_bytes() != render(&s, format, 0).as_bytes() {
                    bail!("N={n} {format:?}: the assembled body is not the full encode");
                }
            }
            if cache.fallbacks() != 0 {
                bail!("N={n}: fragment assembly fell back to a full encode");
            }
            full.sort();
            cold.sort();
            one.sort();
            t.row(vec![
                n.to_string(),
                format!("{format:?}"),
                bytes(len),
                ms(full[2]),
                ms(cold[2]),
                format!("{} / {}", ms(pct(&one, 0.5)), ms(pct(&one, 0.99))),
                blocks.to_string(),
                format!("{}; {}", ms(gz_took), bytes(gz.len())),
            ]);
        }
    }
    println!("## Encoding in-process (synthetic snapshots, one thread)\n");
    println!("Machine: {}.\n", machine_line());
    t.print();
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let bins = find_bins(cli.bin_dir.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::spawn(cleanup_on_signal());
        let started = Instant::now();
        let r = match &cli.cmd {
            Cmd::Sim(a) => suite_sim(&bins, a).await,
            Cmd::Oneshot(a) => suite_oneshot(&bins, a).await,
            Cmd::Real(a) => suite_real(&bins, a).await,
            Cmd::Peer(a) => suite_peer(&bins, a).await,
            Cmd::Page(a) => suite_page(&bins, a).await,
            Cmd::Encode(a) => suite_encode(a),
        };
        progress(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "# HELP a A\n# TYPE a gauge\na 1\n\
        # HELP docker_container_state S\n# TYPE docker_container_state gauge\n\
        docker_container_state{name=\"x\",state=\"running\"} 0\n\
        docker_container_state{name=\"x\",state=\"exited\"} 1\n\
        # HELP b B\n# TYPE b gauge\nb{name=\"x\",state=\"running\"} 1\n";

    /// Feeds `body` in pieces of `size` bytes; the answer and how many bytes it read.
    fn search(body: &str, needle: &str, size: usize) -> (Option<bool>, usize) {
        let mut s = FamilySearch::new("docker_container_state", needle);
        let mut read = 0;
        for piece in body.as_bytes().chunks(size) {
            read += piece.len();
            if let Some(found) = s.feed(piece) {
                return (Some(found), read);
            }
        }
        (None, read)
    }

    #[test]
    fn the_search_finds_the_line_in_its_family_whatever_the_cuts() {
        let exited = state_line("x", "exited");
        let running = state_line("x", "running");
        let end_of_exited = BODY.find(&exited).unwrap() + exited.len();
        for size in 1..=BODY.len() {
            let (found, read) = search(BODY, &exited, size);
            assert_eq!(found, Some(true), "pieces of {size}");
            assert!(read < end_of_exited + size, "read on past the line: {size}");
            // `running 1` is only in the next family: the search stops there.
            let (found, read) = search(BODY, &running, size);
            assert_eq!(found, Some(false), "pieces of {size}");
            if size <= 8 {
                assert!(read < BODY.len(), "read to the end: {size}");
            }
        }
        // No such family: the whole body is read and nothing is found.
        assert_eq!(
            search("# HELP a A\n# TYPE a gauge\na 1\n", &exited, 3).0,
            None
        );
    }
}
