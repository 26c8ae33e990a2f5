//! The `docker_exporter` binary: parse flags, set up logging, run until a signal.

use anyhow::Context;
use docker_exporter::config::{Config, LogFormat, LogLevel};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let config = Config::from_args();
    init_logging(&config);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let mut listeners = Vec::with_capacity(config.listen_address.len());
    for address in &config.listen_address {
        let listener = docker_exporter::server::bind(*address)
            .with_context(|| format!("listening on --web.listen-address={address}"))?;
        tracing::info!(
            address = %listener.local_addr()?,
            path = %config.telemetry_path,
            docker_host = %config.docker_host,
            interval = ?config.collect_interval,
            "serving metrics"
        );
        listeners.push(listener);
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    docker_exporter::run(config, listeners, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The first SIGTERM or SIGINT starts a graceful shutdown; a second one ends
/// the process at once (exit code 1).
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!(
            "cannot install the SIGTERM/SIGINT handlers; signals stop the process at once"
        );
        return;
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(
        signal = name,
        "shutting down: in-flight requests finish, then the process exits"
    );
    shutdown.cancel();
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::warn!(signal = name, "second signal: exiting at once");
    std::process::exit(1);
}

/// jemalloc rather than glibc's malloc. Containers come and go for months,
/// and every snapshot replaces megabytes of bodies: glibc keeps the pages of
/// a burst pinned by the few objects that outlive it (10,000 containers
/// replaced left RSS +51 % above its level before, with the live heap back
/// where it was, even with a periodic `malloc_trim`), while jemalloc's size
/// classes and returned pages bring it back within 10 %.
/// Measured side by side in BENCHMARKS.md ("Churn and soak").
///
/// jemalloc keeps freed pages for reuse for `dirty_decay_ms` (10 s by
/// default), and returns them only when some thread allocates again: the
/// blocks of a body re-encoded every cycle kept RSS 13-16 % above its level
/// before a churn with a 1 s decay, 9 % with none. Returning them at once
/// costs page faults: 8 % more exporter CPU at a thousand containers.
/// (`_RJEM_MALLOC_CONF` in the environment overrides these options.)
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read from this symbol when it starts.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: ConfString = ConfString(c"dirty_decay_ms:0,muzzy_decay_ms:0".as_ptr());

/// A C string pointer, as jemalloc's `malloc_conf` is declared.
#[repr(transparent)]
struct ConfString(*const std::ffi::c_char);
// SAFETY: it points at an immutable static byte string.
unsafe impl Sync for ConfString {}

fn init_logging(config: &Config) {
    let level = match config.log_level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        // Its report of a failed write goes to stderr with eprintln!, which
        // panics when stderr is gone (a closed pipe): lose the line instead.
        .log_internal_errors(false);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.init(),
    }
}
