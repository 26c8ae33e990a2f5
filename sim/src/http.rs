//! HTTP: request parsing (version prefix, query, timestamps), responses
//! (including streamed and aborted bodies), the engine API handlers and the
//! `/_sim/` control plane.

use std::collections::HashMap;
use std::future::pending;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::clock::{load, nanos, unix_nanos};
use crate::engine::Sim;
use crate::events::{events, StreamMsg};
use crate::faults::{Fault, FaultKind, ENDPOINTS, GARBAGE, HUGE_BYTES};

pub(crate) type Reply = Response<Body>;

pub(crate) fn parse_api(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits an optional `/vX.Y` prefix off a path.
pub(crate) fn split_version(path: &str) -> (Option<String>, String) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        if parse_api(&rest[..end]).is_some() {
            return (Some(rest[..end].to_string()), rest[end..].to_string());
        }
    }
    (None, path.to_string())
}

/// Docker's timestamp parameter: `seconds` or `seconds.fraction` → nanoseconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    Some(secs.parse::<i64>().ok()?.checked_mul(1_000_000_000)? + frac.parse::<i64>().ok()?)
}

pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let (b, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        let escaped = || Some(hex(*b.get(i + 1)?)? * 16 + hex(*b.get(i + 2)?)?);
        let (byte, used) = match b[i] {
            b'%' => escaped().map_or((b'%', 1), |v| (v, 3)),
            b'+' if plus_is_space => (b' ', 1),
            c => (c, 1),
        };
        out.push(byte);
        i += used;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let pair = |kv: &str| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k, true), percent_decode(v, true))
    };
    q.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(pair)
        .collect()
}

/// Docker's `BoolValueOrDefault`: absent → default; "", 0, no, false, none → false.
pub(crate) fn bool_param(params: &HashMap<String, String>, key: &str, default: bool) -> bool {
    params.get(key).map_or(default, |v| {
        let v = v.trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    })
}

pub(crate) fn respond(status: StatusCode, ctype: &'static str, body: impl Into<Body>) -> Reply {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let ctype = HeaderValue::from_static(ctype);
    resp.headers_mut().insert(header::CONTENT_TYPE, ctype);
    resp
}

pub(crate) fn json_reply(status: StatusCode, v: &impl Serialize) -> Reply {
    let mut body = serde_json::to_vec(v).expect("serialising JSON");
    body.push(b'\n');
    respond(status, "application/json", body)
}

pub(crate) fn raw_json(body: Bytes) -> Reply {
    respond(StatusCode::OK, "application/json", body)
}

pub(crate) fn error(status: StatusCode, msg: impl std::fmt::Display) -> Reply {
    json_reply(status, &json!({ "message": msg.to_string() }))
}

pub(crate) fn no_such_container(key: &str) -> Reply {
    error(StatusCode::NOT_FOUND, format!("No such container: {key}"))
}

/// A response body fed by a channel; an `Err` aborts the connection mid-response.
pub(crate) struct ChannelBody(pub(crate) mpsc::Receiver<io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<hyper::body::Frame<Bytes>>>> {
        self.0
            .poll_recv(cx)
            .map(|m| m.map(|r| r.map(hyper::body::Frame::data)))
    }
}

pub(crate) fn streaming(rx: mpsc::Receiver<io::Result<Bytes>>) -> Reply {
    raw_json(Bytes::new()).map(|_| Body::new(ChannelBody(rx)))
}

pub(crate) fn closed_error() -> io::Error {
    io::Error::other("docker_sim: simulated connection close")
}

/// Maps a path (without version prefix) to an endpoint name and its container key.
pub(crate) fn route(path: &str) -> (&'static str, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (ep, key) = match segs.as_slice() {
        ["_ping"] => ("ping", ""),
        ["version"] => ("version", ""),
        ["info"] => ("info", ""),
        ["events"] => ("events", ""),
        ["containers", "json"] => ("list", ""),
        ["containers", id, "json"] => ("inspect", *id),
        ["containers", id, "stats"] => ("stats", *id),
        ["system", "df"] => ("df", ""),
        ["services" | "tasks" | "nodes"] => ("swarm", ""),
        _ => ("other", ""),
    };
    (ep, percent_decode(key, false))
}

