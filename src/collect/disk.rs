//! The disk collector: `GET /system/df` in a task of its own, on its own
//! interval (`--collector.disk.interval`) and timeout
//! (`--collector.disk.timeout`), so a slow answer delays no periodic cycle
//! and no scrape. Runs follow each other (the next starts after the last has
//! ended), so two never overlap. The last answer stays in the snapshot until
//! the next one; a failed run keeps it and reports the failure.

use super::{LogOnce, Outcome, Store, Working};
use crate::config::Config;
use crate::docker::{self, Client};
use crate::snapshot::{now_unix, Disk};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::Collector;

/// Runs the disk collector until `shutdown`.
pub async fn run(
    client: Arc<Client>,
    store: Arc<Store>,
    config: Arc<Config>,
    shutdown: CancellationToken,
) {
    let mut log = LogOnce::default();
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = collect(&client, config.disk.timeout, &mut log) => outcome,
        };
        store.update(|w| apply(w, outcome));
        let wait = config.disk.interval.saturating_sub(started.elapsed());
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One `GET /system/df`, under `timeout`.
pub(super) async fn collect(
    client: &Client,
    timeout: Duration,
    log: &mut LogOnce,
) -> Outcome<Result<Disk, docker::Error>> {
    let read = async {
        let df = client.system_df(timeout).await?;
        Ok(Disk::from_wire(&df, now_unix()))
    };
    super::timed(log, "GET /system/df", read).await
}

/// Keeps a new answer; a failed run keeps the last one.
pub(super) fn apply(w: &mut Working, outcome: Outcome<Result<Disk, docker::Error>>) {
    if let Ok(disk) = outcome.result {
        w.disk = Some(Arc::new(disk));
    }
    w.record(Collector::Disk, outcome.took, outcome.errors);
}
