//! The event stream collector: counts every engine event and applies each
//! container event to the snapshot at once, between periodic cycles.
//!
//! It subscribes before the first list (the periodic loop waits for the first
//! attempt), with `since` = the exporter's start, so no change is missed. When the stream breaks it reconnects
//! with capped backoff and `since` = the engine time (ns) of the last event
//! seen, skips what it already counted, counts the reconnect and asks for a
//! full resync. The stream has no read timeout: a cycle that finds the engine
//! unreachable tells this task to reconnect instead.

use super::containers::{self, Inspected};
use super::{backoff, Collector, LogOnce, Store, Working};
use crate::config::Config;
use crate::docker::{types, Client, EventStream};
use crate::snapshot::{now_unix, Container, ContainerEvents};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// Container actions counted per container, as served in `action`.
pub const CONTAINER_ACTIONS: [&str; 14] = [
    "create",
    "start",
    "restart",
    "die",
    "kill",
    "oom",
    "stop",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "update",
    "health_status_healthy",
    "health_status_unhealthy",
];

/// How long the counters of a container name outlive the last container of that name.
pub const RETENTION: Duration = Duration::from_secs(300);

/// Events handled in one batch at most (the rest wait for the next).
const BATCH: usize = 1024;

/// An event's place in the engine's timeline, for skipping replays.
#[derive(Debug, Default)]
struct Cursor {
    /// `timeNano` of the newest event counted.
    last_nano: i64,
    /// The events counted at exactly `last_nano`.
    at_last: HashSet<(String, String, String)>,
}

impl Cursor {
    /// True when the event is new (and records it), false for a replay.
    fn advance(&mut self, nano: i64, key: (String, String, String)) -> bool {
        if nano < self.last_nano {
            return false;
        }
        if nano > self.last_nano {
            self.last_nano = nano;
            self.at_last.clear();
        }
        self.at_last.insert(key)
    }

    /// `since` for a resubscription: the last event's time, to the nanosecond.
    fn since(&self) -> (i64, u32) {
        (
            self.last_nano.div_euclid(1_000_000_000),
            self.last_nano.rem_euclid(1_000_000_000) as u32,
        )
    }
}

/// Runs the event stream for the life of the process.
pub async fn run(
    client: Arc<Client>,
    store: Arc<Store>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut cursor = Cursor {
        last_nano: start.as_nanos() as i64,
        ..Default::default()
    };
    let mut log = LogOnce::default();
    let mut subscribed_before = false;
    let mut failures: u32 = 0;
    loop {
        let opened = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = client.events(Some(cursor.since())) => r,
        };
        store.subscribe_tried.send_replace(true);
        match opened {
            Ok(stream) => {
                failures = 0;
                if log.clear("subscribe") | log.clear("stream") {
                    tracing::info!("event stream open again");
                }
                // Cancelled on shutdown, or by a cycle that finds the engine gone.
                let stop_stream = shutdown.child_token();
                store.update(|w| {
                    w.events_stream = Some(stop_stream.clone());
                    w.record(Collector::Events, Duration::ZERO, 0);
                    if subscribed_before {
                        w.event_stream_reconnects += 1;
                    }
                });
                // After a break, what the stream missed is caught up by a
                // full cycle (the first subscription precedes the first list).
                if subscribed_before {
                    store.request_resync();
                }
                subscribed_before = true;
                let ended = follow(
                    stream,
                    &client,
                    &store,
                    &config,
                    &mut cursor,
                    &mut log,
                    &stop_stream,
                )
                .await;
                if shutdown.is_cancelled() {
                    return;
                }
                store.update(|w| {
                    w.events_stream = None;
                    w.record(Collector::Events, Duration::ZERO, 1);
                });
                if log.first("stream") {
                    tracing::warn!(error = %ended, "event stream broke; reconnecting");
                } else {
                    tracing::debug!(error = %ended, "event stream broke again; reconnecting");
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                store.update(|w| w.record(Collector::Events, Duration::ZERO, 1));
                if log.first("subscribe") {
                    tracing::warn!(error = %e, "cannot open the event stream; retrying with backoff");
                }
            }
        }
        let wait = backoff(
            failures.saturating_add(1),
            Duration::from_millis(100),
            Duration::from_secs(5),
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// What the reader task passes on from the stream.
enum Read {
    Event(types::Event),
    /// A line that is not an event: counted and skipped, the stream goes on.
    Undecodable(crate::docker::Error),
    /// The stream broke or the engine closed it: why.
    Ended(String),
}

/// Reads one open stream until it ends or `stop_stream` is cancelled; returns why.
async fn follow(
    mut stream: EventStream,
    client: &Client,
    store: &Store,
    config: &Config,
    cursor: &mut Cursor,
    log: &mut LogOnce,
    stop_stream: &CancellationToken,
) -> String {
    // A reader task keeps the socket drained while a batch is applied.
    let (tx, mut rx) = mpsc::channel::<Read>(4 * BATCH);
    let reader = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let read = match item {
                Ok(event) => Read::Event(event),
                Err(e @ crate::docker::Error::Decode { .. }) => Read::Undecodable(e),
                Err(e) => Read::Ended(e.to_string()),
            };
            let ended = matches!(read, Read::Ended(_));
            if tx.send(read).await.is_err() || ended {
                return;
            }
        }
        let _ = tx
            .send(Read::Ended("the engine closed the event stream".into()))
            .await;
    });
    let _stop_reader = AbortOnDropHandle::new(reader);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let n = tokio::select! {
            _ = stop_stream.cancelled() => return "the engine could not be reached".into(),
            n = rx.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return "the event reader stopped".into();
        }
        let started = Instant::now();
        let mut events = Vec::with_capacity(batch.len());
        let mut errors = 0;
        let mut broke = None;
        for item in batch.drain(..) {
            match item {
                Read::Event(e) => events.push(e),
                Read::Ended(why) => broke = Some(why),
                Read::Undecodable(e) => {
                    errors += 1;
                    if log.first("decode") {
                        tracing::warn!(error = %e, "skipping an event line that is not an event");
                    }
                }
            }
        }
        let changed = effects(cursor, &events);
        let changes = inspect_changes(client, store, config, changed, log).await;
        store.update(|w| {
            if let Some(changes) = changes {
                errors += changes.errors;
                changes.apply(w);
            }
            w.record(Collector::Events, started.elapsed(), errors);
        });
        if let Some(e) = broke {
            return e;
        }
    }
}

