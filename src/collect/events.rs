//! The event stream collector: counts every engine event and applies each
//! container event to the snapshot at once, between periodic cycles.
//!
//! It subscribes before the first list (the periodic loop waits for the first
//! attempt), with `since` = the exporter's start, so no change is missed. Every
//! event of a live stream is counted, in whatever order its stamps come (the
//! engine publishes events a little after stamping them). When the stream
//! breaks it reconnects with capped backoff and `since` = [`REPLAY_MARGIN`]
//! before the newest event counted, skips exactly the replayed events it had
//! counted (by stamp, type, action and actor), counts the reconnect and asks for
//! a full resync. The stream has no read timeout: a cycle that finds the engine
//! unreachable tells this task to reconnect instead.

use super::containers::{self, Inspected};
use super::{backoff, Collector, LogOnce, Store, Working};
use crate::config::Config;
use crate::docker::{types, Client, EventStream};
use crate::snapshot::{now_unix, Container, ContainerEvents};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
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

/// How far before the newest counted event a resubscription starts. The engine
/// stamps an event when it makes it and publishes it a little later, so under
/// concurrent changes the stream is not in `timeNano` order: an event missed
/// during a break can carry a stamp older than the newest one counted. Starting
/// the replay this much earlier gets it back; what the replay repeats is skipped
/// by key.
pub const REPLAY_MARGIN: Duration = Duration::from_secs(1);

/// Keys remembered at most for skipping replays (bounded memory under a flood;
/// an engine replays at most its last 256 events anyway).
const REMEMBERED_MAX: usize = 8192;

/// What identifies an event: its stamp, type, action and actor.
type EventKey = (i64, String, String, String);

/// The events counted lately, for skipping what the engine replays after a
/// reconnect, and only then: a live stream is never deduplicated, whatever the
/// order of its stamps.
#[derive(Debug)]
struct Counted {
    /// `timeNano` of the newest event counted (or the exporter's start).
    newest: i64,
    /// No resubscription starts before this: the exporter's start, raised past
    /// any key forgotten because of [`REMEMBERED_MAX`].
    floor: i64,
    /// Keys of the events counted with a stamp within [`REPLAY_MARGIN`] of
    /// `newest`, in arrival order (`keys` holds the same, for look-ups).
    recent: VecDeque<EventKey>,
    keys: HashSet<EventKey>,
    /// Set by a resubscription: events stamped at or before this may be replays.
    replay_until: Option<i64>,
}

impl Counted {
    fn new(start_nano: i64) -> Counted {
        Counted {
            newest: start_nano,
            floor: start_nano,
            recent: VecDeque::new(),
            keys: HashSet::new(),
            replay_until: None,
        }
    }

    /// True when the event is to be counted (and records it); false only for an
    /// event the engine replays after a resubscription and that was counted.
    fn admit(&mut self, key: EventKey) -> bool {
        let nano = key.0;
        if self.replay_until.is_some_and(|until| nano <= until) && self.keys.contains(&key) {
            return false;
        }
        self.newest = self.newest.max(nano);
        let oldest_kept = self.newest.saturating_sub(REPLAY_MARGIN.as_nanos() as i64);
        if nano >= oldest_kept {
            self.keys.insert(key.clone());
            self.recent.push_back(key);
        }
        while let Some(front) = self.recent.front() {
            let too_many = self.recent.len() > REMEMBERED_MAX;
            if front.0 >= oldest_kept && !too_many {
                break;
            }
            if too_many {
                // Forgotten early: a replay must not reach back to it.
                self.floor = self.floor.max(front.0.saturating_add(1));
            }
            self.keys.remove(front);
            self.recent.pop_front();
        }
        true
    }

