//! The stats collector: one stats sample per live container, fetched
//! concurrently, each call under the client's timeout and the whole fan-out
//! under a deadline, so one hung container never holds up the rest.
//!
//! Engines before 25 answer a one-shot call only at their next 1 s sampling
//! tick, so on them every call of a cycle is put in flight at once (they all
//! share one tick); newer engines answer in milliseconds and get a small
//! concurrency. `--collect.stats-concurrency` overrides both.
//!
//! With `--collect.stats-source=cgroup` or `auto` (the default, unless the
//! engine is remote) the samples are read from each container's cgroup files
//! instead (see [`crate::cgroup`]), on a blocking thread, with no engine call;
//! on `auto` a container whose cgroup cannot be read is asked of the engine.
//! Each such miss is counted by reason.

use super::{LogOnce, Outcome, Working};
use crate::cgroup;
use crate::config::{Config, StatsSource};
use crate::docker::{Client, Endpoint};
use crate::snapshot::{now_unix, Container, Engine, EngineKind, Saturated, Stats};
use futures_util::stream::{self, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrency on engines that answer stats at once (Engine 25 and later):
/// 32 calls of ~2 ms each keep a cycle over 1,000 containers near 60 ms and
/// cost less CPU per call than 8 (fewer wake-ups; see BENCHMARKS.md).
pub const FAST_ENGINE_CONCURRENCY: usize = 32;
/// Concurrency on engines that answer one-shot stats at their next 1 s tick.
pub const TICKING_ENGINE_CONCURRENCY: usize = 512;

/// One container's sample this cycle.
pub(super) enum Sample {
    Fresh(Arc<Stats>),
    /// Gone, or stopped (the engine's zero-time answer): no resource series.
    None,
    /// The call failed; the last sample may stand in for a while.
    Failed,
}

/// Whether the engine answers one-shot stats only at its 1 s tick: Docker
/// before 25 (Podman answers at once).
pub fn engine_ticks(engine: &Engine) -> bool {
    if engine.kind == EngineKind::Podman {
        return false;
    }
    let major = engine
        .version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    matches!(major, Some(m) if m < 25)
}

/// The concurrency for this engine: the flag, else by engine generation.
pub fn concurrency(config: &Config, engine: &Engine) -> usize {
    config.stats_concurrency.unwrap_or(if engine_ticks(engine) {
        TICKING_ENGINE_CONCURRENCY
    } else {
        FAST_ENGINE_CONCURRENCY
    })
}

/// A cycle's samples, and the containers whose cgroup could not be read, by reason.
pub(super) struct Sampled {
    pub samples: Vec<(String, Sample)>,
    /// `None` on the engine source (no cgroup is read).
    pub misses: Option<Vec<&'static str>>,
}

/// The source this cycle reads from: `auto` on a remote engine is `engine`
/// (its containers' cgroups are on another host).
fn source(config: &Config) -> StatsSource {
    match (config.stats_source, &config.docker_host) {
        (StatsSource::Auto, Endpoint::Tcp(_)) => StatsSource::Engine,
        (source, _) => source,
    }
}

pub(super) async fn collect(
    client: &Client,
    config: &Config,
    engine: &Engine,
    live: &[Arc<Container>],
    open: &mut cgroup::Open,
    log: &mut LogOnce,
) -> Outcome<Sampled> {
    let started = Instant::now();
    let source = source(config);
    let mut errors = 0;
    let (mut samples, misses, ask_engine) = if source == StatsSource::Engine {
        if log.first("stats source") {
            tracing::info!(
                source = "engine",
                flag = ?config.stats_source,
                "stats source: the engine's stats call{}",
                if config.stats_source == StatsSource::Auto { " (auto: the engine is remote, its cgroups are not on this host)" } else { "" }
            );
        }
        let ids = live.iter().map(|c| c.id.clone()).collect();
        (Vec::new(), None, ids)
    } else {
        let read = read_cgroups(config, live, open, log).await;
        errors += read.errors;
        (read.samples, Some(read.misses), read.ask_engine)
    };
    if !ask_engine.is_empty() {
        let asked = engine_samples(client, config, engine, &ask_engine, log).await;
        errors += asked.errors;
        samples.extend(asked.result);
    }
    Outcome {
        result: Sampled { samples, misses },
        took: started.elapsed(),
        errors,
    }
}

/// What reading the cgroups gave: samples, misses by reason, and (on `auto`)
/// the containers to ask the engine for instead.
struct CgroupRead {
    samples: Vec<(String, Sample)>,
    misses: Vec<&'static str>,
    ask_engine: Vec<String>,
    errors: u64,
}

/// Reads every live container's cgroup on a blocking thread (small files, no
/// waiting on the engine). On `auto` a container that cannot be read is asked
/// of the engine; on `cgroup` it gets no sample (one without a process, gone
/// or restarting, loses its last one).
async fn read_cgroups(
    config: &Config,
    live: &[Arc<Container>],
    open: &mut cgroup::Open,
    log: &mut LogOnce,
) -> CgroupRead {
    let paths = cgroup::Paths {
        sysfs: config.sysfs.clone(),
        procfs: config.procfs.clone(),
    };
    let list = live.to_vec();
    let mut files = std::mem::take(open);
    let budget = files.budget();
    let read = tokio::task::spawn_blocking(move || {
        let ids: HashSet<&str> = list.iter().map(|c| c.id.as_str()).collect();
        files.retain(&ids);
        let read: Vec<_> = list
            .iter()
            .map(|c| (c.id.clone(), files.read(&paths, c)))
            .collect();
        (read, files)
    })
    .await;
    let read = match read {
        Ok((read, files)) => {
            *open = files;
            read
        }
        Err(_) => {
            *open = cgroup::Open::new(budget);
            Vec::new()
        }
    };
    let auto = config.stats_source == StatsSource::Auto;
    let mut out = CgroupRead {
        samples: Vec::with_capacity(read.len()),
        misses: Vec::new(),
        ask_engine: Vec::new(),
        errors: 0,
    };
    for (id, r) in read {
        match r {
            Ok(s) => out.samples.push((id, Sample::Fresh(Arc::new(s)))),
            Err(miss) => {
                let reason = miss.reason();
                out.misses.push(reason);
                if log.first(format!("cgroup miss {reason}")) {
                    tracing::warn!(
                        container = %id,
                        reason,
                        error = %miss,
                        "cannot read a container's stats from its cgroup{}",
                        if auto { "; asking the engine instead (logged once per reason)" } else { " (logged once per reason)" }
                    );
                }
                if auto {
                    out.ask_engine.push(id);
                } else if matches!(miss, cgroup::Miss::Gone(_) | cgroup::Miss::NoPid) {
                    // No process (exited, or restarting): no stats, as the engine.
                    out.samples.push((id, Sample::None));
                } else {
                    out.errors += 1;
                    out.samples.push((id, Sample::Failed));
                }
            }
        }
    }
    if log.first("stats source") {
        tracing::info!(
            source = ?config.stats_source,
            sysfs = %config.sysfs.display(),
            procfs = %config.procfs.display(),
            from_cgroups = out.samples.len(),
            from_engine = out.ask_engine.len(),
            "stats source: cgroup files{}",
            if out.misses.is_empty() { ", readable for every container" } else if auto { "; the engine for containers whose cgroup cannot be read (see the warnings)" } else { "; containers whose cgroup cannot be read get no stats (see the warnings)" }
        );
    }
    out
}

/// One stats call per container, concurrently, under the cycle's deadline.
async fn engine_samples(
    client: &Client,
    config: &Config,
    engine: &Engine,
    ids: &[String],
    log: &mut LogOnce,
) -> Outcome<Vec<(String, Sample)>> {
    let started = Instant::now();
    let one_shot = engine.api_version.has_one_shot_stats();
    if !one_shot && log.first("two-sample stats") {
        tracing::warn!(
            api_version = %engine.api_version,
            "this engine's API has no one-shot stats: every stats call waits for a second sample (1-2 s), so collection is slow"
        );
    }
    let limit = concurrency(config, engine).max(1);
    // Each call has the client's timeout; the deadline bounds the whole fan-out
    // (many containers at a low concurrency) to what a cycle may take.
    let deadline = config.collect_interval.max(config.docker_timeout);
    let mut results: Vec<(String, Sample)> = Vec::with_capacity(ids.len());
    let mut failures: Vec<(String, String)> = Vec::new();
    let fan_out = stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let r = client.stats(&id, one_shot).await;
            (id, r)
        })
        .buffer_unordered(limit);
    let mut fan_out = std::pin::pin!(fan_out);
    let mut saturated = Saturated::default();
    let timed_out = tokio::time::timeout(deadline, async {
        while let Some((id, r)) = fan_out.next().await {
            match r {
                Ok(Some(s)) => match Stats::from_wire(&s, engine.kind, &mut saturated) {
                    Some(stats) => results.push((id, Sample::Fresh(Arc::new(stats)))),
                    None => results.push((id, Sample::None)),
                },
                Ok(None) => results.push((id, Sample::None)),
                Err(e) => {
                    failures.push((id.clone(), e.to_string()));
                    results.push((id, Sample::Failed));
                }
            }
        }
    })
    .await
    .is_err();
    let mut errors = failures.len() as u64 + saturated.0;
    if saturated.0 > 0 && log.first("stats saturated") {
        tracing::warn!(
            values = saturated.0,
            "stats numbers too large to add up: served saturated, counted as errors"
        );
    }
    for (id, e) in &failures {
        if log.first(format!("stats {id}")) {
            tracing::warn!(container = %id, error = %e, "cannot read a container's stats");
        }
    }
    if timed_out {
        let answered: std::collections::HashSet<&String> =
            results.iter().map(|(id, _)| id).collect();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !answered.contains(id))
            .cloned()
            .collect();
        errors += missing.len() as u64;
        if log.first("stats deadline") {
            tracing::warn!(
                missing = missing.len(),
                ?deadline,
                "stats calls still unanswered at the cycle's deadline"
            );
        }
        results.extend(missing.into_iter().map(|id| (id, Sample::Failed)));
    } else {
        log.clear("stats deadline");
    }
    Outcome {
        result: results,
        took: started.elapsed(),
        errors,
    }
}

