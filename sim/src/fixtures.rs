//! Fixture mode: a recorded engine (`--fixtures DIR`) served byte for byte.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use serde_json::Value;

use crate::events::{Attrs, EvRec, Event};

/// A container of `containers.json`, with its element's exact bytes.
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) names: Vec<String>,
    pub(crate) image: String,
    pub(crate) labels: Attrs,
    /// Listed with `all=false` (running, paused or restarting).
    pub(crate) up: bool,
    pub(crate) raw: Bytes,
}

pub(crate) struct Fixtures {
    pub(crate) version: Bytes,
    pub(crate) info: Bytes,
    pub(crate) list: Bytes,
    /// None when `containers.json` is not a JSON array (then it is always served as is).
    pub(crate) listed: Option<Vec<Listed>>,
    pub(crate) inspect: HashMap<String, Bytes>,
    pub(crate) stats: HashMap<String, Bytes>,
    /// `system_df.json`, optional.
    pub(crate) system_df: Option<Bytes>,
    /// `swarm/services.json`, `swarm/tasks.json`, `swarm/nodes.json`: a
    /// Swarm manager's answers, optional (without them, the Swarm API answers
    /// as a node that is not a manager).
    pub(crate) swarm: HashMap<&'static str, Bytes>,
    pub(crate) removed: RwLock<HashSet<String>>,
    pub(crate) api_version: Option<String>,
    pub(crate) engine_version: Option<String>,
}

/// The exact bytes of each element of a top-level JSON array.
pub(crate) fn split_json_array(raw: &[u8]) -> Option<Vec<&[u8]>> {
    let skip_ws = |i: usize| {
        i + raw[i..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count()
    };
    let mut i = skip_ws(0);
    if raw.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(i + 1);
    let mut out = Vec::new();
    if raw.get(i) == Some(&b']') {
        return Some(out);
    }
    loop {
        let de = serde_json::Deserializer::from_slice(&raw[i..]);
        let mut values = de.into_iter::<serde::de::IgnoredAny>();
        values.next()?.ok()?;
        let end = i + values.byte_offset();
        out.push(&raw[i..end]);
        i = skip_ws(end);
        match raw.get(i) {
            Some(b',') => i = skip_ws(i + 1),
            Some(b']') => return Some(out),
            _ => return None,
        }
    }
}

impl Fixtures {
    /// Loads a fixture set and the recorded events; every file of the layout must exist.
    pub(crate) fn load(dir: &Path) -> Result<(Self, Vec<Arc<EvRec>>), String> {
        let missing = |p: PathBuf, e: io::Error| format!("fixture {}: {e}", p.display());
        let read = |rel: &str| {
            let path = dir.join(rel);
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|e| missing(path, e))
        };
        let (version, info, list) = (
            read("version.json")?,
            read("info.json")?,
            read("containers.json")?,
        );
        let version_json: Value = serde_json::from_slice(&version).unwrap_or_default();
        let ping = std::fs::read_to_string(dir.join("ping.headers")).unwrap_or_default();
        let api_version = ping
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.trim().to_string())
            .or_else(|| version_json["ApiVersion"].as_str().map(String::from));

        let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let listed = split_json_array(&list).map(|elems| {
            let parsed = elems
                .into_iter()
                .map(|raw| (raw, serde_json::from_slice(raw)));
            let parsed = parsed.filter_map(|(raw, v): (_, Result<Value, _>)| Some((raw, v.ok()?)));
            let to_listed = |(raw, v): (&[u8], Value)| Listed {
                id: str_of(&v["Id"]),
                names: v["Names"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(str_of)
                    .collect(),
                image: str_of(&v["Image"]),
                labels: serde_json::from_value(v["Labels"].clone()).unwrap_or_default(),
                up: matches!(
                    v["State"].as_str(),
                    Some("running" | "paused" | "restarting")
                ),
                raw: Bytes::copy_from_slice(raw),
            };
            parsed.map(to_listed).collect::<Vec<_>>()
        });

        let (mut inspect, mut stats) = (HashMap::new(), HashMap::new());
        for (sub, map) in [("inspect", &mut inspect), ("stats", &mut stats)] {
            let entries =
                std::fs::read_dir(dir.join(sub)).map_err(|e| missing(dir.join(sub), e))?;
            for file in entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
            {
                if let Some(id) = file.strip_suffix(".json") {
                    map.insert(id.to_string(), read(&format!("{sub}/{file}"))?);
                }
            }
        }
        for c in listed.iter().flatten() {
            for (sub, map) in [("inspect", &inspect), ("stats", &stats)] {
                if !map.contains_key(&c.id) {
                    let path = dir.join(format!("{sub}/{}.json", c.id));
                    return Err(format!(
                        "fixture {} is missing (the container is listed)",
                        path.display()
                    ));
                }
            }
        }

        // Kept byte-for-byte; an unparsable line keeps the time of the line before it.
        let (mut history, mut time_nano) = (Vec::new(), 0);
        for line in read("events.jsonl")?
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
        {
            let ev: Option<Event> = serde_json::from_slice(line).ok();
            if let Some(ev) = &ev {
                time_nano = if ev.time_nano != 0 {
                    ev.time_nano
                } else {
                    ev.time * 1_000_000_000
                };
            }
            let line = Bytes::from([line, b"\n"].concat());
            history.push(Arc::new(EvRec {
                time_nano,
                line,
                ev,
            }));
        }
        let engine_version = version_json["Version"].as_str().map(String::from);
        let system_df = std::fs::read(dir.join("system_df.json"))
            .ok()
            .map(Bytes::from);
        let swarm = ["services", "tasks", "nodes"]
            .into_iter()
            .filter_map(|what| {
                let body = std::fs::read(dir.join(format!("swarm/{what}.json"))).ok()?;
                Some((what, Bytes::from(body)))
            })
            .collect();
        let removed = RwLock::default();
        let fixtures = Self {
            version,
            info,
            list,
            listed,
            inspect,
            stats,
            system_df,
            swarm,
            removed,
            api_version,
            engine_version,
        };
        Ok((fixtures, history))
    }

    /// Resolves an id, a name or a unique id prefix to a (not destroyed) container id.
    pub(crate) fn resolve(&self, key: &str) -> Option<String> {
        let key = key.trim_start_matches('/');
        let by_name = self
            .listed
            .iter()
            .flatten()
            .find(|c| c.names.iter().any(|n| n.trim_start_matches('/') == key));
        let id = match by_name {
            _ if self.inspect.contains_key(key) => Some(key.to_string()),
            Some(c) => Some(c.id.clone()),
            None => {
                let mut hits = self
                    .inspect
                    .keys()
                    .filter(|id| !key.is_empty() && id.starts_with(key));
                hits.next().filter(|_| hits.next().is_none()).cloned()
            }
        };
        id.filter(|id| !self.removed.read().unwrap().contains(id))
    }

    pub(crate) fn list(&self, all: bool) -> Bytes {
        let removed = self.removed.read().unwrap();
        match &self.listed {
            Some(listed) if !all || !removed.is_empty() => {
                let keep = listed
                    .iter()
                    .filter(|c| (all || c.up) && !removed.contains(&c.id));
                let elems: Vec<&[u8]> = keep.map(|c| &c.raw[..]).collect();
                [&b"["[..], &elems.join(&b","[..]), b"]\n"].concat().into()
            }
            _ => self.list.clone(),
        }
    }
}
