//! The swarm collector: on a Swarm manager (`Swarm.ControlAvailable` in the
//! `/info` the periodic cycle reads), `GET /services`, `/tasks` and `/nodes`
//! on its own interval, in a task of its own so that it never delays the
//! periodic cycle. On a worker or a standalone engine it calls nothing and
//! serves nothing; a node that stops being a manager drops the series.

use super::{Collector, LogOnce, Outcome, Store, Working};
use crate::config::Config;
use crate::docker::{self, Client};
use crate::snapshot::Swarm;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs the swarm collector until `shutdown`.
pub async fn run(
    client: Arc<Client>,
    store: Arc<Store>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) {
    let interval = Collector::Swarm
        .interval(&config)
        .unwrap_or(config.collect_interval);
    let mut log = LogOnce::default();
    loop {
        let started = Instant::now();
        let manager = store.read(|w| w.engine.as_ref().is_some_and(|e| e.swarm_manager));
        if manager {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return,
                outcome = collect(&client, &mut log) => outcome,
            };
            store.update(|w| apply(w, outcome));
        } else if store.read(|w| w.swarm.is_some()) {
            store.update(|w| w.swarm = None);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval.saturating_sub(started.elapsed())) => {}
        }
    }
}

/// Services, tasks and nodes, read at once.
pub(super) async fn collect(
    client: &Client,
    log: &mut LogOnce,
) -> Outcome<Result<Swarm, docker::Error>> {
    let read = async {
        let (services, tasks, nodes) =
            tokio::try_join!(client.services(), client.tasks(), client.nodes())?;
        Ok(Swarm::from_wire(&services, &tasks, &nodes))
    };
    super::timed(log, "the Swarm API", read).await
}

/// Keeps a new answer; a failed run keeps the last one.
pub(super) fn apply(w: &mut Working, outcome: Outcome<Result<Swarm, docker::Error>>) {
    if let Ok(swarm) = outcome.result {
        w.swarm = Some(Arc::new(swarm));
    }
    w.record(Collector::Swarm, outcome.took, outcome.errors);
}
