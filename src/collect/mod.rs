//! The collectors: the only writers of the snapshot.
//!
//! [`Collector`] is the set of collectors; [`Store`] (in `store.rs`) holds the
//! working state and the published snapshot. The periodic [`run`] loop asks
//! the engine, containers and stats collectors for one cycle's results and
//! applies them in one update, so a snapshot never mixes two cycles. The event
//! stream (see [`events`]) applies single-container changes in between; the
//! opt-in [`disk`] collector and the [`swarm`] collector run as tasks of
//! their own, on their own intervals.

mod collector;
mod containers;
pub mod disk;
mod engine;
pub mod events;
mod log_once;
mod stats;
mod store;
pub mod swarm;

pub use collector::Collector;
pub(crate) use log_once::LogOnce;
pub use store::Store;
pub(crate) use store::Working;

use crate::config::Config;
use crate::docker::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Failed cycles in a row after which what was known of the engine is dropped.
const FORGET_AFTER_FAILURES: u32 = 2;

/// The periodic loop: one cycle every `interval`, sooner when the event
/// stream asks, retrying with capped backoff while the engine is down.
pub async fn run(
    client: Arc<Client>,
    store: Arc<Store>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) {
    let mut log = LogOnce::default();
    let mut open = crate::cgroup::Open::new(crate::cgroup::descriptor_budget());
    let mut failures: u32 = 0;
    let mut subscribed = store.subscribe_tried.subscribe();
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::timeout(config.docker_timeout, subscribed.wait_for(|tried| *tried)) => {}
    }
    loop {
        let started = Instant::now();
        let ok = cycle(&client, &store, &config, &mut open, &mut log).await;
        store.cycle_completed();
        let wait = if ok {
            failures = 0;
            config.collect_interval.saturating_sub(started.elapsed())
        } else {
            failures = failures.saturating_add(1);
            if failures == FORGET_AFTER_FAILURES {
                // Serving the last known states of a dead engine would be a lie.
                store.update(Working::forget_engine);
            }
            backoff(failures, Duration::from_secs(1), config.collect_interval)
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = store.resync.notified() => {}
        }
    }
}

/// The wait before retry number `attempt` (1, 2, …): `first`, doubling each
/// time, capped at `cap`, and never under 100 ms. The periodic loop waits
/// 1 s, 2 s, 4 s … up to the interval; the event stream 100 ms … up to 5 s.
pub(super) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    let doubled = first.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    doubled.min(cap).max(Duration::from_millis(100))
}

/// One collection cycle; false when the engine could not be reached.
///
/// With the event stream up (it re-inspects every container an event names),
/// a cycle lists the containers and reads `/version` only every
/// `--collect.resync-interval`; in between it pings the engine (reading
/// `/info` again if an event changed a container) and samples the stats of
/// the live containers it knows. With the stream down, or a resync asked
/// for, every cycle lists and inspects.
pub(crate) async fn cycle(
    client: &Client,
    store: &Store,
    config: &Config,
    open: &mut crate::cgroup::Open,
    log: &mut LogOnce,
) -> bool {
    let started = Instant::now();
    let (start_generation, full, resync_to, list, info_moved, last) = store.read(|w| {
        let full = w.events_stream.is_none() || w.resync_requested > w.resynced;
        let list = full
            || w.engine.is_none()
            || w.listed_at
                .is_none_or(|t| t.elapsed() >= config.resync_interval);
        let last = w.engine.clone().zip(w.engine_version.clone());
        (
            w.generation,
            full,
            w.resync_requested,
            list,
            w.generation != w.info_generation,
            last,
        )
    });
    let how = match (list, info_moved) {
        (true, _) => engine::Read::Full,
        (false, true) => engine::Read::Info,
        (false, false) => engine::Read::Ping,
    };
    let engine = engine::collect(client, how, last, log).await;
    let Ok((engine_info, engine_version)) = &engine.result else {
        store.update(|w| {
            w.engine_up = false;
            w.record(Collector::Engine, engine.took, 1);
        });
        // A stream from an engine that cannot be reached is dead or soon will be.
        if let Some(stream) = store.read(|w| w.events_stream.clone()) {
            stream.cancel();
        }
        return false;
    };
    let (engine_info, engine_version) = (engine_info.clone(), engine_version.clone());
    let listed = match list {
        true => Some(containers::collect(client, store, config, &engine_info, full, log).await),
        false => None,
    };
    let live = match &listed {
        Some(Outcome {
            result: Ok(list), ..
        }) => list.live(store),
        Some(_) => Vec::new(),
        None => store.read(|w| {
            w.containers
                .values()
                .filter(|c| c.state.is_live())
                .cloned()
                .collect()
        }),
    };
    let sampled = stats::collect(client, config, &engine_info, &live, open, log).await;

    store.update(|w| {
        w.engine_up = listed.as_ref().is_none_or(|l| l.result.is_ok());
        w.engine = Some(engine_info);
        w.engine_version = Some(engine_version);
        if how != engine::Read::Ping {
            w.info_generation = start_generation;
        }
        w.record(Collector::Engine, engine.took, 0);
        match listed {
            Some(Outcome {
                result: Ok(list),
                took,
                errors,
            }) => {
                containers::apply(w, list, start_generation);
                if full && errors == 0 {
                    w.resynced = resync_to;
                }
                // A container that could not be inspected is tried again
                // next cycle, not a resync interval later.
                w.listed_at = (errors == 0).then_some(started);
                w.record(Collector::Containers, took, errors);
            }
            Some(failed) => {
                w.listed_at = None;
                w.record(Collector::Containers, failed.took, failed.errors.max(1));
            }
            // Not listed this cycle: the events kept the containers current.
            None => {}
        }
        events::prune(w);
        stats::apply(w, sampled.result, config.collect_interval);
        w.record(Collector::Stats, sampled.took, sampled.errors);
        w.collected_at = crate::snapshot::now_unix();
    });
    true
}

/// Times one engine read of a collector that keeps its last answer (disk,
/// swarm), logging its failure once (`what` names it) and its recovery.
pub(crate) async fn timed<T>(
    log: &mut LogOnce,
    what: &'static str,
    read: impl std::future::Future<Output = Result<T, crate::docker::Error>>,
) -> Outcome<Result<T, crate::docker::Error>> {
    let started = Instant::now();
    let result = read.await;
    match &result {
        Ok(_) => {
            if log.clear(what) {
                tracing::info!("{what} answers again");
            }
        }
        Err(e) => {
            if log.first(what) {
                tracing::warn!(error = %e, "{what} failed; serving its last answer");
            } else {
                tracing::debug!(error = %e, "{what} still fails");
            }
        }
    }
    let errors = result.is_err() as u64;
    Outcome {
        result,
        took: started.elapsed(),
        errors,
    }
}

/// One collector's output for a cycle.
pub(crate) struct Outcome<T> {
    pub result: T,
    pub took: Duration,
    pub errors: u64,
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        let waits: Vec<Duration> = (1..=6).map(|n| backoff(n, s(1), s(15))).collect();
        assert_eq!(waits, [s(1), s(2), s(4), s(8), s(15), s(15)]);
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (1..=8).map(|n| backoff(n, ms(100), s(5))).collect();
        assert_eq!(
            waits,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                s(5),
                s(5)
            ]
        );
        assert_eq!(backoff(1, s(1), ms(50)), ms(100), "never under 100 ms");
        assert_eq!(backoff(u32::MAX, s(1), s(15)), s(15));
    }
}
