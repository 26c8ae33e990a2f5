//! # docker_sim: a simulated Docker Engine API on a Unix socket
//!
//! A standalone test and benchmark tool for `docker_exporter` (it does not use the
//! crate's library). It serves the read-only part of the Engine API that the exporter
//! calls, over HTTP/1.1 on a Unix socket, plus a control plane under `/_sim/` on the
//! same socket to count calls, post events and inject faults.
//!
//! * Integration tests replay a recorded fixture set (`--fixtures DIR`, bodies served
//!   byte-for-byte) and inject the faults a real daemon can't show on demand.
//! * Benchmarks run a synthetic engine (`--containers N`, N up to 10,000) whose
//!   counters grow with time, whose containers churn and which emits events.
//!
//! ## Usage
//!
//! ```text
//! cargo run --release --bin docker_sim -- --socket /tmp/sim.sock --containers 1000 --latency 2ms
//! curl --unix-socket /tmp/sim.sock 'http://d/v1.44/containers/json?all=true'
//! curl --unix-socket /tmp/sim.sock http://d/_sim/calls
//! curl --unix-socket /tmp/sim.sock -d '{"endpoint":"stats","kind":"status500","count":3}' http://d/_sim/fault
//! ```
//!
//! It prints `docker_sim listening on <socket>` on stdout once it accepts connections,
//! logs to stderr (`DOCKER_SIM_LOG=debug` logs every call; non-GET/HEAD engine calls
//! are warnings) and removes the socket file on SIGTERM/SIGINT.
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--socket PATH` | required | socket to listen on (a stale file is removed first) |
//! | `--fixtures DIR` | - | replay `DIR/{version,info,containers}.json`, `ping.headers`, `inspect/<id>.json`, `stats/<id>.json`, `events.jsonl` |
//! | `--containers N` | 10 | synthetic engine with containers `sim-00000`..; ignored with `--fixtures` |
//! | `--api-version V` | fixtures', else 1.44 | highest API version; also the `Api-Version` header |
//! | `--min-api-version V` | 1.12 | lower `/vX.Y` prefixes get a 400 |
//! | `--engine-version V` | fixtures', else 25.0.5 | `Server: Docker/V (linux)` and `/version` |
//! | `--cgroup-version 1\|2` | 1 | shape of synthetic stats and info |
//! | `--latency DUR` | 0s | added to every engine call |
//! | `--stats-tick DUR` | 0s | a one-shot stats answer waits for the next multiple of DUR (Engine 20.10-24) |
//! | `--two-sample-delay DUR` | 1s | wait of `stream=false` stats without `one-shot` |
//! | `--churn-per-sec R` | 0 | synthetic: destroy R and create R containers every second |
//! | `--event-rate R` | 0 | synthetic: R events per second (health checks, some die/start) |
//! | `--ncpu N`, `--seed S` | 8, 42 | synthetic host CPUs; seed for ids and randomness |
//!
//! ## Engine API (any `/vX.Y` prefix, or none)
//!
//! `GET|HEAD /_ping`, `/version`, `/info`, `/containers/json?all=`, `/containers/{id|name}/json`,
//! `/containers/{id}/stats?stream=&one-shot=` (streams one sample a second when `stream`
//! is true), `/events?since=&until=&filters=` (filters: `type`, `event`, `container`,
//! `label`). Unknown paths: 404. Any other method: 405, counted in `non_get`.
//!
//! ## Control plane (`/_sim/`, never called by the exporter)
//!
//! * `GET /_sim/calls` → `{"total":N,"by_endpoint":{"ping":..,"other":..},"non_get":N}`;
//!   `POST /_sim/reset-calls`.
//! * `POST /_sim/event`: a full event JSON, or `{"container":"name-or-id","action":"die",
//!   "exitCode":1,"attributes":{}}`. The state change is applied (synthetic: start, die,
//!   pause, unpause, restart, oom, `health_status: X`, destroy, create of a new name;
//!   fixtures: destroy only) and the event is kept in history and pushed to open streams.
//! * `POST /_sim/fault` `{"endpoint":"list|inspect|stats|info|version|ping|events|other|any",
//!   "kind":"status500|hang|garbage|close","count":N}` (no count = until cleared). On
//!   `events`, `close` and `garbage` act at once on the open streams (and on the next
//!   `count` subscriptions only if a count is given); `POST /_sim/clear-faults`.
//! * `POST /_sim/set` `{"latency":"5ms","stats_tick":"1s","two_sample_delay":"1s"}`.

// The large `json!` bodies (inspect, info) need more macro recursion than the default.
#![recursion_limit = "256"]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::IntoFuture;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use clap::Parser;
use hyper::body::Frame;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

const HISTORY_CAP: usize = 10_000;
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const GARBAGE: &[u8] = b"{\"Id\":\"deadbeef\",\"Names\":[\"/trunc<html>\x01 not json\n";
const IMAGES: [&str; 6] = [
    "nginx:1.25",
    "postgres:16",
    "redis:7-alpine",
    "python:3.12-slim",
    "busybox:latest",
    "ghcr.io/acme/api:2.3.1",
];
const SERVICES: [&str; 6] = ["web", "api", "db", "cache", "worker", "queue"];
/// Synthetic host uptime when the simulator starts (drives `system_cpu_usage`).
const BOOT_UPTIME_SECS: f64 = 30.0 * 86400.0;
const MEM_TOTAL: u64 = 32 << 30;

#[derive(Parser, Debug)]
#[command(
    name = "docker_sim",
    about = "Simulated Docker Engine API on a Unix socket"
)]
struct Args {
    /// Unix socket to listen on (a stale file is removed first).
    #[arg(long)]
    socket: PathBuf,
    /// Replay a recorded fixture set from this directory.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Number of synthetic containers (without --fixtures).
    #[arg(long, default_value_t = 10)]
    containers: u64,
    /// Highest supported API version (default: the fixtures', else 1.44).
    #[arg(long)]
    api_version: Option<String>,
    /// Lowest supported API version.
    #[arg(long, default_value = "1.12")]
    min_api_version: String,
    /// Engine version (default: the fixtures', else 25.0.5).
    #[arg(long)]
    engine_version: Option<String>,
    /// Cgroup version of the synthetic host: 1 or 2.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    cgroup_version: u8,
    /// Latency added to every engine call.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// One-shot stats wait for the next multiple of this on the wall clock (0 = no wait).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    stats_tick: Duration,
    /// Wait of a `stream=false` stats call without `one-shot` (computing precpu).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    two_sample_delay: Duration,
    /// Synthetic: containers destroyed and created every second.
    #[arg(long, default_value_t = 0)]
    churn_per_sec: u32,
    /// Synthetic: events per second.
    #[arg(long, default_value_t = 0.0)]
    event_rate: f64,
    /// Synthetic: CPUs of the host.
    #[arg(long, default_value_t = 8)]
    ncpu: u32,
    /// Synthetic: seed for ids and random choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

// ---------------------------------------------------------------------------
// Small helpers: hashing, time, query strings, responses
// ---------------------------------------------------------------------------

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic 64-hex id derived from a number.
fn hex_id(n: u64, salt: u64) -> String {
    (0..4u64)
        .map(|i| format!("{:016x}", splitmix((n.wrapping_mul(4) + i) ^ salt)))
        .collect()
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Docker's `units.HumanDuration`, used in the list's `Status`.
fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let mins = secs / 60;
    let hours = (secs + 1800) / 3600;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 14 => format!("{} days", hours / 24),
        _ if hours < 24 * 60 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 730 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

fn parse_api(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits an optional `/vX.Y` prefix off a path.
fn split_version(path: &str) -> (Option<String>, String) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        if parse_api(&rest[..end]).is_some() {
            return (Some(rest[..end].to_string()), rest[end..].to_string());
        }
    }
    (None, path.to_string())
}

/// Docker's timestamp parameter: `seconds` or `seconds.fraction` → nanoseconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    Some(secs.parse::<i64>().ok()?.checked_mul(1_000_000_000)? + nanos)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Docker's `BoolValueOrDefault`: absent → default; "", 0, no, false, none → false.
fn bool_param(params: &HashMap<String, String>, key: &str, default: bool) -> bool {
    params.get(key).map_or(default, |v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    })
}

fn respond(status: StatusCode, ctype: &'static str, body: impl Into<Body>) -> Response<Body> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

fn json_value(status: StatusCode, v: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(v).expect("serialising a Value cannot fail");
    body.push(b'\n');
    respond(status, "application/json", body)
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response<Body> {
    json_value(status, &json!({ "message": msg.to_string() }))
}

fn no_such_container(key: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, format!("No such container: {key}"))
}

/// A response body fed by a channel; an `Err` aborts the connection mid-response.
struct ChannelBody(mpsc::Receiver<io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|m| m.map(|r| r.map(Frame::data)))
    }
}

