//! The Docker Engine API client: the only code that knows the engine's URLs and JSON.
//!
//! Read-only by construction: every request goes through [`Client::send`], which
//! takes a [`ReadMethod`] (GET or HEAD) and nothing else, and no method here
//! reaches exec, attach, logs or archive endpoints. Every call has a timeout
//! (the event stream only for its headers), errors are typed, and the API
//! version is negotiated the way the official client does it (`GET /_ping`,
//! lower of the daemon's `Api-Version` and [`MAX_API_VERSION`]), again after any
//! connection failure, unless `DOCKER_API_VERSION` pins it.

pub mod types;

use bytes::BytesMut;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// The newest Engine API version this client knows (the v1.56 spec).
pub const MAX_API_VERSION: ApiVersion = ApiVersion(1, 56);
/// The first API version whose stats call has `one-shot` (a single sample).
pub const ONE_SHOT_STATS: ApiVersion = ApiVersion(1, 41);
/// What the official client assumes when `/_ping` names no version.
const FALLBACK_API_VERSION: ApiVersion = ApiVersion(1, 24);
/// Largest engine answer accepted (a list of 10,000 containers is ~30 MiB).
const MAX_LIST_BYTES: usize = 256 << 20;
/// Largest answer accepted from any other call (an inspect or a stats answer
/// is a few KiB; `/info` tens of KiB).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// An Engine API version, `major.minor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

impl ApiVersion {
    /// Whether stats calls of this version can ask for a single sample
    /// (`one-shot`); without it the engine waits 1-2 s for a second one.
    /// The one place this is decided: the stats collector asks, the client obeys.
    pub fn has_one_shot_stats(self) -> bool {
        self >= ONE_SHOT_STATS
    }
}

impl FromStr for ApiVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an API version like 1.41");
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        Ok(ApiVersion(
            major.parse().map_err(|_| bad())?,
            minor.parse().map_err(|_| bad())?,
        ))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Where the engine listens: `unix:///var/run/docker.sock` or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{s:?} names no socket path"));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(rest) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(format!("{s:?} is not tcp://host:port"));
            }
            Ok(Endpoint::Tcp(authority.to_string()))
        } else if s.starts_with('/') {
            Ok(Endpoint::Unix(PathBuf::from(s)))
        } else {
            Err(format!(
                "{s:?}: expected unix:///path/to/docker.sock or tcp://host:port (TLS is not supported)"
            ))
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Why a call to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the Docker engine at {endpoint}: {cause}")]
    Connect { endpoint: String, cause: String },
    #[error("GET {path}: the engine answered {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },
    #[error("GET {path}: cannot decode the engine's answer: {cause}")]
    Decode { path: String, cause: String },
    #[error("GET {path}: no answer within {timeout:?}")]
    Timeout { path: String, timeout: Duration },
    #[error("GET {path}: {cause}")]
    Transport { path: String, cause: String },
    #[error("GET {path}: the answer is larger than {limit} bytes; not read further")]
    TooLarge { path: String, limit: usize },
}

impl Error {
    /// The engine could not be reached at all (as opposed to answering badly).
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

/// The only methods the client can send.
#[derive(Debug, Clone, Copy)]
pub enum ReadMethod {
    Get,
    Head,
}

enum Transport {
    Unix(
        HyperClient<hyperlocal::UnixConnector, Empty<Bytes>>,
        PathBuf,
    ),
    Tcp(HyperClient<HttpConnector, Empty<Bytes>>, String),
}

/// A read-only Engine API client.
pub struct Client {
    endpoint: Endpoint,
    transport: Transport,
    timeout: Duration,
    pinned: Option<ApiVersion>,
    negotiated: Mutex<Option<ApiVersion>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("pinned", &self.pinned)
            .finish()
    }
}

/// What `GET /_ping` says.
#[derive(Debug, Clone)]
pub struct Ping {
    pub api_version: Option<ApiVersion>,
}

/// One event, or one line that was not an event.
pub type EventItem = Result<types::Event, Error>;

/// The longest event line accepted; a longer one is skipped as undecodable.
pub const MAX_EVENT_LINE: usize = 1 << 20;

/// The open `GET /events` stream; [`EventStream::next`] yields one event a
/// line, framed by [`LinesCodec`] (which caps the line length).
pub struct EventStream<B = Incoming> {
    body: B,
    buf: BytesMut,
    lines: LinesCodec,
    path: String,
}

impl<B> EventStream<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: fmt::Display,
{
    /// Reads events from `body` (the engine's answer to `path`; also any
    /// body of bytes, for tests and fuzzing).
    pub fn new(body: B, path: String) -> Self {
        EventStream {
            body,
            buf: BytesMut::new(),
            lines: LinesCodec::new_with_max_length(MAX_EVENT_LINE),
            path,
        }
    }

