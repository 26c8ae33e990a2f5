//! The deployment recipes under `deploy/`, each checked by the tool its world
//! uses: the compose files by `docker-compose config` and the Compose
//! Specification schema, every Prometheus config by `promtool check config`, the
//! Kubernetes manifests by `kubernetes-validate`, the systemd unit by
//! `systemd-analyze verify`. (The image and the socket proxy have tests of
//! their own: `image.rs`, `socket_proxy.rs`.)

use crate::support::*;

#[test]
fn compose_and_stack_files_are_valid() {
    let test = "compose_and_stack_files_are_valid";
    if !tool_available(test, "docker-compose") || !tool_available(test, "check-jsonschema") {
        return;
    }
    for file in [
        "compose/docker-compose.yml",
        "swarm/docker-stack.yml",
        "socket-proxy/docker-compose.yml",
    ] {
        let path = deploy(file);
        let dir = path.parent().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let (ok, out) = run_tool(dir, "docker-compose", &["-f", name, "config", "-q"]);
        assert!(ok, "docker-compose config {file}: {out}");
        let (ok, out) = run_tool(
            dir,
            "check-jsonschema",
            &["--builtin-schema", "vendor.compose-spec", name],
        );
        assert!(ok, "compose-spec schema, {file}: {out}");
    }
    // What the compose file mounts from the repository exists.
    for (source, _) in compose_mounts() {
        assert!(
            deploy("compose").join(&source).exists(),
            "deploy/compose/{source} is mounted but missing"
        );
    }
    let stack = std::fs::read_to_string(deploy("swarm/docker-stack.yml")).unwrap();
    assert!(stack.contains("mode: global"), "one exporter per node");
}

/// The bind mounts of the compose recipe from the repository: (source relative
/// to deploy/compose, target in the container).
fn compose_mounts() -> Vec<(String, String)> {
    let compose = std::fs::read_to_string(deploy("compose/docker-compose.yml")).unwrap();
    compose
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- "))
        .filter(|l| l.starts_with("./") || l.starts_with("../"))
        .map(|l| {
            let mut parts = l.split(':');
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_prometheus_config_passes_promtool() {
    if !tool_available("every_prometheus_config_passes_promtool", "promtool") {
        return;
    }
    promtool_check_config(&deploy("swarm/prometheus.yml"));
    // The compose Prometheus with the rule files mounted as the compose file
    // mounts them (promtool checks the rules a config loads, too).
    let dir = tempfile::tempdir().unwrap();
    let local_rules = dir.path().join("rules");
    std::fs::create_dir(&local_rules).unwrap();
    let rules_dir = "/etc/prometheus/rules/";
    let mut rules = 0;
    for (source, target) in compose_mounts() {
        if let Some(name) = target.strip_prefix(rules_dir) {
            std::fs::copy(deploy("compose").join(&source), local_rules.join(name)).unwrap();
            rules += 1;
        }
    }
    assert!(rules >= 2, "the compose recipe mounts no rule files");
    let config = std::fs::read_to_string(deploy("compose/prometheus/prometheus.yml")).unwrap();
    assert!(config.contains(rules_dir));
    let local = dir.path().join("prometheus.yml");
    std::fs::write(
        &local,
        config.replace(rules_dir, &format!("{}/", local_rules.display())),
    )
    .unwrap();
    let (ok, out) = run_tool(
        dir.path(),
        "promtool",
        &["check", "config", local.to_str().unwrap()],
    );
    assert!(ok, "promtool check config (compose, with its rules): {out}");
    assert!(
        out.matches("SUCCESS").count() > rules,
        "promtool did not check the {rules} rule files: {out}"
    );
    let swarm = std::fs::read_to_string(deploy("swarm/prometheus.yml")).unwrap();
    assert!(swarm.contains("dockerswarm_sd_configs") && swarm.contains("role: tasks"));
}

#[test]
fn kubernetes_manifests_are_valid() {
    let test = "kubernetes_manifests_are_valid";
    if !tool_available(test, "kubernetes-validate") || !tool_available(test, "python3") {
        return;
    }
    let dir = deploy("kubernetes");
    let (ok, out) = run_tool(
        &dir,
        "kubernetes-validate",
        &["--strict", "docker_exporter.yaml"],
    );
    assert!(ok, "kubernetes-validate: {out}");
    for kind in ["daemonset/docker-exporter", "service/docker-exporter"] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind} not validated: {out}"
        );
    }
    // The PodMonitor (a CRD, which kubernetes-validate has no schema for)
    // selects the DaemonSet's pods and names a port they have.
    let (ok, out) = run_tool(
        &dir,
        "python3",
        &[
            "-c",
            r#"
import yaml
docs = list(yaml.safe_load_all(open("docker_exporter.yaml")))
ds = next(d for d in docs if d["kind"] == "DaemonSet")
pm = yaml.safe_load(open("podmonitor.yaml"))
pod = ds["spec"]["template"]
labels = pod["metadata"]["labels"]
ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
assert pm["kind"] == "PodMonitor", pm["kind"]
assert pm["metadata"]["namespace"] == ds["metadata"]["namespace"]
assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items(), "selector"
for ep in pm["spec"]["podMetricsEndpoints"]:
    assert ep["port"] in ports, ep["port"]
ann = pod["metadata"]["annotations"]
assert ann["prometheus.io/port"] == str(pod["spec"]["containers"][0]["ports"][0]["containerPort"])
"#,
        ],
    );
    assert!(ok, "podmonitor.yaml does not match the DaemonSet: {out}");
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    if !tool_available(
        "the_systemd_unit_verifies_and_is_sandboxed",
        "systemd-analyze",
    ) {
        return;
    }
    let unit = std::fs::read_to_string(deploy("systemd/docker_exporter.service")).unwrap();
    for directive in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SupplementaryGroups=docker",
        "DynamicUser=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    // verify wants ExecStart to exist: point it at the binary of this build.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("docker_exporter.service");
    std::fs::write(
        &copy,
        unit.replace(
            "/usr/local/bin/docker_exporter",
            env!("CARGO_BIN_EXE_docker_exporter"),
        ),
    )
    .unwrap();
    let (ok, out) = run_tool(
        dir.path(),
        "systemd-analyze",
        &["verify", copy.to_str().unwrap()],
    );
    // Unknown keys and bad values are only warnings: none is allowed.
    assert!(ok && out.trim().is_empty(), "systemd-analyze verify: {out}");
}
