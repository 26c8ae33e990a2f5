//! The containers collector: list every container, inspect the new and the
//! changed ones with bounded concurrency, forget the removed ones.

use super::{LogOnce, Outcome, Store, Working};
use crate::config::Config;
use crate::docker::{types, Client};
use crate::snapshot::{Container, Engine, EngineKind, Saturated};
use futures_util::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// What a cycle's list and inspect calls found; applied to the working state
/// in place (see [`apply`]), so a cycle copies no container map.
pub(super) struct Listed {
    /// Every id the list has.
    pub ids: HashSet<String>,
    /// Containers inspected this cycle (new or changed), with their fingerprints.
    pub inspected: Vec<(String, Arc<Container>, String)>,
    /// Listed, but gone by the time of the inspect call (404).
    pub gone: Vec<String>,
    /// The inspect call failed: the last known view stands, inspected again next cycle.
    pub failed: Vec<String>,
}

impl Listed {
    /// The listed containers that are live (running, paused, restarting):
    /// as inspected this cycle, else as last known.
    pub fn live(&self, store: &Store) -> Vec<Arc<Container>> {
        let fresh: HashMap<&str, &Arc<Container>> = self
            .inspected
            .iter()
            .map(|(id, c, _)| (id.as_str(), c))
            .collect();
        let gone: HashSet<&str> = self.gone.iter().map(String::as_str).collect();
        store.read(|w| {
            self.ids
                .iter()
                .filter(|id| !gone.contains(id.as_str()))
                .filter_map(|id| match fresh.get(id.as_str()) {
                    Some(c) => Some(Arc::clone(c)),
                    None => w.containers.get(id).cloned(),
                })
                .filter(|c| c.state.is_live())
                .collect()
        })
    }
}

/// A container's change fingerprint: what in its list entry tells that it
/// changed since it was inspected: its state, names, image and the
/// parenthesised parts of its status (exit code, health, paused), not the
/// ever-changing "Up 5 minutes".
pub(super) fn fingerprint(c: &types::ListedContainer) -> String {
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
    let listed: Vec<(String, String)> = list
        .iter()
        .filter(|entry| !entry.id.is_empty() && admits_listed(config, entry))
        .map(|entry| (entry.id.clone(), fingerprint(entry)))
        .collect();
    // Only the containers whose fingerprint changed are inspected (all of
    // them on a full cycle); the others keep their view where it is.
    let to_inspect: HashMap<String, String> = store.read(|w| {
        listed
            .iter()
            .filter(|(id, fp)| {
                full || !w.containers.contains_key(id) || w.fingerprints.get(id) != Some(fp)
            })
            .cloned()
            .collect()
    });
    let (answers, errors) = inspect_all(
        client,
        config,
        engine.kind,
        &engine.cgroup_driver,
        to_inspect.keys().cloned(),
        log,
    )
    .await;
    let mut result = Listed {
        ids: listed.into_iter().map(|(id, _)| id).collect(),
        inspected: Vec::new(),
        gone: Vec::new(),
        failed: Vec::new(),
    };
    for (id, answer) in answers {
        match answer {
            Inspected::Built(c) => {
                let fp = to_inspect[&id].clone();
                result.inspected.push((id, c, fp));
            }
            // Removed between list and inspect: normal.
            Inspected::Gone => result.gone.push(id),
            Inspected::Failed => result.failed.push(id),
        }
    }
    Outcome {
        result: Ok(result),
        took: started.elapsed(),
        errors,
    }
}