/// What a batch of events does to the containers.
#[derive(Debug, Default, PartialEq)]
struct Effects {
    /// `(type, action)` → count, for `docker_events_total`.
    by_type: BTreeMap<(String, String), u64>,
    /// `(name, action)` → count, for `docker_container_events_total`.
    by_container: BTreeMap<(String, &'static str), u64>,
    /// Containers to inspect again, and containers destroyed.
    inspect: BTreeSet<String>,
    destroyed: BTreeSet<String>,
}

/// The action as counted in `docker_events_total`: cut at the first `": "`.
fn short_action(action: &str) -> &str {
    action.split_once(": ").map_or(action, |(a, _)| a)
}

/// The allow-listed per-container action, if this is one.
fn container_action(action: &str) -> Option<&'static str> {
    let normalised = action.replace(": ", "_");
    CONTAINER_ACTIONS.into_iter().find(|a| *a == normalised)
}

/// Counts the new events of a batch and says which containers changed.
fn effects(cursor: &mut Cursor, events: &[types::Event]) -> Effects {
    let mut fx = Effects::default();
    for e in events {
        let kind = e.kind.clone().unwrap_or_default();
        let action = e.action.clone().unwrap_or_default();
        let actor = e.actor.clone().unwrap_or_default();
        let id = actor.id.unwrap_or_default();
        let nano = e
            .time_nano
            .or(e.time.map(|t| t.saturating_mul(1_000_000_000)))
            .unwrap_or(0);
        if !cursor.advance(nano, (kind.clone(), action.clone(), id.clone())) {
            continue;
        }
        *fx.by_type
            .entry((kind.clone(), short_action(&action).to_string()))
            .or_default() += 1;
        if kind != "container" || id.is_empty() {
            continue;
        }
        let Some(counted) = container_action(&action) else {
            continue;
        };
        let name = actor
            .attributes
            .as_ref()
            .and_then(|a| a.get("name"))
            .cloned()
            .unwrap_or_default();
        if !name.is_empty() {
            *fx.by_container.entry((name, counted)).or_default() += 1;
        }
        if counted == "destroy" {
            fx.inspect.remove(&id);
            fx.destroyed.insert(id);
        } else if counted != "kill" {
            fx.destroyed.remove(&id);
            fx.inspect.insert(id);
        }
    }
    fx
}

/// A batch's effects with the changed containers inspected, ready to apply.
struct Changes {
    effects: Effects,
    inspected: Vec<(String, Inspected)>,
    errors: u64,
}

/// Inspects the containers a batch changed; `None` when it changed nothing
/// (replays only).
async fn inspect_changes(
    client: &Client,
    store: &Store,
    config: &Config,
    effects: Effects,
    log: &mut LogOnce,
) -> Option<Changes> {
    if effects == Effects::default() {
        return None;
    }
    let driver = store.read(|w| {
        w.engine
            .as_ref()
            .map(|e| e.cgroup_driver.clone())
            .unwrap_or_default()
    });
    let (inspected, errors) = containers::inspect_all(
        client,
        config,
        &driver,
        effects.inspect.iter().cloned(),
        log,
    )
    .await;
    Some(Changes {
        effects,
        inspected,
        errors,
    })
}

impl Changes {
    /// Applies the new container views and the counts, marking each changed
    /// container so that a cycle that began earlier keeps this view.
    fn apply(self, w: &mut Working) {
        w.generation += 1;
        let generation = w.generation;
        let mut gone = self.effects.destroyed.clone();
        for (id, result) in self.inspected {
            match result {
                Inspected::Built(c) => {
                    w.containers.insert(id.clone(), c);
                    w.touched.insert(id, generation);
                }
                Inspected::Gone => {
                    gone.insert(id);
                }
                // The next cycle will see it; nothing to undo.
                Inspected::Failed => {}
            }
        }
        for id in gone {
            w.containers.remove(&id);
            w.stats.remove(&id);
            w.fingerprints.remove(&id);
            w.touched.insert(id, generation);
        }
        count(w, &self.effects);
    }
}