    /// The next event, `Some(Err(Decode))` for a line that is not one (not
    /// JSON, not UTF-8, or longer than [`MAX_EVENT_LINE`]: the stream goes on
    /// at the next line), `Some(Err(Transport))` when the stream broke,
    /// `None` when the engine closed it.
    pub async fn next(&mut self) -> Option<EventItem> {
        loop {
            let decoded = match self.lines.decode(&mut self.buf) {
                Ok(Some(line)) if line.trim().is_empty() => continue,
                Ok(Some(line)) => Some(
                    serde_json::from_str(line.trim())
                        .map_err(|e| format!("{e} in event line {line:?}")),
                ),
                Ok(None) => None,
                Err(LinesCodecError::MaxLineLengthExceeded) => Some(Err(format!(
                    "event line longer than {MAX_EVENT_LINE} bytes"
                ))),
                Err(LinesCodecError::Io(e)) => Some(Err(format!("{e} in an event line"))),
            };
            if let Some(decoded) = decoded {
                return Some(decoded.map_err(|cause| Error::Decode {
                    path: self.path.clone(),
                    cause,
                }));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    return Some(Err(Error::Transport {
                        path: self.path.clone(),
                        cause: e.to_string(),
                    }))
                }
                None => return None,
            }
        }
    }
}

