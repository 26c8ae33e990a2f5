//! The simulated engine's state: its versions and settings, the data it serves
//! (fixtures or a synthetic world), call counts, faults and events; and the
//! state change a posted event makes.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{nanos, unix_nanos};
use crate::events::{container_event, Attrs, Event, EventHub};
use crate::faults::{Calls, Fault, FaultKind};
use crate::fixtures::Fixtures;
use crate::http::{json_reply, no_such_container, parse_api, raw_json, Reply};
use crate::world::{hex_id, World};
use crate::Args;

pub(crate) enum Data {
    Fixtures(Box<Fixtures>),
    Synthetic(RwLock<World>),
}

pub(crate) struct Sim {
    pub(crate) api: (u32, u32),
    pub(crate) min_api: (u32, u32),
    pub(crate) api_version: String,
    pub(crate) min_api_version: String,
    pub(crate) engine_version: String,
    /// Api-Version, Docker-Experimental, Ostype and Server, on every answer.
    pub(crate) headers: Vec<(&'static str, HeaderValue)>,
    pub(crate) latency: AtomicU64,
    pub(crate) stats_tick: AtomicU64,
    pub(crate) two_sample_delay: AtomicU64,
    /// Added to `GET /system/df` only (after `latency`), settable as `df_latency`.
    pub(crate) df_latency: AtomicU64,
    pub(crate) calls: Calls,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) events: EventHub,
    /// Synthetic: events per second (`f64` bits) and containers replaced per
    /// second, settable through `/_sim/set`.
    pub(crate) event_rate: AtomicU64,
    pub(crate) churn_per_sec: AtomicU64,
    pub(crate) data: Data,
}

impl Sim {
    pub(crate) fn new(args: &Args) -> Result<Self, String> {
        let (data, history) = match &args.fixtures {
            Some(dir) => {
                let (fixtures, history) = Fixtures::load(dir)?;
                (Data::Fixtures(Box::new(fixtures)), history)
            }
            None => (Data::Synthetic(RwLock::new(World::new(args))), Vec::new()),
        };
        let fixtures = match &data {
            Data::Fixtures(fixtures) => Some(fixtures),
            Data::Synthetic(_) => None,
        };
        let from_fixtures =
            |f: fn(&Fixtures) -> &Option<String>| fixtures.and_then(|fixtures| f(fixtures).clone());
        let api_version = args
            .api_version
            .clone()
            .or_else(|| from_fixtures(|f| &f.api_version));
        let api_version = api_version.unwrap_or_else(|| "1.44".into());
        let engine_version = args
            .engine_version
            .clone()
            .or_else(|| from_fixtures(|f| &f.engine_version));
        let engine_version = engine_version.unwrap_or_else(|| "25.0.5".into());
        let api = parse_api(&api_version).ok_or(format!("bad --api-version {api_version:?}"))?;
        let min_api = parse_api(&args.min_api_version).ok_or("bad --min-api-version")?;
        let hv = |s: String| HeaderValue::try_from(s).map_err(|e| format!("bad header value: {e}"));
        let headers = vec![
            ("api-version", hv(api_version.clone())?),
            ("docker-experimental", HeaderValue::from_static("false")),
            ("ostype", HeaderValue::from_static("linux")),
            ("server", hv(format!("Docker/{engine_version} (linux)"))?),
        ];
        Ok(Self {
            api,
            min_api,
            api_version,
            min_api_version: args.min_api_version.clone(),
            engine_version,
            headers,
            latency: AtomicU64::new(nanos(args.latency)),
            stats_tick: AtomicU64::new(nanos(args.stats_tick)),
            two_sample_delay: AtomicU64::new(nanos(args.two_sample_delay)),
            df_latency: AtomicU64::new(0),
            calls: Calls::default(),
            faults: Mutex::default(),
            events: EventHub::new(history, args.event_skew),
            event_rate: AtomicU64::new(args.event_rate.to_bits()),
            churn_per_sec: AtomicU64::new(u64::from(args.churn_per_sec)),
            data,
        })
    }

