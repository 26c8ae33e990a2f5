//! The HTTP server: `/metrics` (or `--web.telemetry-path`), the overview page
//! at `/` (and its live part, `/?part=live`), `/-/healthy` and `/-/ready`.
//! Handlers only read the published snapshot; [`encode_ahead`] makes the
//! `/metrics` bodies recently scraped as soon as a snapshot is published.

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
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
struct App {
    store: Arc<Store>,
    cache: Arc<ExpositionCache>,
    telemetry_path: Arc<str>,
}

/// The exporter's routes; at most `max_requests` scrapes are served at once.
/// `/metrics` bodies come from `cache` (shared with [`encode_ahead`]).
pub fn router(
    store: Arc<Store>,
    cache: Arc<ExpositionCache>,
    telemetry_path: &str,
    max_requests: usize,
) -> Router {
    let app = App {
        store,
        cache,
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
    app.cache.requested(format, gzip);
    let exposition = app.cache.latest(|| app.store.snapshot());
    let body = match exposition.cached(format, gzip) {
        Some(body) => body,
        // Encoding a large snapshot takes milliseconds (or waiting for
        // `encode_ahead` to finish it): tell the runtime.
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

/// Encodes `/metrics` ahead of scrapes until `stop`: after each publication
/// of a snapshot, the body kinds (format, gzip) scraped within
/// [`metrics::AHEAD_WINDOW`] are made on a blocking thread
/// ([`ExpositionCache::encode_ahead`]), so that the first scrape of a new
/// snapshot (a cycle's: every block changed) finds bytes instead of paying the
/// encode. Nothing is encoded when nobody scrapes. Publications made during
/// an encode are taken together: the next round encodes the newest snapshot.
/// A scrape that comes during an encode waits for it (one encoding per
/// snapshot, invariant 9); a panic in encoding (a bug) ends the task, which
/// `run` reports like a collector's.
pub async fn encode_ahead(store: Arc<Store>, cache: Arc<ExpositionCache>, stop: CancellationToken) {
    let mut publications = store.publications();
    let mut retry: Option<std::time::Duration> = None;
    loop {
        let later = async {
            match retry {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = publications.changed() => if changed.is_err() { return },
            () = later => {}
        }
        cache.forget_unwanted();
        retry = None;
        if !cache.wants_ahead() {
            continue;
        }
        let (s, c) = (store.clone(), cache.clone());
        let encoded =
            tokio::task::spawn_blocking(move || c.encode_ahead(&c.latest(|| s.snapshot())));
        retry = match encoded.await {
            Ok(retry) => retry,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return,
        };
    }
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
        let full = router(Arc::default(), Arc::default(), "/metrics", 0);
        assert_eq!(
            status(&full, "/metrics").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(&full, "/-/healthy").await, StatusCode::OK);
        let one = router(Arc::default(), Arc::default(), "/metrics", 1);
        for _ in 0..3 {
            assert_eq!(
                status(&one, "/metrics").await,
                StatusCode::OK,
                "slot released"
            );
        }
    }

    async fn scrape(app: &Router, headers: &[(&str, &str)]) -> Bytes {
        let mut req = axum::http::Request::get("/metrics");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
    }

    /// Waits up to 10 s for `cond`.
    async fn until(what: &str, cond: impl Fn() -> bool) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < end, "timed out: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scraped_kind_is_encoded_ahead_and_served_without_a_second_encode() {
        let (store, cache) = (
            Arc::new(Store::default()),
            Arc::new(ExpositionCache::default()),
        );
        let stop = CancellationToken::new();
        let ahead = tokio::spawn(encode_ahead(store.clone(), cache.clone(), stop.clone()));
        let app = router(store.clone(), cache.clone(), "/metrics", 8);

        // Nobody has scraped: a publication is not encoded.
        store.update(|w| w.collected_at = 1.0);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(cache.encodes(), 0);

        // A plain text scrape encodes on its own, once.
        scrape(&app, &[]).await;
        assert_eq!((cache.encodes(), cache.made_ahead()), (1, 0));

        // The next snapshot is made before anyone scrapes it, in the kind
        // scraped only.
        store.update(|w| w.collected_at = 2.0);
        // (counted as it starts: wait for the body itself too)
        until("the body made ahead", || {
            cache.made_ahead() == 1
                && cache
                    .latest(|| store.snapshot())
                    .cached(Format::Text, false)
                    .is_some()
        })
        .await;
        let e = cache.latest(|| store.snapshot());
        assert!(e.made_ahead(Format::Text, false));
        assert!(e.cached(Format::Text, false).is_some());
        assert!(
            e.cached(Format::Text, true).is_none(),
            "gzip was not asked for"
        );
        assert!(e.cached(Format::OpenMetrics, false).is_none());
        assert_eq!(cache.encodes(), 2);

        // The scrape serves those bytes: no second encode of the snapshot.
        let body = scrape(&app, &[]).await;
        assert_eq!(body, e.body(Format::Text, false).to_bytes());
        assert!(String::from_utf8_lossy(&body)
            .contains("docker_exporter_last_collection_timestamp_seconds 2"));
        assert_eq!(cache.encodes(), 2);
        drop(e);

        // Once gzip is scraped too, both kinds are made ahead.
        scrape(&app, &[("accept-encoding", "gzip")]).await;
        store.update(|w| w.collected_at = 3.0);
        until("both kinds made ahead", || {
            let e = cache.latest(|| store.snapshot());
            e.made_ahead(Format::Text, true) && e.made_ahead(Format::Text, false)
        })
        .await;
        let encodes = cache.encodes();
        scrape(&app, &[("accept-encoding", "gzip")]).await;
        scrape(&app, &[]).await;
        assert_eq!(cache.encodes(), encodes);

        stop.cancel();
        ahead.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_racing_publications_never_encode_a_snapshot_twice() {
        let (store, cache) = (
            Arc::new(Store::default()),
            Arc::new(ExpositionCache::default()),
        );
        let stop = CancellationToken::new();
        let ahead = tokio::spawn(encode_ahead(store.clone(), cache.clone(), stop.clone()));
        let app = router(store.clone(), cache.clone(), "/metrics", 64);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scrapers: Vec<_> = (0..4)
            .map(|_| {
                let (app, done) = (app.clone(), done.clone());
                tokio::spawn(async move {
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        scrape(&app, &[]).await;
                        // A cached body is served without a wait: let the
                        // publisher and the timer run.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let mut published = 1; // the store's first, empty snapshot
        for i in 0..200 {
            store.update(|w| w.collected_at = i as f64);
            published += 1;
            tokio::time::sleep(std::time::Duration::from_micros(500)).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in scrapers {
            s.await.unwrap();
        }
        stop.cancel();
        ahead.await.unwrap();
        assert!(
            cache.encodes() <= published,
            "{} encodes of {published} snapshots",
            cache.encodes()
        );
        assert!(cache.made_ahead() > 0);
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
