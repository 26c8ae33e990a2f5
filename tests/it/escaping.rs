//! Property tests of label escaping: any container name, image or label value
//! (quotes, backslashes, newlines, any Unicode) comes back unchanged from the
//! exporter's text and OpenMetrics bodies through a strict parser
//! (`exposition.rs`).

use crate::exposition::{self, Syntax};
use docker_exporter::docker::types;
use docker_exporter::metrics::{render, Format};
use docker_exporter::snapshot::{Container, ContainerEntry, EngineKind, Saturated, Snapshot};
use proptest::prelude::*;
use std::sync::Arc;

const LABEL: &str = "com.docker.compose.service";

fn snapshot(name: &str, image: &str, label: &str) -> Arc<Snapshot> {
    let inspect: types::Inspect = serde_json::from_value(serde_json::json!({
        "Id": "0123456789abcdef",
        "Name": format!("/{name}"),
        "Image": "sha256:1",
        "Config": {"Image": image, "Labels": {LABEL: label}},
        "State": {"Status": "running"},
    }))
    .unwrap();
    let mut saturated = Saturated::default();
    let container = Container::from_inspect(
        &inspect,
        &[LABEL.to_string()],
        EngineKind::Docker,
        "cgroupfs",
        &mut saturated,
    )
    .unwrap();
    Arc::new(Snapshot {
        engine_up: true,
        containers: vec![ContainerEntry {
            container: Arc::new(container),
            stats: None,
        }],
        ..Snapshot::default()
    })
}

/// Strings that stress the escaping: the three escaped characters, other
/// control characters, quotes of other kinds and multi-byte Unicode.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\\n".to_string()),
            Just("}".to_string()),
            Just(",x=\"".to_string()),
            Just("\t\r".to_string()),
            any::<char>().prop_map(String::from),
            "[a-z0-9_.-]{1,4}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn labels_round_trip_through_both_formats(name in nasty(), image in nasty(), label in nasty()) {
        let snap = snapshot(&name, &image, &label);
        for (format, syntax) in [(Format::Text, Syntax::Text), (Format::OpenMetrics, Syntax::OpenMetrics)] {
            let body = render(&snap, format, 0);
            let families = exposition::parse(&body, syntax)
                .map_err(|e| TestCaseError::fail(format!("{format:?}: {e}")))?;
            let info = families
                .iter()
                .find(|f| f.name == "docker_container_info")
                .and_then(|f| f.samples.first())
                .ok_or_else(|| TestCaseError::fail("no docker_container_info sample"))?;
            prop_assert_eq!(info.label("name"), Some(name.as_str()));
            prop_assert_eq!(info.label("image"), Some(image.as_str()));
            prop_assert_eq!(info.label("container_label_com_docker_compose_service"), Some(label.as_str()));
        }
    }
}