    pub(crate) fn take_fault(&self, ep: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let i = faults
            .iter()
            .position(|f| f.endpoint == "any" || f.endpoint == ep)?;
        let kind = faults[i].kind;
        if let Some(left) = &mut faults[i].count {
            *left = left.saturating_sub(1);
            if *left == 0 {
                faults.remove(i);
            }
        }
        Some(kind)
    }

    /// Resolves an id, unique id prefix or name to the full id.
    pub(crate) fn resolve(&self, key: &str) -> Option<String> {
        match &self.data {
            Data::Fixtures(fixtures) => fixtures.resolve(key),
            Data::Synthetic(w) => w.read().unwrap().get(key).map(|c| c.id.clone()),
        }
    }

    pub(crate) fn version(&self) -> Reply {
        if let Data::Fixtures(fixtures) = &self.data {
            return raw_json(fixtures.version.clone());
        }
        let (v, api, min) = (
            &self.engine_version,
            &self.api_version,
            &self.min_api_version,
        );
        let build = "2024-03-19T21:06:35.000000000+00:00";
        json_reply(
            StatusCode::OK,
            &json!({
                "Platform": {"Name": "Docker Engine - Community"},
                "Components": [
                    {"Name": "Engine", "Version": v, "Details": {"ApiVersion": api, "Arch": "amd64", "BuildTime": build,
                        "Experimental": "false", "GitCommit": "e63daec", "GoVersion": "go1.21.8",
                        "KernelVersion": "6.1.0-18-amd64", "MinAPIVersion": min, "Os": "linux"}},
                    {"Name": "containerd", "Version": "1.6.28", "Details": {"GitCommit": "ae07eda36dd25f8a1b98dfbf587313b99c0190bb"}},
                    {"Name": "runc", "Version": "1.1.12", "Details": {"GitCommit": "v1.1.12-0-g51d5e94"}},
                ],
                "Version": v, "ApiVersion": api, "MinAPIVersion": min, "GitCommit": "e63daec", "GoVersion": "go1.21.8",
                "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0-18-amd64", "BuildTime": build,
            }),
        )
    }

    pub(crate) fn info(&self) -> Reply {
        match &self.data {
            Data::Fixtures(fixtures) => raw_json(fixtures.info.clone()),
            Data::Synthetic(w) => json_reply(StatusCode::OK, &w.read().unwrap().info(self)),
        }
    }

    /// `GET /system/df`: the fixture's `system_df.json` (404 without one), or
    /// the synthetic world's.
    pub(crate) fn system_df(&self) -> Reply {
        match &self.data {
            Data::Fixtures(fixtures) => fixtures.system_df.clone().map_or_else(
                || crate::http::error(StatusCode::NOT_FOUND, "page not found"),
                raw_json,
            ),
            Data::Synthetic(w) => json_reply(StatusCode::OK, &w.read().unwrap().system_df()),
        }
    }

