use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use product_categorizer::adapters::http;
use product_categorizer::adapters::kafka::{ensure_topics, Publisher, Worker, WorkerContext};
use product_categorizer::adapters::onnx::{load_model, ModelConfig, OnnxPredictor};
use product_categorizer::app::{Categorizer, Settings};
use product_categorizer::cli::predict;
use product_categorizer::config::{Cli, Command, WorkerConfig};
use product_categorizer::health::Health;
use product_categorizer::telemetry::{logging, Metrics};

/// Used when neither REVIEW_THRESHOLD nor the model sets one.
const DEFAULT_REVIEW_THRESHOLD: f32 = 0.6;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Predict(args)) => {
            let _telemetry = logging::init(cli.worker.log_format, "warn");
            categorizer(&args.model).and_then(|c| predict::run(&c, args.names, args.json))
        }
        None => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|runtime| runtime.block_on(run_worker(cli.worker))),
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

fn categorizer(config: &ModelConfig) -> anyhow::Result<Categorizer<OnnxPredictor>> {
    let (predictor, model) = load_model(&config.ort_dylib_path, &config.model_path, config.inference_threads.into())?;
    let review_threshold = config.review_threshold.or(model.review_threshold).unwrap_or(DEFAULT_REVIEW_THRESHOLD);
    tracing::info!(
        model = %model.name,
        version = %model.version,
        input = %model.input,
        categories = ?model.categories.iter().map(|c| &c.code).collect::<Vec<_>>(),
        review_threshold = format!("{review_threshold:.3}"),
        path = %config.model_path.display(),
        "model loaded"
    );
    let settings = Settings { review_threshold, max_text_chars: config.max_text_chars as usize };
    Ok(Categorizer::new(predictor, model, settings))
}

async fn run_worker(config: WorkerConfig) -> anyhow::Result<()> {
    // ONNX Runtime narrates every graph optimisation at info.
    let _telemetry = logging::init(config.log_format, "info,ort=warn");
    config.kafka.validate()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let metrics = Arc::new(Metrics::new().context("cannot register metrics")?);
    let health = Arc::new(Health::default());

    let serve_http = http::serve(config.http_addr, health.clone(), metrics.clone(), shutdown.child_token()).await?;
    let http_server = tokio::spawn(serve_http);

    let categorizer = categorizer(&config.model)?;
    metrics.set_model(categorizer.model());
    health.set_model_loaded();

    let kafka = &config.kafka;
    tracing::info!(
        brokers = %kafka.bootstrap_servers,
        group = %kafka.group_id,
        input = %kafka.input_topic,
        output = %kafka.output_topic,
        dlq = %kafka.dlq_topic,
        passthrough = ?kafka.passthrough_names(),
        "starting"
    );
    if kafka.create_topics {
        ensure_topics(kafka, &shutdown).await?;
    }
    if shutdown.is_cancelled() {
        return Ok(());
    }
    let context = || WorkerContext::new(metrics.clone(), health.clone(), kafka.input_topic.clone());
    let consumer = kafka.consumer(context())?;
    let producer = kafka.producer(context())?;
    let publisher = Publisher::new(
        producer,
        kafka.output_topic.clone(),
        kafka.dlq_topic.clone(),
        categorizer.model(),
        metrics.clone(),
    );
    let worker = Worker {
        consumer: Arc::new(consumer),
        publisher: Arc::new(publisher),
        categorizer: Arc::new(categorizer),
        metrics,
        input_topic: kafka.input_topic.clone(),
        group_id: kafka.group_id.clone(),
        config: config.batching.clone(),
    };
    let result = worker.run(shutdown.clone()).await;
    shutdown.cancel();
    let _ = http_server.await;
    if result.is_ok() {
        tracing::info!("stopped");
    }
    result
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