/// The current containers by name.
fn by_name(containers: &HashMap<String, Arc<Container>>) -> BTreeMap<&str, &Arc<Container>> {
    containers.values().map(|c| (c.name.as_str(), c)).collect()
}

/// Notes that a container of this name exists now, as `c`.
fn seen(e: &mut ContainerEvents, c: &Arc<Container>) {
    if e.last_known.as_ref().is_none_or(|k| !Arc::ptr_eq(k, c)) {
        e.last_known = Some(c.clone());
    }
    e.gone_since = None;
}

/// Adds a batch's counts to the counters.
fn count(w: &mut Working, effects: &Effects) {
    let by_name = by_name(&w.containers);
    let events = Arc::make_mut(&mut w.events);
    for (key, n) in &effects.by_type {
        *events.by_type.entry(key.clone()).or_default() += n;
    }
    for ((name, action), n) in &effects.by_container {
        let e = events.by_container.entry(name.clone()).or_default();
        *e.actions.entry(action).or_default() += n;
        if *action == "oom" {
            e.oom += n;
        }
        if let Some(c) = by_name.get(name.as_str()) {
            seen(e, c);
        }
    }
}

/// Drops the counters of names that have had no container for [`RETENTION`];
/// keeps `last_known` of the others current.
pub(super) fn prune(w: &mut Working) {
    if w.events.by_container.is_empty() {
        return;
    }
    let now = now_unix();
    let by_name = by_name(&w.containers);
    let events = Arc::make_mut(&mut w.events);
    events
        .by_container
        .retain(|name, e| match by_name.get(name.as_str()) {
            Some(c) => {
                seen(e, c);
                true
            }
            None => now - *e.gone_since.get_or_insert(now) < RETENTION.as_secs_f64(),
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, id: &str, name: &str, nano: i64) -> types::Event {
        serde_json::from_value(serde_json::json!({
            "Type": kind, "Action": action, "timeNano": nano, "time": nano / 1_000_000_000,
            "Actor": {"ID": id, "Attributes": {"name": name}}
        }))
        .unwrap()
    }

    #[test]
    fn actions_are_cut_and_allow_listed() {
        assert_eq!(short_action("exec_create: /bin/sh -c true"), "exec_create");
        assert_eq!(short_action("health_status: healthy"), "health_status");
        assert_eq!(
            container_action("health_status: healthy"),
            Some("health_status_healthy")
        );
        assert_eq!(container_action("exec_start: sh"), None);
        assert_eq!(container_action("die"), Some("die"));
    }

    #[test]
    fn replayed_events_are_not_counted_twice() {
        let mut cursor = Cursor::default();
        let first = [
            event("container", "start", "a", "x", 10),
            event("container", "die", "a", "x", 20),
            event("container", "destroy", "b", "y", 20),
        ];
        let fx = effects(&mut cursor, &first);
        assert_eq!(fx.by_type.values().sum::<u64>(), 3);
        assert_eq!(cursor.since(), (0, 20));
        // The engine replays from `since` (>=): the two at t=20 again, then a new one.
        let replay = [
            event("container", "die", "a", "x", 20),
            event("container", "destroy", "b", "y", 20),
            event("container", "start", "a", "x", 30),
            event("image", "pull", "img", "", 30),
        ];
        let fx = effects(&mut cursor, &replay);
        assert_eq!(fx.by_type.values().sum::<u64>(), 2);
        assert_eq!(fx.by_container.get(&("x".into(), "start")), Some(&1));
        assert_eq!(fx.inspect, BTreeSet::from(["a".to_string()]));
        assert!(fx.destroyed.is_empty());
    }

    #[test]
    fn exec_events_count_by_type_only() {
        let mut cursor = Cursor::default();
        let fx = effects(
            &mut cursor,
            &[
                event("container", "exec_create: /bin/sh -c true", "a", "x", 1),
                event("container", "exec_start: /bin/sh -c true", "a", "x", 2),
                event("container", "exec_die", "a", "x", 3),
            ],
        );
        assert_eq!(
            fx.by_type.get(&("container".into(), "exec_create".into())),
            Some(&1)
        );
        assert!(fx.by_container.is_empty());
        assert!(fx.inspect.is_empty(), "exec events change no state");
    }

    #[test]
    fn destroy_wins_over_earlier_changes_in_a_batch() {
        let mut cursor = Cursor::default();
        let fx = effects(
            &mut cursor,
            &[
                event("container", "die", "a", "x", 1),
                event("container", "destroy", "a", "x", 2),
            ],
        );
        assert!(fx.inspect.is_empty());
        assert_eq!(fx.destroyed, BTreeSet::from(["a".to_string()]));
    }
}
