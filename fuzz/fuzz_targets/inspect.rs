//! `GET /containers/{id}/json` → `Container` (both cgroup drivers) → both
//! encoders → a strict parse of each body.
#![no_main]
use docker_exporter::docker::types::Inspect;
use docker_exporter_fuzz as harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(inspect) = harness::decode::<Inspect>(data) {
        // One snapshot per cgroup driver: the same container twice in one
        // snapshot would be two series of one name.
        for container in harness::containers(&inspect) {
            harness::check(None, vec![container], None);
        }
    }
});
