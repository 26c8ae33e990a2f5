//! Fragment encoding: the body of a new snapshot made from encoded blocks of
//! containers, re-encoding only the blocks whose containers changed.
//!
//! A family's series in the body are each container's series, in snapshot
//! order, then the shared ones (see [`Part`]). The containers are cut into
//! blocks (a block ends after a container whose id hashes to a boundary, so
//! adding or removing a container changes one block, not every block after
//! it); each block is encoded on its own, in each format, and kept with the
//! `Arc`s its containers' series were made from ([`Key`]). A new snapshot
//! encodes the shared part (a header for every family, and the series of no
//! container) and the blocks whose `Arc`s moved; [`assemble`] then walks the
//! families and lists a family's header once, each block's lines of it, then
//! the shared lines: the body is those slices (served as they are, no copy). The body is byte-identical to a full encode
//! (invariant in `ARCHITECTURE.md`, property test `tests/it/fragments.rs`);
//! every cut is checked against the series the encoder was given, and a body
//! that cannot be trusted is an [`Untrusted`] error: the caller then encodes
//! in full.

use super::families::{part_families, Part};
use super::Format;
use crate::snapshot::{Container, Disk, Engine, Snapshot, Stats};
use hyper::body::Bytes;
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

/// Consecutive containers encoded together in one format.
struct Block {
    keys: Vec<Key>,
    cut: Cut,
}

/// A block ends after a container whose id hashes to 0 modulo this (so
/// blocks average this many containers), or at [`BLOCK_MAX`]: an event
/// re-encodes a block, a body copies one slice per block and family.
const BLOCK_EVERY: u64 = 32;
const BLOCK_MAX: usize = 128;

fn ends_block(id: &str) -> bool {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish() % BLOCK_EVERY == 0
}

/// The blocks of the last snapshot encoded in one format, by the id of
/// their first container.
#[derive(Default)]
pub struct Fragments {
    by_first: HashMap<String, Block>,
}

impl std::fmt::Debug for Fragments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fragments({} blocks)", self.by_first.len())
    }
}

/// How much of the last body was re-encoded, in containers and blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reuse {
    pub encoded: usize,
    pub reused: usize,
    pub blocks_encoded: usize,
    pub blocks_reused: usize,
}

/// The body of `s` in `format`, as slices of the blocks of earlier snapshots
/// where they still stand (nothing is copied); `fragments` then holds those
/// of `s`.
pub fn render(
    s: &Arc<Snapshot>,
    format: Format,
    fragments: &mut Fragments,
) -> Result<(Vec<Bytes>, Reuse), Untrusted> {
    let mut old = std::mem::take(&mut fragments.by_first);
    let shared = Cut::encode(s, Part::Shared, format, 0)?;
    let mut reuse = Reuse::default();
    let mut blocks = Vec::new();
    let mut start = 0;
    for (i, e) in s.containers.iter().enumerate() {
        if i + 1 < s.containers.len() && i + 1 - start < BLOCK_MAX && !ends_block(&e.container.id) {
            continue;
        }
        let keys: Vec<Key> = (start..=i).map(|j| Key::of(s, j)).collect();
        let first = &s.containers[start].container.id;
        let block = match old.remove(first) {
            Some(b)
                if b.keys.len() == keys.len()
                    && b.keys.iter().zip(&keys).all(|(a, b)| a.same(b)) =>
            {
                reuse.reused += keys.len();
                reuse.blocks_reused += 1;
                b
            }
            previous => {
                reuse.encoded += keys.len();
                reuse.blocks_encoded += 1;
                // The old block goes before its successor is encoded (its
                // text stays only where a body being sent still holds it);
                // its size is the new one's first guess.
                let hint = previous.map_or(0, |b| b.cut.text.len());
                let cut = Cut::encode(s, Part::Containers(start..i + 1), format, hint)?;
                Block { keys, cut }
            }
        };
        blocks.push(block);
        start = i + 1;
    }
    drop(old);
    let body = assemble(&shared, &blocks, format)?;
    fragments.by_first = blocks
        .into_iter()
        .map(|b| (b.keys[0].container.id.clone(), b))
        .collect();
    Ok((body, reuse))
}

