//! End-to-end against the real Docker daemon: containers made by the test in
//! every state, then `/metrics` must show each one as `docker inspect` does.

use crate::support::*;
use std::time::Duration;

/// Seconds since the epoch of an RFC 3339 time as `docker inspect` prints it.
fn unix(s: &str) -> f64 {
    docker_exporter::snapshot::unix_time(s).unwrap_or_else(|| panic!("time {s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn container_states_match_docker_inspect() {
    require_real_daemon();
    let sc = Scenario::new("states");
    let note = "say \"hi\"\\ and\nbye";
    let note_label = format!("org.example.note={note}");
    sc.run(
        "running",
        &[
            "--label",
            "com.docker.compose.project=demo",
            "--label",
            &note_label,
            "--env",
            "SECRET=hunter2",
        ],
        &["sleep", "3600"],
    );
    sc.run("exited3", &[], &["sh", "-c", "exit 3"]);
    let oom = sc.run_oom_killed("oom");
    sc.run_restart_loop("restarting");
    sc.run_paused("paused");
    sc.create("created", &[], &["sleep", "3600"]);
    sc.run_healthy("healthy");
    sc.run_unhealthy("unhealthy");
    wait_until(Duration::from_secs(60), "the scenario to settle", || {
        sc.inspect("exited3", "{{.State.Status}}") == "exited"
            && sc.inspect("restarting", "{{.RestartCount}}") != "0"
            && sc.inspect("healthy", "{{.State.Health.Status}}") == "healthy"
            && sc.inspect("unhealthy", "{{.State.Health.Status}}") == "unhealthy"
    });

    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=500ms",
        "--collect.container-labels=com.docker.compose.project,org.example.note",
    ])
    .await;
    let n = |short: &str| sc.name(short);
    let m = exporter
        .wait_for(Duration::from_secs(30), "every scenario container", |m| {
            [
                "running",
                "exited3",
                &oom,
                "restarting",
                "paused",
                "created",
                "healthy",
                "unhealthy",
            ]
            .iter()
            .all(|s| m.get("docker_container_info", &[("name", &n(s))]).is_some())
                && m.get(
                    "docker_container_health_status",
                    &[("name", &n("healthy")), ("status", "healthy")],
                ) == Some(1.0)
        })
        .await;

    assert_eq!(m.get("docker_up", &[]), Some(1.0));
    let state = |short: &str, st: &str| {
        m.get(
            "docker_container_state",
            &[("name", &n(short)), ("state", st)],
        )
    };
    for (short, st) in [
        ("running", "running"),
        ("exited3", "exited"),
        (oom.as_str(), "exited"),
        ("paused", "paused"),
        ("created", "created"),
        ("healthy", "running"),
    ] {
        assert_eq!(state(short, st), Some(1.0), "{short} is {st}");
        let ones: f64 = m
            .find("docker_container_state", &[("name", &n(short))])
            .iter()
            .map(|(_, v)| v)
            .sum();
        assert_eq!(ones, 1.0, "{short} has exactly one state");
        assert_eq!(
            m.find("docker_container_state", &[("name", &n(short))])
                .len(),
            7
        );
    }
    // The restart loop moves between restarting and running; it is one of them.
    assert_eq!(
        state("restarting", "restarting").unwrap() + state("restarting", "running").unwrap(),
        1.0
    );
    let name_value = |fam: &str, short: &str| m.get(fam, &[("name", &n(short))]);
    assert_eq!(
        name_value("docker_container_exit_code", "exited3"),
        Some(3.0)
    );
    assert_eq!(name_value("docker_container_exit_code", &oom), Some(137.0));
    assert_eq!(name_value("docker_container_oom_killed", &oom), Some(1.0));
    assert_eq!(
        name_value("docker_container_oom_killed", "exited3"),
        Some(0.0)
    );
    assert!(name_value("docker_container_restarts", "restarting").unwrap() > 0.0);
    assert_eq!(
        name_value("docker_container_finished_at_seconds", "running"),
        None,
        "never finished"
    );
    let finished = unix(&sc.inspect("exited3", "{{.State.FinishedAt}}"));
    assert!(
        (name_value("docker_container_finished_at_seconds", "exited3").unwrap() - finished).abs()
            < 1e-3
    );

    let health = |short: &str, st: &str| {
        m.get(
            "docker_container_health_status",
            &[("name", &n(short)), ("status", st)],
        )
    };
    assert_eq!(health("healthy", "healthy"), Some(1.0));
    assert_eq!(health("unhealthy", "unhealthy"), Some(1.0));
    assert_eq!(health("running", "none"), Some(1.0));

    // cAdvisor-style families: live containers, labelled like cAdvisor.
    let id = sc.inspect("running", "{{.Id}}");
    let cgroup_id = format!("/docker/{id}");
    let base = [
        ("name", n("running")),
        ("id", cgroup_id.clone()),
        ("image", test_image()),
    ];
    let base: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = unix(&sc.inspect("running", "{{.State.StartedAt}}"));
    assert!((m.get("container_start_time_seconds", &base).unwrap() - started).abs() < 1e-3);
    let created = unix(&sc.inspect("running", "{{.Created}}"));
    assert!((m.get("container_creation_time_seconds", &base).unwrap() - created).abs() < 1e-3);
    assert_eq!(m.get("container_health_state", &base), Some(-1.0));
    assert_eq!(
        m.get("container_health_state", &[("name", &n("healthy"))]),
        Some(1.0)
    );
    assert_eq!(
        m.get("container_health_state", &[("name", &n("unhealthy"))]),
        Some(0.0)
    );
    assert_eq!(
        m.get("container_spec_memory_limit_bytes", &base),
        Some(0.0),
        "unlimited is 0"
    );
    assert_eq!(m.get("container_spec_cpu_shares", &base), Some(1024.0));
    assert_eq!(m.get("container_spec_cpu_period", &base), Some(100000.0));
    assert_eq!(
        m.get("container_spec_cpu_quota", &base),
        None,
        "no quota, no series"
    );
    assert_eq!(
        m.get("container_spec_memory_limit_bytes", &[("name", &n(&oom))]),
        None,
        "an exited container has no container_* series"
    );

    // docker_container_info: identity, allow-listed labels (escaped), never env.
    let image_id = sc.inspect("running", "{{.Image}}");
    let mut info = base.clone();
    info.push(("image_id", &image_id));
    info.push(("container_label_com_docker_compose_project", "demo"));
    info.push(("container_label_org_example_note", note));
    assert_eq!(m.get("docker_container_info", &info), Some(1.0));
    assert!(
        !m.body.contains("hunter2"),
        "environment variables never reach /metrics"
    );

    let api_version = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    let cgroup_version = docker(&["info", "--format", "{{.CgroupVersion}}"]);
    assert_eq!(
        m.get(
            "docker_engine_info",
            &[
                ("engine", "docker"),
                ("api_version", &api_version),
                ("cgroup_version", &cgroup_version)
            ]
        ),
        Some(1.0)
    );
    assert!(m.get("machine_cpu_cores", &[]).unwrap() >= 1.0);
    assert!(m.get("docker_engine_images", &[]).unwrap() >= 1.0);
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "containers")]
        ),
        Some(1.0)
    );
    promtool_check(&m.body);

    // A removed container is gone after the next collection.
    docker(&["rm", "-f", &n("exited3")]);
    exporter
        .wait_for(
            Duration::from_secs(10),
            "the removed container to disappear",
            |m| {
                m.find("docker_container_info", &[("name", &n("exited3"))])
                    .is_empty()
                    && m.find("docker_container_state", &[("name", &n("exited3"))])
                        .is_empty()
            },
        )
        .await;
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn engine_down_then_back_without_restart() {
    require_real_daemon();
    let sc = Scenario::new("downup");
    sc.run("one", &[], &["sleep", "3600"]);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let host = format!("--docker.host=unix://{}", sock.display());
    let exporter = Exporter::start(&[&host, "--collect.interval=500ms"]).await;

    // No engine yet: the exporter serves docker_up 0 and its own families.
    let m = exporter
        .wait_for(Duration::from_secs(10), "docker_up 0 after a cycle", |m| {
            m.get("docker_up", &[]) == Some(0.0)
                && m.get(
                    "docker_exporter_collector_success",
                    &[("collector", "engine")],
                )
                .is_some()
        })
        .await;
    assert_eq!(
        m.get(
            "docker_exporter_collector_success",
            &[("collector", "engine")]
        ),
        Some(0.0)
    );
    assert!(
        m.get(
            "docker_exporter_collector_errors_total",
            &[("collector", "engine")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(m.has_family("docker_exporter_build_info"));
    assert!(m.find("docker_container_info", &[]).is_empty());
    promtool_check(&m.body);
    assert_eq!(exporter.get("/-/healthy", &[]).await.status, 200);

    // The engine appears: the exporter recovers by itself.
    let proxy = Proxy::start(&sock);
    exporter
        .wait_for(
            Duration::from_secs(15),
            "docker_up 1 and the container",
            |m| {
                m.get("docker_up", &[]) == Some(1.0)
                    && m.get(
                        "docker_container_state",
                        &[("name", &sc.name("one")), ("state", "running")],
                    ) == Some(1.0)
            },
        )
        .await;

    // It goes away again, and comes back again.
    proxy.stop(&sock);
    exporter
        .wait_for(
            Duration::from_secs(15),
            "docker_up 0 again, the dead engine's containers gone",
            |m| {
                m.find("docker_container_info", &[]).is_empty()
                    && m.get("docker_up", &[]) == Some(0.0)
            },
        )
        .await;
    let proxy = Proxy::start(&sock);
    exporter
        .wait_for(
            Duration::from_secs(20),
            "docker_up 1 again, with the container",
            |m| {
                m.get(
                    "docker_container_state",
                    &[("name", &sc.name("one")), ("state", "running")],
                ) == Some(1.0)
                    && m.get("docker_up", &[]) == Some(1.0)
            },
        )
        .await;
    proxy.stop(&sock);
    exporter.stop().await;
}
