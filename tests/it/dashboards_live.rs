//! The dashboards and alert rules of `dashboards/` against a real Prometheus
//! (Debian's 2.42) that loads the rules and scrapes the exporter watching the
//! real daemon, with a scenario of the test's own containers: busy under a CPU
//! quota, a web server and its client, OOM-killed, exited 3, exited 0, in a
//! restart loop, unhealthy, healthy, paused, near its memory limit, near its
//! pids limit. Every panel query of every dashboard (variables substituted)
//! and every rule expression is evaluated through the HTTP API; each alert
//! must be pending or firing for its bad container, by `name`, and never for
//! the healthy ones. The cAdvisor compatibility findings of
//! dashboards/README.md are replayed too. Then the engine socket is taken away
//! (event stream reconnects, engine unreachable) and the exporter stopped
//! (target down). The snapshot-stale alert needs minutes without a completed
//! cycle and is proven by `promtool test rules` instead (`dashboards.rs`).

use crate::dashboards::{load_dashboards, metric_names, panel_queries, rule_files};
use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Families of docs/metrics.md that the engine of these test machines does
/// not report (empty blkio lists, see docs/resource-metrics.md): a query that
/// reads only these may return nothing, provided the exporter indeed serves
/// none of them here.
const ABSENT_ON_THIS_ENGINE: [&str; 4] = [
    "container_fs_reads_bytes_total",
    "container_fs_writes_bytes_total",
    "container_fs_reads_total",
    "container_fs_writes_total",
];

/// Families of the swarm collector, served on a Swarm manager only (this
/// test's engine is standalone): queries reading only these may return
/// nothing, provided the exporter serves them on a manager (the golden file of
/// the recorded swarm fixtures) and not here.
const SWARM_ONLY: [&str; 4] = [
    "docker_swarm_service_replicas_running",
    "docker_swarm_service_replicas_desired",
    "docker_swarm_nodes",
    "docker_swarm_service_update_state",
];

/// Series Prometheus makes itself for every target.
const PROMETHEUS_OWN: [&str; 3] = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];

