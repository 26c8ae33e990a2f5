//! The `docker_exporter` binary as a process: flags, signals, a lost stderr.

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn bad_flags_stop_startup_naming_the_flag() {
    for (arg, named) in [
        ("--collect.interval=soon", "--collect.interval"),
        ("--docker.host=ftp://x", "--docker.host"),
        ("--log.format=xml", "--log.format"),
        ("--no-such-flag", "--no-such-flag"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
            .arg(arg)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{arg} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{arg}: {err}");
    }
}

#[test]
fn sigterm_stops_it_even_when_stderr_is_gone() {
    let sim = Sim::start(&["--containers", "3"]);
    let port = docker_sim::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
        .arg(sim.host())
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collect.interval=200ms")
        .arg("--log.level=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whoever read the logs goes away: every later write to stderr fails.
    drop(child.stderr.take());
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still serving without a stderr"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status =
        wait_exit(&mut child, Duration::from_secs(10)).expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
}