fn streaming(rx: mpsc::Receiver<io::Result<Bytes>>) -> Response<Body> {
    respond(
        StatusCode::OK,
        "application/json",
        Body::new(ChannelBody(rx)),
    )
}

/// The `close` fault: headers, then the connection is dropped.
fn aborted() -> Response<Body> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Err(io::Error::other(
        "docker_sim: simulated connection close",
    )));
    streaming(rx)
}

// ---------------------------------------------------------------------------
// Call accounting and faults
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Ping,
    Version,
    Info,
    List,
    Inspect,
    Stats,
    Events,
    Other,
}

const ENDPOINTS: [Endpoint; 8] = [
    Endpoint::Ping,
    Endpoint::Version,
    Endpoint::Info,
    Endpoint::List,
    Endpoint::Inspect,
    Endpoint::Stats,
    Endpoint::Events,
    Endpoint::Other,
];

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Ping => "ping",
            Endpoint::Version => "version",
            Endpoint::Info => "info",
            Endpoint::List => "list",
            Endpoint::Inspect => "inspect",
            Endpoint::Stats => "stats",
            Endpoint::Events => "events",
            Endpoint::Other => "other",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        ENDPOINTS.into_iter().find(|e| e.name() == s)
    }
}

/// Maps a path (without version prefix) to an endpoint and its container key.
fn route(path: &str) -> (Endpoint, Option<String>) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["_ping"] => (Endpoint::Ping, None),
        ["version"] => (Endpoint::Version, None),
        ["info"] => (Endpoint::Info, None),
        ["events"] => (Endpoint::Events, None),
        ["containers", "json"] => (Endpoint::List, None),
        ["containers", id, "json"] => (Endpoint::Inspect, Some(percent_decode(id, false))),
        ["containers", id, "stats"] => (Endpoint::Stats, Some(percent_decode(id, false))),
        _ => (Endpoint::Other, None),
    }
}

#[derive(Default)]
struct Calls {
    total: AtomicU64,
    by: [AtomicU64; 8],
    non_get: AtomicU64,
}

