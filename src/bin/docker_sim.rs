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
//! | `--fixtures DIR` | - | replay `DIR/{version,info,containers}.json`, `ping.headers` (optional), `inspect/<id>.json`, `stats/<id>.json` (both for every listed id), `events.jsonl`; a missing file fails at start |
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
//! | `--event-skew DUR` | 0s | every other event is stamped DUR before it is published, so consecutive `timeNano`s go backwards, as a busy daemon's do (it stamps an event, then publishes it) |
//! | `--ncpu N`, `--seed S` | 8, 42 | synthetic host CPUs; seed of ids and random choices |
//!
//! ## Engine API (any `/vX.Y` prefix, or none)
//!
//! `GET|HEAD /_ping`, `/version`, `/info`, `/containers/json?all=`, `/containers/{id|name}/json`,
//! `/containers/{id}/stats?stream=&one-shot=` (one sample a second while `stream` is
//! true), `/events?since=&until=&filters=` (filters honoured: `type`, `event`,
//! `container`). Unknown paths: 404. Any other method: 405, counted in `non_get`.
//! In fixtures mode `/version`, `/info` and the bodies are served as recorded, whatever
//! the flags say.
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
//!   "kind":"status500|hang|garbage|close","count":N}` (no count = until cleared): a 500,
//!   no answer ever, a 200 whose body is not JSON, or a dropped connection. On
//!   `events`, `close` and `garbage` act at once on the open streams (and on the next
//!   `count` subscriptions only if a count is given). It answers `{"ok":true,"open_streams":N}`.
//!   `POST /_sim/clear-faults`.
//! * `POST /_sim/set` `{"latency":"5ms","stats_tick":"1s","two_sample_delay":"1s","event_skew":"50us","event_rate":"0","churn_per_sec":"0"}`.
//!
//! Like the daemon, `/events?since=` replays the kept events by walking back from
//! the newest and stopping at the first one stamped before `since`; so with
//! out-of-order stamps a replay can stop short of an event stamped after `since`.
//! `GET /_sim/calls` also says how many events were published (`events_published`).

// The large `json!` bodies (inspect, info) need more macro recursion than the default.
#![recursion_limit = "256"]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::{pending, IntoFuture};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

type Reply = Response<Body>;
type Attrs = BTreeMap<String, String>;

const HISTORY_CAP: usize = 10_000;
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const GARBAGE: &[u8] = b"{\"Id\":\"deadbeef\",\"Names\":[\"/trunc<html>\x01 not json\n";
/// Endpoint names, as counted by `/_sim/calls` and named by faults.
const ENDPOINTS: [&str; 8] = [
    "ping", "version", "info", "list", "inspect", "stats", "events", "other",
];
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
    /// Every other event is stamped this long before it is published.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    event_skew: Duration,
    /// Synthetic: CPUs of the host.
    #[arg(long, default_value_t = 8)]
    ncpu: u32,
    /// Synthetic: seed of ids and random choices.
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
    let part = |i: u64| format!("{:016x}", splitmix((n.wrapping_mul(4) + i) ^ salt));
    (0..4).map(part).collect()
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

fn load(a: &AtomicU64) -> Duration {
    Duration::from_nanos(a.load(Relaxed))
}

/// Docker's `units.HumanDuration`, used in the list's `Status`.
fn human_duration(d: Duration) -> String {
    let (secs, mins, hours) = (d.as_secs(), d.as_secs() / 60, (d.as_secs() + 1800) / 3600);
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
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    Some(secs.parse::<i64>().ok()?.checked_mul(1_000_000_000)? + frac.parse::<i64>().ok()?)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let (b, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        let escaped = || Some(hex(*b.get(i + 1)?)? * 16 + hex(*b.get(i + 2)?)?);
        let (byte, used) = match b[i] {
            b'%' => escaped().map_or((b'%', 1), |v| (v, 3)),
            b'+' if plus_is_space => (b' ', 1),
            c => (c, 1),
        };
        out.push(byte);
        i += used;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let pair = |kv: &str| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k, true), percent_decode(v, true))
    };
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(pair)
        .collect()
}

/// Docker's `BoolValueOrDefault`: absent → default; "", 0, no, false, none → false.
fn bool_param(params: &HashMap<String, String>, key: &str, default: bool) -> bool {
    params.get(key).map_or(default, |v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    })
}

fn respond(status: StatusCode, ctype: &'static str, body: impl Into<Body>) -> Reply {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let ctype = HeaderValue::from_static(ctype);
    resp.headers_mut().insert(header::CONTENT_TYPE, ctype);
    resp
}

fn json_reply(status: StatusCode, v: &impl Serialize) -> Reply {
    let mut body = serde_json::to_vec(v).expect("serialising JSON");
    body.push(b'\n');
    respond(status, "application/json", body)
}

fn raw_json(body: Bytes) -> Reply {
    respond(StatusCode::OK, "application/json", body)
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Reply {
    json_reply(status, &json!({ "message": msg.to_string() }))
}

fn no_such_container(key: &str) -> Reply {
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
    ) -> Poll<Option<io::Result<hyper::body::Frame<Bytes>>>> {
        self.0
            .poll_recv(cx)
            .map(|m| m.map(|r| r.map(hyper::body::Frame::data)))
    }
}

fn streaming(rx: mpsc::Receiver<io::Result<Bytes>>) -> Reply {
    raw_json(Bytes::new()).map(|_| Body::new(ChannelBody(rx)))
}

fn closed_error() -> io::Error {
    io::Error::other("docker_sim: simulated connection close")
}

// ---------------------------------------------------------------------------
// Call accounting and faults
// ---------------------------------------------------------------------------

/// Maps a path (without version prefix) to an endpoint name and its container key.
fn route(path: &str) -> (&'static str, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (ep, key) = match segs.as_slice() {
        ["_ping"] => ("ping", ""),
        ["version"] => ("version", ""),
        ["info"] => ("info", ""),
        ["events"] => ("events", ""),
        ["containers", "json"] => ("list", ""),
        ["containers", id, "json"] => ("inspect", *id),
        ["containers", id, "stats"] => ("stats", *id),
        _ => ("other", ""),
    };
    (ep, percent_decode(key, false))
}

#[derive(Default)]
struct Calls {
    by: [AtomicU64; 8],
    non_get: AtomicU64,
}

impl Calls {
    fn record(&self, ep: &str, non_get: bool) {
        let i = ENDPOINTS.iter().position(|e| *e == ep).unwrap_or(7);
        self.by[i].fetch_add(1, Relaxed);
        self.non_get.fetch_add(u64::from(non_get), Relaxed);
    }

    fn snapshot(&self) -> Value {
        let counts = ENDPOINTS
            .iter()
            .zip(&self.by)
            .map(|(e, n)| (e.to_string(), n.load(Relaxed)));
        let by: BTreeMap<String, u64> = counts.collect();
        let total: u64 = by.values().sum();
        json!({"total": total, "by_endpoint": by, "non_get": self.non_get.load(Relaxed)})
    }

