//! The collectors: the only writers of the snapshot.
//!
//! [`Store`] holds the working state behind a mutex and the published
//! [`Snapshot`] behind an atomic pointer: readers (`/metrics`) load the pointer
//! and never wait for a collector. The periodic [`run`] loop asks the engine,
//! containers and stats collectors for one cycle's results and applies them in
//! one update, so a snapshot never mixes two cycles. The event stream (see
//! [`events`]) applies single-container changes in between.

mod containers;
mod engine;
pub mod events;
mod stats;

use crate::config::Config;
use crate::docker::Client;
use crate::snapshot::{
    CollectorStatus, Container, ContainerEntry, Engine, EventCounts, Snapshot, Stats,
};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The collector names of `docker_exporter_collector_*{collector=…}`.
pub const ENGINE: &str = "engine";
pub const CONTAINERS: &str = "containers";
pub const STATS: &str = "stats";
pub const EVENTS: &str = "events";

/// What the collectors know, published as snapshots.
#[derive(Debug)]
pub struct Store {
    published: ArcSwap<Snapshot>,
    working: Mutex<Working>,
    /// Wakes the periodic loop early (the event stream asks for a resync).
    resync: Notify,
    /// True once the event stream has tried to subscribe: the first list waits
    /// for it, so no change falls between the list and the subscription.
    subscribe_tried: tokio::sync::watch::Sender<bool>,
    /// True once a periodic cycle has completed: with the engine's answer, or
    /// with the engine found down (`docker_up 0`). `/-/ready` answers with it.
    cycle_completed: AtomicBool,
}

/// The mutable state behind the snapshot, including what only the collectors need.
#[derive(Debug, Default)]
pub(crate) struct Working {
    pub engine_up: bool,
    pub engine: Option<Arc<Engine>>,
    pub containers: HashMap<String, Arc<Container>>,
    /// The container list's view of each container when it was last inspected.
    pub list_keys: HashMap<String, String>,
    pub stats: HashMap<String, Arc<Stats>>,
    pub events: Arc<EventCounts>,
    pub collectors: BTreeMap<&'static str, CollectorStatus>,
    pub event_stream_reconnects: u64,
    /// When the last periodic cycle completed (Unix seconds).
    pub collected_at: f64,
    /// Set while the event stream is connected (with it, and no resync asked
    /// for, a cycle inspects only containers whose list entry changed); it
    /// cancels the stream when a cycle finds the engine gone, as the stream has
    /// no read timeout of its own.
    pub events_stream: Option<CancellationToken>,
    /// Bumped when the event stream (re)connects; a cycle that inspects
    /// everything catches up `resynced` to it.
    pub resync_requested: u64,
    pub resynced: u64,
    /// Bumped by every event-driven change; with `touched` it keeps a cycle that
    /// started earlier from undoing a newer change.
    pub generation: u64,
    /// Container id → generation of the last event-driven change (or removal).
    pub touched: HashMap<String, u64>,
}

/// Failed cycles in a row after which what was known of the engine is dropped.
const FORGET_AFTER_FAILURES: u32 = 2;

impl Working {
    /// Drops the containers, stats and engine facts (not the event counters,
    /// which count what happened): the engine can no longer vouch for them.
    fn forget_engine(&mut self) {
        self.engine = None;
        self.containers.clear();
        self.list_keys.clear();
        self.stats.clear();
    }

    /// Records one run of a collector.
    pub fn record(&mut self, collector: &'static str, took: Duration, errors: u64) {
        let c = self.collectors.entry(collector).or_default();
        c.duration_seconds = took.as_secs_f64();
        c.success = errors == 0;
        c.errors_total += errors;
    }

    fn snapshot(&self) -> Snapshot {
        let mut containers: Vec<ContainerEntry> = self
            .containers
            .iter()
            .map(|(id, c)| ContainerEntry {
                container: c.clone(),
                stats: if c.state.is_live() {
                    self.stats.get(id).cloned()
                } else {
                    None
                },
            })
            .collect();
        containers.sort_by(|a, b| {
            (&a.container.name, &a.container.id).cmp(&(&b.container.name, &b.container.id))
        });
        Snapshot {
            collected_at: self.collected_at,
            engine_up: self.engine_up,
            engine: self.engine.clone(),
            containers,
            events: self.events.clone(),
            collectors: self.collectors.clone(),
            event_stream_reconnects: self.event_stream_reconnects,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            published: ArcSwap::from_pointee(Snapshot::default()),
            working: Mutex::new(Working::default()),
            resync: Notify::new(),
            subscribe_tried: tokio::sync::watch::Sender::new(false),
            cycle_completed: AtomicBool::new(false),
        }
    }
}

