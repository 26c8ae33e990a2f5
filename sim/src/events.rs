//! Events: the kept history, the live fan-out to open streams, `filters`, and
//! the `/events` handler.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::pending;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tracing::warn;

use crate::clock::{nanos, unix_nanos};
use crate::engine::Sim;
use crate::faults::{FaultKind, GARBAGE};
use crate::http::{closed_error, error, parse_timestamp, streaming, Reply};

/// Actor attributes (`name`, `image`, labels, `exitCode` …).
pub(crate) type Attrs = BTreeMap<String, String>;

/// Events kept for `since` replays.
const HISTORY_CAP: usize = 10_000;

/// An event in the real daemon's shape (and field order).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub(crate) struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    #[serde(rename = "Type", default)]
    pub(crate) typ: String,
    #[serde(rename = "Action", default)]
    pub(crate) action: String,
    #[serde(rename = "Actor", default)]
    pub(crate) actor: Actor,
    #[serde(default)]
    pub(crate) scope: String,
    #[serde(default)]
    pub(crate) time: i64,
    #[serde(rename = "timeNano", default)]
    pub(crate) time_nano: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub(crate) struct Actor {
    #[serde(rename = "ID", default)]
    pub(crate) id: String,
    #[serde(rename = "Attributes", default)]
    pub(crate) attributes: Attrs,
}

pub(crate) fn container_event(id: &str, image: &str, mut attributes: Attrs, action: &str) -> Event {
    attributes.insert("image".into(), image.into());
    let actor = Actor {
        id: id.into(),
        attributes,
    };
    Event {
        status: Some(action.into()),
        id: Some(id.into()),
        from: Some(image.into()),
        typ: "container".into(),
        action: action.into(),
        actor,
        ..Event::default()
    }
}

/// One kept event: the exact line served, and the parsed event for filtering.
pub(crate) struct EvRec {
    pub(crate) time_nano: i64,
    pub(crate) line: Bytes,
    pub(crate) ev: Option<Event>,
}

#[derive(Clone)]
pub(crate) enum StreamMsg {
    Event(Arc<EvRec>),
    Garbage,
    Close,
}

pub(crate) struct EventHub {
    pub(crate) history: Mutex<VecDeque<Arc<EvRec>>>,
    pub(crate) tx: broadcast::Sender<StreamMsg>,
    /// `--event-skew` in nanoseconds.
    pub(crate) skew: AtomicU64,
    /// Events published so far.
    pub(crate) published: AtomicU64,
}

impl EventHub {
    pub(crate) fn new(initial: Vec<Arc<EvRec>>, skew: Duration) -> Self {
        let skip = initial.len().saturating_sub(HISTORY_CAP);
        let history = initial.into_iter().skip(skip).collect();
        let tx = broadcast::channel(65_536).0;
        Self {
            history: Mutex::new(history),
            tx,
            skew: AtomicU64::new(nanos(skew)),
            published: AtomicU64::new(0),
        }
    }

    pub(crate) fn publish(&self, mut ev: Event) -> Event {
        let n = self.published.fetch_add(1, Relaxed);
        if ev.time_nano == 0 {
            // Every other event was stamped `skew` before it is published.
            let skew = if n % 2 == 1 {
                self.skew.load(Relaxed)
            } else {
                0
            };
            ev.time_nano = match ev.time {
                0 => unix_nanos(SystemTime::now()) - skew as i64,
                t => t * 1_000_000_000,
            };
        }
        if ev.time == 0 {
            ev.time = ev.time_nano / 1_000_000_000;
        }
        if ev.scope.is_empty() {
            ev.scope = "local".into();
        }
        let mut line = serde_json::to_vec(&ev).expect("events serialise");
        line.push(b'\n');
        let (time_nano, line) = (ev.time_nano, line.into());
        let rec = Arc::new(EvRec {
            time_nano,
            line,
            ev: Some(ev.clone()),
        });
        let mut history = self.history.lock().unwrap();
        history.push_back(rec.clone());
        if history.len() > HISTORY_CAP {
            history.pop_front();
        }
        // Sent under the lock so that subscribe() sees each event exactly once.
        let _ = self.tx.send(StreamMsg::Event(rec));
        ev
    }