    fn reset(&self) {
        self.by
            .iter()
            .chain([&self.non_get])
            .for_each(|n| n.store(0, Relaxed));
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

/// A fault as posted to `/_sim/fault`; `count` is decremented as calls are hit.
#[derive(Deserialize, Debug)]
struct Fault {
    endpoint: String,
    kind: FaultKind,
    count: Option<u64>,
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
    attributes: Attrs,
}

fn container_event(id: &str, image: &str, mut attributes: Attrs, action: &str) -> Event {
    attributes.insert("image".into(), image.into());
    let actor = Actor {
        id: id.into(),
        attributes,
    };
    Event {
        status: Some(action.into()),
        id: Some(id.into()),
        from: Some(image.into()),
        typ: "container".into(),
        action: action.into(),
        actor,
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
    /// `--event-skew` in nanoseconds.
    skew: AtomicU64,
    /// Events published so far.
    published: AtomicU64,
}

impl EventHub {
    fn new(initial: Vec<Arc<EvRec>>, skew: Duration) -> Self {
        let skip = initial.len().saturating_sub(HISTORY_CAP);
        let history = initial.into_iter().skip(skip).collect();
        let tx = broadcast::channel(65_536).0;
        Self {
            history: Mutex::new(history),
            tx,
            skew: AtomicU64::new(nanos(skew)),
            published: AtomicU64::new(0),
        }
    }

    fn publish(&self, mut ev: Event) -> Event {
        let n = self.published.fetch_add(1, Relaxed);
        if ev.time_nano == 0 {
            // Every other event was stamped `skew` before it is published.
            let skew = if n % 2 == 1 {
                self.skew.load(Relaxed)
            } else {
                0
            };
            ev.time_nano = match ev.time {
                0 => unix_nanos(SystemTime::now()) - skew as i64,
                t => t * 1_000_000_000,
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
        let (time_nano, line) = (ev.time_nano, line.into());
        let rec = Arc::new(EvRec {
            time_nano,
            line,
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

    /// A live receiver, plus the kept events from `since` (if given) as the
    /// daemon finds them: walking back from the newest, up to the first one
    /// stamped before `since`.
    fn subscribe(&self, since: Option<i64>) -> (Vec<Arc<EvRec>>, broadcast::Receiver<StreamMsg>) {
        let history = self.history.lock().unwrap();
        let mut replay: Vec<_> = match since {
            Some(s) => history
                .iter()
                .rev()
                .take_while(|r| r.time_nano >= s)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        replay.reverse();
        (replay, self.tx.subscribe())
    }
}

/// The `filters` of `/events`; `type`, `event` and `container` are honoured.
struct EventFilter(HashMap<String, Vec<String>>);

impl EventFilter {
    fn parse(raw: Option<&String>) -> Result<Self, String> {
        let raw = raw.filter(|s| !s.is_empty()).map_or("{}", |s| s.as_str());
        let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
        let obj = v.as_object().ok_or("invalid filter: not an object")?;
        // Values are lists (`{"type":["container"]}`) or, from old clients, maps to `true`.
        let values = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                Value::Object(m) => m.keys().cloned().collect(),
                _ => Vec::new(),
            }
        };
        Ok(Self(
            obj.iter().map(|(k, v)| (k.clone(), values(v))).collect(),
        ))
    }

    fn matches(&self, rec: &EvRec) -> bool {
        let Some(ev) = &rec.ev else { return true };
        let base = ev.action.split(':').next().unwrap_or_default();
        let name = ev.actor.attributes.get("name");
        let allows = |key: &str, hit: &dyn Fn(&String) -> bool| {
            self.0
                .get(key)
                .is_none_or(|vals| vals.is_empty() || vals.iter().any(hit))
        };
        allows("type", &|t| *t == ev.typ)
            && allows("event", &|e| *e == ev.action || e == base)
            && allows("container", &|c| {
                ev.actor.id.starts_with(c.as_str()) || name == Some(c)
            })
    }
}

// ---------------------------------------------------------------------------
// Fixture mode
// ---------------------------------------------------------------------------

/// A container of `containers.json`, with its element's exact bytes.
struct Listed {
    id: String,
    names: Vec<String>,
    image: String,
    labels: Attrs,
    /// Listed with `all=false` (running, paused or restarting).
    up: bool,
    raw: Bytes,
}

struct Fixtures {
    version: Bytes,
    info: Bytes,
    list: Bytes,
    /// None when `containers.json` is not a JSON array (then it is always served as is).
    listed: Option<Vec<Listed>>,
    inspect: HashMap<String, Bytes>,
    stats: HashMap<String, Bytes>,
    removed: RwLock<HashSet<String>>,
    api_version: Option<String>,
    engine_version: Option<String>,
}

/// The exact bytes of each element of a top-level JSON array.
fn split_json_array(raw: &[u8]) -> Option<Vec<&[u8]>> {
    let skip_ws = |i: usize| {
        i + raw[i..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count()
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
        let de = serde_json::Deserializer::from_slice(&raw[i..]);
        let mut values = de.into_iter::<serde::de::IgnoredAny>();
        values.next()?.ok()?;
        let end = i + values.byte_offset();
        out.push(&raw[i..end]);
        i = skip_ws(end);
        match raw.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b']') => return Some(out),
            _ => return None,
        }
    }
}

impl Fixtures {
    /// Loads a fixture set and the recorded events; every file of the layout must exist.
    fn load(dir: &Path) -> Result<(Self, Vec<Arc<EvRec>>), String> {
        let missing = |p: PathBuf, e: io::Error| format!("fixture {}: {e}", p.display());
        let read = |rel: &str| {
            let path = dir.join(rel);
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|e| missing(path, e))
        };
        let (version, info, list) = (
            read("version.json")?,
            read("info.json")?,
            read("containers.json")?,
        );
        let version_json: Value = serde_json::from_slice(&version).unwrap_or_default();
        let ping = std::fs::read_to_string(dir.join("ping.headers")).unwrap_or_default();
        let api_version = ping
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.trim().to_string())
            .or_else(|| version_json["ApiVersion"].as_str().map(String::from));

        let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let listed = split_json_array(&list).map(|elems| {
            let parsed = elems
                .into_iter()
                .map(|raw| (raw, serde_json::from_slice(raw)));
            let parsed = parsed.filter_map(|(raw, v): (_, Result<Value, _>)| Some((raw, v.ok()?)));
            let to_listed = |(raw, v): (&[u8], Value)| Listed {
                id: str_of(&v["Id"]),
                names: v["Names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(str_of)
                    .collect(),
                image: str_of(&v["Image"]),
                labels: serde_json::from_value(v["Labels"].clone()).unwrap_or_default(),
                up: matches!(
                    v["State"].as_str(),
                    Some("running" | "paused" | "restarting")
                ),
                raw: Bytes::copy_from_slice(raw),
            };
            parsed.map(to_listed).collect::<Vec<_>>()
        });

        let (mut inspect, mut stats) = (HashMap::new(), HashMap::new());
        for (sub, map) in [("inspect", &mut inspect), ("stats", &mut stats)] {
            let entries =
                std::fs::read_dir(dir.join(sub)).map_err(|e| missing(dir.join(sub), e))?;
            for file in entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
            {
                if let Some(id) = file.strip_suffix(".json") {
                    map.insert(id.to_string(), read(&format!("{sub}/{file}"))?);
                }
            }
        }
        for c in listed.iter().flatten() {
            for (sub, map) in [("inspect", &inspect), ("stats", &stats)] {
                if !map.contains_key(&c.id) {
                    let path = dir.join(format!("{sub}/{}.json", c.id));
                    return Err(format!(
                        "fixture {} is missing (the container is listed)",
                        path.display()
                    ));
                }
            }
        }

        // Kept byte-for-byte; an unparsable line keeps the time of the line before it.
        let (mut history, mut time_nano) = (Vec::new(), 0);
        for line in read("events.jsonl")?
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
        {
            let ev: Option<Event> = serde_json::from_slice(line).ok();
            if let Some(ev) = &ev {
                time_nano = if ev.time_nano != 0 {
                    ev.time_nano
                } else {
                    ev.time * 1_000_000_000
                };
            }
            let line = Bytes::from([line, b"\n"].concat());
            history.push(Arc::new(EvRec {
                time_nano,
                line,
                ev,
            }));
        }
        let engine_version = version_json["Version"].as_str().map(String::from);
        let removed = RwLock::default();
        let fixtures = Self {
            version,
            info,
            list,
            listed,
            inspect,
            stats,
            removed,
            api_version,
            engine_version,
        };
        Ok((fixtures, history))
    }

    /// Resolves an id, a name or a unique id prefix to a (not destroyed) container id.
    fn resolve(&self, key: &str) -> Option<String> {
        let key = key.trim_start_matches('/');
        let by_name = self
            .listed
            .iter()
            .flatten()
            .find(|c| c.names.iter().any(|n| n.trim_start_matches('/') == key));
        let id = match by_name {
            _ if self.inspect.contains_key(key) => Some(key.to_string()),
            Some(c) => Some(c.id.clone()),
            None => {
                let mut hits = self
                    .inspect
                    .keys()
                    .filter(|id| !key.is_empty() && id.starts_with(key));
                hits.next().filter(|_| hits.next().is_none()).cloned()
            }
        };
        id.filter(|id| !self.removed.read().unwrap().contains(id))
    }

    fn list(&self, all: bool) -> Bytes {
        let removed = self.removed.read().unwrap();
        match &self.listed {
            Some(listed) if !all || !removed.is_empty() => {
                let keep = listed
                    .iter()
                    .filter(|c| (all || c.up) && !removed.contains(&c.id));
                let elems: Vec<&[u8]> = keep.map(|c| &c.raw[..]).collect();
                [&b"["[..], &elems.join(&b","[..]), b"]\n"].concat().into()
            }
            _ => self.list.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Synthetic mode
// ---------------------------------------------------------------------------

/// A synthetic container. `status` is the daemon's word: created, running, paused,
/// restarting or exited. Counters are functions of the time spent running.
struct Container {
    serial: u64,
    hash: u64,
    id: String,
    name: String,
    image: &'static str,
    project: Option<String>,
    service: &'static str,
    created: SystemTime,
    status: &'static str,
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
    /// Time spent running before `running_since`.
    busy_before: Duration,
    running_since: Option<Instant>,
}

impl Container {
    fn active_secs(&self, at: Instant) -> f64 {
        let running = self.running_since.map(|s| at.saturating_duration_since(s));
        (self.busy_before + running.unwrap_or_default()).as_secs_f64()
    }

    fn freeze(&mut self, now: Instant) {
        if let Some(since) = self.running_since.take() {
            self.busy_before += now.saturating_duration_since(since);
        }
    }

    /// Listed with `all=false`, and has live stats.
    fn is_up(&self) -> bool {
        matches!(self.status, "running" | "paused" | "restarting")
    }

    fn labels(&self) -> Attrs {
        let title = self.image.split(':').next().unwrap_or_default();
        let mut l = Attrs::from([("org.opencontainers.image.title".into(), title.into())]);
        if let Some(p) = &self.project {
            let compose = [
                ("project", p.as_str()),
                ("service", self.service),
                ("container-number", "1"),
                ("oneoff", "False"),
                ("version", "2.24.6"),
                ("project.working_dir", "/srv/compose"),
            ];
            l.extend(compose.map(|(k, v)| (format!("com.docker.compose.{k}"), v.to_string())));
        }
        l
    }

    fn network(&self) -> String {
        self.project
            .as_ref()
            .map_or("bridge".into(), |p| format!("{p}_default"))
    }

    /// The list's human `Status`, as in Docker's `State.String()`.
    fn status_text(&self, now: SystemTime) -> String {
        let ago = |t: Option<SystemTime>| {
            human_duration(
                t.and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default(),
            )
        };
        let (code, up, down) = (self.exit_code, ago(self.started_at), ago(self.finished_at));
        let health = match self.health {
            Some("starting") => " (health: starting)".to_string(),
            Some(h) => format!(" ({h})"),
            None => String::new(),
        };
        match self.status {
            "created" => "Created".into(),
            "paused" => format!("Up {up} (Paused)"),
            "restarting" => format!("Restarting ({code}) {down} ago"),
            "exited" => format!("Exited ({code}) {down} ago"),
            _ => format!("Up {up}{health}"),
        }
    }
}

struct World {
    ncpu: u32,
    cgroup: u8,
    start: Instant,
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
    fn new(args: &Args) -> Self {
        let mut w = Self {
            ncpu: args.ncpu.max(1),
            cgroup: args.cgroup_version,
            start: Instant::now(),
            seed: args.seed,
            rng: splitmix(args.seed) | 1,
            next_serial: 0,
            containers: BTreeMap::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            restarts: Vec::new(),
        };
        for _ in 0..args.containers {
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

    /// Creates a container: `initial` ones get the deterministic mix of states and
    /// ages; later ones are fresh (`created`, to be started).
    fn create(&mut self, name: Option<String>, initial: bool) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let h = splitmix(serial ^ self.seed);
        let (now, now_i) = (SystemTime::now(), Instant::now());
        // 75% running, 10% exited, 5% paused, 2.5% restarting, 2.5% created.
        let status = match serial % 20 {
            _ if !initial => "created",
            15 | 16 => "exited",
            17 => "paused",
            18 if serial % 40 == 18 => "restarting",
            18 => "created",
            _ => "running",
        };
        let age = Duration::from_secs(3600 + h % (9 * 86400));
        let created = if initial { now - age } else { now };
        let started_at = (status != "created").then(|| created + Duration::from_secs(2));
        let finished_at = matches!(status, "exited" | "restarting")
            .then(|| now - Duration::from_secs((h >> 16) % 3500));
        let oom_killed = status == "exited" && serial % 40 == 16;
        let exit_code = match status {
            _ if oom_killed => 137,
            "exited" | "restarting" => [0, 1, 2, 137, 143][(h >> 8) as usize % 5],
            _ => 0,
        };
        let health = (serial % 3 == 0).then_some(match status {
            "running" if serial % 30 == 21 => "unhealthy",
            "running" | "paused" => "healthy",
            "created" => "starting",
            _ => "unhealthy",
        });
        let nano_cpus = if serial % 5 == 0 {
            500_000_000 * (1 + h % 4)
        } else {
            0
        };
        let max_rate = if nano_cpus > 0 {
            nano_cpus as f64 / 1e9
        } else {
            f64::MAX
        };
        let until = if matches!(status, "running" | "paused") {
            Some(now)
        } else {
            finished_at
        };
        let busy = started_at
            .zip(until)
            .and_then(|(s, u)| u.duration_since(s).ok());
        let c = Container {
            serial,
            hash: h,
            id: hex_id(serial, self.seed),
            name: name.unwrap_or_else(|| format!("sim-{serial:05}")),
            image: IMAGES[h as usize % IMAGES.len()],
            project: (serial % 10 != 9).then(|| format!("proj{:02}", serial / 25 % 40)),
            service: SERVICES[serial as usize % SERVICES.len()],
            created,
            status,
            exit_code,
            oom_killed,
            started_at,
            finished_at,
            health,
            restart_count: if status == "restarting" { 3 + h % 5 } else { 0 },
            mem_limit: if serial % 4 == 0 {
                256 << (20 + h % 3)
            } else {
                0
            },
            nano_cpus,
            pids_limit: (serial % 7 == 0).then(|| 100 + h % 400),
            cpu_rate: (0.005 + ((h >> 20) % 1000) as f64 / 2000.0).min(max_rate),
            busy_before: busy.unwrap_or_default(),
            running_since: (status == "running").then_some(now_i),
        };
        self.by_id.insert(c.id.clone(), serial);
        self.by_name.insert(c.name.clone(), serial);
        self.containers.insert(serial, c);
        serial
    }

    /// Resolves an id, a name or a unique id prefix.
    fn lookup(&self, key: &str) -> Option<u64> {
        let key = key.trim_start_matches('/');
        if let Some(s) = self.by_id.get(key).or_else(|| self.by_name.get(key)) {
            return Some(*s);
        }
        let mut hits = self
            .by_id
            .iter()
            .filter(|(id, _)| !key.is_empty() && id.starts_with(key));
        hits.next()
            .filter(|_| hits.next().is_none())
            .map(|(_, s)| *s)
    }

    fn get(&self, key: &str) -> Option<&Container> {
        self.containers.get(&self.lookup(key)?)
    }

    /// A random container matching `pred` (a few tries, then the first match).
    fn pick(&mut self, pred: impl Fn(&Container) -> bool) -> Option<u64> {
        for _ in 0..8 {
            let r = self.rand() % self.next_serial.max(1);
            let mut at_or_after = self.containers.range(r..).chain(&self.containers);
            if let Some((s, _)) = at_or_after.next().filter(|(_, c)| pred(c)) {
                return Some(*s);
            }
        }
        self.containers.values().find(|c| pred(c)).map(|c| c.serial)
    }

    /// Builds the event for `action` on a container and applies its state change.
    fn act(&mut self, serial: u64, action: &str, extra: Attrs) -> Option<Event> {
        let now = Instant::now();
        let c = self.containers.get_mut(&serial)?;
        let mut attrs = c.labels();
        attrs.insert("name".into(), c.name.clone());
        attrs.extend(extra);
        let exit_code = attrs.get("exitCode").and_then(|e| e.parse().ok());
        let ev = container_event(&c.id, c.image, attrs, action);
        let (base, detail) = action.split_once(':').unwrap_or((action, ""));
        match base {
            "start" | "restart" | "unpause" => {
                if base != "unpause" || c.started_at.is_none() {
                    c.started_at = Some(SystemTime::now());
                    c.oom_killed = false;
                    c.health = c.health.map(|_| "starting");
                }
                c.restart_count += u64::from(base == "restart");
                c.status = "running";
                c.running_since.get_or_insert(now);
            }
            "die" | "pause" => {
                c.freeze(now);
                if base == "die" {
                    (c.status, c.exit_code) = ("exited", exit_code.unwrap_or(0));
                    c.finished_at = Some(SystemTime::now());
                } else {
                    c.status = "paused";
                }
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

    /// One second of `--churn-per-sec`: remove `r` containers, create and start `r`.
    fn churn(&mut self, r: u32, out: &mut Vec<Event>) {
        let attr = |k: &str, v: &str| Attrs::from([(k.to_string(), v.to_string())]);
        for _ in 0..r {
            let Some(s) = self.pick(|_| true) else { break };
            if self.containers[&s].is_up() {
                out.extend(self.act(s, "kill", attr("signal", "9")));
                out.extend(self.act(s, "die", attr("exitCode", "137")));
            }
            out.extend(self.act(s, "destroy", Attrs::new()));
        }
        for _ in 0..r {
            let s = self.create(None, false);
            out.extend(self.act(s, "create", Attrs::new()));
            out.extend(self.act(s, "start", Attrs::new()));
        }
    }

    /// Some `--event-rate` activity (a health check, or now and then a die that is
    /// followed by a start 2 s later); returns how many events it produced.
    fn activity(&mut self, out: &mut Vec<Event>) -> usize {
        let Some(s) = self.pick(|c| c.status == "running") else {
            return 0;
        };
        let mut attrs = Attrs::new();
        if self.rand() % 100 < 3 {
            let code = [0, 1, 137, 143][(self.rand() % 4) as usize];
            attrs.insert("exitCode".into(), code.to_string());
            out.extend(self.act(s, "die", attrs));
            self.restarts
                .push((Instant::now() + Duration::from_secs(2), s));
            return 1;
        }
        attrs.insert("execID".into(), hex_id(self.rand(), 7));
        out.extend(self.act(s, "exec_create: /bin/sh -c true", attrs.clone()));
        out.extend(self.act(s, "exec_start: /bin/sh -c true", attrs.clone()));
        attrs.insert("exitCode".into(), "0".into());
        out.extend(self.act(s, "exec_die", attrs));
        if self.containers[&s].health.is_none() {
            return 3;
        }
        out.extend(self.act(s, "health_status: healthy", Attrs::new()));
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
                .is_some_and(|c| c.status == "exited")
            {
                out.extend(self.act(s, "start", Attrs::new()));
            }
        }
    }

    fn endpoint_settings(&self, c: &Container) -> Value {
        let up = c.running_since.is_some() || c.status == "paused";
        let s = c.serial;
        let ip = format!(
            "172.{}.{}.{}",
            18 + s / 65_000 % 10,
            s / 250 % 256,
            s % 250 + 2
        );
        json!({
            "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": hex_id(s / 25, 0x2222),
            "EndpointID": if up { hex_id(s, 0x3333) } else { String::new() },
            "Gateway": if up { "172.18.0.1" } else { "" }, "IPAddress": if up { ip } else { String::new() },
            "IPPrefixLen": if up { 16 } else { 0 }, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": null,
        })
    }

    fn list_entry(&self, c: &Container, now: SystemTime) -> Value {
        let (net, image_id) = (
            c.network(),
            format!("sha256:{}", hex_id(c.hash % 6, 0x1111)),
        );
        json!({
            "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": image_id,
            "Command": "/docker-entrypoint.sh", "Created": unix_nanos(c.created) / 1_000_000_000,
            "Ports": [], "Labels": c.labels(), "State": c.status, "Status": c.status_text(now),
            "HostConfig": {"NetworkMode": if c.project.is_some() { net.as_str() } else { "default" }},
            "NetworkSettings": {"Networks": {net.as_str(): self.endpoint_settings(c)}},
            "Mounts": [],
        })
    }

    fn inspect(&self, c: &Container) -> Value {
        let (running, unhealthy) = (c.is_up(), c.health == Some("unhealthy"));
        let t = |t: Option<SystemTime>| t.map_or(ZERO_TIME.to_string(), rfc3339);
        let mut state = json!({
            "Status": c.status, "Running": running, "Paused": c.status == "paused",
            "Restarting": c.status == "restarting", "OOMKilled": c.oom_killed, "Dead": false,
            "Pid": if running { 10_000 + c.serial } else { 0 }, "ExitCode": c.exit_code, "Error": "",
            "StartedAt": t(c.started_at), "FinishedAt": t(c.finished_at),
        });
        let mut config = json!({
            "Hostname": &c.id[..12], "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/docker-entrypoint.sh"], "Image": c.image, "Volumes": null, "WorkingDir": "",
            "Entrypoint": null, "OnBuild": null, "Labels": c.labels(),
        });
        if let Some(h) = c.health {
            let ago = |s: u64| rfc3339(SystemTime::now() - Duration::from_secs(s));
            state["Health"] = json!({"Status": h, "FailingStreak": if unhealthy { 3 } else { 0 }, "Log": [
                {"Start": ago(5), "End": ago(4), "ExitCode": i32::from(unhealthy), "Output": ""},
            ]});
            config["Healthcheck"] =
                json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000u64});
        }
        let (dir, net) = (format!("/var/lib/docker/containers/{}", c.id), c.network());
        let sandbox = hex_id(c.serial, 0x4444);
        json!({
            "Id": c.id, "Created": rfc3339(c.created), "Path": "/docker-entrypoint.sh", "Args": [],
            "State": state, "Image": format!("sha256:{}", hex_id(c.hash % 6, 0x1111)),
            "ResolvConfPath": format!("{dir}/resolv.conf"), "HostnamePath": format!("{dir}/hostname"),
            "HostsPath": format!("{dir}/hosts"), "LogPath": format!("{dir}/{}-json.log", c.id),
            "Name": format!("/{}", c.name), "RestartCount": c.restart_count, "Driver": "overlay2",
            "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": null,
            "HostConfig": {
                "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
                "NetworkMode": if c.project.is_some() { net.as_str() } else { "default" },
                "RestartPolicy": {"Name": if c.project.is_some() { "unless-stopped" } else { "no" }, "MaximumRetryCount": 0},
                "AutoRemove": false, "CgroupnsMode": if self.cgroup == 2 { "private" } else { "host" },
                "IpcMode": "private", "Privileged": false, "ReadonlyRootfs": false, "ShmSize": 67_108_864,
                "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": c.mem_limit, "NanoCpus": c.nano_cpus,
                "CgroupParent": "", "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "",
                "MemoryReservation": 0, "MemorySwap": c.mem_limit * 2, "MemorySwappiness": null,
                "OomKillDisable": false, "PidsLimit": c.pids_limit, "Ulimits": [],
            },
            "GraphDriver": {"Data": null, "Name": "overlay2"},
            "Mounts": [], "Config": config,
            "NetworkSettings": {
                "Bridge": "", "SandboxID": sandbox, "Ports": {},
                "SandboxKey": format!("/var/run/docker/netns/{}", &sandbox[..12]),
                "Networks": {net.as_str(): self.endpoint_settings(c)},
            },
        })
    }

    fn cpu_stats(&self, c: &Container, at: Instant) -> Value {
        let active = c.active_secs(at);
        let total = (active * c.cpu_rate * 1e9) as u64;
        let ticks = total / 10_000_000; // user/kernel times have 10 ms resolution
        let mut usage = json!({
            "total_usage": total, "usage_in_kernelmode": ticks * 2_000_000, "usage_in_usermode": ticks * 8_000_000,
        });
        if self.cgroup == 1 {
            let weights: Vec<u64> = (0..u64::from(self.ncpu))
                .map(|i| 1 + (c.hash >> (i * 4 % 60)) % 16)
                .collect();
            let unit = total / weights.iter().sum::<u64>();
            let mut per: Vec<u64> = weights.iter().map(|w| unit * w).collect();
            per[0] += total - per.iter().sum::<u64>();
            usage["percpu_usage"] = json!(per);
        }
        let uptime = BOOT_UPTIME_SECS + at.saturating_duration_since(self.start).as_secs_f64();
        let periods = if c.nano_cpus > 0 {
            (active * 10.0) as u64
        } else {
            0
        };
        json!({
            "cpu_usage": usage, "system_cpu_usage": (uptime * f64::from(self.ncpu) * 1e9) as u64,
            "online_cpus": self.ncpu, "throttling_data": {
                "periods": periods, "throttled_periods": periods / 20, "throttled_time": periods / 20 * 3_000_000,
            },
        })
    }

    /// A stats body; `pre` is the interval to the precpu sample (None: one-shot).
    fn stats(&self, c: &Container, pre: Option<Duration>) -> Value {
        let zero_cpu = json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
        let (name, h) = (format!("/{}", c.name), c.hash);
        if c.running_since.is_none() && c.status != "paused" {
            // What the daemon answers for a container that is not running.
            return json!({
                "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {}, "num_procs": 0, "storage_stats": {},
                "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
                    "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                    "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
                "cpu_stats": zero_cpu, "precpu_stats": zero_cpu, "memory_stats": {}, "name": name, "id": c.id,
            });
        }
        let (now, wall) = (Instant::now(), SystemTime::now());
        let a = c.active_secs(now);
        let limit = if c.mem_limit > 0 {
            c.mem_limit
        } else {
            MEM_TOTAL
        };
        let wobble = ((a as u64 / 10) % 16) * (64 << 10);
        let usage = ((8 << 20) + h % (200 << 20) + wobble).min(limit / 10 * 9);
        let (file, anon, pgfault) = (usage / 4, usage - usage / 4, (a * 50.0) as u64 + h % 10_000);
        let memory_stats = if self.cgroup == 1 {
            let mut s = json!({
                "active_anon": anon / 2, "active_file": file / 2, "cache": file, "dirty": 0,
                "inactive_anon": anon - anon / 2, "inactive_file": file - file / 2, "mapped_file": file / 8,
                "pgfault": pgfault, "pgmajfault": pgfault / 1000, "pgpgin": pgfault / 2, "pgpgout": pgfault / 3,
                "rss": anon, "rss_huge": 0, "unevictable": 0, "writeback": 0,
            });
            let map = s.as_object_mut().expect("an object");
            let totals: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (format!("total_{k}"), v.clone()))
                .collect();
            map.extend(totals);
            map.insert("hierarchical_memory_limit".into(), json!(limit));
            map.insert(
                "hierarchical_memsw_limit".into(),
                json!(limit.saturating_mul(2)),
            );
            json!({"usage": usage, "max_usage": usage + usage / 8, "stats": s, "limit": limit})
        } else {
            json!({"usage": usage, "limit": limit, "stats": {
                "active_anon": anon / 2, "active_file": file / 2, "anon": anon, "anon_thp": 0, "file": file,
                "file_dirty": 0, "file_mapped": file / 8, "file_writeback": 0, "inactive_anon": anon - anon / 2,
                "inactive_file": file - file / 2, "kernel_stack": 16_384, "pgactivate": pgfault / 40,
                "pgdeactivate": 0, "pgfault": pgfault, "pglazyfree": 0, "pglazyfreed": 0,
                "pgmajfault": pgfault / 1000, "pgrefill": 0, "pgscan": 0, "pgsteal": 0, "shmem": 0,
                "slab": usage / 50, "slab_reclaimable": usage / 100, "slab_unreclaimable": usage / 100,
                "sock": 0, "thp_collapse_alloc": 0, "thp_fault_alloc": 0, "unevictable": 0,
                "workingset_activate": 0, "workingset_nodereclaim": 0, "workingset_refault": 0,
            }})
        };
        let (rd, wr) = (
            (a * (4096 * (h % 8)) as f64) as u64,
            (a * (4096 * (h >> 3 & 15)) as f64) as u64,
        );
        let e = |op: &str, v: u64| json!({"major": 8, "minor": 0, "op": op, "value": v});
        let blkio_stats = if self.cgroup == 1 {
            let ops = |r, w| {
                json!([
                    e("Read", r),
                    e("Write", w),
                    e("Sync", w),
                    e("Async", r),
                    e("Discard", 0),
                    e("Total", r + w)
                ])
            };
            json!({
                "io_service_bytes_recursive": ops(rd, wr), "io_serviced_recursive": ops(rd / 4096, wr / 4096),
                "io_queue_recursive": [], "io_service_time_recursive": [], "io_wait_time_recursive": [],
                "io_merged_recursive": [], "io_time_recursive": [], "sectors_recursive": [],
            })
        } else {
            json!({
                "io_service_bytes_recursive": [e("read", rd), e("write", wr)], "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
                "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null,
            })
        };
        let rx = (a * (100 + h % 50_000) as f64) as u64;
        let mut pids = json!({"current": 1 + h % 20});
        if let Some(l) = c.pids_limit {
            pids["limit"] = json!(l);
        }
        let precpu = pre
            .and_then(|d| now.checked_sub(d))
            .map_or(zero_cpu, |t| self.cpu_stats(c, t));
        json!({
            "read": rfc3339(wall), "preread": pre.map_or(ZERO_TIME.to_string(), |d| rfc3339(wall - d)),
            "pids_stats": pids, "blkio_stats": blkio_stats, "num_procs": 0, "storage_stats": {},
            "cpu_stats": self.cpu_stats(c, now), "precpu_stats": precpu,
            "memory_stats": memory_stats, "name": name, "id": c.id,
            "networks": {"eth0": {
                "rx_bytes": rx, "rx_packets": rx / 800, "rx_errors": 0, "rx_dropped": rx / 10_000_000,
                "tx_bytes": rx / 2, "tx_packets": rx / 1200, "tx_errors": 0, "tx_dropped": 0,
            }},
        })
    }

    fn info(&self, sim: &Sim) -> Value {
        let count = |s: &[&str]| {
            self.containers
                .values()
                .filter(|c| s.contains(&c.status))
                .count()
        };
        let (all, running, paused) = (
            self.containers.len(),
            count(&["running", "restarting"]),
            count(&["paused"]),
        );
        let (listeners, v2) = (sim.events.tx.receiver_count(), self.cgroup == 2);
        json!({
            "ID": "SIM0:D0CK:ERSI:MULA:TED0:ENGI:NE00:0000:0000:0000:0000:0000",
            "Containers": all, "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": all - running - paused, "Images": IMAGES.len(), "Driver": "overlay2",
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true,
            "CPUSet": true, "PidsLimit": true, "OomKillDisable": !v2, "IPv4Forwarding": true, "Debug": false,
            "NFd": 40 + listeners, "NGoroutines": 50 + 3 * listeners, "SystemTime": rfc3339(SystemTime::now()),
            "LoggingDriver": "json-file", "CgroupDriver": if v2 { "systemd" } else { "cgroupfs" },
            "CgroupVersion": if v2 { "2" } else { "1" }, "NEventsListener": listeners,
            "KernelVersion": "6.1.0-18-amd64", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSVersion": "12", "OSType": "linux", "Architecture": "x86_64", "NCPU": self.ncpu, "MemTotal": MEM_TOTAL,
            "DockerRootDir": "/var/lib/docker", "Name": "docker-sim", "Labels": [], "ExperimentalBuild": false,
            "ServerVersion": sim.engine_version, "DefaultRuntime": "runc", "LiveRestoreEnabled": false,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                "Error": "", "RemoteManagers": null},
            "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": null,
        })
    }
}

/// The `--churn-per-sec` / `--event-rate` driver (synthetic mode), ten ticks a second.
async fn drive(sim: Arc<Sim>) {
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
            let churn = sim.churn_per_sec.load(Relaxed);
            if churn > 0 && n % 10 == 0 {
                w.churn(u32::try_from(churn).unwrap_or(u32::MAX), &mut out);
            }
            budget += f64::from_bits(sim.event_rate.load(Relaxed)) / 10.0;
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
    /// Api-Version, Docker-Experimental, Ostype and Server, on every answer.
    headers: Vec<(&'static str, HeaderValue)>,
    latency: AtomicU64,
    stats_tick: AtomicU64,
    two_sample_delay: AtomicU64,
    calls: Calls,
    faults: Mutex<Vec<Fault>>,
    events: EventHub,
    /// Synthetic: events per second (`f64` bits) and containers replaced per
    /// second, settable through `/_sim/set`.
    event_rate: AtomicU64,
    churn_per_sec: AtomicU64,
    data: Data,
}

impl Sim {
    fn new(args: &Args) -> Result<Self, String> {
        let (data, history) = match &args.fixtures {
            Some(dir) => {
                let (fx, history) = Fixtures::load(dir)?;
                (Data::Fixtures(Box::new(fx)), history)
            }
            None => (Data::Synthetic(RwLock::new(World::new(args))), Vec::new()),
        };
        let fx = match &data {
            Data::Fixtures(fx) => Some(fx),
            Data::Synthetic(_) => None,
        };
        let from_fx = |f: fn(&Fixtures) -> &Option<String>| fx.and_then(|fx| f(fx).clone());
        let api_version = args
            .api_version
            .clone()
            .or_else(|| from_fx(|f| &f.api_version));
        let api_version = api_version.unwrap_or_else(|| "1.44".into());
        let engine_version = args
            .engine_version
            .clone()
            .or_else(|| from_fx(|f| &f.engine_version));
        let engine_version = engine_version.unwrap_or_else(|| "25.0.5".into());
        let api = parse_api(&api_version).ok_or(format!("bad --api-version {api_version:?}"))?;
        let min_api = parse_api(&args.min_api_version).ok_or("bad --min-api-version")?;
        let hv = |s: String| HeaderValue::try_from(s).map_err(|e| format!("bad header value: {e}"));
        let headers = vec![
            ("api-version", hv(api_version.clone())?),
            ("docker-experimental", HeaderValue::from_static("false")),
            ("ostype", HeaderValue::from_static("linux")),
            ("server", hv(format!("Docker/{engine_version} (linux)"))?),
        ];
        Ok(Self {
            api,
            min_api,
            api_version,
            min_api_version: args.min_api_version.clone(),
            engine_version,
            headers,
            latency: AtomicU64::new(nanos(args.latency)),
            stats_tick: AtomicU64::new(nanos(args.stats_tick)),
            two_sample_delay: AtomicU64::new(nanos(args.two_sample_delay)),
            calls: Calls::default(),
            faults: Mutex::default(),
            events: EventHub::new(history, args.event_skew),
            event_rate: AtomicU64::new(args.event_rate.to_bits()),
            churn_per_sec: AtomicU64::new(u64::from(args.churn_per_sec)),
            data,
        })
    }

    fn take_fault(&self, ep: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let i = faults
            .iter()
            .position(|f| f.endpoint == "any" || f.endpoint == ep)?;
        let kind = faults[i].kind;
        if let Some(left) = &mut faults[i].count {
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
            Data::Synthetic(w) => w.read().unwrap().get(key).map(|c| c.id.clone()),
        }
    }

    fn version(&self) -> Reply {
        if let Data::Fixtures(fx) = &self.data {
            return raw_json(fx.version.clone());
        }
        let (v, api, min) = (
            &self.engine_version,
            &self.api_version,
            &self.min_api_version,
        );
        let build = "2024-03-19T21:06:35.000000000+00:00";
        json_reply(
            StatusCode::OK,
            &json!({
                "Platform": {"Name": "Docker Engine - Community"},
                "Components": [
                    {"Name": "Engine", "Version": v, "Details": {"ApiVersion": api, "Arch": "amd64", "BuildTime": build,
                        "Experimental": "false", "GitCommit": "e63daec", "GoVersion": "go1.21.8",
                        "KernelVersion": "6.1.0-18-amd64", "MinAPIVersion": min, "Os": "linux"}},
                    {"Name": "containerd", "Version": "1.6.28", "Details": {"GitCommit": "ae07eda36dd25f8a1b98dfbf587313b99c0190bb"}},
                    {"Name": "runc", "Version": "1.1.12", "Details": {"GitCommit": "v1.1.12-0-g51d5e94"}},
                ],
                "Version": v, "ApiVersion": api, "MinAPIVersion": min, "GitCommit": "e63daec", "GoVersion": "go1.21.8",
                "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0-18-amd64", "BuildTime": build,
            }),
        )
    }

    fn info(&self) -> Reply {
        match &self.data {
            Data::Fixtures(fx) => raw_json(fx.info.clone()),
            Data::Synthetic(w) => json_reply(StatusCode::OK, &w.read().unwrap().info(self)),
        }
    }

    fn list(&self, all: bool) -> Reply {
        let w = match &self.data {
            Data::Fixtures(fx) => return raw_json(fx.list(all)),
            Data::Synthetic(w) => w.read().unwrap(),
        };
        let now = SystemTime::now();
        let shown = w.containers.values().rev().filter(|c| all || c.is_up()); // newest first
        let entries: Vec<Value> = shown.map(|c| w.list_entry(c, now)).collect();
        json_reply(StatusCode::OK, &entries)
    }

    fn inspect(&self, key: &str) -> Reply {
        let body = match &self.data {
            Data::Fixtures(fx) => fx.resolve(key).and_then(|id| fx.inspect.get(&id)).cloned(),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                w.get(key)
                    .map(|c| Bytes::from(serde_json::to_vec(&w.inspect(c)).expect("JSON")))
            }
        };
        body.map_or_else(|| no_such_container(key), raw_json)
    }

    /// One stats body for a resolved id (`pre`: the precpu interval), None if gone.
    fn stats_body(&self, id: &str, pre: Option<Duration>) -> Option<Bytes> {
        match &self.data {
            Data::Fixtures(fx) => fx.stats.get(id).cloned(),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                let mut body = serde_json::to_vec(&w.stats(w.get(id)?, pre)).ok()?;
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
            // A full event, kept as given; container events change the state too.
            let ev: Event =
                serde_json::from_value(v).map_err(|e| bad(format!("invalid event: {e}")))?;
            let key = if ev.actor.id.is_empty() {
                ev.id.clone().unwrap_or_default()
            } else {
                ev.actor.id.clone()
            };
            match &self.data {
                Data::Synthetic(w) if ev.typ == "container" => {
                    let mut w = w.write().unwrap();
                    if let Some(s) = w.lookup(&key) {
                        w.act(s, &ev.action, ev.actor.attributes.clone());
                    }
                }
                Data::Fixtures(fx) if ev.typ == "container" && ev.action == "destroy" => {
                    if let Some(id) = fx.resolve(&key) {
                        fx.removed.write().unwrap().insert(id);
                    }
                }
                _ => {}
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
            attributes: Attrs,
        }
        let sh: Shorthand =
            serde_json::from_value(v).map_err(|e| bad(format!("invalid shorthand: {e}")))?;
        let (key, action, mut attrs) = (sh.container.as_str(), sh.action.as_str(), sh.attributes);
        if let Some(code) = sh.exit_code {
            attrs.insert(
                "exitCode".into(),
                code.as_str().map_or_else(|| code.to_string(), String::from),
            );
        }
        if action == "die" {
            attrs.entry("exitCode".into()).or_insert_with(|| "0".into());
        }
        if action.starts_with("exec_") {
            let exec_id = hex_id(unix_nanos(SystemTime::now()) as u64, 9);
            attrs.entry("execID".into()).or_insert(exec_id);
        }
        match &self.data {
            Data::Synthetic(w) => {
                let mut w = w.write().unwrap();
                let serial = match w.lookup(key) {
                    Some(s) => s,
                    None if action == "create" => w.create(Some(key.to_string()), false),
                    None => return Err(gone(key)),
                };
                Ok(w.act(serial, action, attrs).expect("the container exists"))
            }
            Data::Fixtures(fx) => {
                let id = fx.resolve(key).ok_or_else(|| gone(key))?;
                let listed = fx.listed.iter().flatten().find(|c| c.id == id);
                let mut all = listed.map(|c| c.labels.clone()).unwrap_or_default();
                let name = listed
                    .and_then(|c| c.names.first())
                    .map(|n| n.trim_start_matches('/'));
                all.insert("name".into(), name.unwrap_or_default().into());
                all.extend(attrs);
                if action == "destroy" {
                    fx.removed.write().unwrap().insert(id.clone());
                }
                let image = listed.map_or("", |c| c.image.as_str());
                Ok(container_event(&id, image, all, action))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP handlers
// ---------------------------------------------------------------------------

async fn handle(State(sim): State<Arc<Sim>>, req: Request<Body>) -> Reply {
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

async fn engine(sim: &Arc<Sim>, version: Option<String>, path: &str, req: Request<Body>) -> Reply {
    let (ep, key) = route(path);
    let (method, uri) = (req.method().as_str(), req.uri());
    let read_only = method == "GET" || method == "HEAD";
    sim.calls.record(ep, !read_only);
    debug!(%method, %uri, "engine call");
    let latency = load(&sim.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !read_only {
        warn!(%method, %uri, "non-GET/HEAD call to the engine API");
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("docker_sim: {method} is not allowed on {path}"),
        );
    }
    let requested = version.as_deref().and_then(parse_api);
    if let (Some(v), Some(requested)) = (&version, requested) {
        let msg = if requested < sim.min_api {
            let min = &sim.min_api_version;
            format!("client version {v} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version")
        } else if requested > sim.api {
            format!(
                "client version {v} is too new. Maximum supported API version is {}",
                sim.api_version
            )
        } else {
            String::new()
        };
        if !msg.is_empty() {
            return error(StatusCode::BAD_REQUEST, msg);
        }
    }
    let fault = sim.take_fault(ep);
    if let Some(kind) = fault {
        info!(endpoint = ep, ?kind, "injecting fault");
    }
    match fault {
        Some(FaultKind::Status500) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "docker_sim: injected fault",
            )
        }
        Some(FaultKind::Hang) => return pending().await,
        Some(FaultKind::Close) if ep != "events" => {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(Err(closed_error()));
            return streaming(rx);
        }
        Some(FaultKind::Garbage) if ep != "events" => return raw_json(Bytes::from_static(GARBAGE)),
        _ => {}
    }
    let params = parse_query(uri.query());
    match ep {
        "ping" => {
            let mut resp = respond(StatusCode::OK, "text/plain; charset=utf-8", "OK");
            let h = resp.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        "version" => sim.version(),
        "info" => sim.info(),
        "list" => sim.list(bool_param(&params, "all", false)),
        "inspect" => sim.inspect(&key),
        "stats" => stats(sim, &key, &params).await,
        "events" => events(sim, &params, fault),
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

async fn stats(sim: &Arc<Sim>, key: &str, params: &HashMap<String, String>) -> Reply {
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
    let pre = (!bool_param(params, "one-shot", false)).then(|| load(&sim.two_sample_delay));
    if let Some(delay) = pre {
        tokio::time::sleep(delay).await;
    }
    let tick = nanos(load(&sim.stats_tick));
    if tick > 0 {
        let now = unix_nanos(SystemTime::now()) as u64;
        tokio::time::sleep(Duration::from_nanos(tick - now % tick)).await;
    }
    sim.stats_body(&id, pre)
        .map_or_else(|| no_such_container(key), raw_json)
}

fn events(sim: &Arc<Sim>, params: &HashMap<String, String>, fault: Option<FaultKind>) -> Reply {
    let ts = |k: &str| match params.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_timestamp(v)
            .map(Some)
            .ok_or(format!("invalid value for {k}: {v:?}")),
    };
    let (since, until, filter) = match (
        ts("since"),
        ts("until"),
        EventFilter::parse(params.get("filters")),
    ) {
        (Ok(s), Ok(u), Ok(f)) => (s, u, f),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    // Like the daemon, `until` alone replays the whole history up to it.
    let (replay, mut rx) = sim.events.subscribe(since.or(until.map(|_| 0)));
    let (tx, body) = mpsc::channel::<io::Result<Bytes>>(256);
    tokio::spawn(async move {
        match fault {
            Some(FaultKind::Close) => {
                let _ = tx.send(Err(closed_error())).await;
                return;
            }
            Some(FaultKind::Garbage) => {
                let _ = tx.send(Ok(Bytes::from_static(GARBAGE))).await;
            }
            _ => {}
        }
        let wanted = |r: &EvRec| until.is_none_or(|u| r.time_nano <= u) && filter.matches(r);
        for rec in replay.iter().filter(|r| wanted(r)) {
            if tx.send(Ok(rec.line.clone())).await.is_err() {
                return;
            }
        }
        let left = until.map(|u| u - unix_nanos(SystemTime::now()));
        if left.is_some_and(|l| l <= 0) {
            return; // `until` is past: the history was all
        }
        let deadline = async move {
            match left {
                Some(l) => tokio::time::sleep(Duration::from_nanos(l as u64)).await,
                None => pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut deadline => return,
                msg = rx.recv() => msg,
            };
            let out = match msg {
                Ok(StreamMsg::Event(rec)) if wanted(&rec) => Ok(rec.line.clone()),
                Ok(StreamMsg::Garbage) => Ok(Bytes::from_static(GARBAGE)),
                Ok(StreamMsg::Close) => Err(closed_error()),
                Ok(StreamMsg::Event(_)) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(skipped = n, "an /events subscriber lagged behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let last = out.is_err();
            if tx.send(out).await.is_err() || last {
                return;
            }
        }
    });
    streaming(body)
}

async fn control(sim: &Arc<Sim>, what: &str, req: Request<Body>) -> Reply {
    let method = req.method().as_str().to_string();
    let body = match axum::body::to_bytes(req.into_body(), 4 << 20).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
    };
    let ok = || json_reply(StatusCode::OK, &json!({"ok": true}));
    let bad = |msg: String| error(StatusCode::BAD_REQUEST, msg);
    match (method.as_str(), what) {
        ("GET", "calls") => {
            let mut calls = sim.calls.snapshot();
            calls["events_published"] = sim.events.published.load(Relaxed).into();
            json_reply(StatusCode::OK, &calls)
        }
        ("POST", "reset-calls") => {
            sim.calls.reset();
            ok()
        }
        ("POST", "clear-faults") => {
            sim.faults.lock().unwrap().clear();
            ok()
        }
        ("POST", "event") => match sim.apply_event(&body) {
            Ok(ev) => json_reply(StatusCode::OK, &sim.events.publish(ev)),
            Err((status, msg)) => error(status, msg),
        },
        ("POST", "fault") => {
            let fault: Fault = match serde_json::from_slice(&body) {
                Ok(f) => f,
                Err(e) => return bad(format!("invalid fault: {e}")),
            };
            if fault.endpoint != "any" && !ENDPOINTS.contains(&fault.endpoint.as_str()) {
                return bad(format!("unknown endpoint {:?}", fault.endpoint));
            }
            info!(?fault, "fault set");
            let open_streams = sim.events.tx.receiver_count();
            let now = match fault.kind {
                _ if fault.endpoint != "events" => None,
                FaultKind::Close => Some(StreamMsg::Close),
                FaultKind::Garbage => Some(StreamMsg::Garbage),
                _ => None,
            };
            // Close/garbage on events act on the open streams, and later only if counted.
            let keep = fault.count != Some(0) && (now.is_none() || fault.count.is_some());
            if let Some(msg) = now {
                let _ = sim.events.tx.send(msg);
            }
            if keep {
                sim.faults.lock().unwrap().push(fault);
            }
            json_reply(
                StatusCode::OK,
                &json!({"ok": true, "open_streams": open_streams}),
            )
        }
        ("POST", "set") => {
            let settings: HashMap<String, String> = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad(format!("invalid settings: {e}")),
            };
            for (k, val) in settings {
                if k == "event_rate" {
                    match val.parse::<f64>() {
                        Ok(r) if r >= 0.0 => sim.event_rate.store(r.to_bits(), Relaxed),
                        _ => return bad(format!("event_rate: not a rate: {val:?}")),
                    }
                    continue;
                }
                if k == "churn_per_sec" {
                    match val.parse::<u64>() {
                        Ok(r) => sim.churn_per_sec.store(r, Relaxed),
                        _ => return bad(format!("churn_per_sec: not a count: {val:?}")),
                    }
                    continue;
                }
                let slot = match k.as_str() {
                    "latency" => &sim.latency,
                    "stats_tick" => &sim.stats_tick,
                    "two_sample_delay" => &sim.two_sample_delay,
                    "event_skew" => &sim.events.skew,
                    _ => return bad(format!("unknown setting {k:?}")),
                };
                match humantime::parse_duration(&val) {
                    Ok(d) => slot.store(nanos(d), Relaxed),
                    Err(e) => return bad(format!("{k}: {e}")),
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

async fn run(args: Args) -> Result<(), String> {
    let sim = Arc::new(Sim::new(&args)?);
    let socket = &args.socket;
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(format!("removing stale socket {}: {e}", socket.display()));
        }
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .map_err(|e| format!("binding {}: {e}", socket.display()))?;
    tokio::spawn(drive(sim.clone()));
    let app = axum::Router::new().fallback(handle).with_state(sim.clone());
    let mode = match &args.fixtures {
        Some(dir) => format!("fixtures {}", dir.display()),
        None => format!("{} synthetic containers", args.containers),
    };
    info!(socket = %socket.display(), %mode, api = sim.api_version, engine = sim.engine_version, "starting");
    // Signal handlers are installed before we say we listen: a test may stop us at once.
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    println!("docker_sim listening on {}", socket.display());
    let _ = io::stdout().flush();
    let stopped = |name: &str| {
        info!(signal = name, "shutting down");
        Ok(())
    };
    let result = tokio::select! {
        r = axum::serve(listener, app).into_future() => r.map_err(|e| format!("serving: {e}")),
        _ = term.recv() => stopped("SIGTERM"),
        _ = int.recv() => stopped("SIGINT"),
    };
    let _ = std::fs::remove_file(socket);
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
