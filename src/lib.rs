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
//! | [`collect`] | the collectors (engine, containers, stats, events): the only writers of the snapshot |
//! | [`metrics`] | snapshot → metric families → text/OpenMetrics bytes, cached per snapshot |
//! | [`http`] | the axum routes |
//!
//! [`run`] wires them together; `main.rs` only parses flags and sets up logging.

pub mod collect;
pub mod config;
pub mod docker;
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
}

/// Runs the exporter on `listener` until `shutdown` is cancelled.
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
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(collect::events::run(
        client.clone(),
        store.clone(),
        config.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(collect::run(
        client.clone(),
        store.clone(),
        config.clone(),
        shutdown.clone(),
    ));
    tasks.close();
    let app = http::router(store, &config.telemetry_path);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    tasks.wait().await;
    served.map_err(Error::Serve)
}
