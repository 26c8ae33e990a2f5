//! The engine collector: API version, `/version` and `/info`, once a cycle.

use super::{LogOnce, Outcome};
use crate::docker::{self, Client};
use crate::snapshot::Engine;
use std::sync::Arc;
use std::time::Instant;

const DOWN: &str = "engine-down";

/// Reads the engine's facts; an error here means the engine is unreachable or broken.
pub(super) async fn collect(
    client: &Client,
    log: &mut LogOnce,
) -> Outcome<Result<Arc<Engine>, docker::Error>> {
    let started = Instant::now();
    let result = read(client).await;
    match &result {
        Ok(engine) => {
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

async fn read(client: &Client) -> Result<Arc<Engine>, docker::Error> {
    let api_version = client.api_version().await?;
    let (version, info) = tokio::try_join!(client.version(), client.info())?;
    Ok(Arc::new(Engine::from_wire(&version, &info, api_version)))
}