/// How long a sample may stand in for failed calls: three intervals, and at
/// least 30 s (`container_last_seen` shows its age).
fn keep_for(interval: Duration) -> Duration {
    (3 * interval).max(Duration::from_secs(30))
}

/// Stores a cycle's samples; a failed call keeps the previous sample for [`keep_for`].
pub(super) fn apply(w: &mut Working, sampled: Sampled, interval: Duration) {
    if let Some(misses) = sampled.misses {
        let counts = w.stats_cgroup_misses.get_or_insert_with(Default::default);
        for reason in misses {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let samples = sampled.samples;
    let oldest = now_unix() - keep_for(interval).as_secs_f64();
    for (id, sample) in samples {
        match sample {
            Sample::Fresh(mut s) => {
                // Keep the replaced sample's counters for rates (40 bytes).
                if let Some(old) = w.stats.get(&id).filter(|o| o.read_at < s.read_at) {
                    Arc::make_mut(&mut s).previous = Some(old.counters());
                }
                w.stats.insert(id, s);
            }
            Sample::None => {
                w.stats.remove(&id);
            }
            Sample::Failed => {
                if w.stats.get(&id).is_some_and(|s| s.read_at < oldest) {
                    w.stats.remove(&id);
                }
            }
        }
    }
    let not_live: Vec<String> = w
        .stats
        .keys()
        .filter(|id| !w.containers.get(*id).is_some_and(|c| c.state.is_live()))
        .cloned()
        .collect();
    for id in not_live {
        w.stats.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Container, State};

    #[test]
    fn a_fresh_sample_keeps_the_previous_counters_only() {
        let mut w = Working::default();
        let container = Container {
            id: "c".into(),
            cgroup_path: String::new(),
            name: "c".into(),
            image: String::new(),
            image_id: String::new(),
            labels: vec![],
            state: State::Running,
            health: crate::snapshot::Health::None,
            restart_count: 0,
            exit_code: 0,
            oom_killed: false,
            created: None,
            started_at: None,
            finished_at: None,
            spec: Default::default(),
            pid: None,
            host_network: false,
        };
        w.containers.insert("c".into(), Arc::new(container));
        let sample = |read_at: f64, cpu: u64| {
            let s = Stats {
                read_at: now_unix() + read_at,
                cpu_total_ns: Some(cpu),
                ..Default::default()
            };
            Sampled {
                samples: vec![("c".to_string(), Sample::Fresh(Arc::new(s)))],
                misses: None,
            }
        };
        let interval = Duration::from_secs(1);
        apply(&mut w, sample(0.0, 1_000_000_000), interval);
        assert_eq!(w.stats["c"].previous, None);
        apply(&mut w, sample(1.0, 1_500_000_000), interval);
        apply(&mut w, sample(2.0, 2_500_000_000), interval);
        let s = &w.stats["c"];
        assert_eq!(
            s.previous.unwrap().cpu_total_ns,
            Some(1_500_000_000),
            "only the sample just replaced is kept, not a chain"
        );
        assert_eq!(s.rates().unwrap().cpu_cores.map(|c| c.round()), Some(1.0));
        let failed = Sampled {
            samples: vec![("c".to_string(), Sample::Failed)],
            misses: Some(vec!["gone", "gone"]),
        };
        apply(&mut w, failed, interval);
        assert_eq!(w.stats_cgroup_misses.as_ref().unwrap()["gone"], 2);
        assert!(w.stats["c"].previous.is_some(), "a failed call keeps both");
    }
}