/// Queries of widely used community cAdvisor dashboards (Grafana.com 193
/// "Docker monitoring", 893 "Docker and system monitoring") and of common
/// cAdvisor panels and alerts, with whether they return data against this
/// exporter; dashboards/README.md reports the same findings.
const CADVISOR_QUERIES: [(&str, bool); 27] = [
    // 193
    (r#"count(container_last_seen{image!=""})"#, true),
    (
        r#"sum(container_memory_usage_bytes{image!=""})/1024/1024"#,
        true,
    ),
    (
        r#"sum(rate(container_cpu_user_seconds_total{image!=""}[5m]) * 100)"#,
        true,
    ),
    (r#"container_memory_usage_bytes{image!=""}"#, true),
    (
        r#"irate(container_network_receive_bytes_total{image!=""}[5m])"#,
        true,
    ),
    (
        r#"irate(container_network_transmit_bytes_total{image!=""}[5m])"#,
        true,
    ),
    // 893
    (
        r#"count(rate(container_last_seen{name=~".+"}[$interval]))"#,
        true,
    ),
    (
        r#"sum(rate(container_cpu_usage_seconds_total{name=~".+"}[$interval])) by (name) * 100"#,
        true,
    ),
    (
        r#"sum(rate(container_network_receive_bytes_total{name=~".+"}[$interval])) by (name)"#,
        true,
    ),
    (
        r#"sum(rate(container_network_transmit_bytes_total{name=~".+"}[$interval])) by (name)"#,
        true,
    ),
    (r#"sum(container_memory_rss{name=~".+"}) by (name)"#, true),
    (
        r#"sum(container_spec_memory_limit_bytes{name=~".+"} - container_memory_usage_bytes{name=~".+"}) by (name)"#,
        true,
    ),
    (r#"sum(container_memory_swap{name=~".+"}) by (name)"#, false),
    (
        r#"sum(rate(container_cpu_user_seconds_total{image!=""}[1m])) / count(node_cpu{mode="user"}) * 100"#,
        false,
    ),
    // common cAdvisor panels and alerts
    (
        r#"sum by (name) (rate(container_cpu_cfs_throttled_seconds_total[5m]))"#,
        true,
    ),
    (
        r#"container_spec_cpu_quota / container_spec_cpu_period"#,
        true,
    ),
    (r#"machine_cpu_cores"#, true),
    (r#"machine_memory_bytes"#, true),
    (r#"container_fs_limit_bytes"#, false),
    (r#"container_tasks_state"#, false),
    (r#"container_memory_failures_total"#, false),
    (r#"time() - container_last_seen{name=~".+"} > 60"#, false),
    (r#"container_memory_failcnt"#, false),
    (r#"container_memory_failcnt_total"#, true),
    // Served by the disk collector (`--collector.disk`, on in this test).
    (r#"sum by (name) (container_fs_usage_bytes)"#, true),
    (r#"container_cpu_load_average_10s"#, false),
    (r#"cadvisor_version_info"#, false),
];

/// Grafana's variables as this test's values.
fn substitute(expr: &str, instance: &str, names: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("$job", "docker")
        .replace("$instance", instance)
        .replace("$name", names)
}

/// Active alerts: (alertname, name label or "", state), plus the raw list.
async fn alerts(prom: &Prometheus) -> Vec<(String, String, String, Value)> {
    let v = prom.api("/api/v1/alerts").await;
    v["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["labels"]["name"].as_str().unwrap_or("").to_string(),
                a["state"].as_str().unwrap_or("").to_string(),
                a["labels"].clone(),
            )
        })
        .collect()
}

/// Waits until `alertname` is pending or firing (for `name`, when given).
async fn wait_alert(prom: &Prometheus, alertname: &str, name: Option<&str>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let all = alerts(prom).await;
        if all.iter().any(|(a, n, st, _)| {
            a == alertname
                && name.is_none_or(|want| n == want)
                && (st == "pending" || st == "firing")
        }) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{alertname} for {name:?} not pending/firing within {timeout:?}; active alerts: {:?}",
            all.iter()
                .map(|(a, n, s, _)| format!("{a}/{n}/{s}"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn every_panel_query_and_rule_against_a_real_prometheus() {
    require_real_daemon();
    let started = Instant::now();
    let sc = Scenario::new("dash");
    let n = |short: &str| sc.name(short);

    // The exporter reads the daemon through a proxy socket the test can take away.
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("docker.sock");
    let mut proxy = Some(Proxy::start(&sock));
    let exporter = Exporter::start(&[
        &format!("--docker.host=unix://{}", sock.display()),
        "--collect.interval=1s",
        "--collector.disk",
        "--collector.disk.interval=5s",
    ])
    .await;
    let instance = exporter.addr.to_string();

    // Prometheus: the shipped rules, plus a list of expected containers (one
    // that runs, one that does not exist) for DockerContainerAbsent.
    let expected = format!(
        "groups:\n  - name: test-expected\n    rules:\n\
         \x20     - record: docker:container_expected\n        expr: vector(1)\n        labels:\n          name: {}\n\
         \x20     - record: docker:container_expected\n        expr: vector(1)\n        labels:\n          name: {}\n",
        n("healthy"),
        n("missing")
    );
    let exp_dir = tempfile::tempdir().unwrap();
    let exp_file = exp_dir.path().join("expected.yml");
    std::fs::write(&exp_file, expected).unwrap();
    let mut files: Vec<String> = rule_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    files.push(exp_file.display().to_string());
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}scrape_configs:\n  - job_name: docker\n    static_configs:\n      - targets: ['{instance}']\n",
        files
            .iter()
            .map(|f| format!("  - {f}\n"))
            .collect::<String>()
    );
    let prom = Prometheus::start(&config).await;

    // The scenario.
    sc.run_busy_cpu("cpu", &["--cpus", "0.05", "-m", "64m"]);
    sc.run_web_pair("httpd", "wget");
    sc.run("exited3", &[], &["sh", "-c", "exit 3"]);
    sc.run("exited0", &[], &["true"]);
    sc.run_restart_loop("loop");
    sc.run_unhealthy("unhealthy");
    sc.run_healthy("healthy");
    sc.run_paused("paused");
    // 30 MiB held by dd (blocked writing into a pipe nobody reads) under 32 MiB.
    sc.run(
        "memfull",
        &["-m", "32m", "--memory-swap", "32m"],
        &["sh", "-c", "dd if=/dev/zero bs=30M count=1 | sleep 3600"],
    );
    // sh and 8 sleeps: 9 of 10 pids.
    sc.run(
        "pidsfull",
        &["--pids-limit", "10"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do sleep 3600 & done; wait",
        ],
    );
    let oom = sc.run_oom_killed("oom");
    wait_until(Duration::from_secs(60), "the scenario to settle", || {
        sc.inspect("loop", "{{.RestartCount}}") != "0"
            && sc.inspect("healthy", "{{.State.Health.Status}}") == "healthy"
            && sc.inspect("unhealthy", "{{.State.Health.Status}}") == "unhealthy"
    });
    eprintln!("scenario ready after {:?}", started.elapsed());

    // Each bad container's alert becomes pending or firing, by name.
    let bad = [
        ("DockerContainerExitedNonZero", n("exited3")),
        ("DockerContainerExitedNonZero", n(&oom)),
        ("DockerContainerOOMKilled", n(&oom)),
        ("DockerContainerRestartLoop", n("loop")),
        ("DockerContainerUnhealthy", n("unhealthy")),
        ("DockerContainerCPUThrottled", n("cpu")),
        ("DockerContainerMemoryNearLimit", n("memfull")),
        ("DockerContainerPidsNearLimit", n("pidsfull")),
        ("DockerContainerAbsent", n("missing")),
    ];
    for (alert, name) in &bad {
        wait_alert(&prom, alert, Some(name), Duration::from_secs(60)).await;
    }
    eprintln!("container alerts pending after {:?}", started.elapsed());

    let all = alerts(&prom).await;
    // Never for the healthy ones; one alert per container, not per stateset series.
    let healthy = ["healthy", "httpd", "wget", "paused", "exited0"].map(n);
    let mut seen = BTreeSet::new();
    for (alert, name, _, labels) in &all {
        assert!(
            !healthy.contains(name),
            "{alert} is active for the healthy container {name}: {labels}"
        );
        assert!(
            labels.get("state").is_none() && labels.get("status").is_none(),
            "{alert} carries a stateset label: {labels}"
        );
        assert!(
            seen.insert((alert.clone(), name.clone(), labels["instance"].to_string())),
            "{alert} twice for {name}"
        );
        if name.starts_with(&sc.prefix) && alert != "DockerContainerAbsent" {
            assert_eq!(labels["instance"], instance.as_str(), "{alert}: {labels}");
            assert!(labels["severity"].is_string());
        }
    }
    // Each bad container has exactly the alerts expected of it.
    for (alert, name, _, _) in &all {
        if name.starts_with(&sc.prefix) {
            // run_oom_killed may leave earlier tries (oom0 …) exited 137.
            let oom_try = alert == "DockerContainerExitedNonZero" && name.starts_with(&n("oom"));
            assert!(
                oom_try || bad.iter().any(|(a, nm)| a == alert && nm == name),
                "unexpected {alert} for {name}"
            );
        }
    }

    // The exporter's own families as served now, to tell a metric the
    // exporter does not serve from one the engine does not report here.
    let served: BTreeSet<String> = exporter
        .metrics()
        .await
        .series
        .keys()
        .map(|k| k.split('{').next().unwrap().to_string())
        .collect();
    let contract = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"),
    )
    .unwrap();
    let swarm_golden = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/swarm-20.10.prom"),
    )
    .unwrap();
    for swarm in SWARM_ONLY {
        assert!(
            swarm_golden.contains(&format!("\n{swarm}{{")),
            "{swarm} is served on a Swarm manager"
        );
        assert!(!served.contains(swarm), "{swarm} is served off a swarm");
    }
    for absent in ABSENT_ON_THIS_ENGINE {
        assert!(contract.contains(&format!("`{}", absent.trim_end_matches("_total"))));
        assert!(
            !served.contains(absent),
            "{absent} is served here now: drop it from ABSENT_ON_THIS_ENGINE"
        );
    }

    // Every rule: healthy, and every recording rule has data.
    let rules = prom.api("/api/v1/rules").await;
    let mut recorded = BTreeSet::new();
    let mut rule_count = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            rule_count += 1;
            let name = r["name"].as_str().unwrap();
            assert_eq!(r["health"], "ok", "rule {name}: {}", r["lastError"]);
            let q = r["query"].as_str().unwrap();
            let answer = prom.query(q).await;
            assert_eq!(answer["status"], "success", "rule {name}: {q}: {answer}");
            if r["type"] == "recording" {
                recorded.insert(name.to_string());
                let data = prom.query(name).await;
                assert!(
                    !data["data"]["result"].as_array().unwrap().is_empty(),
                    "recording rule {name} has no data"
                );
            }
            for m in metric_names(q) {
                assert!(
                    served.contains(&m) || PROMETHEUS_OWN.contains(&m.as_str()) || m.contains(':'),
                    "rule {name} reads {m}, which the exporter does not serve"
                );
            }
        }
    }
    assert!(rule_count >= 18, "{rule_count} rules loaded");

    // Every panel query of every dashboard returns data.
    let names_re = format!("{}.*", sc.prefix);
    let mut evaluated = 0;
    let mut empty_allowed = Vec::new();
    for (file, d) in load_dashboards() {
        for pq in panel_queries(&file, &d) {
            let expr = substitute(&pq.expr, &instance, &names_re);
            let what = format!("{} / {}: {expr}", pq.dashboard, pq.panel);
            let metrics = metric_names(&expr);
            assert!(!metrics.is_empty(), "{what}: reads no metric");
            for m in &metrics {
                assert!(
                    served.contains(m)
                        || PROMETHEUS_OWN.contains(&m.as_str())
                        || recorded.contains(m)
                        || ABSENT_ON_THIS_ENGINE.contains(&m.as_str())
                        || SWARM_ONLY.contains(&m.as_str()),
                    "{what}: reads {m}, which the exporter does not serve"
                );
            }
            let answer = prom.query(&expr).await;
            assert_eq!(answer["status"], "success", "{what}: {answer}");
            let result = answer["data"]["result"].as_array().unwrap();
            if metrics.iter().all(|m| {
                ABSENT_ON_THIS_ENGINE.contains(&m.as_str()) || SWARM_ONLY.contains(&m.as_str())
            }) {
                empty_allowed.push(pq.panel.clone());
            } else {
                assert!(!result.is_empty(), "{what}: no data");
            }
            evaluated += 1;
        }
        // The variables' label_values() queries find the test's values.
        for v in d["templating"]["list"].as_array().unwrap() {
            let Some(q) = v["query"]["query"].as_str() else {
                continue;
            };
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap();
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let selector = substitute(selector.trim(), &instance, &names_re);
            let values = prom
                .api(&format!(
                    "/api/v1/label/{}/values?match[]={}",
                    label.trim(),
                    urlencode(&selector)
                ))
                .await;
            let values: Vec<&str> = values["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            let want = match label.trim() {
                "job" => "docker".to_string(),
                "instance" => instance.clone(),
                _ => n("healthy"),
            };
            assert!(
                values.contains(&want.as_str()),
                "{file}: variable {q} gives {values:?}"
            );
        }
    }
    eprintln!(
        "{evaluated} panel queries and {rule_count} rules evaluated after {:?}; no data allowed (no blkio, no swarm here): {empty_allowed:?}",
        started.elapsed()
    );
    assert!(evaluated >= 50, "{evaluated} panel queries");

    // The cAdvisor compatibility findings of dashboards/README.md still hold.
    for (q, expect) in CADVISOR_QUERIES {
        let expr = q.replace("$interval", "1m");
        let answer = prom.query(&expr).await;
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        let has_data = !answer["data"]["result"].as_array().unwrap().is_empty();
        assert_eq!(
            has_data, expect,
            "cAdvisor query {expr}: data {has_data}, dashboards/README.md says {expect}"
        );
    }

    // A removed container's alert goes away.
    docker(&["rm", "-f", &n("exited3")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while alerts(&prom)
        .await
        .iter()
        .any(|(_, name, _, _)| *name == n("exited3"))
    {
        assert!(
            Instant::now() < deadline,
            "the removed container's alert stays"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The event stream breaks and reopens 4 times: DockerEventStreamReconnecting.
    for round in 1..=4u32 {
        proxy.take().unwrap().stop(&sock);
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy = Some(Proxy::start(&sock));
        exporter
            .wait_for(Duration::from_secs(30), "the event stream to reopen", |m| {
                m.get("docker_exporter_event_stream_reconnects_total", &[])
                    .is_some_and(|v| v >= f64::from(round))
            })
            .await;
    }
    wait_alert(
        &prom,
        "DockerEventStreamReconnecting",
        None,
        Duration::from_secs(30),
    )
    .await;

    // The engine socket goes away: DockerEngineUnreachable.
    proxy.take().unwrap().stop(&sock);
    wait_alert(
        &prom,
        "DockerEngineUnreachable",
        None,
        Duration::from_secs(30),
    )
    .await;
    let engine_alert = alerts(&prom)
        .await
        .into_iter()
        .find(|(a, _, _, _)| a == "DockerEngineUnreachable")
        .unwrap();
    assert_eq!(engine_alert.3["instance"], instance.as_str());

    // The exporter stops: DockerExporterDown.
    exporter.stop().await;
    wait_alert(&prom, "DockerExporterDown", None, Duration::from_secs(30)).await;
    let by_alert: BTreeMap<String, usize> =
        alerts(&prom)
            .await
            .into_iter()
            .fold(BTreeMap::new(), |mut m, (a, _, _, _)| {
                *m.entry(a).or_default() += 1;
                m
            });
    eprintln!(
        "alerts at the end: {by_alert:?}; wall time {:?}",
        started.elapsed()
    );
}
