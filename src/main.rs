use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use product_categorizer::application;
use product_categorizer::cli::{predict, redrive};
use product_categorizer::config::{Cli, Command};
use product_categorizer::panics;
use product_categorizer::telemetry::logging;

/// glibc malloc/free took ~30% of the worker's CPU on the feature model
/// (docs/performance.md). jemalloc also replaces `malloc` for librdkafka and
/// ONNX Runtime: librdkafka frees each message on another thread than the one
/// that allocated it, which glibc handles slowly and mimalloc with more memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc keeps freed pages for 10 s before it gives them back, so a
/// drain's peak held every batch's garbage of the last 10 s: returned after
/// 250 ms, a drain's peak RSS is 3-5 MB lower for both models at the same rate
/// (docs/performance.md, round 7). Returning them at once (0 ms) cost 1.4x
/// the CPU. jemalloc reads this before `MALLOC_CONF`, which still overrides it.
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
static malloc_conf: &u8 = &b"dirty_decay_ms:250,muzzy_decay_ms:0\0"[0];

fn main() -> ExitCode {
    panics::install();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Predict(args)) => {
            let _telemetry = logging::init(cli.worker.log_format, "warn");
            application::categorizer(&args.model).and_then(|(_, c)| predict::run(&c, args.names, args.json))
        }
        Some(Command::Redrive(args)) => {
            let _telemetry = logging::init(cli.worker.log_format, "warn");
            tokio::runtime::Runtime::new().context("cannot start the async runtime").and_then(|runtime| {
                let result = runtime.block_on(async {
                    let shutdown = CancellationToken::new();
                    tokio::spawn(cancel_on_signal(shutdown.clone()));
                    redrive::run(*args, shutdown).await
                });
                runtime.shutdown_background();
                result
            })
        }
        None => {
            // ONNX Runtime narrates every graph optimisation at info.
            let _telemetry = logging::init(cli.worker.log_format, "info,ort=warn");
            let shutdown_timeout = Duration::from_secs(cli.worker.pipeline.shutdown_timeout_secs);
            tokio::runtime::Runtime::new().context("cannot start the async runtime").and_then(|runtime| {
                let result = runtime.block_on(async {
                    let shutdown = CancellationToken::new();
                    tokio::spawn(cancel_on_signal(shutdown.clone()));
                    tokio::spawn(exit_after(shutdown.clone(), shutdown_timeout));
                    application::run(cli.worker, shutdown).await
                });
                // A librdkafka close still blocked on a dead broker must not
                // hold the exit: the stop's budget is spent.
                runtime.shutdown_background();
                result
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT starts a graceful shutdown; a second one exits at once.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    for round in 0..2 {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        if round == 0 {
            tracing::info!("signal received: stopping");
            shutdown.cancel();
        } else {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    }
}

/// The hard bound on stopping: whatever the broker does, the process is gone
/// `timeout` after the shutdown began.
async fn exit_after(shutdown: CancellationToken, timeout: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(timeout).await;
    tracing::error!(?timeout, "shutdown took longer than SHUTDOWN_TIMEOUT_SECS: exiting now");
    eprintln!("error: shutdown took longer than {}s: exiting now", timeout.as_secs());
    std::process::exit(2);
}
