//! `--web.config.file`: TLS, basic auth and response headers in the
//! Prometheus exporter-toolkit's YAML format.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: ca.crt
//!   min_version: TLS12                              # or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$…                            # bcrypt hashes
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! ```
//!
//! Relative paths are relative to the file. A file that is broken at startup
//! stops the exporter with an [`Error`] naming the file and the field. The file
//! and the files it names are checked every [`RELOAD_CHECK`]; a change is
//! loaded (certificate rotation without a restart), and a broken change is
//! logged while the last good configuration stays in use.
//!
//! TLS is done by rustls (the ring provider) in the accept loop of
//! [`crate::server`]; basic auth and the headers are [`guard`], a layer on the
//! router. `/-/healthy` needs no password (as for the toolkit's probes: it says
//! nothing but "Healthy"), but is served over TLS like everything else.

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the file and the files it names are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A web configuration that cannot be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
#[error("--web.config.file={}: {field}: {reason}", file.display())]
pub struct Error {
    pub file: PathBuf,
    /// The field at fault (`tls_server_config.cert_file`, …), or `(file)`.
    pub field: String,
    pub reason: String,
}

/// The file as written (exporter-toolkit field names; unknown fields are errors).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    headers: Option<BTreeMap<String, String>>,
}

/// One loaded configuration.
#[derive(Debug, Default)]
pub struct Active {
    pub tls: Option<Arc<ServerConfig>>,
    users: Option<Users>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Users and their bcrypt hashes, and a hash that no password matches, of
/// the highest cost among them, checked for an unknown user so that a wrong
/// user takes as long as a wrong password.
#[derive(Debug)]
struct Users {
    hashes: HashMap<String, String>,
    decoy: String,
}

impl Users {
    fn verify(&self, user: &str, password: &str) -> bool {
        match self.hashes.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, &self.decoy);
                false
            }
        }
    }
}

/// The web configuration in use, and where it comes from.
#[derive(Debug)]
pub struct WebConfig {
    file: Option<PathBuf>,
    active: ArcSwap<Active>,
    /// bcrypt checks at once: a flood of bad passwords costs at most this many
    /// threads' CPU, and waits, instead of filling the blocking pool.
    checks: tokio::sync::Semaphore,
}

/// bcrypt checks running at once.
const CONCURRENT_CHECKS: usize = 2;

impl WebConfig {
    /// No file: plain HTTP, no auth.
    pub fn none() -> WebConfig {
        WebConfig {
            file: None,
            active: ArcSwap::from_pointee(Active::default()),
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    /// Loads `file`; an error names the file and the field.
    pub fn load(file: &Path) -> Result<WebConfig, Error> {
        let (active, _) = load(file)?;
        Ok(WebConfig {
            file: Some(file.to_path_buf()),
            active: ArcSwap::from_pointee(active),
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
        })
    }

    /// The configuration in use now.
    pub fn current(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Re-reads the file when it or a file it names changes, until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(file) = self.file.clone() else {
            return;
        };
        let check = {
            let file = file.clone();
            move || stamps(&file, &named_files(&file))
        };
        let mut seen = check();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RELOAD_CHECK) => {}
            }
            let (check, path, before) = (check.clone(), file.clone(), seen.clone());
            // File I/O (and, on a change, bcrypt and key parsing): off the workers.
            let checked = tokio::task::spawn_blocking(move || {
                let now = check();
                let changed = now != before;
                (now, changed.then(|| load(&path)))
            })
            .await;
            match checked {
                Ok((now, result)) => {
                    seen = now;
                    match result {
                        None => {}
                        Some(Ok((active, _))) => {
                            self.active.store(Arc::new(active));
                            tracing::info!(file = %file.display(), "web config reloaded");
                        }
                        Some(Err(e)) => {
                            tracing::error!(error = %e, "web config change not applied; keeping the last good one");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "checking the web config panicked"),
            }
        }
    }
}

/// Basic auth (when users are configured) and the configured headers, as a
/// layer on the router.
pub async fn guard(State(web): State<Arc<WebConfig>>, request: Request, next: Next) -> Response {
    let active = web.current();
    let mut response = match &active.users {
        Some(_) if request.uri().path() == "/-/healthy" => next.run(request).await,
        Some(_) => {
            let credentials = basic_credentials(request.headers());
            let a = active.clone();
            // bcrypt costs milliseconds of CPU: off the async workers, a few at a time.
            let _permit = web.checks.acquire().await;
            let ok = tokio::task::spawn_blocking(move || {
                credentials
                    .is_some_and(|(u, p)| a.users.as_ref().is_some_and(|us| us.verify(&u, &p)))
            })
            .await
            .unwrap_or(false);
            if ok {
                next.run(request).await
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"docker_exporter\""),
                    )],
                    "Unauthorized\n",
                )
                    .into_response()
            }
        }
        None => next.run(request).await,
    };
    for (name, value) in &active.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// `(user, password)` of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// What identifies a file's version: modification time, length, inode.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamps(file: &Path, named: &[PathBuf]) -> Vec<Stamp> {
    std::iter::once(file)
        .chain(named.iter().map(PathBuf::as_path))
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((
                m.modified().ok()?,
                m.len(),
                std::os::unix::fs::MetadataExt::ino(&m),
            ))
        })
        .collect()
}

/// The files a configuration file names (for change detection; a file that
/// does not parse names none). Parses only: no certificate or hash is built.
fn named_files(file: &Path) -> Vec<PathBuf> {
    let Ok(parsed) = parse(file) else {
        return Vec::new();
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    parsed
        .tls_server_config
        .map(|t| [t.cert_file, t.key_file, t.client_ca_file])
        .into_iter()
        .flatten()
        .flatten()
        .map(|p| dir.join(p))
        .collect()
}

fn error(file: &Path, field: &str, reason: String) -> Error {
    Error {
        file: file.to_path_buf(),
        field: field.to_string(),
        reason,
    }
}

/// Reads and parses the file (no validation beyond the YAML's shape).
fn parse(file: &Path) -> Result<File, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| error(file, "(file)", e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(File::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|e| {
        // serde_yaml names the path of the field in its message.
        let msg = e.to_string();
        let field = msg
            .split_once(": ")
            .filter(|(path, _)| !path.contains(' '))
            .map_or("(file)", |(path, _)| path)
            .to_string();
        error(file, &field, msg)
    })
}

fn load(file: &Path) -> Result<(Active, Vec<PathBuf>), Error> {
    let err = |field: &str, reason: String| error(file, field, reason);
    let parsed = parse(file)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| dir.join(p);
    let mut named = Vec::new();

    let tls = match parsed.tls_server_config {
        None => None,
        Some(t) => {
            let field = |f: &str| format!("tls_server_config.{f}");
            let cert_file = resolve(
                t.cert_file
                    .as_deref()
                    .ok_or_else(|| err(&field("cert_file"), "missing".into()))?,
            );
            let key_file = resolve(
                t.key_file
                    .as_deref()
                    .ok_or_else(|| err(&field("key_file"), "missing".into()))?,
            );
            named.push(cert_file.clone());
            named.push(key_file.clone());
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| err(&field("cert_file"), format!("{}: {e}", cert_file.display())))?;
            if certs.is_empty() {
                return Err(err(
                    &field("cert_file"),
                    format!("{}: no certificate in it", cert_file.display()),
                ));
            }
            let key = PrivateKeyDer::from_pem_file(&key_file)
                .map_err(|e| err(&field("key_file"), format!("{}: {e}", key_file.display())))?;
            // ring, not aws-lc-rs: a pure-Rust-and-asm build that links
            // statically into the scratch image without cmake. rustls marks it
            // deprecated only for lacking post-quantum key exchange.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let versions: &[&rustls::SupportedProtocolVersion] =
                match t.min_version.as_deref().unwrap_or("TLS12") {
                    "TLS12" => &[&rustls::version::TLS13, &rustls::version::TLS12],
                    "TLS13" => &[&rustls::version::TLS13],
                    other => {
                        return Err(err(
                            &field("min_version"),
                            format!("{other:?}: supported are TLS12 and TLS13"),
                        ))
                    }
                };
            let builder = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .map_err(|e| err(&field("min_version"), e.to_string()))?;
            let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
            let builder = match auth {
                "NoClientCert" => builder.with_no_client_auth(),
                "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
                    let ca_file = resolve(t.client_ca_file.as_deref().ok_or_else(|| {
                        err(
                            &field("client_ca_file"),
                            format!("missing, and client_auth_type {auth} needs it"),
                        )
                    })?);
                    named.push(ca_file.clone());
                    let mut roots = RootCertStore::empty();
                    let cas = CertificateDer::pem_file_iter(&ca_file)
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| {
                            err(&field("client_ca_file"), format!("{}: {e}", ca_file.display()))
                        })?;
                    for ca in cas {
                        roots.add(ca).map_err(|e| {
                            err(&field("client_ca_file"), format!("{}: {e}", ca_file.display()))
                        })?;
                    }
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                    let verifier = if auth == "VerifyClientCertIfGiven" {
                        verifier.allow_unauthenticated()
                    } else {
                        verifier
                    };
                    let verifier = verifier
                        .build()
                        .map_err(|e| err(&field("client_ca_file"), e.to_string()))?;
                    builder.with_client_cert_verifier(verifier)
                }
                other => {
                    return Err(err(
                        &field("client_auth_type"),
                        format!("{other:?}: supported are NoClientCert, VerifyClientCertIfGiven and RequireAndVerifyClientCert"),
                    ))
                }
            };
            let mut config = builder
                .with_single_cert(certs, key)
                .map_err(|e| err(&field("key_file"), format!("does not fit cert_file: {e}")))?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(Arc::new(config))
        }
    };

    let users = match parsed.basic_auth_users {
        None => None,
        Some(users) if users.is_empty() => None,
        Some(users) => {
            let mut highest = 4;
            for (user, hash) in &users {
                let field = format!("basic_auth_users.{user}");
                if user.contains(':') {
                    return Err(err(&field, "a user name cannot contain ':'".into()));
                }
                let cost = bcrypt_cost(hash)
                    .ok_or_else(|| err(&field, "not a bcrypt hash ($2a$, $2b$ or $2y$)".into()))?;
                highest = highest.max(cost);
            }
            let decoy = bcrypt::hash(b"\0not a password", highest)
                .map_err(|e| err("basic_auth_users", e.to_string()))?;
            Some(Users {
                hashes: users.into_iter().collect(),
                decoy,
            })
        }
    };

    let mut headers = Vec::new();
    for (name, value) in parsed
        .http_server_config
        .and_then(|h| h.headers)
        .unwrap_or_default()
    {
        let field = format!("http_server_config.headers.{name}");
        let n = HeaderName::try_from(name.as_str()).map_err(|e| err(&field, e.to_string()))?;
        let v = HeaderValue::try_from(value.as_str()).map_err(|e| err(&field, e.to_string()))?;
        headers.push((n, v));
    }
    Ok((
        Active {
            tls,
            users,
            headers,
        },
        named,
    ))
}

/// The cost of a bcrypt hash (`$2y$10$…` → 10), if it is one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    let (empty, variant, cost, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let ok = empty.is_empty()
        && matches!(variant, "2a" | "2b" | "2y" | "2x")
        && cost.len() == 2
        && rest.len() == 53;
    ok.then(|| cost.parse().ok())
        .flatten()
        .filter(|c| (4..=31).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load_err(text: &str) -> Error {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "web.yml", text);
        WebConfig::load(&f).unwrap_err()
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        for (text, field) in [
            (
                "tls_server_config:\n  key_file: k\n",
                "tls_server_config.cert_file",
            ),
            (
                "tls_server_config:\n  cert_file: nope.crt\n  key_file: k\n",
                "tls_server_config.cert_file",
            ),
            ("tls_server_config:\n  cert_fil: x\n", "tls_server_config"),
            (
                "basic_auth_users:\n  alice: plaintext\n",
                "basic_auth_users.alice",
            ),
            (
                "http_server_config:\n  headers:\n    \"Bad Header\": x\n",
                "http_server_config.headers.Bad Header",
            ),
        ] {
            let e = load_err(text);
            assert_eq!(e.field, field, "{text:?}: {e}");
            let shown = e.to_string();
            assert!(
                shown.contains("web.yml") && shown.contains(field),
                "{shown}"
            );
        }
    }

    #[test]
    fn users_verify_by_bcrypt_and_unknown_users_fail() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let f = write(
            dir.path(),
            "web.yml",
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
        );
        let web = WebConfig::load(&f).unwrap();
        let users = web.current();
        let users = users.users.as_ref().unwrap();
        assert!(users.verify("alice", "s3cret"));
        assert!(!users.verify("alice", "wrong"));
        assert!(!users.verify("bob", "s3cret"));
        assert_eq!(bcrypt_cost(&hash), Some(4));
        assert_eq!(bcrypt_cost(&users.decoy), Some(4));
    }

    #[test]
    fn a_wrong_user_takes_as_long_as_a_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 8).unwrap();
        let f = write(
            dir.path(),
            "web.yml",
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
        );
        let web = WebConfig::load(&f).unwrap();
        let active = web.current();
        let users = active.users.as_ref().unwrap();
        // The fastest of several tries, the two kinds interleaved so that a
        // busy machine slows both alike. Without the decoy check a wrong user
        // costs microseconds against tens of milliseconds: the bounds are wide
        // on purpose.
        let time = |user: &str| {
            let t = std::time::Instant::now();
            assert!(!users.verify(user, "wrong"));
            t.elapsed()
        };
        let (mut wrong_password, mut wrong_user) = (Duration::MAX, Duration::MAX);
        for _ in 0..7 {
            wrong_password = wrong_password.min(time("alice"));
            wrong_user = wrong_user.min(time("mallory"));
        }
        let ratio = wrong_user.as_secs_f64() / wrong_password.as_secs_f64();
        assert!(
            (0.25..4.0).contains(&ratio),
            "wrong user {wrong_user:?}, wrong password {wrong_password:?}"
        );
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6czNjOnJldA=="),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("alice".into(), "s3c:ret".into()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h), None);
    }
}
