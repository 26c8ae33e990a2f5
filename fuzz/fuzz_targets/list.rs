//! `GET /containers/json`: any body decodes or is refused, never a panic.
#![no_main]
use docker_exporter::docker::types::ListedContainer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = docker_exporter_fuzz::decode::<Vec<ListedContainer>>(data);
});
