//! The HTTP server: `/metrics` (or `--web.telemetry-path`), the overview page
//! at `/` (and its live part, `/?part=live`), `/-/healthy` and `/-/ready`.
//! Handlers only read the published snapshot.

use crate::collect::Store;
use crate::metrics::{self, ExpositionCache, Format};
use crate::page::{self, Part};
use crate::snapshot::now_unix;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::body::{Bytes, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
struct App {
    store: Arc<Store>,
    cache: Arc<ExpositionCache>,
    telemetry_path: Arc<str>,
}

/// The exporter's routes; at most `max_requests` scrapes are served at once.
pub fn router(store: Arc<Store>, telemetry_path: &str, max_requests: usize) -> Router {
    let app = App {
        store,
        cache: Arc::new(ExpositionCache::default()),
        telemetry_path: telemetry_path.into(),
    };
    let in_flight = Arc::new(Semaphore::new(max_requests));
    Router::new()
        .route(
            telemetry_path,
            get(metrics).route_layer(middleware::from_fn(move |req, next| {
                limit(in_flight.clone(), req, next)
            })),
        )
        .route("/", get(overview))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .with_state(app)
}

/// Serves the request if a scrape slot is free, else a 503 at once.
async fn limit(in_flight: Arc<Semaphore>, req: Request, next: Next) -> Response {
    match in_flight.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            "Too many concurrent scrapes (--web.max-requests)\n",
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = accepts_gzip(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let exposition = app.cache.get(app.store.snapshot());
    let body = match exposition.cached(format, gzip) {
        Some(body) => body,
        // Encoding a large snapshot takes milliseconds: tell the runtime, and
        // stay on this worker thread (a blocking-pool thread would keep its
        // own allocator cache of the freed buffers).
        None => tokio::task::block_in_place(|| exposition.body(format, gzip)),
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::VARY,
                HeaderValue::from_static("Accept, Accept-Encoding"),
            ),
        ],
        axum::body::Body::new(Chunks {
            remaining: body.len() as u64,
            body,
            next: 0,
        }),
    )
        .into_response();
    if gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A `/metrics` body sent as the slices it is made of (no copy into one
/// buffer), with its length known.
struct Chunks {
    body: metrics::Body,
    next: usize,
    remaining: u64,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.body.chunks().get(self.next).cloned();
        self.next += 1;
        if let Some(c) = &chunk {
            self.remaining -= c.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Whether `Accept-Encoding` allows gzip (present, and not with `q=0`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';').map(str::trim);
            let coding = it.next().unwrap_or("");
            let zero_q = it.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_q
        })
    })
}

async fn ready(State(app): State<App>) -> (StatusCode, &'static str) {
    if !app.store.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: no collection cycle has completed yet\n",
        )
    } else {
        (StatusCode::OK, "Ready\n")
    }
}

/// The overview page, or only its live part with `?part=live` (what the page's
/// script fetches to refresh itself), rendered from the published snapshot.
async fn overview(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let part = match query.as_deref() {
        Some("part=live") => Part::Live,
        _ => Part::Page,
    };
    let html = page::render(&app.store.snapshot(), &app.telemetry_path, now_unix(), part);
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn status(app: &Router, path: &str) -> StatusCode {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(req).await.unwrap().status()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn scrapes_past_the_limit_get_503_and_probes_do_not() {
        let full = router(Arc::new(Store::default()), "/metrics", 0);
        assert_eq!(
            status(&full, "/metrics").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(&full, "/-/healthy").await, StatusCode::OK);
        let one = router(Arc::new(Store::default()), "/metrics", 1);
        for _ in 0..3 {
            assert_eq!(
                status(&one, "/metrics").await,
                StatusCode::OK,
                "slot released"
            );
        }
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