    /// A live receiver, plus the kept events from `since` (if given) as the
    /// daemon finds them: walking back from the newest, up to the first one
    /// stamped before `since`.
    pub(crate) fn subscribe(
        &self,
        since: Option<i64>,
    ) -> (Vec<Arc<EvRec>>, broadcast::Receiver<StreamMsg>) {
        let history = self.history.lock().unwrap();
        let mut replay: Vec<_> = match since {
            Some(s) => history
                .iter()
                .rev()
                .take_while(|r| r.time_nano >= s)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        replay.reverse();
        (replay, self.tx.subscribe())
    }
}

/// The `filters` of `/events`; `type`, `event` and `container` are honoured.
pub(crate) struct EventFilter(pub(crate) HashMap<String, Vec<String>>);

impl EventFilter {
    pub(crate) fn parse(raw: Option<&String>) -> Result<Self, String> {
        let raw = raw.filter(|s| !s.is_empty()).map_or("{}", |s| s.as_str());
        let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
        let obj = v.as_object().ok_or("invalid filter: not an object")?;
        // Values are lists (`{"type":["container"]}`) or, from old clients, maps to `true`.
        let values = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                Value::Object(m) => m.keys().cloned().collect(),
                _ => Vec::new(),
            }
        };
        Ok(Self(
            obj.iter().map(|(k, v)| (k.clone(), values(v))).collect(),
        ))
    }

    pub(crate) fn matches(&self, rec: &EvRec) -> bool {
        let Some(ev) = &rec.ev else { return true };
        let base = ev.action.split(':').next().unwrap_or_default();
        let name = ev.actor.attributes.get("name");
        let allows = |key: &str, hit: &dyn Fn(&String) -> bool| {
            self.0
                .get(key)
                .is_none_or(|vals| vals.is_empty() || vals.iter().any(hit))
        };
        allows("type", &|t| *t == ev.typ)
            && allows("event", &|e| *e == ev.action || e == base)
            && allows("container", &|c| {
                ev.actor.id.starts_with(c.as_str()) || name == Some(c)
            })
    }
}

pub(crate) fn events(
    sim: &Arc<Sim>,
    params: &HashMap<String, String>,
    fault: Option<FaultKind>,
) -> Reply {
    let ts = |k: &str| match params.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_timestamp(v)
            .map(Some)
            .ok_or(format!("invalid value for {k}: {v:?}")),
    };
    let (since, until, filter) = match (
        ts("since"),
        ts("until"),
        EventFilter::parse(params.get("filters")),
    ) {
        (Ok(s), Ok(u), Ok(f)) => (s, u, f),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    // Like the daemon, `until` alone replays the whole history up to it.
    let (replay, mut rx) = sim.events.subscribe(since.or(until.map(|_| 0)));
    let (tx, body) = mpsc::channel::<io::Result<Bytes>>(256);
    tokio::spawn(async move {
        match fault {
            Some(FaultKind::Close) => {
                let _ = tx.send(Err(closed_error())).await;
                return;
            }
            Some(FaultKind::Garbage) => {
                let _ = tx.send(Ok(Bytes::from_static(GARBAGE))).await;
            }
            _ => {}
        }
        let wanted = |r: &EvRec| until.is_none_or(|u| r.time_nano <= u) && filter.matches(r);
        for rec in replay.iter().filter(|r| wanted(r)) {
            if tx.send(Ok(rec.line.clone())).await.is_err() {
                return;
            }
        }
        let left = until.map(|u| u - unix_nanos(SystemTime::now()));
        if left.is_some_and(|l| l <= 0) {
            return; // `until` is past: the history was all
        }
        let deadline = async move {
            match left {
                Some(l) => tokio::time::sleep(Duration::from_nanos(l as u64)).await,
                None => pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut deadline => return,
                msg = rx.recv() => msg,
            };
            let out = match msg {
                Ok(StreamMsg::Event(rec)) if wanted(&rec) => Ok(rec.line.clone()),
                Ok(StreamMsg::Garbage) => Ok(Bytes::from_static(GARBAGE)),
                Ok(StreamMsg::Close) => Err(closed_error()),
                Ok(StreamMsg::Event(_)) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(skipped = n, "an /events subscriber lagged behind");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let last = out.is_err();
            if tx.send(out).await.is_err() || last {
                return;
            }
        }
    });
    streaming(body)
}
