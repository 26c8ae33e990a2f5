//! Starting the simulator in-process, and talking to it.
//!
//! [`Running`] runs the simulator on a thread of its own with its own tokio
//! runtime, so that it serves the same whether the caller is a synchronous
//! test, an async test on a small runtime, or the benchmark orchestrator; it
//! is stopped (open streams cut, socket removed) when dropped. [`Control`] is a
//! hyper client on the simulator's socket, for the engine API and `/_sim/`.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::Args;

/// Any failure of a call to the simulator.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A simulator running in this process.
pub struct Running {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    /// Starts the simulator with `args` (its flags, without `--socket`) on a
    /// socket in a new temporary directory; returns once it accepts connections.
    pub fn start(args: &[&str]) -> Result<Running, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let mut running = Running::start_at(&dir.path().join("docker.sock"), args)?;
        running._dir = Some(dir);
        Ok(running)
    }

    /// Starts the simulator on `socket`; an error names what failed (a bad
    /// flag, a missing fixture file, a socket that cannot be bound).
    pub fn start_at(socket: &Path, args: &[&str]) -> Result<Running, String> {
        let socket_arg = socket.display().to_string();
        let argv = ["docker_sim", "--socket", &socket_arg]
            .into_iter()
            .chain(args.iter().copied());
        let args = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("docker_sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("docker_sim")
                    .enable_all()
                    .build();
                let runtime = match runtime {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("starting a runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match crate::bind(&args) {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                        Ok(bound) => {
                            let _ = ready_tx.send(Ok(()));
                            let stopped = async {
                                let _ = stop_rx.await;
                            };
                            if let Err(e) = bound.serve(stopped).await {
                                tracing::error!(error = %e, "docker_sim stopped");
                            }
                        }
                    }
                });
            })
            .map_err(|e| format!("starting the docker_sim thread: {e}"))?;
        let running = Running {
            socket: socket.to_path_buf(),
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: None,
        };
        ready_rx
            .recv()
            .map_err(|_| "docker_sim ended before it listened".to_string())??;
        Ok(running)
    }

    /// The socket it listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix://<socket>`, for `--docker.host`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A client for its engine API and control plane.
    pub fn control(&self) -> Control {
        Control::new(&self.socket)
    }

    /// Stops it: open connections and streams are cut, the socket is removed.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One answer of the simulator, body read to the end.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A hyper client on the simulator's socket.
#[derive(Clone)]
pub struct Control {
    client: Client<hyperlocal::UnixConnector, Full<Bytes>>,
    socket: PathBuf,
}

impl Control {
    pub fn new(socket: &Path) -> Control {
        Control {
            client: Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector),
            socket: socket.to_path_buf(),
        }
    }

    /// Sends one request (a JSON body when given) and returns the answer's head.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response<Incoming>, Error> {
        let uri: hyper::Uri = hyperlocal::Uri::new(&self.socket, path).into();
        let body = body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string()));
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "docker")
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        Ok(self.client.request(req).await?)
    }

    /// Sends one request and reads the whole answer; a connection dropped
    /// before the end of the body is an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let resp = self.open(method, path, body).await?;
        let (head, body) = resp.into_parts();
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body: body.collect().await?.to_bytes(),
        })
    }

    /// `GET path`, decoded as JSON; an error unless the answer is 2xx.
    pub async fn get_json(&self, path: &str) -> Result<Value, Error> {
        let a = self.call(Method::GET, path, None).await?;
        if !a.status.is_success() {
            return Err(format!("GET {path}: {} {}", a.status, a.text()).into());
        }
        Ok(serde_json::from_slice(&a.body)?)
    }

    /// `POST path` with a JSON body, the answer decoded; an error unless 2xx.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let a = self.call(Method::POST, path, Some(body)).await?;
        if !a.status.is_success() {
            return Err(format!("POST {path}: {} {}", a.status, a.text()).into());
        }
        Ok(serde_json::from_slice(&a.body)?)
    }
}

/// A loopback TCP port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}
