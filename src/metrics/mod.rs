//! Metric encoding: a [`Snapshot`] in, the `/metrics` body out.
//!
//! Nothing here awaits or touches the engine. [`families`] lists every family
//! of the metric contract with its series for one snapshot; [`render`] encodes
//! them with prometheus-client in the Prometheus text format 0.0.4 or in
//! OpenMetrics; [`Exposition`] keeps the encoded (and gzip-compressed) bodies
//! of one snapshot so that every scrape of it after the first serves bytes.

mod families;
mod fragments;

pub use families::families;
pub use fragments::{Reuse, Untrusted};

use crate::snapshot::Snapshot;
use flate2::write::GzEncoder;
use flate2::Compression;
use hyper::body::Bytes;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The two text formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4, the default.
    Text,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// OpenMetrics when the `Accept` header lists it, else text 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// A sample value: exact integers where the source is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}

/// Label pairs of one series, borrowed from the snapshot.
pub type Labels<'a> = Vec<(&'a str, &'a str)>;

/// One metric family and its series.
#[derive(Debug)]
pub struct Family<'a> {
    /// The full name as served, counters with their `_total`.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub series: Vec<(Labels<'a>, Value)>,
}

impl<'a> Family<'a> {
    pub fn push(&mut self, labels: Labels<'a>, value: impl Into<Value>) {
        self.series.push((labels, value.into()));
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.series.is_empty() {
            return Ok(());
        }
        self.encode_always(encoder)
    }

    /// Encodes the family, its header even with no series.
    fn encode_always(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // prometheus-client appends `_total` to counters itself.
        let name = match self.kind {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            _ => self.name,
        };
        let mut metric = encoder.encode_descriptor(name, self.help, None, self.kind)?;
        for (labels, value) in &self.series {
            let m = metric.encode_family(labels)?;
            match (self.kind, *value) {
                (MetricType::Counter, Value::Int(v)) => {
                    ConstCounter::new(v.max(0) as u64).encode(m)?
                }
                (MetricType::Counter, Value::Float(v)) => ConstCounter::new(v).encode(m)?,
                (_, Value::Int(v)) => ConstGauge::new(v).encode(m)?,
                (_, Value::Float(v)) => ConstGauge::new(v).encode(m)?,
            }
        }
        Ok(())
    }
}

/// The prometheus-client view of one snapshot.
#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        families(&self.0, &mut |family| family.encode(&mut encoder))
    }
}

/// Encodes a snapshot in one format, into a buffer of `size_hint` bytes (the
/// last body's size: growing a multi-megabyte String by doubling would leave
/// up to twice the body allocated for as long as it is cached).
pub fn render(snapshot: &Arc<Snapshot>, format: Format, size_hint: usize) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut out = String::with_capacity(size_hint + size_hint / 16 + 4096);
    let result = match format {
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    // Writing into a String cannot fail; an error here is a bug in a family.
    result.expect("encoding into a String");
    if out.capacity() > out.len() + out.len() / 8 + 4096 {
        out.shrink_to_fit();
    }
    out
}

/// A body as the slices it is made of (of encoded blocks, see
/// `fragments.rs`; one slice when gzip-compressed or encoded in full).
#[derive(Debug, Clone)]
pub struct Body {
    chunks: Arc<[Bytes]>,
    len: usize,
}