impl Store {
    /// The current snapshot: a pointer load, never a wait on a collector.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    /// Changes the working state and publishes the result as one snapshot.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Working) -> R) -> R {
        let mut w = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut w);
        self.published.store(Arc::new(w.snapshot()));
        r
    }

    /// Reads the working state without publishing.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Working) -> R) -> R {
        f(&self.working.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether a periodic cycle has completed (its answer, or the engine found
    /// down); the event stream subscribing does not count.
    pub fn ready(&self) -> bool {
        self.cycle_completed.load(Ordering::Acquire)
    }

    /// Asks the periodic loop for a full cycle now (nothing to publish yet).
    pub(crate) fn request_resync(&self) {
        self.working
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resync_requested += 1;
        self.resync.notify_one();
    }
}

/// Logs a condition once until it clears, then once when it clears.
#[derive(Debug, Default)]
pub(crate) struct LogOnce {
    seen: HashSet<String>,
}

impl LogOnce {
    /// True the first time `key` is seen (the caller logs at warn, later at debug).
    pub fn first(&mut self, key: impl Into<String>) -> bool {
        if self.seen.len() > 10_000 {
            self.seen.clear();
        }
        self.seen.insert(key.into())
    }

    /// Forgets `key`; true when it had been seen (the caller logs the recovery).
    pub fn clear(&mut self, key: &str) -> bool {
        self.seen.remove(key)
    }
}

/// The periodic loop: one cycle every `interval`, sooner when the event
/// stream asks, retrying with capped backoff while the engine is down.
pub async fn run(
    client: Arc<Client>,
    store: Arc<Store>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) {
    let mut log = LogOnce::default();
    let mut failures: u32 = 0;
    let mut subscribed = store.subscribe_tried.subscribe();
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::timeout(config.docker_timeout, subscribed.wait_for(|tried| *tried)) => {}
    }
    loop {
        let started = Instant::now();
        let ok = cycle(&client, &store, &config, &mut log).await;
        store.cycle_completed.store(true, Ordering::Release);
        let wait = if ok {
            failures = 0;
            config.collect_interval.saturating_sub(started.elapsed())
        } else {
            failures = failures.saturating_add(1);
            if failures == FORGET_AFTER_FAILURES {
                // Serving the last known states of a dead engine would be a lie.
                store.update(Working::forget_engine);
            }
            backoff(failures, config.collect_interval)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = store.resync.notified() => {}
        }
    }
}

/// 1 s, 2 s, 4 s … capped at the collection interval.
fn backoff(failures: u32, cap: Duration) -> Duration {
    let d = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16));
    d.min(cap).max(Duration::from_millis(100))
}

/// One collection cycle; false when the engine could not be reached.
pub(crate) async fn cycle(
    client: &Client,
    store: &Store,
    config: &Config,
    log: &mut LogOnce,
) -> bool {
    let start_generation = store.read(|w| w.generation);
    let engine = engine::collect(client, log).await;
    let Ok(engine_info) = &engine.result else {
        store.update(|w| {
            w.engine_up = false;
            w.record(ENGINE, engine.took, 1);
        });
        // A stream from an engine that cannot be reached is dead or soon will be.
        if let Some(stream) = store.read(|w| w.events_stream.clone()) {
            stream.cancel();
        }
        return false;
    };
    let engine_info = engine_info.clone();
    let (full, resync_to) = store.read(|w| {
        (
            w.events_stream.is_none() || w.resync_requested > w.resynced,
            w.resync_requested,
        )
    });
    let listed = containers::collect(client, store, config, &engine_info, full, log).await;
    let live_ids: Vec<String> = match &listed.result {
        Ok(list) => list
            .containers
            .iter()
            .filter(|(_, c)| c.state.is_live())
            .map(|(id, _)| id.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    let sampled = stats::collect(client, config, &engine_info, &live_ids, log).await;

    store.update(|w| {
        w.engine_up = listed.result.is_ok();
        w.engine = Some(engine_info);
        w.record(ENGINE, engine.took, 0);
        if let Ok(list) = listed.result {
            containers::apply(w, list, start_generation);
            if full && listed.errors == 0 {
                w.resynced = resync_to;
            }
            events::prune(w);
            w.record(CONTAINERS, listed.took, listed.errors);
        } else {
            w.record(CONTAINERS, listed.took, listed.errors.max(1));
        }
        stats::apply(w, sampled.result, config.collect_interval);
        w.record(STATS, sampled.took, sampled.errors);
        w.collected_at = crate::snapshot::now_unix();
    });
    true
}

/// One collector's output for a cycle.
pub(crate) struct Outcome<T> {
    pub result: T,
    pub took: Duration,
    pub errors: u64,
}
