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
//! | [`filter`] | which containers are reported (`--container.include`/`--container.exclude`, the ignore label) |
//! | [`collect`] | the collectors (engine, containers, stats, events): the only writers of the snapshot |
//! | [`metrics`] | snapshot → metric families → text/OpenMetrics bytes, cached per snapshot |
//! | [`http`] | the axum routes |
//!
//! [`run`] wires them together; `main.rs` only parses flags and sets up logging.

pub mod collect;
pub mod config;
pub mod docker;
pub mod filter;
pub mod http;
pub mod metrics;
pub mod snapshot;

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the {0} task ended unexpectedly (a bug): stopping so that a supervisor restarts the exporter")]
    TaskDied(&'static str),
}

/// Runs the exporter on `listener` until `shutdown` is cancelled. A collector
/// task that ends before that (it can only panic) stops the exporter with an
/// error rather than leaving it serving a snapshot that no longer changes.
pub async fn run(
    config: config::Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let config = Arc::new(config);
    let client = Arc::new(docker::Client::new(
        config.docker_host.clone(),
        config.docker_timeout,
        config.docker_api_version,
    ));
    let store = Arc::new(collect::Store::default());
    let mut tasks = tokio::task::JoinSet::new();
    let (c, s, cfg, stop) = (
        client.clone(),
        store.clone(),
        config.clone(),
        shutdown.clone(),
    );
    tasks.spawn(async move {
        collect::events::run(c, s, cfg, stop).await;
        "event stream"
    });
    let (c, s, cfg, stop) = (client, store.clone(), config.clone(), shutdown.clone());
    tasks.spawn(async move {
        collect::run(c, s, cfg, stop).await;
        "periodic collection"
    });
    let app = http::router(store, &config.telemetry_path);
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let result = tokio::select! {
        served = server => served.map_err(Error::Serve),
        ended = tasks.join_next() => match ended {
            Some(Ok(_)) if shutdown.is_cancelled() => Ok(()),
            Some(Ok(name)) => Err(Error::TaskDied(name)),
            Some(Err(_)) | None => Err(Error::TaskDied("collector")),
        },
    };
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    result
}
