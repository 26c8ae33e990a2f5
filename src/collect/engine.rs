//! The engine collector: API version, `/version` and `/info` on a resync,
//! `/info` again when an event changed a container, else `/_ping`, once a cycle.
//!
//! On Engine 20.10 `/version` and `/info` each cost dockerd about as much as
//! the container list (both run `runc --version` and more); `/_ping` costs it
//! 30× less (BENCHMARKS.md, issue 14).

use super::{LogOnce, Outcome};
use crate::docker::{self, types, Client};
use crate::snapshot::Engine;
use std::sync::Arc;
use std::time::Instant;

const DOWN: &str = "engine-down";

/// What a cycle reads of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// `/version` and `/info`: the facts anew.
    Full,
    /// `/info` with the last `/version`: an event changed a container, so the
    /// engine's container counts moved.
    Info,
    /// `/_ping`: the engine answers; its facts stand.
    Ping,
}

/// The engine's facts and the `/version` answer they were built from.
pub(super) type Facts = (Arc<Engine>, Arc<types::Version>);

/// Reads the engine (`how`, or in full when nothing is known yet); an error
/// here means the engine is unreachable or broken.
pub(super) async fn collect(
    client: &Client,
    how: Read,
    last: Option<Facts>,
    log: &mut LogOnce,
) -> Outcome<Result<Facts, docker::Error>> {
    let started = Instant::now();
    let result = read(client, how, last).await;
    match &result {
        Ok((engine, _)) => {
            if log.clear(DOWN) {
                tracing::info!(endpoint = %client.endpoint(), "the Docker engine answers again");
            }
            let key = format!(
                "connected {} {} {} {} {}",
                engine.kind.as_str(),
                engine.version,
                engine.api_version,
                engine.cgroup_driver,
                engine.cgroup_version
            );
            if log.first(key) {
                tracing::info!(
                    endpoint = %client.endpoint(),
                    engine = engine.kind.as_str(),
                    engine_version = %engine.version,
                    api_version = %engine.api_version,
                    cgroup_driver = %engine.cgroup_driver,
                    cgroup_version = %engine.cgroup_version,
                    "connected to the Docker engine"
                );
            }
        }
        Err(e) => {
            if log.first(DOWN) {
                tracing::error!(error = %e, "the Docker engine cannot be read; serving docker_up 0 and retrying with backoff");
            } else {
                tracing::debug!(error = %e, "the Docker engine still cannot be read");
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

async fn read(client: &Client, how: Read, last: Option<Facts>) -> Result<Facts, docker::Error> {
    match (how, last) {
        (Read::Ping, Some(last)) => {
            client.ping().await?;
            Ok(last)
        }
        (Read::Info, Some((_, version))) => {
            let api_version = client.api_version().await?;
            let info = client.info().await?;
            Ok((
                Arc::new(Engine::from_wire(&version, &info, api_version)),
                version,
            ))
        }
        _ => {
            let api_version = client.api_version().await?;
            let (version, info) = tokio::try_join!(client.version(), client.info())?;
            let engine = Arc::new(Engine::from_wire(&version, &info, api_version));
            Ok((engine, Arc::new(version)))
        }
    }
}