/// Whether a list entry is reported ([`crate::filter`]); checked again on the
/// inspect answer, which is what events lead to.
fn admits_listed(config: &Config, entry: &types::ListedContainer) -> bool {
    let name = entry
        .names
        .as_deref()
        .and_then(|n| n.first())
        .map_or("", String::as_str);
    config.container_filter.admits(name, entry.labels.as_ref())
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
    engine: EngineKind,
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
                // Left out by the filter: as if it did not exist.
                Ok(Some(body))
                    if !config.container_filter.admits(
                        body.name.as_deref().unwrap_or(""),
                        body.config.as_ref().and_then(|c| c.labels.as_ref()),
                    ) =>
                {
                    Inspected::Gone
                }
                Ok(Some(body)) => {
                    let mut saturated = Saturated::default();
                    let built = Container::from_inspect(
                        &body,
                        &config.container_labels,
                        engine,
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

/// Applies a cycle's findings in place, except to containers that an event
/// changed after the cycle began: their newer view stays (and they are
/// inspected again next cycle).
pub(super) fn apply(w: &mut Working, listed: Listed, start_generation: u64) {
    let Listed {
        ids,
        inspected,
        gone,
        failed,
    } = listed;
    let newer: HashSet<String> = w
        .touched
        .iter()
        .filter(|(_, generation)| **generation > start_generation)
        .map(|(id, _)| id.clone())
        .collect();
    w.containers
        .retain(|id, _| ids.contains(id) || newer.contains(id));
    w.fingerprints
        .retain(|id, _| ids.contains(id) && !newer.contains(id));
    for (id, c, fp) in inspected {
        if !newer.contains(&id) {
            w.containers.insert(id.clone(), c);
            w.fingerprints.insert(id, fp);
        }
    }
    for id in gone.iter().filter(|id| !newer.contains(*id)) {
        w.containers.remove(id);
        w.fingerprints.remove(id);
    }
    for id in &failed {
        w.fingerprints.remove(id);
    }
    w.touched.retain(|_, g| *g > start_generation);
    let containers = &w.containers;
    w.stats.retain(|id, _| containers.contains_key(id));
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
            labels: None,
        }
    }

    /// A running container built from a minimal inspect body; `name` tells
    /// versions apart.
    fn container(id: &str, name: &str) -> Arc<Container> {
        let body: types::Inspect = serde_json::from_value(serde_json::json!({
            "Id": id, "Name": format!("/{name}"), "State": {"Status": "running"}
        }))
        .unwrap();
        let built = Container::from_inspect(
            &body,
            &[],
            EngineKind::Docker,
            "cgroupfs",
            &mut Saturated::default(),
        );
        Arc::new(built.unwrap())
    }

    fn names(w: &Working) -> Vec<(String, String)> {
        let mut v: Vec<_> = w
            .containers
            .iter()
            .map(|(id, c)| (id.clone(), c.name.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_cycle_applies_in_place_and_keeps_newer_event_views() {
        let mut w = Working::default();
        for (id, name) in [
            ("a", "a1"),
            ("b", "b1"),
            ("c", "c1"),
            ("d", "d1"),
            ("f", "f1"),
        ] {
            w.containers.insert(id.into(), container(id, name));
            w.fingerprints.insert(id.into(), format!("{name}-fp"));
        }
        // An event changed d after the cycle began (generation 5 > 3).
        w.touched.insert("d".into(), 5);
        w.touched.insert("b".into(), 2);
        let listed = Listed {
            ids: ["a", "b", "d", "e", "f"].map(String::from).into(),
            inspected: vec![
                ("b".into(), container("b", "b2"), "b2-fp".into()),
                ("e".into(), container("e", "e1"), "e1-fp".into()),
                ("d".into(), container("d", "stale"), "stale-fp".into()),
            ],
            gone: vec!["f".into()],
            failed: vec!["a".into()],
        };
        apply(&mut w, listed, 3);
        let expect: Vec<(String, String)> = [("a", "a1"), ("b", "b2"), ("d", "d1"), ("e", "e1")]
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .into();
        assert_eq!(names(&w), expect, "c unlisted, f gone, d newer, a kept");
        let mut fps: Vec<_> = w.fingerprints.keys().cloned().collect();
        fps.sort();
        assert_eq!(fps, ["b", "e"], "a failed and d newer: inspected again");
        assert_eq!(w.touched.keys().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn fingerprint_ignores_uptime_but_not_health_or_exit_code() {
        assert_eq!(
            fingerprint(&listed("running", "Up 2 minutes (healthy)")),
            fingerprint(&listed("running", "Up 3 minutes (healthy)"))
        );
        assert_ne!(
            fingerprint(&listed("running", "Up 2 minutes (healthy)")),
            fingerprint(&listed("running", "Up 2 minutes (unhealthy)"))
        );
        assert_ne!(
            fingerprint(&listed("exited", "Exited (3) 1 second ago")),
            fingerprint(&listed("exited", "Exited (0) 1 second ago"))
        );
        assert_ne!(
            fingerprint(&listed("exited", "Exited (0) 1 second ago")),
            fingerprint(&listed("running", "Up 1 second"))
        );
    }
}