    /// `GET /services`, `/tasks` or `/nodes` (`what`): the fixture's
    /// `swarm/<what>.json`; else the daemon's answer off a manager.
    pub(crate) fn swarm(&self, what: &str) -> Reply {
        match &self.data {
            Data::Fixtures(fixtures) if fixtures.swarm.contains_key(what) => {
                raw_json(fixtures.swarm[what].clone())
            }
            _ => crate::http::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
            ),
        }
    }

    pub(crate) fn list(&self, all: bool) -> Reply {
        let w = match &self.data {
            Data::Fixtures(fixtures) => return raw_json(fixtures.list(all)),
            Data::Synthetic(w) => w.read().unwrap(),
        };
        let now = SystemTime::now();
        let shown = w.containers.values().rev().filter(|c| all || c.is_up()); // newest first
        let entries: Vec<Value> = shown.map(|c| w.list_entry(c, now)).collect();
        json_reply(StatusCode::OK, &entries)
    }

    pub(crate) fn inspect(&self, key: &str) -> Reply {
        let body = match &self.data {
            Data::Fixtures(fixtures) => fixtures
                .resolve(key)
                .and_then(|id| fixtures.inspect.get(&id))
                .cloned(),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                w.get(key)
                    .map(|c| Bytes::from(serde_json::to_vec(&w.inspect(c)).expect("JSON")))
            }
        };
        body.map_or_else(|| no_such_container(key), raw_json)
    }

    /// One stats body for a resolved id (`pre`: the precpu interval), None if gone.
    pub(crate) fn stats_body(&self, id: &str, pre: Option<Duration>) -> Option<Bytes> {
        match &self.data {
            Data::Fixtures(fixtures) => fixtures.stats.get(id).cloned(),
            Data::Synthetic(w) => {
                let w = w.read().unwrap();
                let mut body = serde_json::to_vec(&w.stats(w.get(id)?, pre)).ok()?;
                body.push(b'\n');
                Some(body.into())
            }
        }
    }

    /// Parses a posted event (full or shorthand) and applies its state change.
    pub(crate) fn apply_event(&self, body: &[u8]) -> Result<Event, (StatusCode, String)> {
        let bad = |e: String| (StatusCode::BAD_REQUEST, e);
        let gone = |k: &str| (StatusCode::NOT_FOUND, format!("No such container: {k}"));
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        if v.get("container").is_none() {
            // A full event, kept as given; container events change the state too.
            let ev: Event =
                serde_json::from_value(v).map_err(|e| bad(format!("invalid event: {e}")))?;
            let key = if ev.actor.id.is_empty() {
                ev.id.clone().unwrap_or_default()
            } else {
                ev.actor.id.clone()
            };
            match &self.data {
                Data::Synthetic(w) if ev.typ == "container" => {
                    let mut w = w.write().unwrap();
                    if let Some(s) = w.lookup(&key) {
                        w.act(s, &ev.action, ev.actor.attributes.clone());
                    }
                }
                Data::Fixtures(fixtures) if ev.typ == "container" && ev.action == "destroy" => {
                    if let Some(id) = fixtures.resolve(&key) {
                        fixtures.removed.write().unwrap().insert(id);
                    }
                }
                _ => {}
            }
            return Ok(ev);
        }
        #[derive(Deserialize)]
        struct Shorthand {
            container: String,
            action: String,
            #[serde(default, rename = "exitCode")]
            exit_code: Option<Value>,
            #[serde(default)]
            attributes: Attrs,
        }
        let sh: Shorthand =
            serde_json::from_value(v).map_err(|e| bad(format!("invalid shorthand: {e}")))?;
        let (key, action, mut attrs) = (sh.container.as_str(), sh.action.as_str(), sh.attributes);
        if let Some(code) = sh.exit_code {
            attrs.insert(
                "exitCode".into(),
                code.as_str().map_or_else(|| code.to_string(), String::from),
            );
        }
        if action == "die" {
            attrs.entry("exitCode".into()).or_insert_with(|| "0".into());
        }
        if action.starts_with("exec_") {
            let exec_id = hex_id(unix_nanos(SystemTime::now()) as u64, 9);
            attrs.entry("execID".into()).or_insert(exec_id);
        }
        match &self.data {
            Data::Synthetic(w) => {
                let mut w = w.write().unwrap();
                let serial = match w.lookup(key) {
                    Some(s) => s,
                    None if action == "create" => w.create(Some(key.to_string()), false),
                    None => return Err(gone(key)),
                };
                Ok(w.act(serial, action, attrs).expect("the container exists"))
            }
            Data::Fixtures(fixtures) => {
                let id = fixtures.resolve(key).ok_or_else(|| gone(key))?;
                let listed = fixtures.listed.iter().flatten().find(|c| c.id == id);
                let mut all = listed.map(|c| c.labels.clone()).unwrap_or_default();
                let name = listed
                    .and_then(|c| c.names.first())
                    .map(|n| n.trim_start_matches('/'));
                all.insert("name".into(), name.unwrap_or_default().into());
                all.extend(attrs);
                if action == "destroy" {
                    fixtures.removed.write().unwrap().insert(id.clone());
                }
                let image = listed.map_or("", |c| c.image.as_str());
                Ok(container_event(&id, image, all, action))
            }
        }
    }
}