    /// Starts a resubscription: returns its `since` (seconds, nanoseconds), a
    /// margin before the newest event counted, and skips replays from now on.
    fn resubscribe(&mut self) -> (i64, u32) {
        let since = self
            .newest
            .saturating_sub(REPLAY_MARGIN.as_nanos() as i64)
            .max(self.floor);
        if self.newest > self.floor || !self.keys.is_empty() {
            self.replay_until = Some(self.newest);
        }
        (
            since.div_euclid(1_000_000_000),
            since.rem_euclid(1_000_000_000) as u32,
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
    let mut counted = Counted::new(i64::try_from(start.as_nanos()).unwrap_or(i64::MAX));
    let mut log = LogOnce::default();
    let mut subscribed_before = false;
    let mut failures: u32 = 0;
    loop {
        let since = counted.resubscribe();
        let opened = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = client.events(Some(since)) => r,
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
                    &mut counted,
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
    counted: &mut Counted,
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
                Read::Event(e) if config.container_filter.admits_event(&e) => events.push(e),
                // A container left out by the filter: not counted anywhere.
                Read::Event(_) => {}
                Read::Ended(why) => broke = Some(why),
                Read::Undecodable(e) => {
                    errors += 1;
                    if log.first("decode") {
                        tracing::warn!(error = %e, "skipping an event line that is not an event");
                    }
                }
            }
        }
        let changed = effects(counted, &events);
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

/// The allow-listed per-container action, if this is one. Podman says
/// `remove` where Docker says `destroy`, and sends a bare `health_status`
/// with the status beside it (`HealthStatus`) rather than after a colon.
fn container_action(action: &str, health: Option<&str>) -> Option<&'static str> {
    let normalised = match (action, health) {
        ("remove", _) => "destroy".to_string(),
        ("health_status", Some(status)) => format!("health_status_{status}"),
        _ => action.replace(": ", "_"),
    };
    CONTAINER_ACTIONS.into_iter().find(|a| *a == normalised)
}

/// Counts the new events of a batch and says which containers changed.
fn effects(counted: &mut Counted, events: &[types::Event]) -> Effects {
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
        if !counted.admit((nano, kind.clone(), action.clone(), id.clone())) {
            continue;
        }
        *fx.by_type
            .entry((kind.clone(), short_action(&action).to_string()))
            .or_default() += 1;
        if kind != "container" || id.is_empty() {
            continue;
        }
        let Some(counted) = container_action(&action, e.health_status.as_deref()) else {
            // Podman's `health_status` with a `starting` status is not
            // counted, but the container's health may have changed.
            if action == "health_status" {
                fx.destroyed.remove(&id);
                fx.inspect.insert(id);
            }
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
    let (kind, driver) = store.read(|w| {
        w.engine
            .as_ref()
            .map(|e| (e.kind, e.cgroup_driver.clone()))
            .unwrap_or_default()
    });
    let (inspected, errors) = containers::inspect_all(
        client,
        config,
        kind,
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
                // The next cycle lists and inspects it again; nothing to undo.
                Inspected::Failed => {
                    w.fingerprints.remove(&id);
                    w.listed_at = None;
                }
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
    use crate::snapshot::EngineKind;

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
            container_action("health_status: healthy", None),
            Some("health_status_healthy")
        );
        assert_eq!(container_action("exec_start: sh", None), None);
        assert_eq!(container_action("die", None), Some("die"));
    }

    #[test]
    fn podman_remove_and_bare_health_status_are_mapped() {
        assert_eq!(container_action("remove", None), Some("destroy"));
        assert_eq!(
            container_action("health_status", Some("unhealthy")),
            Some("health_status_unhealthy")
        );
        assert_eq!(container_action("health_status", None), None);
        let health = |status: &str, nano| {
            let mut e = event("container", "health_status", "h", "hc", nano);
            e.health_status = Some(status.into());
            e
        };
        let fx = effects(
            &mut Counted::new(T0),
            &[
                health("starting", T0 + 1),
                health("healthy", T0 + 2),
                event("container", "remove", "r", "gone", T0 + 3),
            ],
        );
        assert_eq!(
            fx.by_type
                .get(&("container".into(), "health_status".into())),
            Some(&2)
        );
        assert_eq!(
            fx.by_type.get(&("container".into(), "remove".into())),
            Some(&1)
        );
        assert_eq!(
            fx.by_container.get(&("hc".into(), "health_status_healthy")),
            Some(&1)
        );
        assert_eq!(fx.by_container.len(), 2, "starting is not counted: {fx:?}");
        assert_eq!(fx.by_container.get(&("gone".into(), "destroy")), Some(&1));
        assert_eq!(fx.inspect, BTreeSet::from(["h".to_string()]));
        assert_eq!(fx.destroyed, BTreeSet::from(["r".to_string()]));
    }

    /// A time well after the epoch, so that the margin arithmetic is realistic.
    const T0: i64 = 1_700_000_000_000_000_000;
    const MARGIN: i64 = REPLAY_MARGIN.as_nanos() as i64;

    fn total(fx: &Effects) -> u64 {
        fx.by_type.values().sum()
    }

    #[test]
    fn a_live_stream_out_of_stamp_order_loses_nothing() {
        let mut counted = Counted::new(T0);
        // Three containers changing at once: each event is published a few
        // microseconds after it is stamped, so the stamps go back and forth.
        let live = [
            event("container", "start", "a", "x", T0 + 5_000),
            event("container", "start", "b", "y", T0 + 3_000),
            event("container", "die", "c", "z", T0 + 4_000),
            event("container", "die", "a", "x", T0 + 9_000),
            event("container", "destroy", "c", "z", T0 + 8_000),
            event("container", "die", "b", "y", T0 + 7_000),
        ];
        let fx = effects(&mut counted, &live);
        assert_eq!(total(&fx), 6, "every live event counted: {fx:?}");
        assert_eq!(fx.by_container.get(&("y".into(), "die")), Some(&1));
        assert_eq!(fx.by_container.get(&("z".into(), "die")), Some(&1));
        assert_eq!(fx.inspect, BTreeSet::from(["a".into(), "b".into()]));
        assert_eq!(fx.destroyed, BTreeSet::from(["c".to_string()]));
        // The same event twice on a live stream (the engine never does this,
        // but the stream is not the place to second-guess it) is counted twice.
        let fx = effects(
            &mut counted,
            &[event("container", "die", "a", "x", T0 + 9_000)],
        );
        assert_eq!(total(&fx), 1);
    }

    #[test]
    fn a_replay_after_a_reconnect_counts_each_event_once() {
        let mut counted = Counted::new(T0);
        let before_break = [
            event("container", "start", "a", "x", T0 + 100),
            event("container", "start", "b", "y", T0 + 90),
            event("container", "die", "a", "x", T0 + 300),
        ];
        assert_eq!(total(&effects(&mut counted, &before_break)), 3);
        // Missed while the stream was down: one stamped before the newest
        // event counted (published late), and a newer one.
        let since = counted.resubscribe();
        let since_nano = since.0 * 1_000_000_000 + i64::from(since.1);
        assert_eq!(since_nano, T0.max(T0 + 300 - MARGIN));
        // The engine replays what it keeps stamped at or after `since`, in
        // publish order, then goes on live.
        let replay = [
            event("container", "start", "a", "x", T0 + 100),
            event("container", "start", "b", "y", T0 + 90),
            event("container", "die", "a", "x", T0 + 300),
            event("container", "die", "b", "y", T0 + 250),
            event("container", "destroy", "a", "x", T0 + 400),
            event("container", "start", "c", "z", T0 + 350),
        ];
        let fx = effects(&mut counted, &replay);
        assert_eq!(total(&fx), 3, "only the missed events: {fx:?}");
        assert_eq!(fx.by_container.get(&("y".into(), "die")), Some(&1));
        assert_eq!(fx.by_container.get(&("y".into(), "start")), None);
        assert_eq!(fx.by_container.get(&("x".into(), "destroy")), Some(&1));
        assert_eq!(fx.by_container.get(&("z".into(), "start")), Some(&1));
        // A second break in a row: still each event once.
        counted.resubscribe();
        let again = [
            event("container", "die", "b", "y", T0 + 250),
            event("container", "start", "c", "z", T0 + 350),
            event("container", "die", "c", "z", T0 + 340),
        ];
        let fx = effects(&mut counted, &again);
        assert_eq!(total(&fx), 1, "{fx:?}");
        assert_eq!(fx.by_container.get(&("z".into(), "die")), Some(&1));
    }

    #[test]
    fn the_first_subscription_starts_at_the_exporters_start() {
        let mut counted = Counted::new(T0);
        assert_eq!(counted.resubscribe(), (T0 / 1_000_000_000, 0));
        assert_eq!(
            counted.replay_until, None,
            "nothing counted, nothing to skip"
        );
        // A break before any event: still from the start, never before it.
        assert_eq!(counted.resubscribe(), (T0 / 1_000_000_000, 0));
        // Long after the start, the replay reaches back the margin.
        let late = T0 + 60 * 1_000_000_000 + 7;
        effects(&mut counted, &[event("container", "start", "a", "x", late)]);
        let since = counted.resubscribe();
        assert_eq!(since.0 * 1_000_000_000 + i64::from(since.1), late - MARGIN);
    }

    #[test]
    fn memory_is_bounded_and_a_replay_never_reaches_a_forgotten_key() {
        let mut counted = Counted::new(T0);
        let n = REMEMBERED_MAX + 100;
        let flood: Vec<_> = (0..n)
            .map(|i| event("container", "exec_start", "a", "x", T0 + 10 + i as i64))
            .collect();
        assert_eq!(total(&effects(&mut counted, &flood)), n as u64);
        assert!(counted.recent.len() <= REMEMBERED_MAX);
        assert!(counted.keys.len() <= REMEMBERED_MAX);
        let since = counted.resubscribe();
        let since_nano = since.0 * 1_000_000_000 + i64::from(since.1);
        // The forgotten keys are older than `since`, so no replay repeats them.
        assert_eq!(since_nano, T0 + 10 + 100);
        let replay: Vec<_> = flood[100..].to_vec();
        assert_eq!(total(&effects(&mut counted, &replay)), 0);
        // Old stamps leave the window as newer events come.
        let much_later = T0 + 10 * MARGIN;
        effects(
            &mut counted,
            &[event("container", "die", "a", "x", much_later)],
        );
        assert_eq!(counted.recent.len(), 1);
    }

    fn built(id: &str, name: &str, status: &str) -> Arc<Container> {
        let inspect: types::Inspect = serde_json::from_value(serde_json::json!({
            "Id": id, "Name": format!("/{name}"), "State": {"Status": status}
        }))
        .unwrap();
        let mut saturated = crate::snapshot::Saturated::default();
        Arc::new(
            Container::from_inspect(
                &inspect,
                &[],
                EngineKind::Docker,
                "cgroupfs",
                &mut saturated,
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_cycle_that_began_before_an_out_of_order_event_does_not_undo_it() {
        // Generations count applied batches in arrival order, never stamps: an
        // event delivered after a cycle began wins over the cycle's older list,
        // even when its stamp is older than the cycle's start.
        let mut w = Working::default();
        w.containers.insert("a".into(), built("a", "x", "running"));
        let cycle_started_at = T0 + 1_000;
        let start_generation = w.generation;
        let mut counted = Counted::new(T0);
        let late = [
            event("container", "start", "b", "y", cycle_started_at + 10),
            event("container", "die", "a", "x", cycle_started_at - 500),
        ];
        let fx = effects(&mut counted, &late);
        assert_eq!(fx.inspect, BTreeSet::from(["a".into(), "b".into()]));
        Changes {
            effects: fx,
            inspected: vec![("a".into(), Inspected::Built(built("a", "x", "exited")))],
            errors: 0,
        }
        .apply(&mut w);
        // The cycle's list was taken before the die: it still says running.
        let stale = containers::Listed {
            ids: ["a".to_string()].into(),
            inspected: vec![("a".into(), built("a", "x", "running"), "running".into())],
            gone: Vec::new(),
            failed: Vec::new(),
        };
        containers::apply(&mut w, stale, start_generation);
        assert_eq!(w.containers["a"].state, crate::snapshot::State::Exited);
        assert!(
            !w.fingerprints.contains_key("a"),
            "inspected again next cycle"
        );
        assert_eq!(
            w.events.by_container["x"].actions.get("die"),
            Some(&1),
            "counted"
        );
    }

    #[test]
    fn exec_events_count_by_type_only() {
        let mut counted = Counted::new(0);
        let fx = effects(
            &mut counted,
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
        let mut counted = Counted::new(0);
        let fx = effects(
            &mut counted,
            &[
                event("container", "die", "a", "x", 1),
                event("container", "destroy", "a", "x", 2),
            ],
        );
        assert!(fx.inspect.is_empty());
        assert_eq!(fx.destroyed, BTreeSet::from(["a".to_string()]));
    }
}