impl Calls {
    fn record(&self, ep: Endpoint, non_get: bool) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.by[ep as usize].fetch_add(1, Ordering::Relaxed);
        if non_get {
            self.non_get.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Value {
        let by: Map<String, Value> = ENDPOINTS
            .iter()
            .map(|e| {
                (
                    e.name().to_string(),
                    json!(self.by[*e as usize].load(Ordering::Relaxed)),
                )
            })
            .collect();
        json!({
            "total": self.total.load(Ordering::Relaxed),
            "by_endpoint": by,
            "non_get": self.non_get.load(Ordering::Relaxed),
        })
    }

    fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.non_get.store(0, Ordering::Relaxed);
        self.by.iter().for_each(|c| c.store(0, Ordering::Relaxed));
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum FaultKind {
    Status500,
    Hang,
    Garbage,
    Close,
}

#[derive(Deserialize)]
struct FaultReq {
    endpoint: String,
    kind: FaultKind,
    count: Option<u64>,
}

struct Fault {
    endpoint: Option<Endpoint>, // None = any
    kind: FaultKind,
    remaining: Option<u64>, // None = until cleared
}

// ---------------------------------------------------------------------------
// Events: history, live fan-out, filters
// ---------------------------------------------------------------------------

/// An event in the real daemon's shape (and field order).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(rename = "Type", default)]
    typ: String,
    #[serde(rename = "Action", default)]
    action: String,
    #[serde(rename = "Actor", default)]
    actor: Actor,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    time: i64,
    #[serde(rename = "timeNano", default)]
    time_nano: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
struct Actor {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
}

fn container_event(
    id: &str,
    image: &str,
    mut attributes: BTreeMap<String, String>,
    action: &str,
) -> Event {
    attributes.insert("image".into(), image.into());
    Event {
        status: Some(action.into()),
        id: Some(id.into()),
        from: Some(image.into()),
        typ: "container".into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        ..Event::default()
    }
}

/// One kept event: the exact line served, and the parsed event for filtering.
struct EvRec {
    time_nano: i64,
    line: Bytes,
    ev: Option<Event>,
}

#[derive(Clone)]
enum StreamMsg {
    Event(Arc<EvRec>),
    Garbage,
    Close,
}

struct EventHub {
    history: Mutex<VecDeque<Arc<EvRec>>>,
    tx: broadcast::Sender<StreamMsg>,
}

impl EventHub {
    fn new(initial: Vec<Arc<EvRec>>) -> Self {
        let mut history: VecDeque<_> = initial.into();
        while history.len() > HISTORY_CAP {
            history.pop_front();
        }
        Self {
            history: Mutex::new(history),
            tx: broadcast::channel(65_536).0,
        }
    }

    fn publish(&self, mut ev: Event) -> Event {
        if ev.time_nano == 0 {
            ev.time_nano = if ev.time != 0 {
                ev.time * 1_000_000_000
            } else {
                unix_nanos(SystemTime::now())
            };
        }
        if ev.time == 0 {
            ev.time = ev.time_nano / 1_000_000_000;
        }
        if ev.scope.is_empty() {
            ev.scope = "local".into();
        }
        let mut line = serde_json::to_vec(&ev).expect("events serialise");
        line.push(b'\n');
        let rec = Arc::new(EvRec {
            time_nano: ev.time_nano,
            line: line.into(),
            ev: Some(ev.clone()),
        });
        let mut history = self.history.lock().unwrap();
        history.push_back(rec.clone());
        if history.len() > HISTORY_CAP {
            history.pop_front();
        }
        // Sent under the lock so that subscribe() sees each event exactly once.
        let _ = self.tx.send(StreamMsg::Event(rec));
        ev
    }

    fn subscribe(&self, since: Option<i64>) -> (Vec<Arc<EvRec>>, broadcast::Receiver<StreamMsg>) {
        let history = self.history.lock().unwrap();
        let rx = self.tx.subscribe();
        let replay = since.map_or_else(Vec::new, |s| {
            history
                .iter()
                .filter(|r| r.time_nano >= s)
                .cloned()
                .collect()
        });
        (replay, rx)
    }
}

/// The `filters` of `/events`: `type`, `event`, `container`, `label`; others are ignored.
#[derive(Default)]
struct EventFilter {
    types: Vec<String>,
    events: Vec<String>,
    containers: Vec<String>,
    labels: Vec<String>,
}

impl EventFilter {
    fn parse(raw: Option<&String>) -> Result<Self, String> {
        let Some(raw) = raw.filter(|s| !s.is_empty()) else {
            return Ok(Self::default());
        };
        let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
        let obj = v.as_object().ok_or("invalid filter: not an object")?;
        let get = |key: &str| -> Vec<String> {
            match obj.get(key) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                Some(Value::Object(m)) => m
                    .iter()
                    .filter(|(_, v)| v.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(Self {
            types: get("type"),
            events: get("event"),
            containers: get("container"),
            labels: get("label"),
        })
    }

    fn matches(&self, rec: &EvRec) -> bool {
        let Some(ev) = &rec.ev else { return true };
        let attrs = &ev.actor.attributes;
        let base_action = ev.action.split(':').next().unwrap_or_default();
        (self.types.is_empty() || self.types.contains(&ev.typ))
            && (self.events.is_empty()
                || self
                    .events
                    .iter()
                    .any(|e| *e == ev.action || e == base_action))
            && (self.containers.is_empty()
                || self
                    .containers
                    .iter()
                    .any(|c| ev.actor.id.starts_with(c.as_str()) || attrs.get("name") == Some(c)))
            && self.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => attrs.get(k).is_some_and(|x| x == v),
                None => attrs.contains_key(l),
            })
    }
}

// ---------------------------------------------------------------------------
// Fixture mode
// ---------------------------------------------------------------------------

struct FixMeta {
    name: String,
    image: String,
    labels: BTreeMap<String, String>,
    /// Listed with `all=false` (running, paused or restarting).
    up: bool,
    /// The element's exact bytes in `containers.json`, if it was listed.
    raw: Option<Bytes>,
}

struct Fixtures {
    version: Bytes,
    info: Bytes,
    list: Bytes,
    /// Listed ids in list order; None when `containers.json` is not a JSON array.
    order: Option<Vec<String>>,
    meta: HashMap<String, FixMeta>,
    names: HashMap<String, String>,
    inspect: HashMap<String, Bytes>,
    stats: HashMap<String, Bytes>,
    removed: RwLock<HashSet<String>>,
    api_version: Option<String>,
    engine_version: Option<String>,
    history: Vec<Arc<EvRec>>,
}

/// The exact bytes of each element of a top-level JSON array.
fn split_json_array(raw: &[u8]) -> Option<Vec<&[u8]>> {
    let skip_ws = |mut i: usize| {
        while i < raw.len() && raw[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    if raw.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(i + 1);
    let mut out = Vec::new();
    if raw.get(i) == Some(&b']') {
        return Some(out);
    }
    loop {
        let mut de =
            serde_json::Deserializer::from_slice(&raw[i..]).into_iter::<serde::de::IgnoredAny>();
        de.next()?.ok()?;
        let end = i + de.byte_offset();
        out.push(&raw[i..end]);
        i = skip_ws(end);
        match raw.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b']') => return Some(out),
            _ => return None,
        }
    }
}

fn read_fixture(dir: &Path, rel: &str) -> Result<Bytes, String> {
    std::fs::read(dir.join(rel))
        .map(Bytes::from)
        .map_err(|e| format!("fixture {}: {e}", dir.join(rel).display()))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Fixtures {
    fn load(dir: &Path) -> Result<Self, String> {
        let version = read_fixture(dir, "version.json")?;
        let info = read_fixture(dir, "info.json")?;
        let list = read_fixture(dir, "containers.json")?;
        let events = read_fixture(dir, "events.jsonl")?;
        let version_json: Value = serde_json::from_slice(&version).unwrap_or_default();
        let api_version = std::fs::read_to_string(dir.join("ping.headers"))
            .ok()
            .and_then(|h| {
                h.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("api-version")
                        .then(|| v.trim().to_string())
                })
            })
            .or_else(|| version_json["ApiVersion"].as_str().map(String::from));
        let engine_version = version_json["Version"].as_str().map(String::from);

        let mut meta = HashMap::new();
        let mut names = HashMap::new();
        let order = split_json_array(&list).map(|elems| {
            let mut order = Vec::new();
            for raw in elems {
                let v: Value = serde_json::from_slice(raw).unwrap_or_default();
                let Some(id) = v["Id"].as_str() else { continue };
                let all_names: Vec<String> = v["Names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(|n| n.trim_start_matches('/').to_string()))
                    .collect();
                for n in &all_names {
                    names.insert(n.clone(), id.to_string());
                }
                let state = v["State"].as_str().unwrap_or_default();
                meta.insert(
                    id.to_string(),
                    FixMeta {
                        name: all_names.first().cloned().unwrap_or_default(),
                        image: v["Image"].as_str().unwrap_or_default().to_string(),
                        labels: string_map(v.get("Labels")),
                        up: matches!(state, "running" | "paused" | "restarting"),
                        raw: Some(Bytes::copy_from_slice(raw)),
                    },
                );
                order.push(id.to_string());
            }
            order
        });

        let mut inspect = HashMap::new();
        let mut stats = HashMap::new();
        for (sub, map) in [("inspect", &mut inspect), ("stats", &mut stats)] {
            let rd = std::fs::read_dir(dir.join(sub))
                .map_err(|e| format!("fixture {}: {e}", dir.join(sub).display()))?;
            for entry in rd.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(id) = file.strip_suffix(".json") {
                    map.insert(id.to_string(), read_fixture(dir, &format!("{sub}/{file}"))?);
                }
            }
        }
        for id in order.iter().flatten() {
            for (sub, map) in [("inspect", &inspect), ("stats", &stats)] {
                if !map.contains_key(id) {
                    return Err(format!(
                        "fixture {}/{sub}/{id}.json is missing (listed in containers.json)",
                        dir.display()
                    ));
                }
            }
        }
        // Containers only known from their inspect file (e.g. removed after the list).
        for (id, body) in &inspect {
            let v: Value = serde_json::from_slice(body).unwrap_or_default();
            let name = v["Name"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            if !name.is_empty() {
                names.entry(name.clone()).or_insert_with(|| id.clone());
            }
            meta.entry(id.clone()).or_insert_with(|| FixMeta {
                name,
                image: v["Config"]["Image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                labels: string_map(v["Config"].get("Labels")),
                up: v["State"]["Running"].as_bool().unwrap_or(false),
                raw: None,
            });
        }

        let mut history = Vec::new();
        let mut last_time = 0;
        for line in events
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
        {
            let ev: Option<Event> = serde_json::from_slice(line).ok();
            if let Some(ev) = &ev {
                last_time = if ev.time_nano != 0 {
                    ev.time_nano
                } else {
                    ev.time * 1_000_000_000
                };
            }
            let mut bytes = line.to_vec();
            bytes.push(b'\n');
            history.push(Arc::new(EvRec {
                time_nano: last_time,
                line: bytes.into(),
                ev,
            }));
        }

        Ok(Self {
            version,
            info,
            list,
            order,
            meta,
            names,
            inspect,
            stats,
            removed: RwLock::default(),
            api_version,
            engine_version,
            history,
        })
    }

    fn resolve(&self, key: &str) -> Option<String> {
        let removed = self.removed.read().unwrap();
        let key = key.trim_start_matches('/');
        let id = if self.meta.contains_key(key) {
            Some(key.to_string())
        } else if let Some(id) = self.names.get(key) {
            Some(id.clone())
        } else {
            let mut hits = self.meta.keys().filter(|id| id.starts_with(key));
            match (hits.next(), hits.next()) {
                (Some(id), None) if !key.is_empty() => Some(id.clone()),
                _ => None,
            }
        };
        id.filter(|id| !removed.contains(id))
    }

    fn list(&self, all: bool) -> Bytes {
        let removed = self.removed.read().unwrap();
        let Some(order) = &self.order else {
            return self.list.clone();
        };
        if all && removed.is_empty() {
            return self.list.clone();
        }
        let elems: Vec<&[u8]> = order
            .iter()
            .filter(|id| !removed.contains(*id))
            .filter_map(|id| self.meta.get(id))
            .filter(|m| all || m.up)
            .filter_map(|m| m.raw.as_deref())
            .collect();
        let mut out = b"[".to_vec();
        out.extend(elems.join(&b","[..]));
        out.extend(b"]\n");
        out.into()
    }
}

// ---------------------------------------------------------------------------
// Synthetic mode
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

struct Container {
    serial: u64,
    hash: u64,
    id: String,
    name: String,
    image: &'static str,
    project: Option<String>,
    service: &'static str,
    created: SystemTime,
    status: Status,
    exit_code: i64,
    oom_killed: bool,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    health: Option<&'static str>,
    restart_count: u64,
    mem_limit: u64,
    nano_cpus: u64,
    pids_limit: Option<u64>,
    cpu_rate: f64,
    /// Time spent running before `running_since` (counters are functions of it).
    busy_before: Duration,
    running_since: Option<Instant>,
}

impl Container {
    fn active_secs(&self, at: Instant) -> f64 {
        let running = self
            .running_since
            .map_or(Duration::ZERO, |s| at.saturating_duration_since(s));
        (self.busy_before + running).as_secs_f64()
    }

    fn freeze(&mut self, now: Instant) {
        if let Some(since) = self.running_since.take() {
            self.busy_before += now.saturating_duration_since(since);
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(
            "org.opencontainers.image.title".into(),
            self.image.split(':').next().unwrap_or_default().into(),
        );
        if let Some(p) = &self.project {
            for (k, v) in [
                ("project", p.as_str()),
                ("service", self.service),
                ("container-number", "1"),
                ("oneoff", "False"),
                ("version", "2.24.6"),
                ("project.working_dir", "/srv/compose"),
            ] {
                l.insert(format!("com.docker.compose.{k}"), v.into());
            }
        }
        l
    }

    fn network(&self) -> String {
        self.project
            .as_ref()
            .map_or("bridge".into(), |p| format!("{p}_default"))
    }

    fn image_id(&self) -> String {
        let idx = IMAGES.iter().position(|i| *i == self.image).unwrap_or(0) as u64;
        format!("sha256:{}", hex_id(idx, 0x1111))
    }

    /// The list's human `Status`, as in Docker's `State.String()`.
    fn status_text(&self, now: SystemTime) -> String {
        let ago = |t: Option<SystemTime>| {
            human_duration(
                t.and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default(),
            )
        };
        match self.status {
            Status::Created => "Created".into(),
            Status::Paused => format!("Up {} (Paused)", ago(self.started_at)),
            Status::Restarting => format!(
                "Restarting ({}) {} ago",
                self.exit_code,
                ago(self.finished_at)
            ),
            Status::Exited => format!("Exited ({}) {} ago", self.exit_code, ago(self.finished_at)),
            Status::Running => {
                let health = match self.health {
                    Some("starting") => " (health: starting)".to_string(),
                    Some(h) => format!(" ({h})"),
                    None => String::new(),
                };
                format!("Up {}{health}", ago(self.started_at))
            }
        }
    }
}

struct Host {
    ncpu: u32,
    cgroup: u8,
    start: Instant,
}

struct World {
    host: Host,
    seed: u64,
    rng: u64,
    next_serial: u64,
    containers: BTreeMap<u64, Container>,
    by_id: HashMap<String, u64>,
    by_name: HashMap<String, u64>,
    /// Containers to start again after a generated `die`.
    restarts: Vec<(Instant, u64)>,
}

impl World {
    fn new(n: u64, host: Host, seed: u64) -> Self {
        let mut w = Self {
            host,
            seed,
            rng: splitmix(seed) | 1,
            next_serial: 0,
            containers: BTreeMap::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            restarts: Vec::new(),
        };
        for _ in 0..n {
            w.create(None, true);
        }
        w
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Creates a container: `initial` ones get the deterministic state mix and an
    /// age; later ones are freshly created (state `created`, to be started).
    fn create(&mut self, name: Option<String>, initial: bool) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let h = splitmix(serial ^ self.seed);
        let (now_w, now_i) = (SystemTime::now(), Instant::now());
        let age = Duration::from_secs(3600 + h % (9 * 86400));
        let created = if initial { now_w - age } else { now_w };
        // 75% running, 10% exited, 5% paused, 2.5% restarting, 2.5% created.
        let status = match (initial, serial % 20) {
            (false, _) => Status::Created,
            (_, 15 | 16) => Status::Exited,
            (_, 17) => Status::Paused,
            (_, 18) if serial % 40 == 18 => Status::Restarting,
            (_, 18) => Status::Created,
            _ => Status::Running,
        };
        let started_at = (status != Status::Created).then(|| created + Duration::from_secs(2));
        let finished_at = matches!(status, Status::Exited | Status::Restarting)
            .then(|| now_w - Duration::from_secs((h >> 16) % 3500));
        let exit_code = match status {
            Status::Exited if serial % 40 == 16 => 137,
            Status::Exited | Status::Restarting => [0, 1, 2, 137, 143][(h >> 8) as usize % 5],
            _ => 0,
        };
        let health = (serial % 3 == 0).then_some(match status {
            Status::Running if serial % 30 == 21 => "unhealthy",
            Status::Running | Status::Paused => "healthy",
            Status::Created => "starting",
            _ => "unhealthy",
        });
        let nano_cpus = if serial % 5 == 0 {
            500_000_000 * (1 + h % 4)
        } else {
            0
        };
        let mut cpu_rate = 0.005 + ((h >> 20) % 1000) as f64 / 2000.0;
        if nano_cpus > 0 {
            cpu_rate = cpu_rate.min(nano_cpus as f64 / 1e9);
        }
        let busy_before = match (status, started_at) {
            (Status::Running | Status::Paused, Some(s)) => {
                now_w.duration_since(s).unwrap_or_default()
            }
            (Status::Exited | Status::Restarting, Some(s)) => finished_at
                .and_then(|f| f.duration_since(s).ok())
                .unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let compose = serial % 10 != 9;
        let c = Container {
            serial,
            hash: h,
            id: hex_id(serial, self.seed),
            name: name.unwrap_or_else(|| format!("sim-{serial:05}")),
            image: IMAGES[(h % IMAGES.len() as u64) as usize],
            project: compose.then(|| format!("proj{:02}", (serial / 25) % 40)),
            service: SERVICES[(serial % SERVICES.len() as u64) as usize],
            created,
            status,
            exit_code,
            oom_killed: status == Status::Exited && serial % 40 == 16,
            started_at,
            finished_at,
            health,
            restart_count: if status == Status::Restarting {
                3 + h % 5
            } else {
                0
            },
            mem_limit: if serial % 4 == 0 {
                (256 << 20) << (h % 3)
            } else {
                0
            },
            nano_cpus,
            pids_limit: (serial % 7 == 0).then(|| 100 + h % 400),
            cpu_rate,
            busy_before,
            running_since: (status == Status::Running).then_some(now_i),
        };
        self.by_id.insert(c.id.clone(), serial);
        self.by_name.insert(c.name.clone(), serial);
        self.containers.insert(serial, c);
        serial
    }

    fn lookup(&self, key: &str) -> Option<u64> {
        let key = key.trim_start_matches('/');
        if let Some(s) = self.by_id.get(key).or_else(|| self.by_name.get(key)) {
            return Some(*s);
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut hits = self.by_id.iter().filter(|(id, _)| id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some((_, s)), None) => Some(*s),
            _ => None,
        }
    }

    /// A random container matching `pred` (a few tries, then any match in order).
    fn pick(&mut self, pred: impl Fn(&Container) -> bool) -> Option<u64> {
        for _ in 0..8 {
            let r = self.rand() % self.next_serial.max(1);
            let hit = self
                .containers
                .range(r..)
                .next()
                .or_else(|| self.containers.iter().next());
            if let Some((s, c)) = hit {
                if pred(c) {
                    return Some(*s);
                }
            }
        }
        self.containers.values().find(|c| pred(c)).map(|c| c.serial)
    }

    /// Builds the event for `action` on a container and applies its state change.
    fn act(&mut self, serial: u64, action: &str, extra: BTreeMap<String, String>) -> Option<Event> {
        let now = Instant::now();
        let c = self.containers.get_mut(&serial)?;
        let mut attrs = c.labels();
        attrs.insert("name".into(), c.name.clone());
        attrs.extend(extra);
        let exit_code = attrs.get("exitCode").and_then(|e| e.parse().ok());
        let ev = container_event(&c.id, c.image, attrs, action);
        let (base, detail) = action.split_once(':').unwrap_or((action, ""));
        match base.trim() {
            "start" | "restart" | "unpause" => {
                if base == "restart" {
                    c.restart_count += 1;
                }
                if base != "unpause" || c.started_at.is_none() {
                    c.started_at = Some(SystemTime::now());
                    c.oom_killed = false;
                    c.health = c.health.map(|_| "starting");
                }
                c.status = Status::Running;
                c.running_since.get_or_insert(now);
            }
            "die" => {
                c.freeze(now);
                c.status = Status::Exited;
                c.exit_code = exit_code.unwrap_or(0);
                c.finished_at = Some(SystemTime::now());
            }
            "pause" => {
                c.freeze(now);
                c.status = Status::Paused;
            }
            "oom" => c.oom_killed = true,
            "health_status" => {
                c.health = Some(match detail.trim() {
                    "healthy" => "healthy",
                    "unhealthy" => "unhealthy",
                    _ => "starting",
                })
            }
            "destroy" => {
                let c = self.containers.remove(&serial)?;
                self.by_id.remove(&c.id);
                self.by_name.remove(&c.name);
            }
            _ => {}
        }
        Some(ev)
    }

    /// One tick of `--churn-per-sec`: remove `r` containers, create and start `r`.
    fn churn(&mut self, r: u32, out: &mut Vec<Event>) {
        let attrs = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for _ in 0..r {
            let Some(s) = self.pick(|_| true) else { break };
            if self.containers[&s].running_since.is_some()
                || self.containers[&s].status == Status::Paused
            {
                out.extend(self.act(s, "kill", attrs(&[("signal", "9")])));
                out.extend(self.act(s, "die", attrs(&[("exitCode", "137")])));
            }
            out.extend(self.act(s, "destroy", BTreeMap::new()));
        }
        for _ in 0..r {
            let s = self.create(None, false);
            out.extend(self.act(s, "create", BTreeMap::new()));
            out.extend(self.act(s, "start", BTreeMap::new()));
        }
    }

    /// Some `--event-rate` activity; returns how many events it produced.
    fn activity(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(s) = self.pick(|c| c.status == Status::Running) else {
            return 0;
        };
        let mut attrs = BTreeMap::new();
        if self.rand() % 100 < 3 {
            let code = [0, 1, 137, 143][(self.rand() % 4) as usize];
            attrs.insert("exitCode".to_string(), code.to_string());
            out.extend(self.act(s, "die", attrs));
            self.restarts
                .push((Instant::now() + Duration::from_secs(2), s));
            return 1;
        }
        attrs.insert("execID".to_string(), hex_id(self.rand(), 7));
        out.extend(self.act(s, "exec_create: /bin/sh -c true", attrs.clone()));
        out.extend(self.act(s, "exec_start: /bin/sh -c true", attrs.clone()));
        attrs.insert("exitCode".into(), "0".into());
        out.extend(self.act(s, "exec_die", attrs));
        if self.containers[&s].health.is_none() {
            return 3;
        }
        out.extend(self.act(s, "health_status: healthy", BTreeMap::new()));
        4
    }

    fn restart_due(&mut self, now: Instant, out: &mut Vec<Event>) {
        let (due, keep) = std::mem::take(&mut self.restarts)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.restarts = keep;
        for (_, s) in due {
            if self
                .containers
                .get(&s)
                .is_some_and(|c| c.status == Status::Exited)
            {
                out.extend(self.act(s, "start", BTreeMap::new()));
            }
        }
    }

    fn list_entry(&self, c: &Container, now: SystemTime) -> Value {
        let net = c.network();
        json!({
            "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": c.image_id(),
            "Command": "/docker-entrypoint.sh", "Created": unix_nanos(c.created) / 1_000_000_000,
            "Ports": [], "Labels": c.labels(), "State": c.status.as_str(), "Status": c.status_text(now),
            "HostConfig": {"NetworkMode": if c.project.is_some() { net.as_str() } else { "default" }},
            "NetworkSettings": {"Networks": {net.as_str(): self.endpoint_settings(c)}},
            "Mounts": [],
        })
    }

    fn endpoint_settings(&self, c: &Container) -> Value {
        let up = c.running_since.is_some() || c.status == Status::Paused;
        let ip = if up {
            format!(
                "172.{}.{}.{}",
                18 + c.serial / 65_000 % 10,
                c.serial / 250 % 256,
                c.serial % 250 + 2
            )
        } else {
            String::new()
        };
        json!({
            "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": hex_id(c.serial / 25, 0x2222),
            "EndpointID": if up { hex_id(c.serial, 0x3333) } else { String::new() },
            "Gateway": if up { "172.18.0.1" } else { "" }, "IPAddress": ip, "IPPrefixLen": if up { 16 } else { 0 },
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null,
        })
    }

    fn inspect(&self, c: &Container) -> Value {
        let running = matches!(
            c.status,
            Status::Running | Status::Paused | Status::Restarting
        );
        let t = |t: Option<SystemTime>| t.map_or(ZERO_TIME.to_string(), rfc3339);
        let mut state = json!({
            "Status": c.status.as_str(), "Running": running, "Paused": c.status == Status::Paused,
            "Restarting": c.status == Status::Restarting, "OOMKilled": c.oom_killed, "Dead": false,
            "Pid": if running { 10_000 + c.serial } else { 0 }, "ExitCode": c.exit_code, "Error": "",
            "StartedAt": t(c.started_at), "FinishedAt": t(c.finished_at),
        });
        if let Some(h) = c.health {
            let streak = if h == "unhealthy" { 3 } else { 0 };
            state["Health"] = json!({"Status": h, "FailingStreak": streak, "Log": [{
                "Start": rfc3339(SystemTime::now() - Duration::from_secs(5)),
                "End": rfc3339(SystemTime::now() - Duration::from_secs(4)),
                "ExitCode": if h == "unhealthy" { 1 } else { 0 }, "Output": "",
            }]});
        }
        let dir = format!("/var/lib/docker/containers/{}", c.id);
        let mut config = json!({
            "Hostname": &c.id[..12], "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/docker-entrypoint.sh"], "Image": c.image, "Volumes": null, "WorkingDir": "",
            "Entrypoint": null, "OnBuild": null, "Labels": c.labels(),
        });
        if c.health.is_some() {
            config["Healthcheck"] =
                json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000u64});
        }
        let net = c.network();
        json!({
            "Id": c.id, "Created": rfc3339(c.created), "Path": "/docker-entrypoint.sh", "Args": [],
            "State": state, "Image": c.image_id(),
            "ResolvConfPath": format!("{dir}/resolv.conf"), "HostnamePath": format!("{dir}/hostname"),
            "HostsPath": format!("{dir}/hosts"), "LogPath": format!("{dir}/{}-json.log", c.id),
            "Name": format!("/{}", c.name), "RestartCount": c.restart_count, "Driver": "overlay2",
            "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": null,
            "HostConfig": {
                "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
                "NetworkMode": if c.project.is_some() { net.as_str() } else { "default" },
                "RestartPolicy": {"Name": if c.project.is_some() { "unless-stopped" } else { "no" }, "MaximumRetryCount": 0},
                "AutoRemove": false, "CgroupnsMode": if self.host.cgroup == 2 { "private" } else { "host" },
                "IpcMode": "private", "Privileged": false, "ReadonlyRootfs": false, "ShmSize": 67_108_864,
                "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": c.mem_limit, "NanoCpus": c.nano_cpus,
                "CgroupParent": "", "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "",
                "MemoryReservation": 0, "MemorySwap": c.mem_limit * 2, "MemorySwappiness": null,
                "OomKillDisable": false, "PidsLimit": c.pids_limit, "Ulimits": [],
            },
            "GraphDriver": {"Data": null, "Name": "overlay2"},
            "Mounts": [], "Config": config,
            "NetworkSettings": {
                "Bridge": "", "SandboxID": hex_id(c.serial, 0x4444), "Ports": {},
                "SandboxKey": format!("/var/run/docker/netns/{}", &hex_id(c.serial, 0x4444)[..12]),
                "Networks": {net.as_str(): self.endpoint_settings(c)},
            },
        })
    }

    fn cpu_stats(&self, c: &Container, at: Instant) -> Value {
        let total = (c.active_secs(at) * c.cpu_rate * 1e9) as u64;
        let ticks = total / 10_000_000;
        let mut usage = json!({
            "total_usage": total, "usage_in_kernelmode": ticks * 2_000_000, "usage_in_usermode": ticks * 8_000_000,
        });
        if self.host.cgroup == 1 {
            let n = u64::from(self.host.ncpu.max(1));
            let weights: Vec<u64> = (0..n).map(|i| 1 + (c.hash >> (i * 4 % 60)) % 16).collect();
            let sum: u64 = weights.iter().sum();
            let mut per: Vec<u64> = weights.iter().map(|w| total / sum * w).collect();
            per[0] += total - per.iter().sum::<u64>();
            usage["percpu_usage"] = json!(per);
        }
        let uptime = BOOT_UPTIME_SECS + at.saturating_duration_since(self.host.start).as_secs_f64();
        let periods = if c.nano_cpus > 0 {
            (c.active_secs(at) * 10.0) as u64
        } else {
            0
        };
        json!({
            "cpu_usage": usage, "system_cpu_usage": (uptime * f64::from(self.host.ncpu) * 1e9) as u64,
            "online_cpus": self.host.ncpu,
            "throttling_data": {"periods": periods, "throttled_periods": periods / 20, "throttled_time": periods / 20 * 3_000_000},
        })
    }

    fn stats(&self, c: &Container, pre: Option<Duration>) -> Value {
        let zero_cpu = json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
        if c.running_since.is_none() && c.status != Status::Paused {
            // What the daemon answers for a container that is not running.
            let blk = [
                "io_service_bytes_recursive",
                "io_serviced_recursive",
                "io_queue_recursive",
                "io_service_time_recursive",
                "io_wait_time_recursive",
                "io_merged_recursive",
                "io_time_recursive",
                "sectors_recursive",
            ];
            let blk: Map<String, Value> =
                blk.iter().map(|k| (k.to_string(), Value::Null)).collect();
            return json!({
                "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {}, "blkio_stats": blk, "num_procs": 0,
                "storage_stats": {}, "cpu_stats": zero_cpu, "precpu_stats": zero_cpu, "memory_stats": {},
                "name": format!("/{}", c.name), "id": c.id,
            });
        }
        let (now, wall) = (Instant::now(), SystemTime::now());
        let a = c.active_secs(now);
        let h = c.hash;
        let limit = if c.mem_limit > 0 {
            c.mem_limit
        } else {
            MEM_TOTAL
        };
        let usage =
            ((8 << 20) + h % (200 << 20) + ((a as u64 / 10) % 16) * (64 << 10)).min(limit / 10 * 9);
        let (file, anon) = (usage / 4, usage - usage / 4);
        let pgfault = (a * 50.0) as u64 + h % 10_000;
        let memory_stats = if self.host.cgroup == 1 {
            let mut s = Map::new();
            for (k, v) in [
                ("active_anon", anon / 2),
                ("active_file", file / 2),
                ("cache", file),
                ("dirty", 0),
                ("inactive_anon", anon - anon / 2),
                ("inactive_file", file - file / 2),
                ("mapped_file", file / 8),
                ("pgfault", pgfault),
                ("pgmajfault", pgfault / 1000),
                ("pgpgin", pgfault / 2),
                ("pgpgout", pgfault / 3),
                ("rss", anon),
                ("rss_huge", 0),
                ("unevictable", 0),
                ("writeback", 0),
            ] {
                s.insert(format!("total_{k}"), json!(v));
                s.insert(k.to_string(), json!(v));
            }
            s.insert("hierarchical_memory_limit".into(), json!(limit));
            s.insert(
                "hierarchical_memsw_limit".into(),
                json!(limit.saturating_mul(2)),
            );
            json!({"usage": usage, "max_usage": usage + usage / 8, "stats": s, "limit": limit})
        } else {
            let s: Map<String, Value> = [
                ("active_anon", anon / 2),
                ("active_file", file / 2),
                ("anon", anon),
                ("anon_thp", 0),
                ("file", file),
                ("file_dirty", 0),
                ("file_mapped", file / 8),
                ("file_writeback", 0),
                ("inactive_anon", anon - anon / 2),
                ("inactive_file", file - file / 2),
                ("kernel_stack", 16_384),
                ("pgactivate", pgfault / 40),
                ("pgdeactivate", 0),
                ("pgfault", pgfault),
                ("pglazyfree", 0),
                ("pglazyfreed", 0),
                ("pgmajfault", pgfault / 1000),
                ("pgrefill", 0),
                ("pgscan", 0),
                ("pgsteal", 0),
                ("shmem", 0),
                ("slab", usage / 50),
                ("slab_reclaimable", usage / 100),
                ("slab_unreclaimable", usage / 100),
                ("sock", 0),
                ("thp_collapse_alloc", 0),
                ("thp_fault_alloc", 0),
                ("unevictable", 0),
                ("workingset_activate", 0),
                ("workingset_nodereclaim", 0),
                ("workingset_refault", 0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
            json!({"usage": usage, "stats": s, "limit": limit})
        };
        let (rd, wr) = (
            (a * (4096 * (h % 8)) as f64) as u64,
            (a * (4096 * (h >> 3 & 15)) as f64) as u64,
        );
        let entry = |op: &str, v: u64| json!({"major": 8, "minor": 0, "op": op, "value": v});
        let blkio_stats = if self.host.cgroup == 1 {
            let ops = |r: u64, w: u64| {
                json!([
                    entry("Read", r),
                    entry("Write", w),
                    entry("Sync", w),
                    entry("Async", r),
                    entry("Discard", 0),
                    entry("Total", r + w)
                ])
            };
            json!({
                "io_service_bytes_recursive": ops(rd, wr), "io_serviced_recursive": ops(rd / 4096, wr / 4096),
                "io_queue_recursive": [], "io_service_time_recursive": [], "io_wait_time_recursive": [],
                "io_merged_recursive": [], "io_time_recursive": [], "sectors_recursive": [],
            })
        } else {
            json!({
                "io_service_bytes_recursive": [entry("read", rd), entry("write", wr)], "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
            })
        };
        let rx = (a * (100 + h % 50_000) as f64) as u64;
        let tx = rx / 2;
        let mut pids = json!({"current": 1 + h % 20});
        if let Some(l) = c.pids_limit {
            pids["limit"] = json!(l);
        }
        let pre_at = pre.and_then(|d| now.checked_sub(d));
        json!({
            "read": rfc3339(wall),
            "preread": pre.map_or(ZERO_TIME.to_string(), |d| rfc3339(wall - d)),
            "pids_stats": pids, "blkio_stats": blkio_stats, "num_procs": 0, "storage_stats": {},
            "cpu_stats": self.cpu_stats(c, now),
            "precpu_stats": pre_at.map_or(zero_cpu, |t| self.cpu_stats(c, t)),
            "memory_stats": memory_stats, "name": format!("/{}", c.name), "id": c.id,
            "networks": {"eth0": {
                "rx_bytes": rx, "rx_packets": rx / 800, "rx_errors": 0, "rx_dropped": rx / 10_000_000,
                "tx_bytes": tx, "tx_packets": tx / 600, "tx_errors": 0, "tx_dropped": 0,
            }},
        })
    }
}

/// The `--churn-per-sec` / `--event-rate` driver (synthetic mode), ten ticks a second.
async fn drive(sim: Arc<Sim>, churn: u32, rate: f64) {
    let Data::Synthetic(world) = &sim.data else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut n, mut budget) = (0u64, 0.0f64);
    loop {
        tick.tick().await;
        n += 1;
        let mut out = Vec::new();
        {
            let mut w = world.write().unwrap();
            w.restart_due(Instant::now(), &mut out);
            if churn > 0 && n % 10 == 0 {
                w.churn(churn, &mut out);
            }
            budget += rate / 10.0;
            while budget >= 1.0 {
                match w.activity(&mut out) {
                    0 => budget = 0.0,
                    k => budget -= k as f64,
                }
            }
        }
        for ev in out {
            sim.events.publish(ev);
        }
    }
}

// ---------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------

enum Data {
    Fixtures(Box<Fixtures>),
    Synthetic(RwLock<World>),
}

struct Sim {
    api: (u32, u32),
    min_api: (u32, u32),
    api_version: String,
    min_api_version: String,
    engine_version: String,
    cgroup_version: u8,
    ncpu: u32,
    headers: [(&'static str, HeaderValue); 4],
    latency: AtomicU64,
    stats_tick: AtomicU64,
    two_sample_delay: AtomicU64,
    calls: Calls,
    faults: Mutex<Vec<Fault>>,
    events: EventHub,
    data: Data,
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

fn load(a: &AtomicU64) -> Duration {
    Duration::from_nanos(a.load(Ordering::Relaxed))
}

impl Sim {
    fn new(args: &Args) -> Result<Self, String> {
        let (data, fix_api, fix_engine, history) = match &args.fixtures {
            Some(dir) => {
                let mut fx = Fixtures::load(dir)?;
                let (api, engine) = (fx.api_version.clone(), fx.engine_version.clone());
                let history = std::mem::take(&mut fx.history);
                (Data::Fixtures(Box::new(fx)), api, engine, history)
            }
            None => {
                let host = Host {
                    ncpu: args.ncpu,
                    cgroup: args.cgroup_version,
                    start: Instant::now(),
                };
                let world = World::new(args.containers, host, args.seed);
                (Data::Synthetic(RwLock::new(world)), None, None, Vec::new())
            }
        };
        let api_version = args
            .api_version
            .clone()
            .or(fix_api)
            .unwrap_or_else(|| "1.44".into());
        let engine_version = args
            .engine_version
            .clone()
            .or(fix_engine)
            .unwrap_or_else(|| "25.0.5".into());
        let api = parse_api(&api_version).ok_or(format!("bad --api-version {api_version:?}"))?;
        let min_api = parse_api(&args.min_api_version)
            .ok_or(format!("bad --min-api-version {:?}", args.min_api_version))?;
        let hv = |s: String| HeaderValue::try_from(s).map_err(|e| format!("bad header value: {e}"));
        Ok(Self {
            api,
            min_api,
            headers: [
                ("api-version", hv(api_version.clone())?),
                ("docker-experimental", HeaderValue::from_static("false")),
                ("ostype", HeaderValue::from_static("linux")),
                ("server", hv(format!("Docker/{engine_version} (linux)"))?),
            ],
            api_version,
            min_api_version: args.min_api_version.clone(),
            engine_version,
            cgroup_version: args.cgroup_version,
            ncpu: args.ncpu,
            latency: AtomicU64::new(nanos(args.latency)),
            stats_tick: AtomicU64::new(nanos(args.stats_tick)),
            two_sample_delay: AtomicU64::new(nanos(args.two_sample_delay)),
            calls: Calls::default(),
            faults: Mutex::default(),
            events: EventHub::new(history),
            data,
        })
    }

    fn take_fault(&self, ep: Endpoint) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let i = faults
            .iter()
            .position(|f| f.endpoint.is_none_or(|e| e == ep))?;
        let kind = faults[i].kind;
        if let Some(left) = &mut faults[i].remaining {
            *left = left.saturating_sub(1);
            if *left == 0 {
                faults.remove(i);
            }
        }
        Some(kind)
    }

    /// Resolves an id, unique id prefix or name to the full id.
    fn resolve(&self, key: &str) -> Option<String> {
        match &self.data {
            Data::Fixtures(fx) => fx.resolve(key),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                w.lookup(key).map(|s| w.containers[&s].id.clone())
            }
        }
    }

    fn version(&self) -> Response<Body> {
        if let Data::Fixtures(fx) = &self.data {
            return respond(StatusCode::OK, "application/json", fx.version.clone());
        }
        let details = json!({
            "ApiVersion": self.api_version, "Arch": "amd64", "BuildTime": "2024-03-19T21:06:35.000000000+00:00",
            "Experimental": "false", "GitCommit": "e63daec", "GoVersion": "go1.21.8",
            "KernelVersion": "6.1.0-18-amd64", "MinAPIVersion": self.min_api_version, "Os": "linux",
        });
        json_value(
            StatusCode::OK,
            &json!({
                "Platform": {"Name": "Docker Engine - Community"},
                "Components": [
                    {"Name": "Engine", "Version": self.engine_version, "Details": details},
                    {"Name": "containerd", "Version": "1.6.28", "Details": {"GitCommit": "ae07eda36dd25f8a1b98dfbf587313b99c0190bb"}},
                    {"Name": "runc", "Version": "1.1.12", "Details": {"GitCommit": "v1.1.12-0-g51d5e94"}},
                ],
                "Version": self.engine_version, "ApiVersion": self.api_version, "MinAPIVersion": self.min_api_version,
                "GitCommit": "e63daec", "GoVersion": "go1.21.8", "Os": "linux", "Arch": "amd64",
                "KernelVersion": "6.1.0-18-amd64", "BuildTime": "2024-03-19T21:06:35.000000000+00:00",
            }),
        )
    }

    fn info(&self) -> Response<Body> {
        let w = match &self.data {
            Data::Fixtures(fx) => {
                return respond(StatusCode::OK, "application/json", fx.info.clone())
            }
            Data::Synthetic(w) => w.read().unwrap(),
        };
        let count = |s: Status| w.containers.values().filter(|c| c.status == s).count();
        let (running, paused) = (
            count(Status::Running) + count(Status::Restarting),
            count(Status::Paused),
        );
        let listeners = self.events.tx.receiver_count();
        let v2 = self.cgroup_version == 2;
        json_value(
            StatusCode::OK,
            &json!({
                "ID": "SIM0:D0CK:ERSI:MULA:TED0:ENGI:NE00:0000:0000:0000:0000:0000",
                "Containers": w.containers.len(), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": w.containers.len() - running - paused, "Images": IMAGES.len(),
                "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                    ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
                "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
                    "Authorization": null, "Log": ["json-file", "local", "journald"]},
                "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true,
                "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": true,
                "BridgeNfIp6tables": true, "Debug": false, "NFd": 40 + listeners, "OomKillDisable": !v2,
                "NGoroutines": 50 + 3 * listeners, "SystemTime": rfc3339(SystemTime::now()), "LoggingDriver": "json-file",
                "CgroupDriver": if v2 { "systemd" } else { "cgroupfs" }, "CgroupVersion": if v2 { "2" } else { "1" },
                "NEventsListener": listeners, "KernelVersion": "6.1.0-18-amd64",
                "OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "OSVersion": "12", "OSType": "linux",
                "Architecture": "x86_64", "IndexServerAddress": "https://index.docker.io/v1/", "NCPU": self.ncpu,
                "MemTotal": MEM_TOTAL, "DockerRootDir": "/var/lib/docker", "Name": "docker-sim", "Labels": [],
                "ExperimentalBuild": false, "ServerVersion": self.engine_version,
                "Runtimes": {"runc": {"path": "runc"}, "io.containerd.runc.v2": {"path": "runc"}}, "DefaultRuntime": "runc",
                "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                    "Error": "", "RemoteManagers": null},
                "LiveRestoreEnabled": false, "Isolation": "", "InitBinary": "docker-init",
                "SecurityOptions": if v2 { json!(["name=seccomp,profile=builtin", "name=cgroupns"]) } else { json!(["name=seccomp,profile=builtin"]) },
                "Warnings": null,
            }),
        )
    }

    fn list(&self, all: bool) -> Response<Body> {
        let w = match &self.data {
            Data::Fixtures(fx) => return respond(StatusCode::OK, "application/json", fx.list(all)),
            Data::Synthetic(w) => w.read().unwrap(),
        };
        let now = SystemTime::now();
        let entries: Vec<Value> = w
            .containers
            .values()
            .rev() // newest first, like the daemon
            .filter(|c| {
                all || c.running_since.is_some()
                    || matches!(c.status, Status::Paused | Status::Restarting)
            })
            .map(|c| w.list_entry(c, now))
            .collect();
        json_value(StatusCode::OK, &Value::Array(entries))
    }

    fn inspect(&self, key: &str) -> Response<Body> {
        match &self.data {
            Data::Fixtures(fx) => match fx.resolve(key).and_then(|id| fx.inspect.get(&id)) {
                Some(body) => respond(StatusCode::OK, "application/json", body.clone()),
                None => no_such_container(key),
            },
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                match w.lookup(key) {
                    Some(s) => json_value(StatusCode::OK, &w.inspect(&w.containers[&s])),
                    None => no_such_container(key),
                }
            }
        }
    }

    /// One stats body for a resolved id (`pre`: the precpu interval), None if gone.
    fn stats_body(&self, id: &str, pre: Option<Duration>) -> Option<Bytes> {
        match &self.data {
            Data::Fixtures(fx) => fx.stats.get(id).cloned(),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                let c = &w.containers[w.by_id.get(id)?];
                let mut body = serde_json::to_vec(&w.stats(c, pre)).ok()?;
                body.push(b'\n');
                Some(body.into())
            }
        }
    }

    /// Parses a posted event (full or shorthand) and applies its state change.
    fn apply_event(&self, body: &[u8]) -> Result<Event, (StatusCode, String)> {
        let bad = |e: String| (StatusCode::BAD_REQUEST, e);
        let gone = |k: &str| (StatusCode::NOT_FOUND, format!("No such container: {k}"));
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        if v.get("container").is_none() {
            // A full event: kept as given; container events also change the state.
            let ev: Event =
                serde_json::from_value(v).map_err(|e| bad(format!("invalid event: {e}")))?;
            if ev.typ == "container" {
                let key = if ev.actor.id.is_empty() {
                    ev.id.clone().unwrap_or_default()
                } else {
                    ev.actor.id.clone()
                };
                match &self.data {
                    Data::Synthetic(w) => {
                        let mut w = w.write().unwrap();
                        if let Some(s) = w.lookup(&key) {
                            w.act(s, &ev.action, ev.actor.attributes.clone());
                        }
                    }
                    Data::Fixtures(fx) if ev.action == "destroy" => {
                        if let Some(id) = fx.resolve(&key) {
                            fx.removed.write().unwrap().insert(id);
                        }
                    }
                    Data::Fixtures(_) => {}
                }
            }
            return Ok(ev);
        }
        #[derive(Deserialize)]
        struct Shorthand {
            container: String,
            action: String,
            #[serde(default, rename = "exitCode")]
            exit_code: Option<Value>,
            #[serde(default)]
            attributes: BTreeMap<String, String>,
        }
        let sh: Shorthand =
            serde_json::from_value(v).map_err(|e| bad(format!("invalid shorthand event: {e}")))?;
        let mut attrs = sh.attributes;
        if let Some(code) = sh.exit_code {
            attrs.insert(
                "exitCode".into(),
                code.as_str().map_or_else(|| code.to_string(), String::from),
            );
        }
        if sh.action == "die" {
            attrs.entry("exitCode".into()).or_insert_with(|| "0".into());
        }
        if sh.action.starts_with("exec_") {
            attrs
                .entry("execID".into())
                .or_insert_with(|| hex_id(unix_nanos(SystemTime::now()) as u64, 9));
        }
        match &self.data {
            Data::Synthetic(w) => {
                let mut w = w.write().unwrap();
                let serial = match w.lookup(&sh.container) {
                    Some(s) => s,
                    None if sh.action == "create" => w.create(Some(sh.container.clone()), false),
                    None => return Err(gone(&sh.container)),
                };
                Ok(w.act(serial, &sh.action, attrs).expect("container exists"))
            }
            Data::Fixtures(fx) => {
                let id = fx
                    .resolve(&sh.container)
                    .ok_or_else(|| gone(&sh.container))?;
                let m = &fx.meta[&id];
                let mut all = m.labels.clone();
                all.insert("name".into(), m.name.clone());
                all.extend(attrs);
                if sh.action == "destroy" {
                    fx.removed.write().unwrap().insert(id.clone());
                }
                Ok(container_event(&id, &m.image, all, &sh.action))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP handlers
// ---------------------------------------------------------------------------

async fn handle(State(sim): State<Arc<Sim>>, req: Request<Body>) -> Response<Body> {
    let (version, path) = split_version(req.uri().path());
    let mut resp = match path.strip_prefix("/_sim/") {
        Some(what) => control(&sim, what, req).await,
        None => engine(&sim, version, &path, req).await,
    };
    for (name, value) in &sim.headers {
        resp.headers_mut().insert(*name, value.clone());
    }
    resp
}

async fn engine(
    sim: &Arc<Sim>,
    version: Option<String>,
    path: &str,
    req: Request<Body>,
) -> Response<Body> {
    let (ep, key) = route(path);
    let method = req.method().as_str().to_string();
    let read_only = method == "GET" || method == "HEAD";
    sim.calls.record(ep, !read_only);
    debug!(%method, uri = %req.uri(), "engine call");
    let latency = load(&sim.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !read_only {
        warn!(%method, uri = %req.uri(), "non-GET/HEAD call to the engine API");
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("docker_sim: method {method} is not allowed on {path}"),
        );
    }
    if let Some(v) = version {
        let requested = parse_api(&v).unwrap_or_default();
        if requested < sim.min_api {
            return error(StatusCode::BAD_REQUEST, format!(
                "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                sim.min_api_version));
        }
        if requested > sim.api {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "client version {v} is too new. Maximum supported API version is {}",
                    sim.api_version
                ),
            );
        }
    }
    let fault = sim.take_fault(ep);
    if fault.is_some() {
        info!(endpoint = ep.name(), ?fault, "injecting fault");
    }
    match fault {
        Some(FaultKind::Status500) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "docker_sim: injected fault",
            )
        }
        Some(FaultKind::Hang) => return std::future::pending().await,
        Some(FaultKind::Close) if ep != Endpoint::Events => return aborted(),
        Some(FaultKind::Garbage) if ep != Endpoint::Events => {
            return respond(StatusCode::OK, "application/json", GARBAGE)
        }
        _ => {}
    }
    let params = parse_query(req.uri().query());
    let key = key.unwrap_or_default();
    match ep {
        Endpoint::Ping => {
            let mut resp = respond(StatusCode::OK, "text/plain; charset=utf-8", "OK");
            let h = resp.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Endpoint::Version => sim.version(),
        Endpoint::Info => sim.info(),
        Endpoint::List => sim.list(bool_param(&params, "all", false)),
        Endpoint::Inspect => sim.inspect(&key),
        Endpoint::Stats => stats(sim, &key, &params).await,
        Endpoint::Events => events(sim, &params, fault),
        Endpoint::Other => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

async fn stats(sim: &Arc<Sim>, key: &str, params: &HashMap<String, String>) -> Response<Body> {
    let Some(id) = sim.resolve(key) else {
        return no_such_container(key);
    };
    if bool_param(params, "stream", true) {
        // One sample a second, like the daemon, until the client goes away.
        let (tx, rx) = mpsc::channel(4);
        let sim = sim.clone();
        tokio::spawn(async move {
            while let Some(body) = sim.stats_body(&id, Some(Duration::from_secs(1))) {
                if tx.send(Ok(body)).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        return streaming(rx);
    }
    let one_shot = bool_param(params, "one-shot", false);
    let pre = (!one_shot).then(|| load(&sim.two_sample_delay));
    if let Some(delay) = pre {
        tokio::time::sleep(delay).await;
    }
    let tick = nanos(load(&sim.stats_tick));
    if tick > 0 {
        let now = unix_nanos(SystemTime::now()) as u64;
        tokio::time::sleep(Duration::from_nanos(tick - now % tick)).await;
    }
    match sim.stats_body(&id, pre) {
        Some(body) => respond(StatusCode::OK, "application/json", body),
        None => no_such_container(key),
    }
}

fn events(
    sim: &Arc<Sim>,
    params: &HashMap<String, String>,
    fault: Option<FaultKind>,
) -> Response<Body> {
    let ts = |k: &str| match params.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_timestamp(v)
            .map(Some)
            .ok_or(format!("invalid value for {k}: {v:?}")),
    };
    let (since, until) = match (ts("since"), ts("until")) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let filter = match EventFilter::parse(params.get("filters")) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (replay, mut rx) = sim.events.subscribe(since);
    let (tx, body) = mpsc::channel::<io::Result<Bytes>>(256);
    tokio::spawn(async move {
        match fault {
            Some(FaultKind::Close) => {
                return drop(
                    tx.send(Err(io::Error::other("docker_sim: events closed")))
                        .await,
                )
            }
            Some(FaultKind::Garbage) => drop(tx.send(Ok(Bytes::from_static(GARBAGE))).await),
            _ => {}
        }
        let in_range = |r: &EvRec| until.is_none_or(|u| r.time_nano <= u);
        for rec in replay.iter().filter(|r| in_range(r) && filter.matches(r)) {
            if tx.send(Ok(rec.line.clone())).await.is_err() {
                return;
            }
        }
        let now = unix_nanos(SystemTime::now());
        let deadline = match until {
            Some(u) if u <= now => return,
            Some(u) => Some(tokio::time::Instant::now() + Duration::from_nanos((u - now) as u64)),
            None => None,
        };
        let until_deadline = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until_deadline);
        loop {
            let msg = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut until_deadline => return,
                msg = rx.recv() => msg,
            };
            let out = match msg {
                Ok(StreamMsg::Event(rec)) if in_range(&rec) && filter.matches(&rec) => {
                    Ok(rec.line.clone())
                }
                Ok(StreamMsg::Event(_)) => continue,
                Ok(StreamMsg::Garbage) => Ok(Bytes::from_static(GARBAGE)),
                Ok(StreamMsg::Close) => Err(io::Error::other("docker_sim: events closed")),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(skipped = n, "an /events subscriber lagged behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let stop = out.is_err();
            if tx.send(out).await.is_err() || stop {
                return;
            }
        }
    });
    streaming(body)
}

async fn control(sim: &Arc<Sim>, what: &str, req: Request<Body>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let body = match axum::body::to_bytes(req.into_body(), 4 << 20).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
    };
    let ok = || json_value(StatusCode::OK, &json!({"ok": true}));
    match (method.as_str(), what) {
        ("GET", "calls") => json_value(StatusCode::OK, &sim.calls.snapshot()),
        ("POST", "reset-calls") => {
            sim.calls.reset();
            ok()
        }
        ("POST", "clear-faults") => {
            sim.faults.lock().unwrap().clear();
            ok()
        }
        ("POST", "event") => match sim.apply_event(&body) {
            Ok(ev) => {
                let mut line = serde_json::to_vec(&sim.events.publish(ev)).unwrap_or_default();
                line.push(b'\n');
                respond(StatusCode::OK, "application/json", line)
            }
            Err((status, msg)) => error(status, msg),
        },
        ("POST", "fault") => {
            let req: FaultReq = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
            };
            let endpoint = match req.endpoint.as_str() {
                "any" => None,
                name => match Endpoint::from_name(name) {
                    Some(e) => Some(e),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            format!("unknown endpoint {name:?}"),
                        )
                    }
                },
            };
            let open_streams = sim.events.tx.receiver_count();
            let immediate = endpoint == Some(Endpoint::Events)
                && matches!(req.kind, FaultKind::Close | FaultKind::Garbage);
            if immediate {
                let msg = if req.kind == FaultKind::Close {
                    StreamMsg::Close
                } else {
                    StreamMsg::Garbage
                };
                let _ = sim.events.tx.send(msg);
            }
            if req.count != Some(0) && !(immediate && req.count.is_none()) {
                sim.faults.lock().unwrap().push(Fault {
                    endpoint,
                    kind: req.kind,
                    remaining: req.count,
                });
            }
            info!(endpoint = req.endpoint, kind = ?req.kind, count = ?req.count, "fault set");
            json_value(
                StatusCode::OK,
                &json!({"ok": true, "open_streams": open_streams}),
            )
        }
        ("POST", "set") => {
            let v: HashMap<String, String> = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid settings: {e}")),
            };
            for (k, val) in v {
                let slot = match k.as_str() {
                    "latency" => &sim.latency,
                    "stats_tick" => &sim.stats_tick,
                    "two_sample_delay" => &sim.two_sample_delay,
                    _ => return error(StatusCode::BAD_REQUEST, format!("unknown setting {k:?}")),
                };
                match humantime::parse_duration(&val) {
                    Ok(d) => slot.store(nanos(d), Ordering::Relaxed),
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("{k}: {e}")),
                }
            }
            ok()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("unknown control endpoint {method} /_sim/{what}"),
        ),
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run(args: Args) -> Result<(), String> {
    let sim = Arc::new(Sim::new(&args)?);
    match std::fs::remove_file(&args.socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(format!(
                "removing stale socket {}: {e}",
                args.socket.display()
            ))
        }
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(&args.socket)
        .map_err(|e| format!("binding {}: {e}", args.socket.display()))?;
    if args.churn_per_sec > 0 || args.event_rate > 0.0 {
        tokio::spawn(drive(sim.clone(), args.churn_per_sec, args.event_rate));
    }
    let app = Router::new().fallback(handle).with_state(sim.clone());
    let mode = match &args.fixtures {
        Some(dir) => format!("fixtures {}", dir.display()),
        None => format!("{} synthetic containers", args.containers),
    };
    info!(socket = %args.socket.display(), %mode, api = sim.api_version, engine = sim.engine_version, "starting");
    println!("docker_sim listening on {}", args.socket.display());
    let _ = io::stdout().flush();
    let result = tokio::select! {
        r = axum::serve(listener, app).into_future() => r.map_err(|e| format!("serving: {e}")),
        () = shutdown_signal() => {
            info!("signal received, shutting down");
            Ok(())
        }
    };
    let _ = std::fs::remove_file(&args.socket);
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCKER_SIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_env_filter(filter)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("docker_sim: {e}");
            ExitCode::FAILURE
        }
    }
}