pub(crate) async fn handle(State(sim): State<Arc<Sim>>, req: Request<Body>) -> Reply {
    let (version, path) = split_version(req.uri().path());
    let mut resp = match path.strip_prefix("/_sim/") {
        Some(what) => control(&sim, what, req).await,
        None => engine(&sim, version, &path, req).await,
    };
    for (name, value) in &sim.headers {
        resp.headers_mut().insert(*name, value.clone());
    }
    resp
}

pub(crate) async fn engine(
    sim: &Arc<Sim>,
    version: Option<String>,
    path: &str,
    req: Request<Body>,
) -> Reply {
    let (ep, key) = route(path);
    let (method, uri) = (req.method().as_str(), req.uri());
    let read_only = method == "GET" || method == "HEAD";
    sim.calls.record(ep, !read_only);
    debug!(%method, %uri, "engine call");
    let latency = load(&sim.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let df_latency = load(&sim.df_latency);
    if ep == "df" && !df_latency.is_zero() {
        tokio::time::sleep(df_latency).await;
    }
    if !read_only {
        warn!(%method, %uri, "non-GET/HEAD call to the engine API");
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("docker_sim: {method} is not allowed on {path}"),
        );
    }
    let requested = version.as_deref().and_then(parse_api);
    if let (Some(v), Some(requested)) = (&version, requested) {
        let msg = if requested < sim.min_api {
            let min = &sim.min_api_version;
            format!("client version {v} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version")
        } else if requested > sim.api {
            format!(
                "client version {v} is too new. Maximum supported API version is {}",
                sim.api_version
            )
        } else {
            String::new()
        };
        if !msg.is_empty() {
            return error(StatusCode::BAD_REQUEST, msg);
        }
    }
    let fault = sim.take_fault(ep);
    if let Some(kind) = fault {
        info!(endpoint = ep, ?kind, "injecting fault");
    }
    match fault {
        Some(FaultKind::Status500) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "docker_sim: injected fault",
            )
        }
        Some(FaultKind::Hang) => return pending().await,
        Some(FaultKind::Close) if ep != "events" => {
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(Err(closed_error()));
            return streaming(rx);
        }
        Some(FaultKind::Garbage) if ep != "events" => return raw_json(Bytes::from_static(GARBAGE)),
        Some(FaultKind::Huge) if ep != "events" => {
            let mut body = vec![b' '; HUGE_BYTES - 2];
            body.extend_from_slice(b"{}");
            return raw_json(Bytes::from(body));
        }
        _ => {}
    }
    let params = parse_query(uri.query());
    match ep {
        "ping" => {
            let mut resp = respond(StatusCode::OK, "text/plain; charset=utf-8", "OK");
            let h = resp.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        "version" => sim.version(),
        "info" => sim.info(),
        "list" => sim.list(bool_param(&params, "all", false)),
        "inspect" => sim.inspect(&key),
        "stats" => stats(sim, &key, &params).await,
        "df" => sim.system_df(),
        "swarm" => sim.swarm(path.trim_matches('/')),
        "events" => events(sim, &params, fault),
        _ => error(StatusCode::NOT_FOUND, "page not found"),
    }
}