impl Body {
    fn new(chunks: Vec<Bytes>) -> Body {
        let len = chunks.iter().map(Bytes::len).sum();
        Body {
            chunks: chunks.into(),
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The body in one piece (a copy, unless it is one already).
    pub fn to_bytes(&self) -> Bytes {
        match &self.chunks[..] {
            [one] => one.clone(),
            chunks => Bytes::from(chunks.concat()),
        }
    }
}

/// The encoded bodies of one snapshot, made on first use.
#[derive(Debug)]
pub struct Exposition {
    snapshot: Arc<Snapshot>,
    bodies: [OnceLock<Body>; 4],
    /// Which bodies [`ExpositionCache::encode_ahead`] made (or is making).
    made_ahead: [AtomicBool; 4],
    shared: Arc<Shared>,
}

/// What the expositions of one cache share, per format: the size of the last
/// body encoded in full, the blocks of the last snapshot encoded.
#[derive(Debug, Default)]
struct Shared {
    size_hints: [AtomicUsize; 2],
    /// The size of the last gzip body, per format.
    gzip_hints: [AtomicUsize; 2],
    fragments: [Mutex<fragments::Fragments>; 2],
    reuse: [Mutex<Reuse>; 2],
    /// Bodies encoded in full because fragment assembly failed (a bug).
    fallbacks: AtomicU64,
    /// Plain bodies encoded, by any path.
    encodes: AtomicU64,
    /// Bodies made ahead of a scrape.
    ahead: AtomicU64,
}

impl Shared {
    /// The plain body of `s` in `format`: assembled from fragments, or in
    /// full if the assembly cannot be trusted (counted, logged once).
    fn encode(&self, s: &Arc<Snapshot>, format: Format) -> Body {
        let i = (format == Format::OpenMetrics) as usize;
        self.encodes.fetch_add(1, Ordering::Relaxed);
        let mut fragments = self.fragments[i].lock().unwrap_or_else(|e| e.into_inner());
        match fragments::render(s, format, &mut fragments) {
            Ok((chunks, reuse)) => {
                *self.reuse[i].lock().unwrap_or_else(|e| e.into_inner()) = reuse;
                Body::new(chunks)
            }
            Err(e) => {
                if self.fallbacks.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!(error = %e, "fragment encoding failed; encoding whole bodies instead (a bug)");
                }
                *fragments = Default::default();
                let hint = &self.size_hints[i];
                let body = render(s, format, hint.load(Ordering::Relaxed));
                hint.store(body.len(), Ordering::Relaxed);
                Body::new(vec![Bytes::from(body)])
            }
        }
    }
}

impl Exposition {
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    fn slot(format: Format, gzip: bool) -> usize {
        (format == Format::OpenMetrics) as usize * 2 + gzip as usize
    }

    /// Whether the body of this kind was made ahead of any scrape of it.
    pub fn made_ahead(&self, format: Format, gzip: bool) -> bool {
        self.made_ahead[Self::slot(format, gzip)].load(Ordering::Relaxed)
    }

    /// The body if it is already made (serving it costs nothing).
    pub fn cached(&self, format: Format, gzip: bool) -> Option<Body> {
        self.bodies[Self::slot(format, gzip)].get().cloned()
    }

    /// The body in `format`, gzip-compressed when `gzip`; made on first use
    /// (CPU-bound: not on an async worker when not [`cached`](Self::cached)).
    pub fn body(&self, format: Format, gzip: bool) -> Body {
        self.make(format, gzip, false)
    }

    /// The body, made here if no one has made it (or is making it): counted
    /// as made ahead with `ahead`.
    fn make(&self, format: Format, gzip: bool, ahead: bool) -> Body {
        let slot = Self::slot(format, gzip);
        self.bodies[slot]
            .get_or_init(|| {
                if ahead {
                    self.made_ahead[slot].store(true, Ordering::Relaxed);
                    self.shared.ahead.fetch_add(1, Ordering::Relaxed);
                }
                if gzip {
                    let plain = self.make(format, false, ahead);
                    let hint = &self.shared.gzip_hints[(format == Format::OpenMetrics) as usize];
                    let body = compress(&plain, hint.load(Ordering::Relaxed));
                    hint.store(body.len(), Ordering::Relaxed);
                    return body;
                }
                self.shared.encode(&self.snapshot, format)
            })
            .clone()
    }
}

/// gzip at level 2: with zlib-rs as fast as miniz_oxide's level 1 and 13 %
/// smaller; its level 1 is a third faster but a quarter larger (BENCHMARKS.md).
/// The output buffer starts at `size_hint` (the last gzip body's size) plus
/// a margin, so that it is not grown by doubling and then copied to shrink
/// (at N = 10,000: 16 MiB instead of up to 21 MiB, then a copy).
fn compress(body: &Body, size_hint: usize) -> Body {
    let capacity = match size_hint {
        0 => body.len() / 8,
        h => h + h / 32 + 4096,
    };
    let mut gz = GzEncoder::new(Vec::with_capacity(capacity), Compression::new(2));
    for chunk in body.chunks() {
        gz.write_all(chunk).expect("gzip into a Vec");
    }
    let mut out = gz.finish().expect("gzip into a Vec");
    if out.capacity() > out.len() + out.len() / 16 + 8192 {
        out.shrink_to_fit();
    }
    Body::new(vec![Bytes::from(out)])
}

/// Bodies of a format requested within this long are encoded ahead, as soon
/// as a snapshot is published (see [`ExpositionCache::encode_ahead`]); a
/// format nobody asked for that long is not kept (nor its blocks).
pub const AHEAD_WINDOW: Duration = Duration::from_secs(180);

/// When one body kind (format × gzip) was asked for, in milliseconds since
/// the cache's epoch plus one (0: never).
#[derive(Debug, Default)]
struct Demand {
    requested: AtomicU64,
    /// Between the last two requests, ms (0: fewer than two).
    gap: AtomicU64,
    /// When this kind was last encoded ahead (same clock as `requested`).
    ahead: AtomicU64,
}

/// The exposition of the newest snapshot a scrape asked for, shared by all
/// scrapes of that snapshot; and the fragments its bodies are assembled from.
#[derive(Debug)]
pub struct ExpositionCache {
    current: Mutex<Option<Arc<Exposition>>>,
    shared: Arc<Shared>,
    epoch: Instant,
    /// Per body kind, by [`Exposition::slot`].
    demand: [Demand; 4],
}

impl Default for ExpositionCache {
    fn default() -> Self {
        ExpositionCache {
            current: Mutex::default(),
            shared: Arc::default(),
            epoch: Instant::now(),
            demand: Default::default(),
        }
    }
}

/// Every body kind, in [`Exposition::slot`] order.
const KINDS: [(Format, bool); 4] = [
    (Format::Text, false),
    (Format::Text, true),
    (Format::OpenMetrics, false),
    (Format::OpenMetrics, true),
];

impl ExpositionCache {
    /// The exposition for `snapshot`, reusing the cached one when it is the same snapshot.
    pub fn get(&self, snapshot: Arc<Snapshot>) -> Arc<Exposition> {
        self.latest(|| snapshot)
    }

