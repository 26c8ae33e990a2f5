//! The store: the collectors' working state behind a mutex, and the published
//! [`Snapshot`] behind an atomic pointer. Readers (`/metrics`, `/-/ready`) load
//! the pointer or a flag and never wait for a collector; writers change the
//! working state and publish the result in one [`Store::update`].

use super::Collector;
use crate::snapshot::{
    CollectorStatus, Container, ContainerEntry, Disk, Engine, EventCounts, Snapshot, Stats, Swarm,
};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the collectors know, published as snapshots.
#[derive(Debug)]
pub struct Store {
    published: ArcSwap<Snapshot>,
    working: Mutex<Working>,
    /// Wakes the periodic loop early (the event stream asks for a resync).
    pub(super) resync: Notify,
    /// True once the event stream has tried to subscribe: the first list waits
    /// for it, so no change falls between the list and the subscription.
    pub(super) subscribe_tried: tokio::sync::watch::Sender<bool>,
    /// True once a periodic cycle has completed: with the engine's answer, or
    /// with the engine found down (`docker_up 0`). `/-/ready` answers with it.
    cycle_completed: AtomicBool,
    /// Counts the snapshots published: what encodes `/metrics` ahead waits on.
    publications: tokio::sync::watch::Sender<u64>,
}

/// The mutable state behind the snapshot, including what only the collectors need.
#[derive(Debug, Default)]
pub(crate) struct Working {
    pub engine_up: bool,
    pub engine: Option<Arc<Engine>>,
    /// The `/version` answer `engine` was built from (an `/info` alone
    /// rebuilds it with this).
    pub engine_version: Option<Arc<crate::docker::types::Version>>,
    /// `generation` when `/info` was last read: an event-driven change since
    /// moved the engine's container counts, so the next cycle reads it again.
    pub info_generation: u64,
    /// When the last successful container list began: with the event stream
    /// up, a cycle lists again only after `--collect.resync-interval`.
    pub listed_at: Option<std::time::Instant>,
    pub containers: HashMap<String, Arc<Container>>,
    /// Each container's change fingerprint (see `containers::fingerprint`)
    /// when it was last inspected.
    pub fingerprints: HashMap<String, String>,
    pub stats: HashMap<String, Arc<Stats>>,
    pub events: Arc<EventCounts>,
    pub collectors: BTreeMap<&'static str, CollectorStatus>,
    pub event_stream_reconnects: u64,
    /// Containers whose cgroup could not be read, by reason (`None` on the
    /// engine stats source).
    pub stats_cgroup_misses: Option<BTreeMap<&'static str, u64>>,
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
    /// The `disk` collector's last answer, kept until its next one.
    pub disk: Option<Arc<Disk>>,
    /// The `swarm` collector's last answer; `None` off a manager.
    pub swarm: Option<Arc<Swarm>>,
}

impl Working {
    /// Drops the containers, stats and engine facts (not the event counters,
    /// which count what happened): the engine can no longer vouch for them.
    pub(super) fn forget_engine(&mut self) {
        self.engine = None;
        self.engine_version = None;
        self.listed_at = None;
        self.containers.clear();
        self.fingerprints.clear();
        self.stats.clear();
    }

    /// Records one run of a collector.
    pub fn record(&mut self, collector: Collector, took: Duration, errors: u64) {
        let c = self.collectors.entry(collector.name()).or_default();
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
            stats_cgroup_misses: self.stats_cgroup_misses.clone(),
            events_connected: self.events_stream.is_some(),
            disk: self.disk.clone(),
            swarm: self.swarm.clone(),
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
            publications: tokio::sync::watch::Sender::new(0),
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
        self.publications.send_modify(|n| *n += 1);
        r
    }

    /// Changes whenever a snapshot is published (many publications between
    /// two looks are seen as one change).
    pub fn publications(&self) -> tokio::sync::watch::Receiver<u64> {
        self.publications.subscribe()
    }

    /// Reads the working state without publishing.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Working) -> R) -> R {
        f(&self.working.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Notes that a periodic cycle has completed (see [`Store::ready`]).
    pub(super) fn cycle_completed(&self) {
        self.cycle_completed.store(true, Ordering::Release);
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
