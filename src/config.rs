//! Command-line flags: [`Config`] is both the clap parser and the validated
//! configuration (each value is checked and converted by its parser).
//!
//! Flags follow the Prometheus exporters' dotted style (`--web.listen-address`,
//! `--collect.interval`). A bad value stops startup with a message naming the
//! flag; durations are written like `500ms`, `2s`, `1m`.

use crate::docker::{ApiVersion, Endpoint};
use crate::filter::ContainerFilter;
use clap::{Parser, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The labels of a container copied onto its series by default.
pub const DEFAULT_CONTAINER_LABELS: &str = "com.docker.compose.project,com.docker.compose.service,com.docker.swarm.service.name,com.docker.stack.namespace";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time level target: message key=value…`
    Logfmt,
    Json,
}

/// Where container stats come from (`--collect.stats-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsSource {
    /// The cgroup where readable, else the engine, per container.
    Auto,
    /// The engine's stats call only.
    Engine,
    /// The cgroup files only; a container whose cgroup cannot be read gets no sample.
    Cgroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The configuration the exporter runs with: the flags, each value checked
/// and converted by its parser (a bad one names its flag).
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
pub struct Config {
    /// Docker engine to read: unix:///path/to/docker.sock or tcp://host:port.
    /// Without it and DOCKER_HOST, Podman's CONTAINER_HOST, else the Docker socket.
    #[arg(long = "docker.host", env = "DOCKER_HOST", default_value = default_host(), value_parser = parse_endpoint)]
    pub docker_host: Endpoint,

    /// Engine API version to speak instead of negotiating one.
    #[arg(long = "docker.api-version", env = "DOCKER_API_VERSION", value_parser = parse_api_version)]
    pub docker_api_version: Option<ApiVersion>,

    /// Timeout of each call to the engine (the event stream's only for its headers).
    #[arg(long = "docker.timeout", default_value = "10s", value_parser = parse_duration)]
    pub docker_timeout: Duration,

    /// Address to serve on; `:9417` means every interface. Give it more than
    /// once to serve on several addresses.
    #[arg(long = "web.listen-address", default_value = ":9417", value_parser = parse_listen_address, action = clap::ArgAction::Append)]
    pub listen_address: Vec<SocketAddr>,

    /// TLS, basic auth and response headers, in the exporter-toolkit's YAML
    /// format (tls_server_config, basic_auth_users, http_server_config).
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<std::path::PathBuf>,

    /// Path under which to serve metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,

    /// How often to list containers and read their stats.
    #[arg(long = "collect.interval", default_value = "15s", value_parser = parse_interval)]
    pub collect_interval: Duration,

    /// While the event stream is up (it tells every container change), how
    /// often a cycle still lists every container and reads the engine's
    /// `/version` and `/info` anyway, as a safety net; `0s`: every cycle.
    /// Cycles in between only ping the engine (and read `/info` after an
    /// event changed a container). While the stream is down, every cycle lists.
    #[arg(long = "collect.resync-interval", default_value = "1m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// Stats calls in flight at once; default: all at once (up to 512) on
    /// engines before 25, which answer at a 1 s tick, and 32 on newer ones.
    #[arg(long = "collect.stats-concurrency", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from))]
    pub stats_concurrency: Option<usize>,

    /// Where container stats come from: `cgroup` reads the kernel's cgroup
    /// files (and `/proc/<pid>/net/dev`), `engine` asks the engine's stats
    /// call, `auto` reads the cgroup where it can and asks the engine for the
    /// rest, per container.
    #[arg(long = "collect.stats-source", value_enum, default_value = "auto")]
    pub stats_source: StatsSource,

    /// Where the host's sysfs is mounted (its cgroups under `fs/cgroup`).
    #[arg(long = "path.sysfs", default_value = "/sys")]
    pub sysfs: std::path::PathBuf,

    /// Where the host's procfs is mounted (`<pid>/cgroup`, `<pid>/net/dev`).
    #[arg(long = "path.procfs", default_value = "/proc")]
    pub procfs: std::path::PathBuf,

    /// Inspect calls in flight at once.
    #[arg(long = "collect.inspect-concurrency", default_value = "16", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from))]
    pub inspect_concurrency: usize,

    /// Docker labels copied onto container series as container_label_<key>
    /// (comma-separated; empty for none).
    #[arg(long = "collect.container-labels", default_value = DEFAULT_CONTAINER_LABELS, value_parser = parse_label_keys)]
    pub container_labels: LabelKeys,

    #[command(flatten)]
    pub container_filter: ContainerFilter,

    #[command(flatten)]
    pub disk: DiskCollector,

    #[command(flatten)]
    pub swarm: SwarmCollector,

    #[command(flatten)]
    pub web_limits: WebLimits,

    /// Log level.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,

    /// Log format (on stderr).
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
}

/// The `disk` collector (`GET /system/df`). Off by default: the engine walks
/// every writable layer and volume for it, holding its locks meanwhile.
#[derive(Debug, Clone, clap::Args)]
pub struct DiskCollector {
    /// Read disk usage (`GET /system/df`) on its own interval; costly for the
    /// engine, which walks its filesystems and holds locks meanwhile.
    #[arg(id = "collector.disk", long = "collector.disk")]
    pub enabled: bool,

    /// How often the disk collector runs (never two runs at once).
    #[arg(id = "collector.disk.interval", long = "collector.disk.interval", default_value = "5m", value_parser = parse_interval)]
    pub interval: Duration,

    /// How long one `GET /system/df` may take before it counts as failed.
    #[arg(id = "collector.disk.timeout", long = "collector.disk.timeout", default_value = "3m", value_parser = parse_positive_duration)]
    pub timeout: Duration,
}

/// The `swarm` collector: on by default, silent off a Swarm manager.
#[derive(Debug, Clone, clap::Args)]
pub struct SwarmCollector {
    /// Do not read Swarm services and nodes, even on a manager.
    #[arg(id = "no-collector.swarm", long = "no-collector.swarm")]
    pub disabled: bool,

    /// How often the swarm collector runs on a manager (default: --collect.interval).
    #[arg(id = "collector.swarm.interval", long = "collector.swarm.interval", value_parser = parse_interval)]
    pub interval: Option<Duration>,
}

/// The HTTP server's limits (see [`crate::server`]).
#[derive(Debug, Clone, clap::Args)]
pub struct WebLimits {
    /// Time a client has to send its request headers; a keep-alive connection
    /// idle for as long is closed too.
    #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = parse_positive_duration)]
    pub read_header_timeout: Duration,

    /// A response its client reads nothing of for this long is dropped with
    /// the connection.
    #[arg(long = "web.write-timeout", default_value = "30s", value_parser = parse_positive_duration)]
    pub write_timeout: Duration,

    /// Scrapes served at once; more get a 503 (probes are not limited).
    #[arg(long = "web.max-requests", default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_requests: u16,

    /// After SIGTERM or SIGINT, how long in-flight requests may take to finish
    /// before the process exits (a second signal exits at once).
    #[arg(long = "web.shutdown-timeout", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// Docker label keys copied onto container series (`--collect.container-labels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelKeys(pub Vec<String>);

impl std::ops::Deref for LabelKeys {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl Config {
    /// Parses the process's flags and environment; exits with clap's message on error.
    pub fn from_args() -> Self {
        Config::parse()
    }

    /// Parses the given arguments (the first is the program name).
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }
}

/// Comma-separated keys; blanks around them and empty ones are dropped.
fn parse_label_keys(s: &str) -> Result<LabelKeys, String> {
    Ok(LabelKeys(
        s.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect(),
    ))
}

/// The default engine address: Podman's `CONTAINER_HOST` when set, else
/// Docker's socket (`DOCKER_HOST` wins over both, as clap's `env`). Made once
/// per parse, so the one leaked string is tiny.
fn default_host() -> &'static str {
    match std::env::var("CONTAINER_HOST") {
        Ok(host) if !host.is_empty() => Box::leak(host.into_boxed_str()),
        _ => "unix:///var/run/docker.sock",
    }
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    s.parse()
}

fn parse_api_version(s: &str) -> Result<ApiVersion, String> {
    s.trim_start_matches('v').parse()
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 500ms, 2s or 1m: {e}"))
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        Duration::ZERO => Err(format!("{s:?} must be longer than 0s")),
        d => Ok(d),
    }
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err(format!("{s:?} is shorter than 100ms"));
    }
    Ok(d)
}

fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not an address like :9417 or 127.0.0.1:9417: {e}"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s == "/" || s.starts_with("/-/") {
        return Err(format!(
            "{s:?} must start with / and not be / or under /-/ (used by the overview page and the probes)"
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut all = vec!["docker_exporter"];
        all.extend_from_slice(args);
        Config::try_from_args(all)
    }

    #[test]
    fn defaults() {
        let c = parse(&["--docker.host", "unix:///var/run/docker.sock"]).unwrap();
        assert_eq!(c.listen_address, vec!["0.0.0.0:9417".parse().unwrap()]);
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(c.collect_interval, Duration::from_secs(15));
        assert_eq!(c.resync_interval, Duration::from_secs(60));
        assert_eq!(c.container_labels.len(), 4);
        assert_eq!(c.stats_concurrency, None);
        assert_eq!(c.stats_source, StatsSource::Auto);
        assert_eq!(c.sysfs, std::path::Path::new("/sys"));
        assert_eq!(c.procfs, std::path::Path::new("/proc"));
    }

    #[test]
    fn durations_and_lists() {
        let c = parse(&[
            "--docker.host=tcp://127.0.0.1:2375",
            "--collect.interval=500ms",
            "--collect.container-labels=a.b, c",
            "--web.listen-address=127.0.0.1:1234",
            "--web.listen-address=[::1]:1235",
        ])
        .unwrap();
        assert_eq!(
            c.listen_address,
            vec![
                "127.0.0.1:1234".parse().unwrap(),
                "[::1]:1235".parse().unwrap()
            ]
        );
        assert_eq!(c.collect_interval, Duration::from_millis(500));
        assert_eq!(&*c.container_labels, ["a.b", "c"]);
        assert_eq!(c.docker_host, Endpoint::Tcp("127.0.0.1:2375".into()));
        let c = parse(&["--collect.container-labels="]).unwrap();
        assert!(c.container_labels.is_empty());
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--collect.interval=soon"][..], "--collect.interval"),
            (
                &["--collect.stats-source=kernel"][..],
                "--collect.stats-source",
            ),
            (&["--collect.interval=1ms"][..], "--collect.interval"),
            (&["--docker.host=ftp://x"][..], "--docker.host"),
            (
                &["--web.listen-address=nowhere"][..],
                "--web.listen-address",
            ),
            (
                &["--web.telemetry-path=metrics"][..],
                "--web.telemetry-path",
            ),
            (
                &["--collect.stats-concurrency=0"][..],
                "--collect.stats-concurrency",
            ),
            (&["--container.include=(["][..], "--container.include"),
            (&["--container.exclude=a)"][..], "--container.exclude"),
            (&["--no-such-flag"][..], "--no-such-flag"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
