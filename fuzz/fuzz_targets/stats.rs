//! `GET /containers/{id}/stats` (cgroup v1 and v2 shapes) → `Stats` on a
//! running container → both encoders → a strict parse of each body.
#![no_main]
use docker_exporter::docker::types;
use docker_exporter::snapshot::{EngineKind, Saturated, Stats};
use docker_exporter_fuzz as harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(wire) = harness::decode::<types::Stats>(data) {
        for engine in [EngineKind::Docker, EngineKind::Podman] {
            let stats = Stats::from_wire(&wire, engine, &mut Saturated::default());
            harness::check(None, vec![harness::running()], stats);
        }
    }
});
