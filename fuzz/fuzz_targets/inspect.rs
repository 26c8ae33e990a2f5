//! `GET /containers/{id}/json` → `Container` (both cgroup drivers) → both
//! encoders → a strict parse of each body.
#![no_main]
use docker_exporter::docker::types::Inspect;
use docker_exporter_fuzz as harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(inspect) = harness::decode::<Inspect>(data) {
        harness::check(None, harness::containers(&inspect), None);
    }
});
