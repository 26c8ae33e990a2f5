//! What every fuzz target checks once the engine's bytes have become a
//! snapshot: both encoders run, and each body parses with the strict
//! exposition parser of the test suite (included from `tests/it/exposition.rs`,
//! so the fuzzers and the tests read bodies the same way).

use docker_exporter::docker::types;
use docker_exporter::metrics::{render, Format};
use docker_exporter::snapshot::{
    Container, ContainerEntry, Engine, EngineKind, Saturated, Snapshot, Stats,
};
use std::sync::Arc;

#[path = "../../tests/it/exposition.rs"]
pub mod exposition;

/// Labels copied onto series in the targets (the default allow-list plus one).
pub const LABELS: [&str; 2] = ["com.docker.compose.service", "org.example.note"];

/// Decodes JSON the way the engine client does (`None` for what does not decode).
pub fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

/// Builds a container from an inspect body, for both engines and cgroup drivers.
pub fn containers(inspect: &types::Inspect) -> Vec<Container> {
    let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    [EngineKind::Docker, EngineKind::Podman]
        .into_iter()
        .flat_map(|engine| ["cgroupfs", "systemd"].map(|driver| (engine, driver)))
        .filter_map(|(engine, driver)| {
            Container::from_inspect(inspect, &labels, engine, driver, &mut Saturated::default())
                .ok()
        })
        .collect()
}

/// A running container of fixed identity, to hang fuzzed stats on.
pub fn running() -> Container {
    let inspect: types::Inspect = serde_json::from_value(serde_json::json!({
        "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "Name": "/fuzz", "Image": "sha256:1",
        "Config": {"Image": "fuzz:latest"}, "State": {"Status": "running"},
    }))
    .expect("a valid inspect body");
    containers(&inspect).remove(0)
}

/// A snapshot of these parts, encoded in both formats, each body parsed strictly.
pub fn check(engine: Option<Engine>, containers: Vec<Container>, stats: Option<Stats>) {
    let stats = stats.map(Arc::new);
    let snapshot = Arc::new(Snapshot {
        engine_up: engine.is_some(),
        engine: engine.map(Arc::new),
        containers: containers
            .into_iter()
            .map(|c| ContainerEntry {
                container: Arc::new(c),
                stats: stats.clone(),
            })
            .collect(),
        ..Snapshot::default()
    });
    for (format, syntax) in [
        (Format::Text, exposition::Syntax::Text),
        (Format::OpenMetrics, exposition::Syntax::OpenMetrics),
    ] {
        let body = render(&snapshot, format, 0);
        if let Err(e) = exposition::parse(&body, syntax) {
            panic!("the {format:?} body does not parse: {e}\n{body}");
        }
    }
}
