//! The `swarm` collector against the real daemon made a Swarm manager by the
//! test: `docker swarm init` on loopback, a replicated service of the test
//! image (2 replicas, scaled to 3, updated), a global service, both removed,
//! then the swarm left; the `docker_swarm_*` families follow each step.
//!
//! A binary of its own, so that no other real-daemon test runs while the
//! daemon is a Swarm manager (cargo runs test binaries one after another).
//! The swarm is left in every outcome (`LeaveSwarm` on drop). With
//! `DOCKER_EXPORTER_RECORD_SWARM=<dir>` it also writes the manager's answers
//! as a `docker_sim` fixture set (see `tests/fixtures/README.md`).

#[path = "it/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Removes the test's services, leaves the swarm and removes any task
/// container of the test's services left behind, when dropped: in every
/// outcome, passed, failed or panicked.
struct LeaveSwarm {
    services: Vec<String>,
}

impl Drop for LeaveSwarm {
    fn drop(&mut self) {
        for s in &self.services {
            docker_quiet(&["service", "rm", s]);
        }
        docker_quiet(&["swarm", "leave", "--force"]);
        for s in &self.services {
            let filter = format!("label=com.docker.swarm.service.name={s}");
            let out = Command::new("docker")
                .args(["ps", "-aq", "--filter", &filter])
                .output();
            let ids = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            for id in ids.unwrap_or_default().split_whitespace() {
                docker_quiet(&["rm", "-f", id]);
            }
        }
    }
}

/// Polls `/metrics` until `ready`, at most `secs` seconds.
async fn until(exporter: &Exporter, secs: u64, what: &str, ready: impl Fn(&Metrics) -> bool) {
    exporter
        .wait_for(Duration::from_secs(secs), what, ready)
        .await;
}

fn replicas(m: &Metrics, which: &str, service: &str) -> Option<f64> {
    m.get(
        &format!("docker_swarm_service_replicas_{which}"),
        &[("service", service)],
    )
}

/// A versioned GET on the daemon, pretty-printed, into `dir/file`.
fn record(dir: &Path, file: &str, path: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sSf --unix-socket {DOCKER_SOCK} 'http://docker/v1.41{path}' | python3 -m json.tool --no-ensure-ascii"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "recording {path}: {:?}", out);
    let target = dir.join(file);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, out.stdout).unwrap();
}

fn record_fixtures(dir: &Path) {
    record(dir, "version.json", "/version");
    record(dir, "info.json", "/info");
    record(dir, "swarm/services.json", "/services?status=true");
    record(
        dir,
        "swarm/tasks.json",
        "/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D",
    );
    record(dir, "swarm/nodes.json", "/nodes");
    std::fs::write(dir.join("containers.json"), "[]\n").unwrap();
    std::fs::write(dir.join("events.jsonl"), "").unwrap();
    std::fs::write(dir.join("ping.headers"), "Api-Version: 1.41\n").unwrap();
    for sub in ["inspect", "stats"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub).join(".gitkeep"), "").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn swarm_services_follow_scale_update_and_removal() {
    require_real_daemon();
    let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(
        state, "inactive",
        "the daemon is already in a swarm; not touching it"
    );
    let port = free_port();
    let prefix = format!("dexptest-swarm-{}-", std::process::id());
    let (web, agent) = (format!("{prefix}web"), format!("{prefix}agent"));
    let _leave = LeaveSwarm {
        services: vec![web.clone(), agent.clone()],
    };
    docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        &format!("127.0.0.1:{port}"),
    ]);
    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=500ms",
        "--collector.swarm.interval=1s",
    ])
    .await;
    let image = test_image();
    let create = |name: &str, mode: &[&str]| {
        let mut args = vec!["service", "create", "--detach", "--no-resolve-image"];
        args.extend_from_slice(&["--name", name]);
        args.extend_from_slice(mode);
        args.extend_from_slice(&[&image, "sleep", "3600"]);
        docker(&args);
    };

    // The manager itself, ready.
    until(&exporter, 10, "the node", |m| {
        m.get(
            "docker_swarm_nodes",
            &[("role", "manager"), ("state", "ready")],
        ) == Some(1.0)
    })
    .await;
    let m = exporter.metrics().await;
    let node = m.find("docker_swarm_node_info", &[]);
    assert_eq!(node.len(), 1, "{}", m.body);
    assert!(node[0].0.contains("availability=\"active\""), "{node:?}");

    create(&web, &["--replicas", "2"]);
    let t = Instant::now();
    until(&exporter, 5, "2 desired", |m| {
        replicas(m, "desired", &web) == Some(2.0)
    })
    .await;
    let seen_desired = t.elapsed();
    until(&exporter, 60, "2 running", |m| {
        replicas(m, "running", &web) == Some(2.0)
    })
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.get(
            "docker_swarm_service_info",
            &[("service", &web), ("mode", "replicated"), ("image", &image)]
        ),
        Some(1.0),
        "{}",
        m.body
    );

    docker(&["service", "scale", "--detach", &format!("{web}=3")]);
    until(&exporter, 5, "3 desired", |m| {
        replicas(m, "desired", &web) == Some(3.0)
    })
    .await;
    until(&exporter, 60, "3 running", |m| {
        replicas(m, "running", &web) == Some(3.0)
    })
    .await;

    create(&agent, &["--mode", "global"]);
    until(&exporter, 60, "the global service on the one node", |m| {
        m.get(
            "docker_swarm_service_replicas_desired",
            &[("service", &agent), ("mode", "global")],
        ) == Some(1.0)
            && replicas(m, "running", &agent) == Some(1.0)
    })
    .await;

    if let Some(dir) = std::env::var_os("DOCKER_EXPORTER_RECORD_SWARM") {
        record_fixtures(Path::new(&dir));
    }

    docker(&["service", "update", "--detach", "--env-add", "DEXP=1", &web]);
    until(&exporter, 60, "the rolling update to complete", |m| {
        m.get(
            "docker_swarm_service_update_state",
            &[("service", &web), ("state", "completed")],
        ) == Some(1.0)
    })
    .await;

    docker(&["service", "rm", &web]);
    until(&exporter, 5, "the removed service's series to go", |m| {
        replicas(m, "desired", &web).is_none()
            && m.find("docker_swarm_service_info", &[("service", &web)])
                .is_empty()
            && replicas(m, "desired", &agent) == Some(1.0)
    })
    .await;
    docker(&["service", "rm", &agent]);

    docker(&["swarm", "leave", "--force"]);
    until(&exporter, 10, "every swarm series to go", |m| {
        !m.has_family("docker_swarm_nodes")
            && !m.has_family("docker_swarm_service_replicas_desired")
    })
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "swarm")]
        ),
        Some(1.0)
    );
    eprintln!("desired replicas seen {seen_desired:?} after docker service create");
    exporter.stop().await;
}