impl Client {
    /// A client for `endpoint`; `pinned` is `DOCKER_API_VERSION` when set.
    pub fn new(endpoint: Endpoint, timeout: Duration, pinned: Option<ApiVersion>) -> Self {
        let transport = match &endpoint {
            Endpoint::Unix(path) => Transport::Unix(
                HyperClient::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(32)
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(hyperlocal::UnixConnector),
                path.clone(),
            ),
            Endpoint::Tcp(authority) => {
                let mut http = HttpConnector::new();
                http.set_connect_timeout(Some(timeout));
                http.set_nodelay(true);
                Transport::Tcp(
                    HyperClient::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(32)
                        .pool_idle_timeout(Duration::from_secs(30))
                        .build(http),
                    authority.clone(),
                )
            }
        };
        Client {
            endpoint,
            transport,
            timeout,
            pinned,
            negotiated: Mutex::new(None),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one read request; the only place a request is built.
    async fn send(&self, method: ReadMethod, path: &str) -> Result<Response<Incoming>, Error> {
        let method = match method {
            ReadMethod::Get => Method::GET,
            ReadMethod::Head => Method::HEAD,
        };
        let (uri, result) = match &self.transport {
            Transport::Unix(client, socket) => {
                let uri: Uri = hyperlocal::Uri::new(socket, path).into();
                let req = request(method, uri.clone(), "docker");
                (uri, client.request(req).await)
            }
            Transport::Tcp(client, authority) => {
                let uri: Uri = format!("http://{authority}{path}").parse().map_err(
                    |e: hyper::http::uri::InvalidUri| Error::Transport {
                        path: path.into(),
                        cause: e.to_string(),
                    },
                )?;
                let req = request(method, uri.clone(), authority);
                (uri, client.request(req).await)
            }
        };
        result.map_err(|e| {
            if e.is_connect() {
                self.forget_version();
                Error::Connect {
                    endpoint: self.endpoint.to_string(),
                    cause: error_chain(&e),
                }
            } else {
                Error::Transport {
                    path: uri.path().to_string(),
                    cause: error_chain(&e),
                }
            }
        })
    }

    /// Drops the negotiated version so the next call pings again (after a
    /// reconnect the daemon may have been upgraded or replaced).
    pub fn forget_version(&self) {
        *self.negotiated.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// `GET /_ping`, unversioned.
    pub async fn ping(&self) -> Result<Ping, Error> {
        let path = "/_ping";
        let resp = tokio::time::timeout(self.timeout, async {
            let resp = self.send(ReadMethod::Get, path).await?;
            check_status(path, resp).await
        })
        .await
        .map_err(|_| self.timed_out(path))??;
        let api_version = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(Ping { api_version })
    }

    /// The API version to speak: pinned, or negotiated (pinging when not yet known).
    pub async fn api_version(&self) -> Result<ApiVersion, Error> {
        if let Some(v) = self.pinned {
            return Ok(v);
        }
        if let Some(v) = *self.negotiated.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(v);
        }
        let ping = self.ping().await?;
        let v = ping
            .api_version
            .unwrap_or(FALLBACK_API_VERSION)
            .min(MAX_API_VERSION);
        *self.negotiated.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
        Ok(v)
    }

    fn timed_out(&self, path: &str) -> Error {
        timed_out(path, self.timeout)
    }

    /// GET a versioned path and decode its JSON; `Ok(None)` on 404.
    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Error> {
        self.get_json_capped(path, MAX_BODY_BYTES).await
    }

    /// [`Client::get_json`] with an answer of at most `limit` bytes.
    async fn get_json_capped<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<Option<T>, Error> {
        self.get_json_within(path, limit, self.timeout).await
    }

    /// [`Client::get_json_capped`] with its own `timeout` instead of the client's.
    async fn get_json_within<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<T>, Error> {
        let version = self.api_version().await?;
        let full = format!("/v{version}{path}");
        tokio::time::timeout(timeout, async {
            let resp = self.send(ReadMethod::Get, &full).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = match check_status(path, resp).await {
                Err(e) if is_gone(&e) => return Ok(None),
                r => r?,
            };
            let body = read_body(path, resp.into_body(), limit).await?;
            // An empty answer reads as `null`: `None` where `T` is an
            // `Option`, a decode error elsewhere.
            let body: &[u8] = if body.trim_ascii().is_empty() {
                b"null"
            } else {
                &body
            };
            serde_json::from_slice(body)
                .map(Some)
                .map_err(|e| Error::Decode {
                    path: path.to_string(),
                    cause: e.to_string(),
                })
        })
        .await
        .map_err(|_| timed_out(path, timeout))?
    }

    async fn get_required<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.get_required_capped(path, MAX_BODY_BYTES).await
    }

    /// A 404 is an error here: the path always exists on an engine.
    async fn get_required_capped<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<T, Error> {
        self.get_json_capped(path, limit)
            .await?
            .ok_or_else(|| not_found(path))
    }

    pub async fn version(&self) -> Result<types::Version, Error> {
        self.get_required("/version").await
    }

    pub async fn info(&self) -> Result<types::Info, Error> {
        self.get_required("/info").await
    }

    /// Every container, in any state.
    pub async fn containers(&self) -> Result<Vec<types::ListedContainer>, Error> {
        self.get_required_capped("/containers/json?all=true", MAX_LIST_BYTES)
            .await
    }

    /// `None` when the container is gone (removed between list and inspect).
    pub async fn inspect(&self, id: &str) -> Result<Option<types::Inspect>, Error> {
        self.get_json(&format!("/containers/{}/json", path_segment(id)))
            .await
    }

    /// One stats sample: a single one with `one_shot` (decided by the caller
    /// from [`ApiVersion::has_one_shot_stats`]), else the two-sample answer.
    /// `None` when the container is gone.
    /// `None` also for Podman's answer to a container that is not running:
    /// `200 OK` with an empty body (Docker sends a zero-time sample).
    pub async fn stats(&self, id: &str, one_shot: bool) -> Result<Option<types::Stats>, Error> {
        let query = if one_shot {
            "stream=false&one-shot=true"
        } else {
            "stream=false"
        };
        let path = format!("/containers/{}/stats?{query}", path_segment(id));
        Ok(self
            .get_json::<Option<types::Stats>>(&path)
            .await?
            .flatten())
    }

    /// `GET /system/df`, under its own `timeout`: the engine walks every
    /// writable layer and volume for it, which can take minutes on a big host.
    pub async fn system_df(&self, timeout: Duration) -> Result<types::SystemDf, Error> {
        let path = "/system/df";
        self.get_json_within(path, MAX_LIST_BYTES, timeout)
            .await?
            .ok_or_else(|| not_found(path))
    }

    /// `GET /services?status=true` (a Swarm manager only).
    pub async fn services(&self) -> Result<Vec<types::Service>, Error> {
        self.get_required_capped("/services?status=true", MAX_LIST_BYTES)
            .await
    }

    /// `GET /tasks` whose desired state is `running` (the ones that count
    /// as replicas; finished and shut-down tasks are left out).
    pub async fn tasks(&self) -> Result<Vec<types::Task>, Error> {
        self.get_required_capped(
            "/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D",
            MAX_LIST_BYTES,
        )
        .await
    }

    /// `GET /nodes` (a Swarm manager only).
    pub async fn nodes(&self) -> Result<Vec<types::Node>, Error> {
        self.get_required_capped("/nodes", MAX_LIST_BYTES).await
    }

    /// Opens `GET /events`, from `since` (Unix seconds and nanoseconds) when
    /// given. The timeout covers the answer's headers only: the stream itself
    /// may be quiet for hours.
    pub async fn events(&self, since: Option<(i64, u32)>) -> Result<EventStream, Error> {
        let version = self.api_version().await?;
        let path = match since {
            Some((secs, nanos)) => format!("/events?since={secs}.{nanos:09}"),
            None => "/events".to_string(),
        };
        let full = format!("/v{version}{path}");
        let resp = tokio::time::timeout(self.timeout, async {
            let resp = self.send(ReadMethod::Get, &full).await?;
            check_status(&path, resp).await
        })
        .await
        .map_err(|_| self.timed_out(&path))??;
        Ok(EventStream::new(resp.into_body(), path))
    }
}

fn timed_out(path: &str, timeout: Duration) -> Error {
    Error::Timeout {
        path: path.to_string(),
        timeout,
    }
}

fn not_found(path: &str) -> Error {
    Error::Status {
        path: path.to_string(),
        status: 404,
        message: "not found".into(),
    }
}

fn request(method: Method, uri: Uri, host: &str) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    if let Ok(v) = host.parse() {
        req.headers_mut().insert(hyper::header::HOST, v);
    }
    req
}

