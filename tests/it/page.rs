//! The overview page in a real browser: Debian's headless chromium, driven by
//! `tests/page/check.mjs` (puppeteer-core), against the exporter watching the
//! real daemon with a scenario of healthy and unhealthy containers. The script
//! asserts the DOM (states, flags, the CPU rate against the quota, escaping),
//! sorting, filtering, the in-place refresh and the page with JavaScript off,
//! and takes screenshots: into `docs/` (the README's) with
//! `UPDATE_SCREENSHOTS=1`, else into `target/page-screenshots/`, so that a test run
//! leaves the work tree as it was.

use crate::support::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A compose-service label no browser may take for markup.
const HOSTILE: &str = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">";

/// `npm ci` in `tests/page` when `node_modules` is missing or older than the lock.
fn npm_ci(dir: &Path) {
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let stale = match (installed.metadata(), lock.metadata()) {
        (Ok(i), Ok(l)) => i.modified().unwrap() < l.modified().unwrap(),
        _ => true,
    };
    if stale {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
}

/// Where the screenshots go (see the module doc).
fn screenshots(root: &Path) -> std::path::PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        return root.join("docs");
    }
    let dir = root.join("target/page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Docker daemon (scripts/test.sh runs it)"]
async fn overview_page_in_a_real_browser() {
    require_real_daemon();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/page");
    npm_ci(&dir);

    let sc = Scenario::new("page");
    let hostile = format!("com.docker.compose.service={HOSTILE}");
    sc.run(
        "running",
        &["--label", "com.docker.compose.project=demo"],
        &["sleep", "3600"],
    );
    sc.run(
        "hostile",
        &[
            "--label",
            "com.docker.compose.project=demo",
            "--label",
            &hostile,
        ],
        &["sleep", "3600"],
    );
    sc.run("exited3", &[], &["sh", "-c", "exit 3"]);
    sc.run_oom_killed("oom");
    sc.run_unhealthy("unhealthy");
    sc.run_paused("paused");
    sc.run_busy_cpu(
        "busy",
        &[
            "--cpus",
            "0.5",
            "--label",
            "com.docker.compose.project=demo",
        ],
    );
    wait_until(Duration::from_secs(30), "the scenario to settle", || {
        sc.inspect("exited3", "{{.State.Status}}") == "exited"
            && sc.inspect("unhealthy", "{{.State.Health.Status}}") == "unhealthy"
    });

    let exporter = Exporter::start(&[
        "--docker.host=unix:///var/run/docker.sock",
        "--collect.interval=1s",
    ])
    .await;
    exporter.wait_ready(Duration::from_secs(30)).await;
    let base = format!("http://{}", exporter.addr);
    let node = {
        let (base, prefix, docs) = (
            base.clone(),
            sc.prefix.clone(),
            screenshots(root).display().to_string(),
        );
        let script = dir.join("check.mjs");
        tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg(script)
                .args([&base, &prefix, &docs])
                .output()
                .expect("node runs")
        })
    };
    let out = tokio::time::timeout(Duration::from_secs(120), node)
        .await
        .expect("the browser check ends within 2 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/page/check.mjs failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("page check passed"), "{stdout}");
    exporter.stop().await;
}
