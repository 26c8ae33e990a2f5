//! cAdvisor-compatible resource families against the real daemon: CPU under a
//! quota, memory and pids limits, network traffic between two containers of
//! the test, and agreement with the container's own cgroup files.

use crate::support::*;
use std::time::Duration;

fn cgroup_file(controller: &str, id: &str, file: &str) -> Option<f64> {
    let path = format!("/sys/fs/cgroup/{controller}/docker/{id}/{file}");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn resource_families_follow_the_cgroups() {
    require_real_daemon();
    let sc = Scenario::new("res");
    let cpu_id = sc.run_busy_cpu("cpu", &["--cpus", "0.5", "-m", "64m", "--pids-limit", "50"]);
    sc.run("free", &[], &["sleep", "3600"]);
    sc.run_web_pair("httpd", "wget");

    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=1s",
    ])
    .await;
    let name = sc.name("cpu");
    let cpu = [("name", name.as_str())];
    let first = exporter
        .wait_for(
            Duration::from_secs(30),
            "stats of the test's containers",
            |m| {
                m.get("container_cpu_usage_seconds_total", &cpu).is_some()
                    && ["httpd", "wget"].iter().all(|side| {
                        m.get(
                            "container_network_receive_bytes_total",
                            &[("name", &sc.name(side)), ("interface", "eth0")],
                        )
                        .is_some()
                    })
            },
        )
        .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = exporter.metrics().await;

    // CPU: half a core under --cpus 0.5, throttled, and the spec says 0.5.
    let usage = |m: &Metrics| {
        m.get(
            "container_cpu_usage_seconds_total",
            &[("name", &name), ("cpu", "total")],
        )
        .unwrap()
    };
    let seen = |m: &Metrics| m.get("container_last_seen", &cpu).unwrap();
    let rate = (usage(&second) - usage(&first)) / (seen(&second) - seen(&first));
    // At most the quota; less only when the host is busy (the test suite runs
    // other busy containers at the same time), never nothing.
    assert!(
        (0.15..=0.6).contains(&rate),
        "cpu rate {rate} under --cpus 0.5"
    );
    let throttled = |m: &Metrics| {
        m.get("container_cpu_cfs_throttled_periods_total", &cpu)
            .unwrap()
    };
    assert!(throttled(&second) > throttled(&first));
    assert!(
        second
            .get("container_cpu_cfs_throttled_seconds_total", &cpu)
            .unwrap()
            > 0.0
    );
    let quota = second.get("container_spec_cpu_quota", &cpu).unwrap();
    let period = second.get("container_spec_cpu_period", &cpu).unwrap();
    assert_eq!(quota / period, 0.5);
    let user = second
        .get("container_cpu_user_seconds_total", &cpu)
        .unwrap();
    let system = second
        .get("container_cpu_system_seconds_total", &cpu)
        .unwrap();
    assert!(user + system > 0.0);

    // Limits.
    assert_eq!(
        second.get("container_spec_memory_limit_bytes", &cpu),
        Some(67108864.0)
    );
    assert_eq!(
        second.get(
            "container_spec_memory_limit_bytes",
            &[("name", &sc.name("free"))]
        ),
        Some(0.0)
    );
    assert_eq!(second.get("container_threads_max", &cpu), Some(50.0));
    assert_eq!(
        second.get("container_threads_max", &[("name", &sc.name("free"))]),
        Some(0.0)
    );
    assert!(second.get("container_threads", &cpu).unwrap() >= 1.0);
    // No quota, no throttling series.
    assert_eq!(
        second.get(
            "container_cpu_cfs_periods_total",
            &[("name", &sc.name("free"))]
        ),
        None
    );

    // Network: both sides of the HTTP traffic grow, both ways.
    for side in ["httpd", "wget"] {
        let l = [("name", sc.name(side)), ("interface", "eth0".into())];
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for fam in [
            "container_network_receive_bytes_total",
            "container_network_transmit_bytes_total",
        ] {
            let (a, b) = (first.get(fam, &l), second.get(fam, &l));
            let (Some(a), Some(b)) = (a, b) else {
                panic!("{fam} of {side}: {a:?} then {b:?}\n{}", second.body)
            };
            assert!(b > a, "{fam} of {side}: {a} then {b}");
        }
        assert!(
            second
                .get("container_network_receive_packets_total", &l)
                .unwrap()
                > 0.0
        );
    }

    // Memory: the working set is usage less inactive file, never above usage.
    let mem = second.get("container_memory_usage_bytes", &cpu).unwrap();
    let ws = second
        .get("container_memory_working_set_bytes", &cpu)
        .unwrap();
    assert!(ws <= mem && mem > 0.0);
    assert!(second.get("container_memory_rss", &cpu).is_some());
    assert!(second.get("container_memory_cache", &cpu).is_some());
    // cgroup v1 has max_usage; cgroup v2 would not. Swap is served exactly
    // when the engine reports `total_swap` (Engine 20.10 leaves it out even on
    // cgroup v1): absent, never a made-up 0.
    assert!(second
        .get("container_memory_max_usage_bytes", &cpu)
        .is_some());
    let raw = std::process::Command::new("curl")
        .args(["-s", "--unix-socket", DOCKER_SOCK])
        .arg(format!(
            "http://docker/containers/{cpu_id}/stats?stream=false&one-shot=true"
        ))
        .output()
        .unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let engine_has_swap = raw["memory_stats"]["stats"].get("total_swap").is_some();
    assert_eq!(
        second.get("container_memory_swap", &cpu).is_some(),
        engine_has_swap
    );

    // Agreement with the cgroup files, within the sampling gap.
    if std::path::Path::new(&format!("/sys/fs/cgroup/cpuacct/docker/{cpu_id}")).exists() {
        let m = exporter.metrics().await;
        let exported = m.get("container_cpu_usage_seconds_total", &cpu).unwrap();
        let file = cgroup_file("cpuacct", &cpu_id, "cpuacct.usage").unwrap() / 1e9;
        // 0.5 core for at most ~2 s of gap between the sample and the file read.
        assert!(
            file >= exported && file - exported < 1.5,
            "cgroup {file} vs exported {exported}"
        );
        let pids = cgroup_file("pids", &cpu_id, "pids.current").unwrap();
        assert_eq!(m.get("container_threads", &cpu), Some(pids));
        let limit = cgroup_file("memory", &cpu_id, "memory.limit_in_bytes").unwrap();
        assert_eq!(
            m.get("container_spec_memory_limit_bytes", &cpu),
            Some(limit)
        );
        let usage = cgroup_file("memory", &cpu_id, "memory.usage_in_bytes").unwrap();
        let exported = m.get("container_memory_usage_bytes", &cpu).unwrap();
        assert!(
            (usage - exported).abs() < 4.0 * 1024.0 * 1024.0,
            "memory {usage} vs {exported}"
        );
    } else {
        panic!("cgroup v1 files of the container not found under /sys/fs/cgroup/cpuacct/docker/");
    }
    promtool_check(&second.body);
    exporter.stop().await;
}
