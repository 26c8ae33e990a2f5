//! Hostile clients: slow headers, a flood of unfinished requests under a
//! 1,024 open-file limit, clients that stop reading, methods other than GET
//! and HEAD. The exporter watches the simulated engine here; the limits are
//! the server's, not the engine's.

use crate::support::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Writes `bytes` to a new connection and leaves it open.
fn unfinished(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// How long until the server closes a connection we keep feeding one byte
/// every 100 ms (never finishing the headers); panics after `limit`.
fn cut_after(mut s: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        assert!(started.elapsed() < limit, "still open after {limit:?}");
        if s.write_all(b"X").is_err() {
            return started.elapsed();
        }
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {} // hyper answers nothing to an unfinished request; a 408 would do too
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return started.elapsed(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_client_is_cut_off_while_100_scrapes_succeed() {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let exporter = Exporter::start(&[&sim.host(), "--web.read-header-timeout=1s"]).await;
    exporter
        .wait_for(Duration::from_secs(15), "the first cycle", |m| {
            m.get("docker_up", &[]) == Some(1.0)
        })
        .await;
    let addr = exporter.addr;
    let slow = unfinished(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
    let slow = tokio::task::spawn_blocking(move || cut_after(slow, Duration::from_secs(5)));
    let scrapes: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { http_get(addr, "/metrics", &[]).await }))
        .collect();
    for s in scrapes {
        let r = s.await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.text().contains("docker_up 1"));
    }
    let took = slow.await.unwrap();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "cut after {took:?} with a 1 s header timeout"
    );
    // An idle keep-alive connection is closed by the same timeout.
    let idle = unfinished(addr, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
    let took = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut idle = idle;
        let mut buf = Vec::new();
        idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = idle.read_to_end(&mut buf);
        assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(took < Duration::from_secs(3), "idle for {took:?}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_get_and_head() {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let exporter = Exporter::start(&[&sim.host()]).await;
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = http_request(exporter.addr, method, "/metrics", &[]).await;
        assert_eq!(r.status, 405, "{method}");
    }
    let head = http_request(exporter.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unfinished_requests_under_1024_files_delays_a_scrape_by_at_most_the_header_timeout(
) {
    let sim = Sim::start(&[
        "--fixtures",
        fixtures("engine-20.10-cgroupv1").to_str().unwrap(),
    ]);
    let (mut child, addr) = spawn_exporter(
        &["prlimit", "--nofile=1024:1024", "--"],
        &sim,
        &["--web.read-header-timeout=2s"],
    );
    wait_listening(addr).await;
    // 1,100 clients that never finish their request headers: more than the
    // exporter has file descriptors.
    let flood = tokio::task::spawn_blocking(move || {
        (0..1100)
            .map(|_| unfinished(addr, b"GET /metrics HTTP/1.1\r\n"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), http_get(addr, "/metrics", &[]))
        .await
        .expect("the scrape is answered");
    let took = started.elapsed();
    eprintln!("a scrape behind the flood took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("docker_up"));
    assert!(
        took <= Duration::from_secs(3),
        "a scrape behind 1,100 unfinished requests took {took:?} (header timeout 2 s)"
    );
    drop(flood);
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}