/// The body: per family, its header once (when it has a series), each
/// block's lines of it, then the shared lines.
fn assemble(shared: &Cut, blocks: &[Block], format: Format) -> Result<Vec<Bytes>, Untrusted> {
    let mut out = Vec::with_capacity(shared.families.len() * (blocks.len() + 2) + 1);
    let mut cursors = vec![0usize; blocks.len()];
    for family in &shared.families {
        let mut header = false;
        for (b, cursor) in blocks.iter().zip(cursors.iter_mut()) {
            let Some(f) = b.cut.families.get(*cursor) else {
                continue;
            };
            if f.name != family.name {
                continue;
            }
            if !header {
                out.push(shared.text.slice(family.header.clone()));
                header = true;
            }
            out.push(b.cut.text.slice(f.lines.clone()));
            *cursor += 1;
        }
        if !family.lines.is_empty() {
            let start = if header {
                family.lines.start
            } else {
                family.header.start
            };
            out.push(shared.text.slice(start..family.lines.end));
        }
    }
    if blocks
        .iter()
        .zip(&cursors)
        .any(|(b, &c)| c != b.cut.families.len())
    {
        return Err(Untrusted::Leftover);
    }
    if format == Format::OpenMetrics {
        out.push(Bytes::from_static(b"# EOF\n"));
    }
    Ok(out)
}

/// One part of a snapshot encoded, and where each family's header and series
/// lines are in it.
struct Cut {
    text: Bytes,
    families: Vec<CutFamily>,
}

struct CutFamily {
    name: &'static str,
    header: Range<usize>,
    lines: Range<usize>,
}

/// Hands prometheus-client the families of one part, and notes each family
/// encoded with its series count. The shared part has a header for every
/// family (the containers' series may need it); a block only the families
/// it has series in.
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
        part_families(&self.snapshot, self.part.clone(), &mut |family| {
            if family.series.is_empty() && !every {
                return Ok(());
            }
            seen.push((family.name, family.series.len()));
            family.encode_always(&mut encoder)
        })
    }
}

impl Cut {
    /// Encodes `part` of `s` and cuts it at the families: each is a `# HELP`
    /// line, a `# TYPE` line and exactly as many series lines (none starting
    /// with `#`) as it had. `size_hint` (0: none) sizes the buffer, which
    /// then is not grown by doubling.
    fn encode(
        s: &Arc<Snapshot>,
        part: Part,
        format: Format,
        size_hint: usize,
    ) -> Result<Cut, Untrusted> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(PartCollector {
            snapshot: s.clone(),
            part: part.clone(),
            seen: seen.clone(),
        }));
        let mut text = match size_hint {
            0 => String::new(),
            h => String::with_capacity(h + h / 16 + 256),
        };
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
        Cut::new(text, seen)
    }

    /// Cuts `text` at the families `seen` (name, series count), in order;
    /// anything else in it makes it untrusted.
    fn new(mut text: String, seen: Vec<(&'static str, usize)>) -> Result<Cut, Untrusted> {
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
        if text.capacity() > text.len() + text.len() / 8 {
            text.shrink_to_fit();
        }
        Ok(Cut {
            text: Bytes::from(text),
            families,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "# HELP a A\n# TYPE a gauge\na 1\na{x=\"#\"} 2\n# HELP b B\n# TYPE b gauge\n";

    #[test]
    fn a_cut_follows_the_series_counts() {
        let cut = Cut::new(TEXT.into(), vec![("a", 2), ("b", 0)]).unwrap();
        let f = &cut.families;
        assert_eq!(
            &cut.text[f[0].header.clone()],
            b"# HELP a A\n# TYPE a gauge\n".as_slice()
        );
        assert_eq!(
            &cut.text[f[0].lines.clone()],
            b"a 1\na{x=\"#\"} 2\n".as_slice()
        );
        assert!(f[1].lines.is_empty());
    }

    #[test]
    fn text_that_does_not_match_the_counts_is_untrusted() {
        for seen in [
            vec![("a", 1), ("b", 0)],
            vec![("a", 3), ("b", 0)],
            vec![("a", 2)],
            vec![("a", 2), ("b", 0), ("c", 0)],
        ] {
            assert!(Cut::new(TEXT.into(), seen.clone()).is_err(), "{seen:?}");
        }
        let no_newline = TEXT.trim_end().to_string();
        assert!(Cut::new(no_newline, vec![("a", 2), ("b", 0)]).is_err());
    }

    #[test]
    fn a_block_family_the_body_lacks_is_untrusted() {
        let shared = Cut::new("# HELP a A\n# TYPE a gauge\n".into(), vec![("a", 0)]).unwrap();
        let block = |text: &str, seen| Block {
            keys: Vec::new(),
            cut: Cut::new(text.into(), seen).unwrap(),
        };
        let ok = block("# HELP a A\n# TYPE a gauge\na 1\n", vec![("a", 1)]);
        let body = assemble(&shared, &[ok], Format::Text).unwrap().concat();
        assert_eq!(body, b"# HELP a A\n# TYPE a gauge\na 1\n");
        let stray = block("# HELP z Z\n# TYPE z gauge\nz 1\n", vec![("z", 1)]);
        assert!(matches!(
            assemble(&shared, &[stray], Format::Text),
            Err(Untrusted::Leftover)
        ));
    }
}