    /// The exposition of the snapshot `load` gives, loaded under the cache's
    /// lock: with the store's pointer load, the cached exposition only ever
    /// moves to a newer snapshot (a scrape that loaded an older pointer
    /// before another moved on cannot put its snapshot back and have the
    /// newer one encoded twice).
    pub fn latest(&self, load: impl FnOnce() -> Arc<Snapshot>) -> Arc<Exposition> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = load();
        match &*current {
            Some(e) if Arc::ptr_eq(e.snapshot(), &snapshot) => e.clone(),
            _ => {
                // The previous exposition's bodies go now (scrapes still
                // sending them hold their own references), before the new
                // one is encoded.
                *current = None;
                let e = Arc::new(Exposition {
                    snapshot,
                    bodies: Default::default(),
                    made_ahead: Default::default(),
                    shared: self.shared.clone(),
                });
                *current = Some(e.clone());
                e
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Notes a scrape of this body kind (what [`encode_ahead`](Self::encode_ahead) follows).
    pub fn requested(&self, format: Format, gzip: bool) {
        let d = &self.demand[Exposition::slot(format, gzip)];
        let now = self.now_ms();
        let last = d.requested.swap(now, Ordering::Relaxed);
        if last != 0 {
            d.gap.store(now.saturating_sub(last), Ordering::Relaxed);
        }
    }

    /// Whether a body kind was asked for within [`AHEAD_WINDOW`].
    fn wanted(&self, slot: usize, now: u64) -> bool {
        let at = self.demand[slot].requested.load(Ordering::Relaxed);
        // `now` may be a little older than a request noted meanwhile.
        at != 0 && now.saturating_sub(at) <= AHEAD_WINDOW.as_millis() as u64
    }

    /// Whether any body kind was asked for within [`AHEAD_WINDOW`] (else
    /// there is nothing to encode ahead).
    pub fn wants_ahead(&self) -> bool {
        let now = self.now_ms();
        (0..KINDS.len()).any(|slot| self.wanted(slot, now))
    }

    /// Makes, on this (blocking) thread, the bodies of `exposition` that were
    /// asked for within [`AHEAD_WINDOW`] and are not made yet, so that the
    /// next scrape of each finds bytes. A scrape that comes meanwhile waits
    /// for the body being made rather than making a second one (the
    /// exposition's once-cells: invariant 9). At most two ahead encodes of a
    /// kind per interval between its scrapes (the gap between its last two,
    /// or the time since the last when longer): a kind encoded ahead less
    /// than half that interval ago is left for later, and the returned wait
    /// says when the soonest such kind is due (the caller then encodes the
    /// newest snapshot). So a Prometheus scraping every 15 s costs at most
    /// two encodes per 15 s, however many events publish snapshots, while a
    /// client polling every few milliseconds gets every snapshot made ahead.
    pub fn encode_ahead(&self, exposition: &Exposition) -> Option<Duration> {
        let mut later: Option<u64> = None;
        for (slot, (format, gzip)) in KINDS.into_iter().enumerate() {
            let now = self.now_ms();
            if !self.wanted(slot, now) || exposition.bodies[slot].get().is_some() {
                continue;
            }
            let d = &self.demand[slot];
            // The scrape interval of this kind, as far as can be told now.
            let interval = d
                .gap
                .load(Ordering::Relaxed)
                .max(now.saturating_sub(d.requested.load(Ordering::Relaxed)));
            let due = d.ahead.load(Ordering::Relaxed) + interval / 2;
            if d.ahead.load(Ordering::Relaxed) != 0 && due > now {
                later = Some(later.map_or(due - now, |l| l.min(due - now)));
                continue;
            }
            d.ahead.store(now, Ordering::Relaxed);
            exposition.make(format, gzip, true);
        }
        later.map(Duration::from_millis)
    }

    /// Drops the blocks of a format nobody asked for within [`AHEAD_WINDOW`]
    /// (a later scrape of it encodes every block again, once). Never waits.
    pub fn forget_unwanted(&self) {
        let now = self.now_ms();
        for (i, fragments) in self.shared.fragments.iter().enumerate() {
            if self.wanted(2 * i, now) || self.wanted(2 * i + 1, now) {
                continue;
            }
            // Busy: a scrape is encoding it, so it is wanted after all.
            if let Ok(mut f) = fragments.try_lock() {
                *f = Default::default();
            }
        }
    }

    /// How many containers the last plain body in `format` re-encoded and reused.
    pub fn reuse(&self, format: Format) -> Reuse {
        let i = (format == Format::OpenMetrics) as usize;
        *self.shared.reuse[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Bodies encoded in full because fragment assembly failed (0 unless a bug).
    pub fn fallbacks(&self) -> u64 {
        self.shared.fallbacks.load(Ordering::Relaxed)
    }

    /// Plain bodies encoded (assembled or in full), by scrapes and ahead.
    pub fn encodes(&self) -> u64 {
        self.shared.encodes.load(Ordering::Relaxed)
    }

    /// Bodies made by [`encode_ahead`](Self::encode_ahead) (a gzip body and
    /// the plain one it is compressed from count as two).
    pub fn made_ahead(&self) -> u64 {
        self.shared.ahead.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(at: f64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            collected_at: at,
            ..Snapshot::default()
        })
    }

    #[test]
    fn nothing_is_encoded_ahead_for_kinds_nobody_scraped() {
        let cache = ExpositionCache::default();
        assert!(!cache.wants_ahead());
        cache.requested(Format::OpenMetrics, false);
        assert!(cache.wants_ahead());
        let e = cache.get(snapshot(1.0));
        assert_eq!(cache.encode_ahead(&e), None);
        assert!(e.made_ahead(Format::OpenMetrics, false));
        for (format, gzip) in [
            (Format::Text, false),
            (Format::Text, true),
            (Format::OpenMetrics, true),
        ] {
            assert!(e.cached(format, gzip).is_none(), "{format:?} gzip {gzip}");
        }
        assert_eq!((cache.encodes(), cache.made_ahead()), (1, 1));
    }

    #[test]
    fn a_slow_scraper_gets_at_most_two_ahead_encodes_per_interval() {
        let cache = ExpositionCache::default();
        cache.requested(Format::Text, true);
        std::thread::sleep(Duration::from_millis(1000));
        cache.requested(Format::Text, true);
        let first = cache.get(snapshot(1.0));
        assert_eq!(cache.encode_ahead(&first), None);
        assert!(first.made_ahead(Format::Text, true));
        // A snapshot published right after: due half an interval (500 ms)
        // after the last ahead encode, not now.
        let second = cache.get(snapshot(2.0));
        let wait = cache.encode_ahead(&second).expect("left for later");
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(second.cached(Format::Text, true).is_none());
        std::thread::sleep(wait);
        assert_eq!(cache.encode_ahead(&second), None);
        assert!(second.made_ahead(Format::Text, true));
        // Each snapshot's gzip body and the plain one it was made from.
        assert_eq!(cache.made_ahead(), 4);
    }
}
