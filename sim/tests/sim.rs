//! Tests of the simulated Docker Engine: the engine API it serves, its control
//! plane, fixtures, and the binary as a process.
//!
//! Each test starts the simulator in-process ([`docker_sim::Running`]) on a
//! socket in a temporary directory and talks HTTP/1.1 over it with hyper
//! ([`docker_sim::Control`]); the last two run the `docker_sim` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use docker_sim::launch::{Answer, Error};
use docker_sim::{Control, Running};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A simulator and a client on its socket.
struct Sim {
    running: Running,
    control: Control,
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let running = Running::start(args).expect("docker_sim starts");
        let control = running.control();
        Sim { running, control }
    }

    fn socket(&self) -> &Path {
        self.running.socket()
    }

    async fn req(&self, method: &str, path: &str, body: Option<&str>) -> Result<Answer, Error> {
        let body: Option<Value> = body.map(|b| serde_json::from_str(b).unwrap());
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        self.control.call(method, path, body.as_ref()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.req("GET", path, None).await.expect(path)
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        json_of(&r)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.control.post(path, &body).await.expect(path)
    }

    /// Opens a streaming answer (`/events`), read line by line.
    async fn stream(&self, path: &str) -> Stream {
        let resp = self
            .control
            .open(Method::GET, path, None)
            .await
            .expect("stream opens");
        assert_eq!(
            resp.headers()
                .get("transfer-encoding")
                .and_then(|v| v.to_str().ok()),
            Some("chunked")
        );
        Stream {
            status: resp.status(),
            body: resp.into_body(),
            pending: Vec::new(),
        }
    }
}

fn json_of(r: &Answer) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// An open streaming answer.
struct Stream {
    status: StatusCode,
    body: Incoming,
    pending: Vec<u8>,
}

impl Stream {
    /// The next line; `Ok(None)` at a clean end of the stream, `Err` when cut off.
    async fn next_line(&mut self) -> Result<Option<String>, Error> {
        loop {
            if let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    async fn next_within(&mut self, d: Duration) -> Result<Option<String>, Error> {
        tokio::time::timeout(d, self.next_line())
            .await
            .expect("timed out waiting on the stream")
    }

    async fn next_event(&mut self) -> Value {
        let line = self
            .next_within(Duration::from_secs(10))
            .await
            .unwrap()
            .expect("an event");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn running_id(list: &Value) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["State"] == "running")
        .expect("a running container")["Id"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------
// Engine API
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ping_version_and_api_version_checks() {
    let sim = Sim::start(&["--containers", "5", "--min-api-version", "1.44"]);
    let r = sim.get("/_ping").await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "OK"));
    assert_eq!(r.header("Api-Version"), Some("1.44"));
    assert_eq!(r.header("Server"), Some("Docker/25.0.5 (linux)"));
    assert_eq!(r.header("Ostype"), Some("linux"));
    let r = sim.req("HEAD", "/v1.44/_ping", None).await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.header("Api-Version")),
        (200, Some("1.44"))
    );

    let v = sim.json("/v1.44/version").await;
    assert_eq!(
        (v["ApiVersion"].as_str(), v["Version"].as_str()),
        (Some("1.44"), Some("25.0.5"))
    );
    assert_eq!(sim.json("/info").await["Containers"], 5);

    let r = sim.get("/v1.41/containers/json").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        json_of(&r)["message"],
        "client version 1.41 is too old. Minimum supported API version is 1.44, \
         please upgrade your client to a newer version"
    );
    let r = sim.get("/v1.99/info").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        json_of(&r)["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.44"
    );
    assert_eq!(sim.get("/v1.44/nothing/here").await.status, 404);
}

