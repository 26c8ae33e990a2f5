//! The containers collector: list every container, inspect the new and the
//! changed ones with bounded concurrency, forget the removed ones.

use super::{LogOnce, Outcome, Store, Working};
use crate::config::Config;
use crate::docker::{types, Client};
use crate::snapshot::{Container, Engine, Saturated};
use futures_util::stream::{self, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One cycle's view of the containers.
pub(super) struct Listed {
    /// Every listed container, inspected now or carried over unchanged.
    pub containers: HashMap<String, Arc<Container>>,
    pub list_keys: HashMap<String, String>,
}

/// What in a list entry tells that a container changed since it was inspected:
/// its state, names, image and the parenthesised parts of its status (exit
/// code, health, paused), not the ever-changing "Up 5 minutes".
pub(super) fn list_key(c: &types::ListedContainer) -> String {
    let status = c.status.as_deref().unwrap_or("");
    let mut key = format!(
        "{}|{}|{}|{}|",
        c.state.as_deref().unwrap_or(""),
        c.names.as_deref().unwrap_or_default().join(","),
        c.image_id.as_deref().unwrap_or(""),
        c.created.unwrap_or(0)
    );
    let mut rest = status;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        key.push_str(&rest[open..open + close + 1]);
        rest = &rest[open + close + 1..];
    }
    key
}

pub(super) async fn collect(
    client: &Client,
    store: &Store,
    config: &Config,
    engine: &Engine,
    full: bool,
    log: &mut LogOnce,
) -> Outcome<Result<Listed, crate::docker::Error>> {
    let started = Instant::now();
    let list = match client.containers().await {
        Ok(list) => list,
        Err(e) => {
            if log.first("list") {
                tracing::warn!(error = %e, "cannot list containers");
            }
            return Outcome {
                result: Err(e),
                took: started.elapsed(),
                errors: 1,
            };
        }
    };
    log.clear("list");
    let (known, known_keys) = store.read(|w| (w.containers.clone(), w.list_keys.clone()));
    let mut containers = HashMap::with_capacity(list.len());
    let mut list_keys = HashMap::with_capacity(list.len());
    let mut to_inspect = Vec::new();
    for entry in &list {
        if entry.id.is_empty() {
            continue;
        }
        let key = list_key(entry);
        match known.get(&entry.id) {
            Some(c) if !full && known_keys.get(&entry.id) == Some(&key) => {
                containers.insert(entry.id.clone(), c.clone());
                list_keys.insert(entry.id.clone(), key);
            }
            _ => to_inspect.push((entry.id.clone(), key)),
        }
    }
    let keys: HashMap<String, String> = to_inspect.into_iter().collect();
    let (inspected, errors) = inspect_all(
        client,
        config,
        &engine.cgroup_driver,
        keys.keys().cloned(),
        log,
    )
    .await;
    for (id, result) in inspected {
        match result {
            Inspected::Built(c) => {
                containers.insert(id.clone(), c);
                list_keys.insert(id.clone(), keys[&id].clone());
            }
            // Removed between list and inspect: normal.
            Inspected::Gone => {}
            // Keep the last known view; the next cycle tries again.
            Inspected::Failed => {
                if let Some(c) = known.get(&id) {
                    containers.insert(id, c.clone());
                }
            }
        }
    }
    Outcome {
        result: Ok(Listed {
            containers,
            list_keys,
        }),
        took: started.elapsed(),
        errors,
    }
}

/// What inspecting one container gave.
pub(super) enum Inspected {
    Built(Arc<Container>),
    /// 404: removed since it was listed or named in an event.
    Gone,
    /// The call failed or the body could not be built (counted, logged once).
    Failed,
}

/// Inspects `ids` with bounded concurrency and builds each container; returns
/// the results and how many failed.
pub(super) async fn inspect_all(
    client: &Client,
    config: &Config,
    cgroup_driver: &str,
    ids: impl IntoIterator<Item = String>,
    log: &mut LogOnce,
) -> (Vec<(String, Inspected)>, u64) {
    let answers: Vec<_> = stream::iter(ids)
        .map(|id| async move {
            let r = client.inspect(&id).await;
            (id, r)
        })
        .buffer_unordered(config.inspect_concurrency)
        .collect()
        .await;
    let mut errors = 0;
    let results = answers
        .into_iter()
        .map(|(id, answer)| {
            let result = match answer {
                Ok(Some(body)) => {
                    let mut saturated = Saturated::default();
                    let built = Container::from_inspect(
                        &body,
                        &config.container_labels,
                        cgroup_driver,
                        &mut saturated,
                    );
                    if saturated.0 > 0 {
                        errors += saturated.0;
                        if log.first(format!("saturated {id}")) {
                            tracing::warn!(container = %id, "a limit of this container is too large to compute: served saturated");
                        }
                    }
                    match built {
                        Ok(c) => Inspected::Built(Arc::new(c)),
                        Err(e) => {
                            errors += 1;
                            if log.first(format!("build {id}")) {
                                tracing::warn!(container = %id, error = %e, "skipping a container the engine describes badly");
                            }
                            Inspected::Failed
                        }
                    }
                }
                Ok(None) => Inspected::Gone,
                Err(e) => {
                    errors += 1;
                    if log.first(format!("inspect {id}")) {
                        tracing::warn!(container = %id, error = %e, "cannot inspect a container; keeping what was known");
                    }
                    Inspected::Failed
                }
            };
            (id, result)
        })
        .collect();
    (results, errors)
}

/// Replaces the container set with a cycle's, except containers that an event
/// changed after the cycle began: their newer view stays.
pub(super) fn apply(w: &mut Working, listed: Listed, start_generation: u64) {
    let Listed {
        mut containers,
        mut list_keys,
    } = listed;
    for (id, generation) in &w.touched {
        if *generation > start_generation {
            match w.containers.get(id) {
                Some(c) => {
                    containers.insert(id.clone(), c.clone());
                }
                None => {
                    containers.remove(id);
                }
            }
            // Inspect it again next cycle.
            list_keys.remove(id);
        }
    }
    w.touched.retain(|_, g| *g > start_generation);
    w.stats.retain(|id, _| containers.contains_key(id));
    w.containers = containers;
    w.list_keys = list_keys;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(state: &str, status: &str) -> types::ListedContainer {
        types::ListedContainer {
            id: "a".into(),
            names: Some(vec!["/x".into()]),
            image_id: Some("sha256:1".into()),
            created: Some(1),
            state: Some(state.into()),
            status: Some(status.into()),
        }
    }

    #[test]
    fn list_key_ignores_uptime_but_not_health_or_exit_code() {
        assert_eq!(
            list_key(&listed("running", "Up 2 minutes (healthy)")),
            list_key(&listed("running", "Up 3 minutes (healthy)"))
        );
        assert_ne!(
            list_key(&listed("running", "Up 2 minutes (healthy)")),
            list_key(&listed("running", "Up 2 minutes (unhealthy)"))
        );
        assert_ne!(
            list_key(&listed("exited", "Exited (3) 1 second ago")),
            list_key(&listed("exited", "Exited (0) 1 second ago"))
        );
        assert_ne!(
            list_key(&listed("exited", "Exited (0) 1 second ago")),
            list_key(&listed("running", "Up 1 second"))
        );
    }
}
