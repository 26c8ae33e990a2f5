//! The container image, built for real the registry-free way
//! (`scripts/build-image.sh`: a static binary into `FROM scratch`), run against
//! the real daemon with the socket mounted read-only and its group added, and
//! scraped through a published loopback port; `promtool check metrics` on it.

use crate::support::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// An image of this test, removed in every outcome.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        docker_quiet(&["rmi", "-f", &self.0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn the_image_runs_unprivileged_against_the_real_daemon() {
    require_real_daemon();
    let sc = Scenario::new("image");
    let image = Image(format!("{}exporter:test", sc.prefix));
    let started = Instant::now();
    let (ok, out) = run_tool(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "bash",
        &["scripts/build-image.sh", &image.0],
    );
    assert!(ok, "scripts/build-image.sh failed:\n{out}");
    let summary = out.lines().find(|l| l.starts_with("built ")).unwrap_or("");
    eprintln!("{summary} (in {:?})", started.elapsed());
    // Non-root, the port documented, nothing but the binary.
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Config.User}}", &image.0]),
        "65534:65534"
    );
    assert!(docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.ExposedPorts}}",
        &image.0
    ])
    .contains("9417/tcp"));
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &image.0]),
        "1"
    );
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.Healthcheck}}",
            &image.0
        ]),
        "<nil>"
    );

    let gid = std::fs::metadata(DOCKER_SOCK)
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .unwrap()
        .to_string();
    let name = sc.name("exporter");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &format!("{DOCKER_SOCK}:{DOCKER_SOCK}:ro"),
        // The cgroup stats source, as the deploy recipes mount it.
        "-v",
        "/sys/fs/cgroup:/host/sys/fs/cgroup:ro",
        "-v",
        "/proc:/host/proc:ro",
        "--group-add",
        &gid,
        "-p",
        "127.0.0.1::9417",
        &image.0,
        "--collect.interval=1s",
        "--path.sysfs=/host/sys",
        "--path.procfs=/host/proc",
    ]);
    let published = docker(&["port", &name, "9417/tcp"]);
    let addr = published
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback port in {published:?}"))
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        if let Ok(r) = try_http_request(addr, "GET", "/metrics", &[]).await {
            let m = Metrics::parse(&r.text());
            // It sees the daemon, and itself among the containers, its own
            // stats read from its cgroup as the unprivileged user.
            if m.get("docker_up", &[]) == Some(1.0)
                && m.get("docker_container_info", &[("name", &name)]).is_some()
                && m.get("container_processes", &[("name", &name)]).is_some()
            {
                break m;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the exporter in the image did not serve docker_up 1 with itself listed; logs:\n{}",
            docker(&["logs", &name])
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    promtool_check(&m.body);
    // It runs as the unprivileged user, with the socket's group.
    let user = docker(&[
        "inspect",
        "-f",
        "{{.Config.User}} {{.HostConfig.GroupAdd}}",
        &name,
    ]);
    assert_eq!(user, format!("65534:65534 [{gid}]"));
}

/// The registry-free Dockerfile builds the same final image as the multi-stage
/// one (which cannot be built here: it pulls a Rust image): same labels, user,
/// port and entry point, and neither has a HEALTHCHECK.
#[test]
fn both_dockerfiles_end_in_the_same_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let final_stage = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let last_from = text.rfind("\nFROM scratch").expect("a FROM scratch stage");
        text[last_from..]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("COPY"))
            .map(String::from)
            .collect()
    };
    let multi = final_stage("Dockerfile");
    let host = final_stage("deploy/Dockerfile.host");
    assert_eq!(multi, host);
    for wanted in [
        "USER 65534:65534",
        "EXPOSE 9417",
        "ENTRYPOINT [\"/docker_exporter\"]",
    ] {
        assert!(
            multi.iter().any(|l| l == wanted),
            "no {wanted:?} in {multi:?}"
        );
    }
    assert!(multi
        .iter()
        .any(|l| l.contains("org.opencontainers.image.title")));
    assert!(!multi.iter().any(|l| l.starts_with("HEALTHCHECK")));
}
