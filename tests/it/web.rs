//! `--web.config.file` end to end: TLS (with the CA, plain HTTP refused, an
//! expired or unknown certificate reported by the client), mutual TLS, a
//! certificate rotated on disk served without a restart, a broken change kept
//! out, basic auth and headers, a broken file at startup, and several
//! `--web.listen-address`. Certificates are made here, at test time (rcgen).

use crate::support::*;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A certificate authority made for one test.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            cert: p.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A leaf certificate and key (PEM) named `cn`, for a server on
    /// 127.0.0.1/localhost or for a client.
    fn issue(&self, cn: &str, client: bool, expired: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans = if client {
            vec![]
        } else {
            vec!["127.0.0.1".to_string(), "localhost".to_string()]
        };
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files of one test in a temp dir.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.path().join(name);
        // Written aside and renamed in: a reader never sees half a file.
        let tmp = self.0.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        p.to_str().unwrap().to_string()
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// Server certificate `cn` of `ca` into server.crt/server.key, and a web
/// config with `tls_extra` lines under tls_server_config and `rest` after it.
fn tls_config(files: &Files, ca: &Ca, cn: &str, tls_extra: &str, rest: &str) -> String {
    let (cert, key) = ca.issue(cn, false, false);
    files.write("server.crt", &cert);
    files.write("server.key", &key);
    files.write("ca.crt", &ca.cert.pem());
    files.write(
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls_extra}{rest}"),
    )
}

