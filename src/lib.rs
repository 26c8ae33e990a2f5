//! docker_exporter: a Prometheus exporter for the Docker Engine.
//!
//! Background tasks read the engine (container list, inspect, stats, events,
//! `/info`) into an immutable snapshot; `/metrics` encodes the current snapshot
//! and never calls the engine.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`config`] | flags → a validated [`config::Config`] |
//! | [`docker`] | the Engine API client (the only code that knows URLs and JSON) and its wire types |
//! | [`snapshot`] | the plain data `/metrics` is made from, and pure builders from wire types |
//! | [`cgroup`] | the cgroup stats source: a container's stats read from its cgroup files and `/proc/<pid>/net/dev` |
//! | [`filter`] | which containers are reported (`--container.include`/`--container.exclude`, the ignore label) |
//! | [`collect`] | the collectors (engine, containers, stats, events, disk, swarm): the only writers of the snapshot |
//! | [`metrics`] | snapshot → metric families → text/OpenMetrics bytes, cached per snapshot (made ahead for the kinds scraped lately) |
//! | [`web_config`] | `--web.config.file`: TLS, basic auth, headers (exporter-toolkit format), reloaded on change |
//! | [`http`] | the axum routes, and the task that encodes `/metrics` ahead of scrapes |
//! | [`server`] | the HTTP server under them: accept loops, limits, graceful shutdown |
//!
//! [`run`] wires them together; `main.rs` only parses flags, sets up logging and
//! chooses the allocator (jemalloc, returning freed pages at once).

pub mod cgroup;
pub mod collect;
pub mod config;
pub mod docker;
pub mod filter;
pub mod http;
pub mod metrics;
pub mod page;
pub mod server;
pub mod snapshot;
pub mod web_config;

use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::{Id, JoinError};
use tokio_util::sync::CancellationToken;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    WebConfig(#[from] web_config::Error),
    #[error("the {task} task ended unexpectedly (a bug: {cause}): stopping so that a supervisor restarts the exporter")]
    TaskDied { task: &'static str, cause: String },
}

/// Runs the exporter on `listeners` until `shutdown` is cancelled, then lets
/// in-flight requests finish (at most `--web.shutdown-timeout`) and stops the
/// collectors and the encode-ahead task. One that ends before that (it can only panic)
/// stops the exporter with an error rather than leaving it serving a snapshot
/// that no longer changes.
pub async fn run(
    config: config::Config,
    listeners: Vec<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // A broken web config stops the exporter before it serves anything.
    let web = Arc::new(match &config.web_config_file {
        Some(file) => web_config::WebConfig::load(file)?,
        None => web_config::WebConfig::none(),
    });
    let config = Arc::new(config);
    let client = Arc::new(docker::Client::new(
        config.docker_host.clone(),
        config.docker_timeout,
        config.docker_api_version,
    ));
    let store = Arc::new(collect::Store::default());
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = HashMap::new();
    let (c, s, cfg, stop) = (
        client.clone(),
        store.clone(),
        config.clone(),
        shutdown.clone(),
    );
    let events = tasks.spawn(collect::events::run(c, s, cfg, stop));
    names.insert(events.id(), "event stream");
    if collect::Collector::Disk.enabled(&config) {
        let (c, s, cfg, stop) = (
            client.clone(),
            store.clone(),
            config.clone(),
            shutdown.clone(),
        );
        let disk = tasks.spawn(collect::disk::run(c, s, cfg, stop));
        names.insert(disk.id(), "disk collection");
    }
    if collect::Collector::Swarm.enabled(&config) {
        let (c, s, cfg, stop) = (
            client.clone(),
            store.clone(),
            config.clone(),
            shutdown.clone(),
        );
        let swarm = tasks.spawn(collect::swarm::run(c, s, cfg, stop));
        names.insert(swarm.id(), "swarm collection");
    }
    let (c, s, cfg, stop) = (client, store.clone(), config.clone(), shutdown.clone());
    let periodic = tasks.spawn(collect::run(c, s, cfg, stop));
    names.insert(periodic.id(), "periodic collection");
    let cache = Arc::new(metrics::ExpositionCache::default());
    let (s, c, stop) = (store.clone(), cache.clone(), shutdown.clone());
    let ahead = tasks.spawn(http::encode_ahead(s, c, stop));
    names.insert(ahead.id(), "encode ahead");
    let limits = config.web_limits.clone();
    let app = http::router(
        store,
        cache,
        &config.telemetry_path,
        usize::from(limits.max_requests),
    );
    // The server drains its connections only after the collectors are told to
    // stop, so it gets a token of its own.
    let stop_serving = CancellationToken::new();
    let app = app.layer(axum::middleware::from_fn_with_state(
        web.clone(),
        web_config::guard,
    ));
    tokio::spawn(web.clone().watch(stop_serving.clone()));
    let server = server::serve(listeners, app, web, &limits, stop_serving.clone());
    tokio::pin!(server);
    let result = tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        ended = tasks.join_next_with_id() => match ended {
            Some(Ok(_)) if shutdown.is_cancelled() => Ok(()),
            Some(ended) => Err(task_died(&names, ended)),
            None => Err(Error::TaskDied { task: "collector", cause: "no task left".into() }),
        },
        () = &mut server => Ok(()),
    };
    shutdown.cancel();
    stop_serving.cancel();
    // In-flight scrapes finish; a collector waiting on a hung engine call is
    // not waited for past the same timeout.
    let collectors = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limits.shutdown_timeout, async {
        tokio::join!(server, collectors)
    })
    .await;
    result
}

/// Why a collector task ended early, logged before the process exits: a
/// panic's message travels only in the `JoinError`.
fn task_died(names: &HashMap<Id, &'static str>, ended: Result<(Id, ()), JoinError>) -> Error {
    let (id, cause) = match ended {
        Ok((id, ())) => (id, "it returned".to_string()),
        Err(e) => (e.id(), panic_message(e)),
    };
    let task = names.get(&id).copied().unwrap_or("collector");
    tracing::error!(task, %cause, "a collector task ended unexpectedly; exiting");
    Error::TaskDied { task, cause }
}

/// The message a task panicked with.
fn panic_message(e: JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .map(|m| format!("panicked: {m}"))
        .unwrap_or_else(|| "panicked without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_named_with_its_message() {
        let mut tasks = tokio::task::JoinSet::new();
        let id = tasks
            .spawn(async {
                let n = 42;
                panic!("boom {n}");
            })
            .id();
        let names = HashMap::from([(id, "event stream")]);
        let ended = tasks.join_next_with_id().await.unwrap();
        let e = task_died(&names, ended);
        let text = e.to_string();
        assert!(text.contains("the event stream task"), "{text}");
        assert!(text.contains("panicked: boom 42"), "{text}");
    }
}
