//! Call accounting (`/_sim/calls`) and injected faults (`/_sim/fault`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Deserialize;
use serde_json::{json, Value};

/// The body of a `garbage` fault: a 200 whose body is not JSON.
pub(crate) const GARBAGE: &[u8] = b"{\"Id\":\"deadbeef\",\"Names\":[\"/trunc<html>\x01 not json\n";
/// Endpoint names, as counted by `/_sim/calls` and named by faults.
pub(crate) const ENDPOINTS: [&str; 10] = [
    "ping", "version", "info", "list", "inspect", "stats", "events", "df", "swarm", "other",
];

#[derive(Default)]
pub(crate) struct Calls {
    pub(crate) by: [AtomicU64; 10],
    pub(crate) non_get: AtomicU64,
}

impl Calls {
    pub(crate) fn record(&self, ep: &str, non_get: bool) {
        let i = ENDPOINTS.iter().position(|e| *e == ep).unwrap_or(9);
        self.by[i].fetch_add(1, Relaxed);
        self.non_get.fetch_add(u64::from(non_get), Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Value {
        let counts = ENDPOINTS
            .iter()
            .zip(&self.by)
            .map(|(e, n)| (e.to_string(), n.load(Relaxed)));
        let by: BTreeMap<String, u64> = counts.collect();
        let total: u64 = by.values().sum();
        json!({"total": total, "by_endpoint": by, "non_get": self.non_get.load(Relaxed)})
    }

    pub(crate) fn reset(&self) {
        self.by
            .iter()
            .chain([&self.non_get])
            .for_each(|n| n.store(0, Relaxed));
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FaultKind {
    Status500,
    Hang,
    Garbage,
    Close,
    /// A 200 whose JSON body is [`HUGE_BYTES`] long (whitespace, then `{}`).
    Huge,
}

/// The length of a `huge` answer: past the exporter's 16 MiB cap on one answer
/// (the container list may be larger).
pub(crate) const HUGE_BYTES: usize = 17 << 20;

/// A fault as posted to `/_sim/fault`; `count` is decremented as calls are hit.
#[derive(Deserialize, Debug)]
pub(crate) struct Fault {
    pub(crate) endpoint: String,
    pub(crate) kind: FaultKind,
    pub(crate) count: Option<u64>,
}
