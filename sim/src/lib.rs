//! # docker_sim: a simulated Docker Engine API on a Unix socket
//!
//! A test and benchmark tool for `docker_exporter`, a crate of its own in the
//! workspace (`publish = false`, a dev-dependency of the exporter: `cargo install`
//! of the exporter never installs it). It does not use the exporter's library. It serves the read-only part of the Engine API that the exporter
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
//! cargo run --release -p docker_sim -- --socket /tmp/sim.sock --containers 1000 --latency 2ms
//! curl --unix-socket /tmp/sim.sock 'http://d/v1.44/containers/json?all=true'
//! curl --unix-socket /tmp/sim.sock http://d/_sim/calls
//! curl --unix-socket /tmp/sim.sock -d '{"endpoint":"stats","kind":"status500","count":3}' http://d/_sim/fault
//! ```
//!
//! Tests and `examples/scale.rs` start it in-process with [`Running::start`] (its
//! own thread and runtime; stopped and its socket removed on drop) and talk to it
//! with [`Control`]. The binary (`src/main.rs`) prints `docker_sim listening on
//! <socket>` on stdout once it accepts connections, logs to stderr
//! (`DOCKER_SIM_LOG=debug` logs every call; non-GET/HEAD engine calls are
//! warnings) and removes the socket file on SIGTERM/SIGINT.
//!
//! | module | what lives there |
//! |---|---|
//! | [`launch`] | the in-process launcher, the control-plane client, `free_port` |
//! | `engine` | the engine's state (`Sim`): versions, settings, data, calls, faults, events; posted events |
//! | `fixtures` | fixture mode: a recorded engine served byte for byte |
//! | `world` | synthetic mode: containers, churn and generated events, list/inspect/info bodies |
//! | `stats` | stats shapes of the synthetic world (cgroup v1/v2, one-shot, two-sample) |
//! | `events` | event history, live fan-out, filters, the `/events` handler |
//! | `faults` | call accounting and injected faults |
//! | `http` | request parsing, responses, the engine API handlers and `/_sim/` |
//! | `clock` | time helpers |
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
//! `container`), `/system/df` (synthetic: sizes fixed by each container's hash;
//! fixtures: `system_df.json`, 404 without one; `df_latency` delays it alone),
//! `/services`, `/tasks`, `/nodes` (counted as `swarm`; fixtures: `swarm/*.json`,
//! filters not applied; without them a 503 "not a swarm manager", as the daemon).
//! Unknown paths: 404. Any other method: 405, counted in `non_get`.
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
//! * `POST /_sim/fault` `{"endpoint":"list|inspect|stats|info|version|ping|events|df|swarm|other|any",
//!   "kind":"status500|hang|garbage|close|huge","count":N}` (no count = until cleared): a 500,
//!   no answer ever, a 200 whose body is not JSON, a dropped connection, or a 200
//!   whose JSON body is 17 MiB long (past the exporter's cap on one answer). On
//!   `events`, `close` and `garbage` act at once on the open streams (and on the next
//!   `count` subscriptions only if a count is given). It answers `{"ok":true,"open_streams":N}`.
//!   `POST /_sim/clear-faults`.
//! * `POST /_sim/set` `{"latency":"5ms","stats_tick":"1s","two_sample_delay":"1s","df_latency":"30s","event_skew":"50us","event_rate":"0","churn_per_sec":"0"}`.
//!
//! Like the daemon, `/events?since=` replays the kept events by walking back from
//! the newest and stopping at the first one stamped before `since`; so with
//! out-of-order stamps a replay can stop short of an event stamped after `since`.
//! `GET /_sim/calls` also says how many events were published (`events_published`).

// The large `json!` bodies (inspect, info) need more macro recursion than the default.
#![recursion_limit = "256"]

mod clock;
mod engine;
mod events;
mod faults;
mod fixtures;
mod http;
pub mod launch;
mod stats;
mod world;

pub use launch::{free_port, Control, Running};

use std::future::{Future, IntoFuture};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::UnixListener;
use tracing::info;

use crate::engine::Sim;

#[derive(Parser, Debug)]
#[command(
    name = "docker_sim",
    about = "Simulated Docker Engine API on a Unix socket"
)]
/// The simulator's flags (see the table above).
pub struct Args {
    /// Unix socket to listen on (a stale file is removed first).
    #[arg(long)]
    pub socket: PathBuf,
    /// Replay a recorded fixture set from this directory.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Number of synthetic containers (without --fixtures).
    #[arg(long, default_value_t = 10)]
    pub containers: u64,
    /// Highest supported API version (default: the fixtures', else 1.44).
    #[arg(long)]
    pub api_version: Option<String>,
    /// Lowest supported API version.
    #[arg(long, default_value = "1.12")]
    pub min_api_version: String,
    /// Engine version (default: the fixtures', else 25.0.5).
    #[arg(long)]
    pub engine_version: Option<String>,
    /// Cgroup version of the synthetic host: 1 or 2.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub cgroup_version: u8,
    /// Latency added to every engine call.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// One-shot stats wait for the next multiple of this on the wall clock (0 = no wait).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub stats_tick: Duration,
    /// Wait of a `stream=false` stats call without `one-shot` (computing precpu).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub two_sample_delay: Duration,
    /// Synthetic: containers destroyed and created every second.
    #[arg(long, default_value_t = 0)]
    pub churn_per_sec: u32,
    /// Synthetic: events per second.
    #[arg(long, default_value_t = 0.0)]
    pub event_rate: f64,
    /// Every other event is stamped this long before it is published.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub event_skew: Duration,
    /// Synthetic: CPUs of the host.
    #[arg(long, default_value_t = 8)]
    pub ncpu: u32,
    /// Synthetic: seed of ids and random choices.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The simulator bound to its socket, not yet serving.
pub struct Bound {
    sim: Arc<Sim>,
    listener: UnixListener,
    socket: PathBuf,
}

/// Loads the data and binds `args.socket` (a stale file is removed first).
/// Must be called inside a tokio runtime.
pub fn bind(args: &Args) -> Result<Bound, String> {
    let sim = Arc::new(Sim::new(args)?);
    let socket = args.socket.clone();
    match std::fs::remove_file(&socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(format!("removing stale socket {}: {e}", socket.display()));
        }
        _ => {}
    }
    let listener =
        UnixListener::bind(&socket).map_err(|e| format!("binding {}: {e}", socket.display()))?;
    let mode = match &args.fixtures {
        Some(dir) => format!("fixtures {}", dir.display()),
        None => format!("{} synthetic containers", args.containers),
    };
    info!(socket = %socket.display(), %mode, api = sim.api_version, engine = sim.engine_version, "starting");
    Ok(Bound {
        sim,
        listener,
        socket,
    })
}

impl Bound {
    /// Serves until `stop` completes, then removes the socket file.
    pub async fn serve(self, stop: impl Future<Output = ()>) -> Result<(), String> {
        let Bound {
            sim,
            listener,
            socket,
        } = self;
        // Always: the churn and the event rate can be set later (`/_sim/set`).
        let driver = tokio::spawn(world::drive(sim.clone()));
        let app = axum::Router::new().fallback(http::handle).with_state(sim);
        let result = tokio::select! {
            r = axum::serve(listener, app).into_future() => r.map_err(|e| format!("serving: {e}")),
            _ = stop => Ok(()),
        };
        driver.abort();
        let _ = std::fs::remove_file(&socket);
        result
    }
}
