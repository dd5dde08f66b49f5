//! The worker assembled from its parts: what `main.rs` runs, and what tests
//! and benchmarks can build the same way.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::Producer;
use tokio_util::sync::CancellationToken;

use crate::adapters::http;
use crate::adapters::kafka::{ensure_topics, KafkaSink, KafkaSource, WorkerContext};
use crate::adapters::onnx::{load_model, ModelConfig, OnnxPredictor};
use crate::app::{Categorizer, Pipeline, Settings};
use crate::config::WorkerConfig;
use crate::health::Health;
use crate::telemetry::Metrics;

/// Used when neither REVIEW_THRESHOLD nor the model sets one.
const DEFAULT_REVIEW_THRESHOLD: f32 = 0.6;
/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Loads the model and checks its contract.
pub fn categorizer(config: &ModelConfig) -> anyhow::Result<Categorizer<OnnxPredictor>> {
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

/// Runs the worker until `shutdown` (or a fatal error), then stops within
/// `SHUTDOWN_TIMEOUT_SECS`.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.kafka.validate()?;
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
    // Clients first: librdkafka's own checks of the settings fail now, not
    // after waiting for the broker.
    let context = || WorkerContext::new(metrics.clone(), kafka.input_topic.clone());
    let consumer = kafka.consumer(context())?;
    let producer = kafka.producer(context())?;
    if kafka.create_topics {
        ensure_topics(kafka, &shutdown).await?;
    }
    if shutdown.is_cancelled() {
        return Ok(());
    }
    // The stop's budget: 60% to finish outputs (the pipeline), 20% (at most
    // 5 s) to commit, 15% to leave the group; `main` exits at 100%.
    let shutdown_timeout = Duration::from_secs(config.pipeline.shutdown_timeout_secs);
    let commit_timeout = shutdown_timeout.mul_f64(0.2).min(Duration::from_secs(5));
    let source = KafkaSource::new(consumer, kafka.input_topic.clone(), kafka.group_id.clone(), commit_timeout)?;
    let max_message_bytes = kafka
        .producer_config()
        .get("message.max.bytes")
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
    let sink = KafkaSink::new(
        producer,
        kafka.output_topic.clone(),
        kafka.dlq_topic.clone(),
        max_message_bytes,
        metrics.clone(),
    );
    let producer = sink.producer().clone();
    let pipeline = Pipeline::new(source, sink, Arc::new(categorizer), metrics, health, config.pipeline.clone());
    let (source, result) = pipeline.run(shutdown.clone()).await;
    shutdown.cancel();
    // Whatever is left in the producer's queue is given up: its records were
    // not committed and are read again after the restart.
    source.close(shutdown_timeout.mul_f64(0.15)).await;
    tokio::task::spawn_blocking(move || {
        producer.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        drop(producer);
    });
    let _ = http_server.await;
    result.context("the pipeline stopped")?;
    tracing::info!("stopped: every output acknowledged and every position committed");
    Ok(())
}
