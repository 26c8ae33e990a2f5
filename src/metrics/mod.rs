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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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
    shared: Arc<Shared>,
}

/// What the expositions of one cache share, per format: the size of the last
/// body encoded in full, the blocks of the last snapshot encoded.
#[derive(Debug, Default)]
struct Shared {
    size_hints: [AtomicUsize; 2],
    fragments: [Mutex<fragments::Fragments>; 2],
    reuse: [Mutex<Reuse>; 2],
    /// Bodies encoded in full because fragment assembly failed (a bug).
    fallbacks: AtomicU64,
}

impl Shared {
    /// The plain body of `s` in `format`: assembled from fragments, or in
    /// full if the assembly cannot be trusted (counted, logged once).
    fn encode(&self, s: &Arc<Snapshot>, format: Format) -> Body {
        let i = (format == Format::OpenMetrics) as usize;
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

    /// The body if it is already made (serving it costs nothing).
    pub fn cached(&self, format: Format, gzip: bool) -> Option<Body> {
        self.bodies[Self::slot(format, gzip)].get().cloned()
    }

    /// The body in `format`, gzip-compressed when `gzip`; made on first use
    /// (CPU-bound: not on an async worker when not [`cached`](Self::cached)).
    pub fn body(&self, format: Format, gzip: bool) -> Body {
        self.bodies[Self::slot(format, gzip)]
            .get_or_init(|| {
                if gzip {
                    return compress(&self.body(format, false));
                }
                self.shared.encode(&self.snapshot, format)
            })
            .clone()
    }
}

/// gzip at level 2: with zlib-rs as fast as miniz_oxide's level 1 and 13 %
/// smaller; its level 1 is a third faster but a quarter larger (BENCHMARKS.md).
fn compress(body: &Body) -> Body {
    let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::new(2));
    for chunk in body.chunks() {
        gz.write_all(chunk).expect("gzip into a Vec");
    }
    let mut out = gz.finish().expect("gzip into a Vec");
    out.shrink_to_fit();
    Body::new(vec![Bytes::from(out)])
}

/// The exposition of the newest snapshot a scrape asked for, shared by all
/// scrapes of that snapshot; and the fragments its bodies are assembled from.
#[derive(Debug, Default)]
pub struct ExpositionCache {
    current: Mutex<Option<Arc<Exposition>>>,
    shared: Arc<Shared>,
}

impl ExpositionCache {
    /// The exposition for `snapshot`, reusing the cached one when it is the same snapshot.
    pub fn get(&self, snapshot: Arc<Snapshot>) -> Arc<Exposition> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some(e) if Arc::ptr_eq(e.snapshot(), &snapshot) => e.clone(),
            _ => {
                let e = Arc::new(Exposition {
                    snapshot,
                    bodies: Default::default(),
                    shared: self.shared.clone(),
                });
                *current = Some(e.clone());
                e
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
}