pub(crate) async fn stats(sim: &Arc<Sim>, key: &str, params: &HashMap<String, String>) -> Reply {
    let Some(id) = sim.resolve(key) else {
        return no_such_container(key);
    };
    if bool_param(params, "stream", true) {
        // One sample a second, like the daemon, until the client goes away.
        let (tx, rx) = mpsc::channel(4);
        let sim = sim.clone();
        tokio::spawn(async move {
            while let Some(body) = sim.stats_body(&id, Some(Duration::from_secs(1))) {
                if tx.send(Ok(body)).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        return streaming(rx);
    }
    let pre = (!bool_param(params, "one-shot", false)).then(|| load(&sim.two_sample_delay));
    if let Some(delay) = pre {
        tokio::time::sleep(delay).await;
    }
    let tick = nanos(load(&sim.stats_tick));
    if tick > 0 {
        let now = unix_nanos(SystemTime::now()) as u64;
        tokio::time::sleep(Duration::from_nanos(tick - now % tick)).await;
    }
    sim.stats_body(&id, pre)
        .map_or_else(|| no_such_container(key), raw_json)
}

pub(crate) async fn control(sim: &Arc<Sim>, what: &str, req: Request<Body>) -> Reply {
    let method = req.method().as_str().to_string();
    let body = match axum::body::to_bytes(req.into_body(), 4 << 20).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading body: {e}")),
    };
    let ok = || json_reply(StatusCode::OK, &json!({"ok": true}));
    let bad = |msg: String| error(StatusCode::BAD_REQUEST, msg);
    match (method.as_str(), what) {
        ("GET", "calls") => {
            let mut calls = sim.calls.snapshot();
            calls["events_published"] = sim.events.published.load(Relaxed).into();
            json_reply(StatusCode::OK, &calls)
        }
        ("POST", "reset-calls") => {
            sim.calls.reset();
            ok()
        }
        ("POST", "clear-faults") => {
            sim.faults.lock().unwrap().clear();
            ok()
        }
        ("POST", "event") => match sim.apply_event(&body) {
            Ok(ev) => json_reply(StatusCode::OK, &sim.events.publish(ev)),
            Err((status, msg)) => error(status, msg),
        },
        ("POST", "fault") => {
            let fault: Fault = match serde_json::from_slice(&body) {
                Ok(f) => f,
                Err(e) => return bad(format!("invalid fault: {e}")),
            };
            if fault.endpoint != "any" && !ENDPOINTS.contains(&fault.endpoint.as_str()) {
                return bad(format!("unknown endpoint {:?}", fault.endpoint));
            }
            info!(?fault, "fault set");
            let open_streams = sim.events.tx.receiver_count();
            let now = match fault.kind {
                _ if fault.endpoint != "events" => None,
                FaultKind::Close => Some(StreamMsg::Close),
                FaultKind::Garbage => Some(StreamMsg::Garbage),
                _ => None,
            };
            // Close/garbage on events act on the open streams, and later only if counted.
            let keep = fault.count != Some(0) && (now.is_none() || fault.count.is_some());
            if let Some(msg) = now {
                let _ = sim.events.tx.send(msg);
            }
            if keep {
                sim.faults.lock().unwrap().push(fault);
            }
            json_reply(
                StatusCode::OK,
                &json!({"ok": true, "open_streams": open_streams}),
            )
        }
        ("POST", "set") => {
            let settings: HashMap<String, String> = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad(format!("invalid settings: {e}")),
            };
            for (k, val) in settings {
                let rate = match k.as_str() {
                    "event_rate" => val
                        .parse::<f64>()
                        .ok()
                        .filter(|r| *r >= 0.0)
                        .map(f64::to_bits),
                    "churn_per_sec" => val.parse::<u64>().ok(),
                    _ => None,
                };
                let counter = match k.as_str() {
                    "event_rate" => Some(&sim.event_rate),
                    "churn_per_sec" => Some(&sim.churn_per_sec),
                    _ => None,
                };
                if let Some(counter) = counter {
                    match rate {
                        Some(r) => counter.store(r, Relaxed),
                        None => return bad(format!("{k}: not a rate: {val:?}")),
                    }
                    continue;
                }
                let slot = match k.as_str() {
                    "latency" => &sim.latency,
                    "stats_tick" => &sim.stats_tick,
                    "two_sample_delay" => &sim.two_sample_delay,
                    "df_latency" => &sim.df_latency,
                    "event_skew" => &sim.events.skew,
                    _ => return bad(format!("unknown setting {k:?}")),
                };
                match humantime::parse_duration(&val) {
                    Ok(d) => slot.store(nanos(d), Relaxed),
                    Err(e) => return bad(format!("{k}: {e}")),
                }
            }
            ok()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("unknown control endpoint {method} /_sim/{what}"),
        ),
    }
}
