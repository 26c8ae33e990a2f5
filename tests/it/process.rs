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
    let port = free_port();
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

/// A scrape whose response is in flight: the request is sent and the headers
/// read, the rest of the body left unread (it is larger than the socket buffers).
struct InFlight {
    stream: std::net::TcpStream,
    content_length: usize,
    read: usize,
}

impl InFlight {
    fn start(addr: std::net::SocketAddr) -> InFlight {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let content_length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(String::from)
            })
            .expect("content-length")
            .trim()
            .parse()
            .unwrap();
        InFlight {
            stream,
            content_length,
            read: 0,
        }
    }

    /// Reads the rest of the body; its length.
    fn finish(mut self) -> usize {
        use std::io::Read;
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).unwrap();
        self.read + rest.len()
    }
}

fn signal(child: &std::process::Child, name: &str) {
    assert!(Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
}

/// An exporter binary over 2,000 simulated containers (a `/metrics` body of
/// some 17 MB), after its first cycle.
async fn big_exporter(args: &[&str]) -> (Sim, std::process::Child, std::net::SocketAddr) {
    let sim = Sim::start(&["--containers", "2000"]);
    let (child, addr) = spawn_exporter(&[], &sim, args);
    wait_listening(addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(addr, "/-/ready", &[]).await.status != 200
        || !http_get(addr, "/metrics", &[])
            .await
            .text()
            .contains("sim-01999")
    {
        assert!(Instant::now() < deadline, "no first cycle");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (sim, child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_scrape_finish_then_exits_0() {
    let (_sim, mut child, addr) =
        big_exporter(&["--web.shutdown-timeout=10s", "--collect.interval=60s"]).await;
    let scrape = tokio::task::spawn_blocking(move || InFlight::start(addr))
        .await
        .unwrap();
    assert!(scrape.content_length > 8 << 20, "{}", scrape.content_length);
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running while a response is in flight"
    );
    // No new connections meanwhile.
    assert!(try_http_request(addr, "GET", "/-/healthy", &[])
        .await
        .is_err());
    let want = scrape.content_length;
    let got = tokio::task::spawn_blocking(move || scrape.finish())
        .await
        .unwrap();
    assert_eq!(got, want, "the whole body");
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits once it is served");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let (_sim, mut child, addr) =
        big_exporter(&["--web.shutdown-timeout=30s", "--collect.interval=60s"]).await;
    let scrape = tokio::task::spawn_blocking(move || InFlight::start(addr))
        .await
        .unwrap();
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "draining");
    let second = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(2)).expect("exits at once");
    assert!(second.elapsed() < Duration::from_secs(2));
    assert_eq!(status.code(), Some(1));
    drop(scrape);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_a_client_that_never_reads_and_a_hung_engine() {
    let (sim, mut child, addr) = big_exporter(&[
        "--web.shutdown-timeout=2s",
        "--docker.timeout=60s",
        "--collect.interval=500ms",
    ])
    .await;
    let scrape = tokio::task::spawn_blocking(move || InFlight::start(addr))
        .await
        .unwrap();
    // Every engine call from now on hangs: a cycle is stuck mid-way.
    sim.control(
        "POST",
        "/_sim/fault",
        Some(serde_json::json!({"endpoint": "any", "kind": "hang"})),
    )
    .await;
    std::thread::sleep(Duration::from_secs(1));
    let signalled = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("exits within the timeout");
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "exit {took:?} after SIGTERM with a 2 s shutdown timeout"
    );
    drop(scrape);
}