async fn exporter_with(sim: &Sim, web: &str) -> Exporter {
    Exporter::start(&[&sim.host(), &format!("--web.config.file={web}")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_ca_succeeds_and_plain_http_or_unknown_certificates_fail() {
    if !tool_available("tls_with_the_ca_succeeds", "curl") {
        return;
    }
    let sim = fixtures_sim();
    let files = Files::new();
    let ca = Ca::new("test CA");
    let web = tls_config(
        &files,
        &ca,
        "exporter",
        "  min_version: TLS12\n",
        "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n",
    );
    let exporter = exporter_with(&sim, &web).await;
    let https = format!("https://{}/metrics", exporter.addr);
    let cacert = files.path("ca.crt");
    let cacert = cacert.to_str().unwrap();

    let ok = curl(&["-i", "--cacert", cacert], &https);
    assert_eq!((ok.exit, ok.status.as_str()), (0, "200"), "{}", ok.stderr);
    assert!(ok.stdout.contains("docker_exporter_build_info"));
    assert!(
        ok.stdout
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "configured header missing: {}",
        &ok.stdout[..ok.stdout.len().min(400)]
    );

    // Plain HTTP to the TLS port: no HTTP answer.
    let plain = curl(&[], &format!("http://{}/metrics", exporter.addr));
    assert_ne!(plain.exit, 0, "plain HTTP was answered: {}", plain.status);
    assert_eq!(plain.status, "000");

    // A client that does not trust the issuer reports the certificate.
    let stranger = Ca::new("another CA");
    let other_ca = files.write("other-ca.crt", &stranger.cert.pem());
    let wrong = curl(&["--cacert", &other_ca], &https);
    assert_eq!(
        wrong.exit, 60,
        "unknown issuer not reported: {}",
        wrong.stderr
    );
    let no_ca = curl(&[], &https);
    assert_eq!(no_ca.exit, 60, "{}", no_ca.stderr);
    exporter.stop().await;

    // An expired server certificate is reported as such.
    let (cert, key) = ca.issue("expired", false, true);
    files.write("server.crt", &cert);
    files.write("server.key", &key);
    let exporter = exporter_with(&sim, &web).await;
    let expired = curl(
        &["--cacert", cacert],
        &format!("https://{}/metrics", exporter.addr),
    );
    assert_eq!(expired.exit, 60, "{}", expired.stderr);
    assert!(
        expired.stderr.contains("expired"),
        "not reported as expired: {}",
        expired.stderr
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_of_the_ca() {
    if !tool_available("mutual_tls_requires_a_client_certificate_of_the_ca", "curl") {
        return;
    }
    let sim = fixtures_sim();
    let files = Files::new();
    let ca = Ca::new("test CA");
    let (client_cert, client_key) = ca.issue("prometheus", true, false);
    let client_cert = files.write("client.crt", &client_cert);
    let client_key = files.write("client.key", &client_key);
    let stranger = Ca::new("another CA");
    let (bad_cert, bad_key) = stranger.issue("intruder", true, false);
    let bad_cert = files.write("bad.crt", &bad_cert);
    let bad_key = files.write("bad.key", &bad_key);
    let cacert = files.path("ca.crt").to_str().unwrap().to_string();

    for (auth, anonymous_ok) in [
        ("RequireAndVerifyClientCert", false),
        ("VerifyClientCertIfGiven", true),
    ] {
        let web = tls_config(
            &files,
            &ca,
            "exporter",
            &format!("  client_auth_type: {auth}\n  client_ca_file: ca.crt\n"),
            "",
        );
        let exporter = exporter_with(&sim, &web).await;
        let url = format!("https://{}/metrics", exporter.addr);
        let with = curl(
            &[
                "--cacert",
                &cacert,
                "--cert",
                &client_cert,
                "--key",
                &client_key,
            ],
            &url,
        );
        assert_eq!(
            (with.exit, with.status.as_str()),
            (0, "200"),
            "{auth}: {}",
            with.stderr
        );
        let without = curl(&["--cacert", &cacert], &url);
        assert_eq!(
            without.status == "200",
            anonymous_ok,
            "{auth} without a client certificate: {} {}",
            without.status,
            without.stderr
        );
        let foreign = curl(
            &["--cacert", &cacert, "--cert", &bad_cert, "--key", &bad_key],
            &url,
        );
        assert_ne!(
            foreign.status, "200",
            "{auth}: a client certificate of another CA was accepted"
        );
        exporter.stop().await;
    }
}

/// The server certificate's subject as curl shows it.
fn served_subject(cacert: &str, url: &str) -> Option<String> {
    let c = curl(&["-v", "-o", "/dev/null", "--cacert", cacert], url);
    (c.status == "200").then_some(())?;
    c.stderr
        .lines()
        .find_map(|l| l.trim_start_matches(['*', ' ']).strip_prefix("subject: "))
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
    if !tool_available("a_rotated_certificate_is_served_without_a_restart", "curl") {
        return;
    }
    let sim = fixtures_sim();
    let files = Files::new();
    let ca = Ca::new("test CA");
    let web = tls_config(&files, &ca, "first", "", "");
    let exporter = exporter_with(&sim, &web).await;
    let url = format!("https://{}/-/healthy", exporter.addr);
    let cacert = files.path("ca.crt").to_str().unwrap().to_string();
    assert_eq!(served_subject(&cacert, &url).as_deref(), Some("CN=first"));

    let (cert, key) = ca.issue("second", false, false);
    files.write("server.key", &key);
    files.write("server.crt", &cert);
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_subject(&cacert, &url).as_deref() != Some("CN=second") {
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken change (a certificate that is not PEM) is not applied: the last
    // good one stays in use.
    files.write("server.crt", "not a certificate\n");
    tokio::time::sleep(web_config_settle()).await;
    assert_eq!(served_subject(&cacert, &url).as_deref(), Some("CN=second"));
    exporter.stop().await;
}

/// Long enough for the exporter to have looked at a change twice.
fn web_config_settle() -> Duration {
    docker_exporter::web_config::RELOAD_CHECK * 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_wrong_and_missing() {
    let sim = fixtures_sim();
    let files = Files::new();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = files.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"),
    );
    let exporter = exporter_with(&sim, &web).await;
    let auth = |user: &str, password: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    };
    let right = exporter
        .get(
            "/metrics",
            &[("authorization", &auth("prometheus", "s3cret"))],
        )
        .await;
    assert_eq!(right.status, 200);
    assert!(right.text().contains("docker_exporter_build_info"));
    assert_eq!(right.header("x-content-type-options"), Some("nosniff"));
    for (what, headers) in [
        (
            "wrong password",
            vec![("authorization", auth("prometheus", "guess"))],
        ),
        (
            "unknown user",
            vec![("authorization", auth("root", "s3cret"))],
        ),
        ("no credentials", vec![]),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = exporter.get("/metrics", &headers).await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"docker_exporter\""),
            "{what}"
        );
        assert!(!r.text().contains("docker_"), "{what}: metrics leaked");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // Probes need no password; everything else does.
    assert_eq!(exporter.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(exporter.get("/-/ready", &[]).await.status, 401);
    assert_eq!(exporter.get("/", &[]).await.status, 401);

    // A new user list is picked up without a restart.
    let hash2 = bcrypt::hash("n3w", 4).unwrap();
    files.write(
        "web.yml",
        &format!("basic_auth_users:\n  other: '{hash2}'\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while exporter
        .get("/metrics", &[("authorization", &auth("other", "n3w"))])
        .await
        .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "the new user list was not loaded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    exporter.stop().await;
}

fn run_binary(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_broken_web_config_stops_startup_naming_the_file_and_the_field() {
    let files = Files::new();
    let (cert, key) = Ca::new("test CA").issue("exporter", false, false);
    files.write("server.crt", &cert);
    files.write("server.key", &key);
    for (name, text, field) in [
        (
            "missing-cert.yml",
            "tls_server_config:\n  cert_file: nowhere.crt\n  key_file: nowhere.key\n",
            "tls_server_config.cert_file",
        ),
        (
            "bad-auth-type.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n",
            "tls_server_config.client_auth_type",
        ),
        (
            "no-client-ca.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
            "tls_server_config.client_ca_file",
        ),
        (
            "plain-password.yml",
            "basic_auth_users:\n  alice: hunter2\n",
            "basic_auth_users.alice",
        ),
        ("typo.yml", "basic_auth_user:\n  alice: x\n", "basic_auth_user"),
    ] {
        let file = files.write(name, text);
        let out = run_binary(&[
            "--web.listen-address=127.0.0.1:0",
            "--docker.host=unix:///nonexistent.sock",
            &format!("--web.config.file={file}"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: started anyway");
        assert!(
            err.contains(name) && err.contains(field),
            "{name}: the message does not name the file and {field}: {err}"
        );
    }
}

#[test]
fn several_listen_addresses_are_served() {
    let sim = fixtures_sim();
    let ports = [free_port(), free_port()];
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker_exporter"))
        .arg(sim.host())
        .arg(format!("--web.listen-address=127.0.0.1:{}", ports[0]))
        .arg(format!("--web.listen-address=127.0.0.1:{}", ports[1]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut child);
    for port in ports {
        wait_until(Duration::from_secs(10), "both addresses answer", || {
            curl(&[], &format!("http://127.0.0.1:{port}/-/healthy")).status == "200"
        });
    }
}

/// The TLS + basic auth files of the real-Prometheus test (prometheus.rs).
pub struct SecuredExporter {
    pub exporter: Exporter,
    pub ca_file: PathBuf,
    pub password: &'static str,
    _files: Files,
}

/// An exporter serving TLS (a test CA) with basic auth user `prometheus`.
pub async fn secured_exporter(args: &[&str]) -> SecuredExporter {
    let files = Files::new();
    let ca = Ca::new("test CA");
    let password = "scrape-s3cret";
    let hash = bcrypt::hash(password, 4).unwrap();
    let web = tls_config(
        &files,
        &ca,
        "exporter",
        "",
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    let mut all = vec![format!("--web.config.file={web}")];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    SecuredExporter {
        exporter: Exporter::start(&all).await,
        ca_file: files.path("ca.crt"),
        password,
        _files: files,
    }
}