#[tokio::test]
async fn synthetic_list_inspect_and_stats() {
    let sim = Sim::start(&["--containers", "40"]);
    let all = sim.json("/v1.44/containers/json?all=true").await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 40);
    let mut ids: Vec<&str> = all.iter().map(|c| c["Id"].as_str().unwrap()).collect();
    assert!(ids
        .iter()
        .all(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    let states: Vec<&str> = all.iter().map(|c| c["State"].as_str().unwrap()).collect();
    for s in ["running", "exited", "paused"] {
        assert!(states.contains(&s), "no {s} container in {states:?}");
    }

    let up = sim.json("/v1.44/containers/json?all=false").await;
    let up = up.as_array().unwrap();
    assert!(up.len() < 40 && !up.is_empty());
    assert!(up
        .iter()
        .all(|c| ["running", "paused", "restarting"].contains(&c["State"].as_str().unwrap())));
    assert_eq!(
        sim.json("/v1.44/containers/json")
            .await
            .as_array()
            .unwrap()
            .len(),
        up.len()
    );
    assert_eq!(
        sim.json("/containers/json?all=1")
            .await
            .as_array()
            .unwrap()
            .len(),
        40
    );

    // Inspect by id, name and short id.
    let first = &all[0];
    let id = first["Id"].as_str().unwrap();
    let name = first["Names"][0].as_str().unwrap();
    let ins = sim.json(&format!("/v1.44/containers/{id}/json")).await;
    assert_eq!(
        (ins["Id"].as_str(), ins["Name"].as_str()),
        (Some(id), Some(name))
    );
    assert_eq!(ins["State"]["Status"], first["State"]);
    assert!(ins["Config"]["Labels"].is_object());
    let by_name = sim.json(&format!("/v1.44/containers{name}/json")).await;
    assert_eq!(by_name["Id"], id);
    assert_eq!(
        sim.json(&format!("/containers/{}/json", &id[..12])).await["Id"],
        id
    );

    let r = sim.get("/v1.44/containers/nope/json").await;
    assert_eq!(r.status, 404);
    assert_eq!(json_of(&r)["message"], "No such container: nope");
    assert_eq!(
        sim.get("/v1.44/containers/nope/stats?stream=false")
            .await
            .status,
        404
    );

    // Counters grow with time.
    let list = sim.json("/v1.44/containers/json?all=true").await;
    let run = running_id(&list);
    let path = format!("/v1.44/containers/{run}/stats?stream=false&one-shot=true");
    let s1 = sim.json(&path).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s2 = sim
        .json(&format!(
            "/v1.44/containers/{run}/stats?stream=0&one-shot=1"
        ))
        .await;
    let cpu = |s: &Value| s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    assert!(cpu(&s2) > cpu(&s1), "{} !> {}", cpu(&s2), cpu(&s1));
    assert!(
        s2["networks"]["eth0"]["rx_bytes"].as_u64() > s1["networks"]["eth0"]["rx_bytes"].as_u64()
    );
    assert_ne!(s1["read"], s2["read"]);
    assert_eq!(s1["id"], run);
    assert_eq!(s1["preread"], ZERO_TIME);
    assert_eq!(s1["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert_eq!(
        s1["cpu_stats"]["cpu_usage"]["percpu_usage"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert!(s1["memory_stats"]["stats"]["total_cache"].is_u64());
    assert_eq!(
        s1["blkio_stats"]["io_service_bytes_recursive"][0]["op"],
        "Read"
    );

    // A stopped container answers zeroes, like the daemon.
    let exited = all.iter().find(|c| c["State"] == "exited").unwrap()["Id"]
        .as_str()
        .unwrap();
    let s = sim
        .json(&format!(
            "/containers/{exited}/stats?stream=false&one-shot=true"
        ))
        .await;
    assert_eq!(s["read"], ZERO_TIME);
    assert_eq!(s["memory_stats"], json!({}));
}

#[tokio::test]
async fn cgroup_v2_stats_and_two_sample_delay() {
    let sim = Sim::start(&[
        "--containers",
        "5",
        "--cgroup-version",
        "2",
        "--two-sample-delay",
        "200ms",
    ]);
    assert_eq!(sim.json("/info").await["CgroupVersion"], "2");
    let run = running_id(&sim.json("/containers/json").await);
    let s = sim
        .json(&format!(
            "/v1.44/containers/{run}/stats?stream=false&one-shot=true"
        ))
        .await;
    assert!(s["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none());
    assert!(s["memory_stats"].get("max_usage").is_none());
    assert!(s["memory_stats"]["stats"]["anon"].is_u64());
    assert!(s["memory_stats"]["stats"].get("total_cache").is_none());
    assert_eq!(
        s["blkio_stats"]["io_service_bytes_recursive"][0]["op"],
        "read"
    );
    assert!(s["blkio_stats"]["io_serviced_recursive"].is_null());

    // Without one-shot the daemon takes two samples: it waits and fills precpu.
    let t = Instant::now();
    let s = sim
        .json(&format!("/v1.44/containers/{run}/stats?stream=false"))
        .await;
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    let pre = s["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    let cur = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    assert!(0 < pre && pre < cur, "{pre} {cur}");
    assert_ne!(s["preread"], ZERO_TIME);
}

#[tokio::test]
async fn stats_tick_delays_one_shot_stats() {
    let sim = Sim::start(&["--containers", "3", "--stats-tick", "1s"]);
    let run = running_id(&sim.json("/containers/json").await);
    let path = format!("/v1.44/containers/{run}/stats?stream=false&one-shot=true");
    // The first call ends on a tick; the second then waits for (almost) a full one.
    let t = Instant::now();
    sim.json(&path).await;
    let first = t.elapsed();
    let t = Instant::now();
    sim.json(&path).await;
    let second = t.elapsed();
    eprintln!("stats with --stats-tick 1s took {first:?}, then {second:?}");
    assert!(second > Duration::from_millis(100), "{second:?}");
}

// ---------------------------------------------------------------------------
// Control plane: calls, events, faults
// ---------------------------------------------------------------------------

#[tokio::test]
async fn calls_are_counted_and_writes_rejected() {
    let sim = Sim::start(&["--containers", "4"]);
    let list = sim.json("/v1.44/containers/json?all=true").await;
    let id = list[0]["Id"].as_str().unwrap();
    sim.get("/_ping").await;
    sim.get(&format!("/v1.44/containers/{id}/json")).await;
    sim.get(&format!("/v1.44/containers/{id}/json")).await;
    sim.get(&format!(
        "/v1.44/containers/{id}/stats?stream=false&one-shot=true"
    ))
    .await;
    sim.get("/v1.44/images/json").await;
    let calls = sim.json("/_sim/calls").await;
    assert_eq!(calls["total"], 6);
    assert_eq!(
        calls["by_endpoint"],
        json!({"ping": 1, "version": 0, "info": 0, "list": 1, "inspect": 2, "stats": 1, "events": 0, "df": 0, "swarm": 0, "other": 1})
    );
    assert_eq!(calls["non_get"], 0);

    let r = sim
        .req("POST", &format!("/v1.44/containers/{id}/stop"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    let r = sim
        .req("DELETE", &format!("/containers/{id}"), None)
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    let calls = sim.json("/_sim/calls").await;
    assert_eq!(
        (calls["non_get"].as_u64(), calls["total"].as_u64()),
        (Some(2), Some(8))
    );

    sim.post("/_sim/reset-calls", json!({})).await;
    let calls = sim.json("/_sim/calls").await;
    assert_eq!(
        (calls["total"].as_u64(), calls["non_get"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn events_stream_replay_and_close() {
    let sim = Sim::start(&["--containers", "10"]);
    let mut stream = sim.stream("/v1.44/events").await;
    assert_eq!(stream.status, 200);

    // A posted event arrives on the open stream and changes the container's state.
    let posted = sim
        .post(
            "/_sim/event",
            json!({"container": "sim-00001", "action": "die", "exitCode": 3}),
        )
        .await;
    let ev = stream.next_event().await;
    assert_eq!(ev, posted);
    assert_eq!(
        (
            ev["Type"].as_str(),
            ev["Action"].as_str(),
            ev["status"].as_str()
        ),
        (Some("container"), Some("die"), Some("die"))
    );
    assert_eq!(ev["Actor"]["Attributes"]["name"], "sim-00001");
    assert_eq!(ev["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(ev["id"], ev["Actor"]["ID"]);
    let ins = sim.json("/v1.44/containers/sim-00001/json").await;
    assert_eq!(
        (
            ins["State"]["Status"].as_str(),
            ins["State"]["ExitCode"].as_i64()
        ),
        (Some("exited"), Some(3))
    );

    let start = sim
        .post(
            "/_sim/event",
            json!({"container": "sim-00001", "action": "start"}),
        )
        .await;
    assert_eq!(stream.next_event().await["Action"], "start");
    assert_eq!(
        sim.json("/containers/sim-00001/json").await["State"]["Running"],
        true
    );

    // `since`/`until` replay the history with nanosecond precision, then end.
    let (t_die, t_start) = (
        ev["timeNano"].as_i64().unwrap(),
        start["timeNano"].as_i64().unwrap(),
    );
    let ts = |n: i64| format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    let r = sim
        .get(&format!(
            "/v1.44/events?since={}&until={}",
            ts(t_die),
            ts(t_start)
        ))
        .await;
    let lines: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|e| e["Action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["die", "start"]
    );
    let r = sim
        .get(&format!(
            "/v1.44/events?since={}&until={}",
            ts(t_die + 1),
            ts(t_start)
        ))
        .await;
    assert_eq!(r.text().lines().count(), 1);
    let filters = "%7B%22event%22%3A%5B%22die%22%5D%7D"; // {"event":["die"]}
    let r = sim
        .get(&format!(
            "/v1.44/events?since={}&until={}&filters={filters}",
            now_secs() - 60,
            ts(t_start)
        ))
        .await;
    assert_eq!(r.text().lines().count(), 1);
    let mut replay = sim
        .stream(&format!("/events?since={}", now_secs() - 60))
        .await;
    assert_eq!(replay.next_event().await, posted);

    // The close fault ends the open streams; new subscriptions work again.
    let f = sim
        .post(
            "/_sim/fault",
            json!({"endpoint": "events", "kind": "close"}),
        )
        .await;
    assert_eq!(f["open_streams"], 2);
    let end = stream.next_within(Duration::from_secs(5)).await;
    assert!(!matches!(end, Ok(Some(_))), "stream still open: {end:?}");
    let mut again = sim.stream("/v1.44/events").await;
    sim.post(
        "/_sim/event",
        json!({"container": "sim-00002", "action": "pause"}),
    )
    .await;
    assert_eq!(again.next_event().await["Action"], "pause");
    assert_eq!(
        sim.json("/containers/sim-00002/json").await["State"]["Paused"],
        true
    );
    assert_eq!(sim.json("/_sim/calls").await["by_endpoint"]["events"], 6);
}

#[tokio::test]
async fn faults_are_injected_and_cleared() {
    let sim = Sim::start(&["--containers", "3"]);
    sim.post(
        "/_sim/fault",
        json!({"endpoint": "list", "kind": "status500", "count": 1}),
    )
    .await;
    assert_eq!(sim.get("/v1.44/containers/json").await.status, 500);
    assert_eq!(sim.get("/v1.44/containers/json").await.status, 200);

    sim.post(
        "/_sim/fault",
        json!({"endpoint": "inspect", "kind": "garbage", "count": 1}),
    )
    .await;
    let r = sim.get("/v1.44/containers/sim-00000/json").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    sim.post(
        "/_sim/fault",
        json!({"endpoint": "info", "kind": "close", "count": 1}),
    )
    .await;
    assert!(sim.req("GET", "/v1.44/info", None).await.is_err());
    assert_eq!(sim.get("/v1.44/info").await.status, 200);

    sim.post(
        "/_sim/fault",
        json!({"endpoint": "version", "kind": "hang", "count": 1}),
    )
    .await;
    let hung =
        tokio::time::timeout(Duration::from_millis(500), sim.req("GET", "/version", None)).await;
    assert!(hung.is_err(), "a hung call answered");
    assert_eq!(sim.get("/version").await.status, 200);

    sim.post(
        "/_sim/fault",
        json!({"endpoint": "any", "kind": "status500"}),
    )
    .await;
    assert_eq!(sim.get("/_ping").await.status, 500);
    assert_eq!(sim.get("/_ping").await.status, 500);
    sim.post("/_sim/clear-faults", json!({})).await;
    assert_eq!(sim.get("/_ping").await.status, 200);

    let mut stream = sim.stream("/events").await;
    sim.post(
        "/_sim/fault",
        json!({"endpoint": "events", "kind": "garbage"}),
    )
    .await;
    let line = stream
        .next_within(Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");

    sim.post("/_sim/set", json!({"latency": "150ms"})).await;
    let t = Instant::now();
    sim.get("/_ping").await;
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn churn_and_event_rate_produce_events() {
    let sim = Sim::start(&[
        "--containers",
        "50",
        "--churn-per-sec",
        "2",
        "--event-rate",
        "40",
    ]);
    let mut stream = sim.stream("/v1.44/events").await;
    let mut actions = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && ![
            "destroy",
            "create",
            "start",
            "exec_die",
            "health_status: healthy",
        ]
        .iter()
        .all(|a| actions.contains(*a))
    {
        let ev = stream.next_event().await;
        actions.insert(ev["Action"].as_str().unwrap().to_string());
    }
    for a in [
        "destroy",
        "create",
        "start",
        "exec_create: /bin/sh -c true",
        "exec_die",
        "health_status: healthy",
    ] {
        assert!(actions.contains(a), "no {a} in {actions:?}");
    }
    let all = sim.json("/containers/json?all=true").await;
    assert_eq!(all.as_array().unwrap().len(), 50);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Names"][0].as_str().unwrap() >= "/sim-00050"));
}

#[tokio::test]
async fn event_skew_puts_stamps_out_of_order_and_replays_stop_like_the_daemons() {
    let sim = Sim::start(&["--containers", "4", "--event-skew", "1ms"]);
    let mut stream = sim.stream("/v1.44/events").await;
    sim.post("/_sim/set", json!({"event_rate": "200"})).await;
    let mut stamps = Vec::new();
    while stamps.len() < 40 {
        stamps.push(stream.next_event().await["timeNano"].as_i64().unwrap());
    }
    sim.post("/_sim/set", json!({"event_rate": "0"})).await;
    assert!(
        stamps.windows(2).any(|w| w[1] < w[0]),
        "some stamp goes backwards: {stamps:?}"
    );
    let published = sim.json("/_sim/calls").await["events_published"]
        .as_u64()
        .unwrap();
    assert!(published >= 40, "published {published}");
    // A replay walks back from the newest event and stops at the first one
    // stamped before `since`, as the daemon's does: with `since` just after a
    // stamp that went backwards, it ends there although older entries of the
    // history carry later stamps.
    let i = stamps.windows(2).position(|w| w[1] < w[0]).unwrap() + 1;
    let ts = |n: i64| format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    let until = ts(*stamps.iter().max().unwrap() + 1);
    let r = sim
        .get(&format!(
            "/v1.44/events?since={}&until={until}",
            ts(stamps[i] + 1)
        ))
        .await;
    let replayed: Vec<i64> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timeNano"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        !replayed.contains(&stamps[i - 1]),
        "the replay stopped at the older stamp: {replayed:?}"
    );
    assert!(replayed.iter().all(|t| *t > stamps[i]));
    // A bad rate is refused.
    let bad = sim
        .req("POST", "/_sim/set", Some(r#"{"event_rate": "fast"}"#))
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
}

// ---------------------------------------------------------------------------
// Fixtures and process life
// ---------------------------------------------------------------------------

const FIX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FIX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn write_fixtures(dir: &Path) {
    let w = |rel: &str, body: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    w(
        "version.json",
        r#"{"Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12"}"#,
    );
    w(
        "info.json",
        r#"{"ID":"fixture","Containers":2,  "CgroupVersion":"2"}"#,
    );
    w(
        "ping.headers",
        "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nServer: Docker/24.0.7 (linux)\r\n\r\n",
    );
    w(
        "containers.json",
        &format!(
            "[ {{\"Id\":\"{FIX_A}\", \"Names\":[\"/dexpfix-run\"],\"Image\":\"busybox\",\"State\":\"running\"}},\n  \
             {{\"Id\":\"{FIX_B}\",\"Names\":[\"/dexpfix-exited\"],\"Image\":\"busybox\",\"State\":\"exited\"}} ]\n"
        ),
    );
    w(
        &format!("inspect/{FIX_A}.json"),
        &format!("{{\"Id\":\"{FIX_A}\",\"Name\":\"/dexpfix-run\"}}"),
    );
    w(
        &format!("inspect/{FIX_B}.json"),
        "{\"Id\": \"bbbb\", \"State\": {truncated",
    );
    w(
        &format!("stats/{FIX_A}.json"),
        &format!("{{\"id\":\"{FIX_A}\",\"read\":\"2024-01-01T00:00:00Z\"}}\n"),
    );
    w(
        &format!("stats/{FIX_B}.json"),
        &format!("{{\"id\":\"{FIX_B}\",\"read\":\"{ZERO_TIME}\"}}\n"),
    );
    w(
        "events.jsonl",
        &format!(
            "{{\"status\":\"start\",\"id\":\"{FIX_A}\",\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{{\"ID\":\"{FIX_A}\",\"Attributes\":{{\"name\":\"dexpfix-run\"}}}},\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000000000001}}\n\
             {{\"status\":\"die\",\"id\":\"{FIX_B}\",\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{{\"ID\":\"{FIX_B}\",\"Attributes\":{{\"name\":\"dexpfix-exited\",\"exitCode\":\"1\"}}}},\"scope\":\"local\",\"time\":1700000005,\"timeNano\":1700000005000000000}}\n"
        ),
    );
}

#[tokio::test]
async fn fixtures_are_replayed_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    write_fixtures(dir.path());
    let sim = Sim::start(&["--fixtures", dir.path().to_str().unwrap()]);
    let file = |rel: &str| std::fs::read(dir.path().join(rel)).unwrap();

    let r = sim.get("/_ping").await;
    assert_eq!(r.header("Api-Version"), Some("1.43"));
    assert_eq!(r.header("Server"), Some("Docker/24.0.7 (linux)"));
    assert_eq!(sim.get("/v1.43/version").await.body, file("version.json"));
    assert_eq!(sim.get("/v1.43/info").await.body, file("info.json"));
    assert_eq!(
        sim.get("/v1.44/info").await.status,
        400,
        "above the fixtures' API version"
    );

    assert_eq!(
        sim.get("/v1.43/containers/json?all=true").await.body,
        file("containers.json")
    );
    let up = sim.get("/v1.43/containers/json").await;
    let up_list = json_of(&up);
    assert_eq!(up_list.as_array().unwrap().len(), 1);
    assert!(
        up.text()
            .contains(&format!("{{\"Id\":\"{FIX_A}\", \"Names\"")),
        "element bytes kept: {}",
        up.text()
    );

    let r = sim.get("/v1.43/containers/dexpfix-run/json").await;
    assert_eq!(r.body, file(&format!("inspect/{FIX_A}.json")));
    let r = sim.get(&format!("/v1.43/containers/{FIX_B}/json")).await;
    assert_eq!(
        (r.status.as_u16(), r.body.to_vec()),
        (200, file(&format!("inspect/{FIX_B}.json"))),
        "malformed served as is"
    );
    let r = sim
        .get("/v1.43/containers/dexpfix-run/stats?stream=false&one-shot=true")
        .await;
    assert_eq!(r.body, file(&format!("stats/{FIX_A}.json")));
    assert_eq!(
        sim.get("/v1.43/containers/dexpfix-nope/json").await.status,
        404
    );

    let r = sim
        .get(&format!(
            "/v1.43/events?since=1700000000.000000001&until={}",
            now_secs()
        ))
        .await;
    assert_eq!(r.body, file("events.jsonl"));
    let r = sim
        .get("/v1.43/events?since=1700000000.000000002&until=1700000006")
        .await;
    assert_eq!(r.text().lines().count(), 1);

    // Shorthand events use the recorded names; destroy removes the container.
    let ev = sim
        .post(
            "/_sim/event",
            json!({"container": "dexpfix-exited", "action": "destroy"}),
        )
        .await;
    assert_eq!(ev["Actor"]["ID"], FIX_B);
    assert_eq!(ev["Actor"]["Attributes"]["name"], "dexpfix-exited");
    assert_eq!(
        sim.json("/containers/json?all=true")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sim.get(&format!("/containers/{FIX_B}/json")).await.status,
        404
    );
}

/// Every recorded set in `tests/fixtures/` (Docker's and Podman's) loads and
/// is served as recorded.
#[tokio::test]
async fn recorded_fixture_sets_are_served() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    sets.retain(|p| p.join("version.json").exists());
    sets.sort();
    assert_eq!(
        sets.len(),
        4,
        "the four recorded sets under {}: {sets:?}",
        root.display()
    );
    for set in sets {
        let sim = Sim::start(&["--fixtures", set.to_str().unwrap()]);
        let file = |rel: &str| std::fs::read(set.join(rel)).unwrap();
        let r = sim.get("/_ping").await;
        let api = r.header("Api-Version").unwrap().to_string();
        assert_eq!(
            sim.get(&format!("/v{api}/containers/json?all=true"))
                .await
                .body,
            file("containers.json"),
            "{}",
            set.display()
        );
        let up = sim.json(&format!("/v{api}/containers/json")).await;
        let up = up.as_array().unwrap();
        assert!(up
            .iter()
            .all(|c| c["State"] != "exited" && c["State"] != "created"));
        let list: Value = serde_json::from_slice(&file("containers.json")).unwrap();
        for c in list.as_array().unwrap() {
            let (id, name) = (c["Id"].as_str().unwrap(), c["Names"][0].as_str().unwrap());
            let r = sim.get(&format!("/v{api}/containers{name}/json")).await;
            assert_eq!(r.body, file(&format!("inspect/{id}.json")), "{name}");
            let stats = format!("/v{api}/containers/{id}/stats?stream=false&one-shot=true");
            assert_eq!(
                sim.get(&stats).await.body,
                file(&format!("stats/{id}.json"))
            );
        }
        let r = sim
            .get(&format!("/v{api}/events?since=0&until={}", now_secs()))
            .await;
        assert_eq!(r.body, file("events.jsonl"), "{}", set.display());
        // The optional answers: as recorded when present, else the daemon's
        // "not found" (no df) and "not a manager" (no swarm files).
        let df = sim.get(&format!("/v{api}/system/df")).await;
        match std::fs::read(set.join("system_df.json")) {
            Ok(body) => assert_eq!(df.body, body, "{}", set.display()),
            Err(_) => assert_eq!(df.status, 404, "{}", set.display()),
        }
        for what in ["services", "tasks", "nodes"] {
            let r = sim.get(&format!("/v{api}/{what}")).await;
            match std::fs::read(set.join(format!("swarm/{what}.json"))) {
                Ok(body) => assert_eq!(r.body, body, "{}", set.display()),
                Err(_) => assert_eq!(r.status, 503, "{what} of {}", set.display()),
            }
        }
    }
}

#[test]
fn missing_fixture_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    write_fixtures(dir.path());
    std::fs::remove_file(dir.path().join(format!("stats/{FIX_B}.json"))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_docker_sim"))
        .args(["--socket", dir.path().join("s.sock").to_str().unwrap()])
        .args(["--fixtures", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("stats/{FIX_B}.json")), "{err}");
    // In-process, the launcher says the same.
    let err = Running::start(&["--fixtures", dir.path().to_str().unwrap()])
        .err()
        .expect("a missing fixture file fails the start");
    assert!(err.contains(&format!("stats/{FIX_B}.json")), "{err}");
}

#[test]
fn sigterm_removes_the_socket() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker_sim"))
        .arg("--socket")
        .arg(&socket)
        .args(["--containers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning docker_sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim_end(),
        format!("docker_sim listening on {}", socket.display())
    );
    assert!(socket.exists());
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "docker_sim ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists());
}

#[test]
fn stopping_in_process_removes_the_socket() {
    let sim = Sim::start(&["--containers", "1"]);
    let socket = sim.socket().to_path_buf();
    assert!(socket.exists());
    drop(sim);
    assert!(!socket.exists());
}
