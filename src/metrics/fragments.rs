//! Fragment encoding: the body of a new snapshot made from each container's
//! encoded series, re-encoding only the containers whose data changed.
//!
//! A family's series in the body are each container's series, in snapshot
//! order, then the shared ones (see [`Part`]). So every container has a
//! [`Fragment`] per format: its encoded lines cut by family, kept with the
//! `Arc`s they were made from ([`Key`]). A new snapshot re-encodes the shared
//! part (headers of every family, and the series of no container) and the
//! containers whose `Arc`s moved; then [`assemble`] walks the families,
//! writing a family's header once, copying each container's slice of it, and
//! the shared lines. The body is byte-identical to a full encode (invariant
//! in `ARCHITECTURE.md`, property test `tests/it/fragments.rs`); every cut is
//! checked against what the encoder was given, and a body that cannot be
//! trusted is an [`Untrusted`] error: the caller encodes in full instead.

use super::families::{part_families, Part};
use super::Format;
use crate::snapshot::{Container, Disk, Engine, Snapshot, Stats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Why an assembled body cannot be trusted (a bug, never bad engine data).
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    #[error("the encoded {0} does not cut into the families it was given")]
    Cut(&'static str),
    #[error("a container's fragment has a family the body does not have")]
    Leftover,
}

/// Everything a container's series depend on: the fragment stands while
/// these are the same `Arc`s (and the same OOM count and disk device).
#[derive(Debug)]
struct Key {
    container: Arc<Container>,
    stats: Option<Arc<Stats>>,
    /// `container_oom_events_total` of its name.
    oom: u64,
    disk: Option<Arc<Disk>>,
    /// For the `device` label of `container_fs_usage_bytes` (with `disk`).
    engine: Option<Arc<Engine>>,
}

impl Key {
    fn of(s: &Snapshot, i: usize) -> Key {
        let e = &s.containers[i];
        Key {
            container: e.container.clone(),
            stats: e.stats.clone(),
            oom: s
                .events
                .by_container
                .get(&e.container.name)
                .map_or(0, |c| c.oom),
            disk: s.disk.clone(),
            engine: s.engine.clone(),
        }
    }

    fn same(&self, o: &Key) -> bool {
        Arc::ptr_eq(&self.container, &o.container)
            && same_arc(&self.stats, &o.stats)
            && self.oom == o.oom
            && same_arc(&self.disk, &o.disk)
            && (self.disk.is_none() || self.driver() == o.driver())
    }
}

impl Key {
    fn driver(&self) -> Option<&str> {
        self.engine.as_deref().map(|e| e.storage_driver.as_str())
    }
}

/// Both `None`, or the same `Arc`.
fn same_arc<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// One container's encoded series in one format, cut by family.
#[derive(Debug)]
struct Fragment {
    key: Key,
    lines: String,
    /// Each family the container has series in, in body order, with the end
    /// of its lines in `lines`.
    ends: Vec<(&'static str, usize)>,
}

/// The fragments of the last snapshot encoded in one format, by container id.
#[derive(Debug, Default)]
pub struct Fragments {
    by_id: HashMap<String, Fragment>,
}

/// How much of the last body was re-encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reuse {
    pub encoded: usize,
    pub reused: usize,
}

/// The body of `s` in `format`, from the fragments of earlier snapshots where
/// they still stand; `fragments` then holds those of `s`.
pub fn render(
    s: &Arc<Snapshot>,
    format: Format,
    fragments: &mut Fragments,
    size_hint: usize,
) -> Result<(String, Reuse), Untrusted> {
    let mut old = std::mem::take(&mut fragments.by_id);
    let shared = Cut::encode(s, Part::Shared, format, &mut String::new())?;
    let mut scratch = String::new();
    let mut reuse = Reuse::default();
    let mut current = Vec::with_capacity(s.containers.len());
    for (i, e) in s.containers.iter().enumerate() {
        let key = Key::of(s, i);
        let fragment = match old.remove(&e.container.id) {
            Some(f) if f.key.same(&key) => {
                reuse.reused += 1;
                f
            }
            _ => {
                reuse.encoded += 1;
                Fragment::encode(s, i, key, format, &mut scratch)?
            }
        };
        current.push(fragment);
    }
    drop(old);
    let body = assemble(&shared, &current, format, size_hint)?;
    fragments.by_id = current
        .into_iter()
        .map(|f| (f.key.container.id.clone(), f))
        .collect();
    Ok((body, reuse))
}

/// The body: per family, its header once (when it has a series), each
/// container's slice, then the shared lines.
fn assemble(
    shared: &Cut,
    fragments: &[Fragment],
    format: Format,
    size_hint: usize,
) -> Result<String, Untrusted> {
    let mut out = String::with_capacity(size_hint + size_hint / 16 + 4096);
    let mut cursors = vec![0usize; fragments.len()];
    for family in &shared.families {
        let mut header = false;
        for (f, cursor) in fragments.iter().zip(cursors.iter_mut()) {
            let Some(&(name, end)) = f.ends.get(*cursor) else {
                continue;
            };
            if name != family.name {
                continue;
            }
            if !header {
                out.push_str(&shared.text[family.header.clone()]);
                header = true;
            }
            let start = if *cursor == 0 {
                0
            } else {
                f.ends[*cursor - 1].1
            };
            out.push_str(&f.lines[start..end]);
            *cursor += 1;
        }
        if !family.lines.is_empty() {
            if !header {
                out.push_str(&shared.text[family.header.clone()]);
            }
            out.push_str(&shared.text[family.lines.clone()]);
        }
    }
    if fragments
        .iter()
        .zip(&cursors)
        .any(|(f, &c)| c != f.ends.len())
    {
        return Err(Untrusted::Leftover);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    if out.capacity() > out.len() + out.len() / 8 + 4096 {
        out.shrink_to_fit();
    }
    Ok(out)
}

impl Fragment {
    /// Encodes container `i` of `s` (through `scratch`, reused between calls).
    fn encode(
        s: &Arc<Snapshot>,
        i: usize,
        key: Key,
        format: Format,
        scratch: &mut String,
    ) -> Result<Fragment, Untrusted> {
        let cut = Cut::encode(s, Part::Container(i), format, scratch)?;
        let mut lines = String::with_capacity(cut.families.iter().map(|f| f.lines.len()).sum());
        let ends = cut
            .families
            .iter()
            .map(|f| {
                lines.push_str(&cut.text[f.lines.clone()]);
                (f.name, lines.len())
            })
            .collect();
        *scratch = cut.text;
        Ok(Fragment { key, lines, ends })
    }
}

/// One part of a snapshot encoded, and where each family's header and series
/// lines are in it.
struct Cut {
    text: String,
    families: Vec<CutFamily>,
}

struct CutFamily {
    name: &'static str,
    header: Range<usize>,
    lines: Range<usize>,
}

/// Hands prometheus-client the families of one part, and notes each family
/// encoded with its series count. The shared part has a header for every
/// family (the containers' series may need it); a container's part only the
/// families it has series in.
#[derive(Debug)]
struct PartCollector {
    snapshot: Arc<Snapshot>,
    part: Part,
    seen: Arc<Mutex<Vec<(&'static str, usize)>>>,
}

impl Collector for PartCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let every = matches!(self.part, Part::Shared);
        part_families(&self.snapshot, self.part, &mut |family| {
            if family.series.is_empty() && !every {
                return Ok(());
            }
            seen.push((family.name, family.series.len()));
            family.encode_always(&mut encoder)
        })
    }
}

impl Cut {
    /// Encodes `part` of `s` into `buffer` (cleared first; taken into the cut)
    /// and cuts it at the families: each is a `# HELP` line, a `# TYPE` line
    /// and exactly as many series lines (none starting with `#`) as it had.
    fn encode(
        s: &Arc<Snapshot>,
        part: Part,
        format: Format,
        buffer: &mut String,
    ) -> Result<Cut, Untrusted> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(PartCollector {
            snapshot: s.clone(),
            part,
            seen: seen.clone(),
        }));
        let mut text = std::mem::take(buffer);
        text.clear();
        let result = match format {
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode_registry(&mut text, &registry)
            }
        };
        result.map_err(|_| Untrusted::Cut("part"))?;
        drop(registry);
        let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
        let mut pos = 0;
        let line = |pos: &mut usize, header: Option<&str>| -> Result<(), Untrusted> {
            let rest = &text[*pos..];
            let ok = match header {
                Some(h) => rest.starts_with(h),
                None => !rest.is_empty() && !rest.starts_with('#'),
            };
            let end = rest
                .find('\n')
                .filter(|_| ok)
                .ok_or(Untrusted::Cut("line"))?;
            *pos += end + 1;
            Ok(())
        };
        let mut families = Vec::with_capacity(seen.len());
        for (name, series) in seen {
            let start = pos;
            line(&mut pos, Some("# HELP "))?;
            line(&mut pos, Some("# TYPE "))?;
            let header = start..pos;
            for _ in 0..series {
                line(&mut pos, None)?;
            }
            families.push(CutFamily {
                name,
                lines: header.end..pos,
                header,
            });
        }
        if pos != text.len() {
            return Err(Untrusted::Cut("tail"));
        }
        Ok(Cut { text, families })
    }
}
