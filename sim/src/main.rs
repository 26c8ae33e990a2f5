//! The `docker_sim` binary: flags, logging to stderr (`DOCKER_SIM_LOG`), the
//! listening line on stdout, and SIGTERM/SIGINT; the simulator is the library.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use docker_sim::Args;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

async fn run(args: Args) -> Result<(), String> {
    let bound = docker_sim::bind(&args)?;
    // Signal handlers are installed before we say we listen: a test may stop us at once.
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    println!("docker_sim listening on {}", args.socket.display());
    let _ = io::stdout().flush();
    let stopped = async {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "shutting down");
    };
    bound.serve(stopped).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCKER_SIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_env_filter(filter)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("docker_sim: {e}");
            ExitCode::FAILURE
        }
    }
}