/// Container ids and names are `[a-zA-Z0-9_.-]`; anything else is percent-encoded
/// so that no id can change the path.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn read_body(path: &str, body: Incoming, limit: usize) -> Result<Bytes, Error> {
    Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::TooLarge {
                    path: path.to_string(),
                    limit,
                }
            } else {
                Error::Transport {
                    path: path.to_string(),
                    cause: format!("reading the body: {e}"),
                }
            }
        })
}

/// Passes a 2xx answer through; turns any other into [`Error::Status`] with
/// the engine's own `message`.
async fn check_status(path: &str, resp: Response<Incoming>) -> Result<Response<Incoming>, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = read_body(path, resp.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
    }
    let message = serde_json::from_slice::<Message>(&body)
        .map(|m| m.message)
        .unwrap_or_else(|_| {
            String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(200)
                .collect()
        });
    Err(Error::Status {
        path: path.to_string(),
        status: status.as_u16(),
        message,
    })
}

/// Podman answers `500` "… no such container" for a container removed a
/// moment ago, where Docker answers `404`: both mean the container is gone.
fn is_gone(e: &Error) -> bool {
    matches!(e, Error::Status { status: 500, message, .. } if message.ends_with("no such container"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            "unix:///var/run/docker.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            "tcp://127.0.0.1:2375".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!("https://x:2376".parse::<Endpoint>().is_err());
        assert!("unix://".parse::<Endpoint>().is_err());
    }

    #[test]
    fn api_versions_order_and_parse() {
        let v: ApiVersion = "1.41".parse().unwrap();
        assert_eq!(v, ApiVersion(1, 41));
        assert!(ApiVersion(1, 9) < ApiVersion(1, 41));
        assert!("1".parse::<ApiVersion>().is_err());
        assert_eq!(ApiVersion(1, 44).to_string(), "1.44");
    }

    /// An event stream over these body chunks.
    fn stream_of(
        chunks: Vec<Vec<u8>>,
    ) -> EventStream<impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Unpin>
    {
        let frames = chunks
            .into_iter()
            .map(|c| Ok(hyper::body::Frame::data(Bytes::from(c))));
        EventStream::new(
            http_body_util::StreamBody::new(futures_util::stream::iter(frames)),
            "/events".into(),
        )
    }

    #[tokio::test]
    async fn bad_and_over_long_event_lines_are_skipped_and_the_stream_goes_on() {
        let event = |action: &str| format!("{{\"Type\":\"container\",\"Action\":\"{action}\"}}\n");
        let long = vec![b'x'; MAX_EVENT_LINE + 10];
        let stream = stream_of(vec![
            event("start").into_bytes(),
            b"\n".to_vec(),
            // An over-long line, arriving in pieces, then its end.
            long[..MAX_EVENT_LINE / 2].to_vec(),
            long[MAX_EVENT_LINE / 2..].to_vec(),
            b"still the long line\nnot json\n".to_vec(),
            event("die").into_bytes(),
        ]);
        let mut stream = stream;
        let action = |item: Option<EventItem>| item.unwrap().unwrap().action.unwrap();
        assert_eq!(action(stream.next().await), "start");
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(matches!(
            stream.next().await,
            Some(Err(Error::Decode { .. }))
        ));
        assert_eq!(action(stream.next().await), "die");
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn podmans_500_for_a_removed_container_means_gone() {
        let status = |status, message: &str| Error::Status {
            path: "/containers/abc/json".into(),
            status,
            message: message.into(),
        };
        assert!(is_gone(&status(
            500,
            "container abc does not exist in database: no such container"
        )));
        assert!(!is_gone(&status(500, "something else broke")));
        assert!(!is_gone(&status(409, "no such container")));
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("abc-1_2.3"), "abc-1_2.3");
        assert_eq!(path_segment("../x?y"), "..%2Fx%3Fy");
    }
}
