//! The whole path at once: an inspect, a stats, a `/version` and an `/info`
//! body (the input split at NUL bytes) → the snapshot builders → both encoders
//! → a strict parse of each body.
#![no_main]
use docker_exporter::docker::types;
use docker_exporter::docker::ApiVersion;
use docker_exporter::snapshot::{Engine, Saturated, Stats};
use docker_exporter_fuzz as harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let mut next = || parts.next().unwrap_or(&[]);
    let (inspect, stats, version, info) = (next(), next(), next(), next());
    let mut containers = harness::decode::<types::Inspect>(inspect)
        .map(|i| harness::containers(&i))
        .unwrap_or_default();
    containers.truncate(1);
    let version: types::Version = harness::decode(version).unwrap_or_default();
    let info: types::Info = harness::decode(info).unwrap_or_default();
    let engine = Engine::from_wire(&version, &info, ApiVersion(1, 41));
    let stats = harness::decode::<types::Stats>(stats)
        .and_then(|s| Stats::from_wire(&s, engine.kind, &mut Saturated::default()));
    harness::check(Some(engine), containers, stats);
});
