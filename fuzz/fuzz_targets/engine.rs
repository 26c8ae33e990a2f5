//! `GET /version` and `GET /info` (the input split at its first NUL byte) →
//! `Engine` → both encoders → a strict parse of each body.
#![no_main]
use docker_exporter::docker::types::{Info, Version};
use docker_exporter::docker::ApiVersion;
use docker_exporter::snapshot::Engine;
use docker_exporter_fuzz as harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (version, info) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let version: Version = harness::decode(version).unwrap_or_default();
    let info: Info = harness::decode(info).unwrap_or_default();
    let api = version
        .api_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ApiVersion(1, 41));
    harness::check(
        Some(Engine::from_wire(&version, &info, api)),
        Vec::new(),
        None,
    );
});
