//! The HTTP server: `/metrics` (or `--web.telemetry-path`), a landing page,
//! `/-/healthy` and `/-/ready`. Handlers only read the published snapshot.

use crate::collect::Store;
use crate::metrics::{ExpositionCache, Format};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

#[derive(Debug, Clone)]
struct App {
    store: Arc<Store>,
    cache: Arc<ExpositionCache>,
    landing: Arc<str>,
}

/// The exporter's routes.
pub fn router(store: Arc<Store>, telemetry_path: &str) -> Router {
    let app = App {
        store,
        cache: Arc::new(ExpositionCache::default()),
        landing: landing_page(telemetry_path).into(),
    };
    Router::new()
        .route(telemetry_path, get(metrics))
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .with_state(app)
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
        // stay on this worker thread (a blocking-pool thread would get its own
        // malloc arena and keep the freed buffers).
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
        body,
    )
        .into_response();
    if gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
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

async fn landing(State(app): State<App>) -> Html<String> {
    Html(app.landing.to_string())
}

fn landing_page(telemetry_path: &str) -> String {
    let path = telemetry_path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    format!(
        "<!DOCTYPE html>\n<html><head><title>Docker Exporter</title></head><body>\n\
         <h1>Docker Exporter</h1>\n<p>Version {}</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li>\
         <li><a href=\"/-/healthy\">Health</a></li>\
         <li><a href=\"/-/ready\">Readiness</a></li></ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
