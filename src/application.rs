//! The worker assembled from its parts: what `main.rs` runs, and what tests
//! and benchmarks can build the same way.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::Producer;
use tokio_util::sync::CancellationToken;

use crate::adapters::http;
use crate::adapters::kafka::{
    ensure_topics, message_limits, KafkaConfig, KafkaShadowPublisher, KafkaSink, KafkaSource, SecurityAlarm,
    Transactions, WorkerContext,
};
use crate::adapters::onnx::{ModelConfig, OnnxPredictor, OnnxRuntime};
use crate::app::{spawn_shadow, AtLeastOnce, Categorizer, ExactlyOnce, Pipeline, Reader, Settings, ShadowTap};
use crate::config::WorkerConfig;
use crate::domain::ModelInfo;
use crate::health::Health;
use crate::ports::ShadowPublisher;
use crate::reload::ModelReloader;
use crate::telemetry::Metrics;

/// Used when neither REVIEW_THRESHOLD nor the model sets one.
const DEFAULT_REVIEW_THRESHOLD: f32 = 0.6;
/// The producer's `message.max.bytes` when the configuration gives none
/// (`PRODUCER_DEFAULTS` always does): the broker's default record-batch limit.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_048_588;
/// Exactly-once: how long one transactional call may block before it is
/// retried (a few times) or given up.
const TRANSACTION_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads the model at `path` and checks its contract; the settings that go
/// with it (its review threshold unless REVIEW_THRESHOLD overrides it).
pub fn load_scorer(
    runtime: &OnnxRuntime,
    config: &ModelConfig,
    path: &Path,
) -> anyhow::Result<(OnnxPredictor, ModelInfo, Settings)> {
    let (predictor, mut model) = runtime.load_model(path, config.inference_threads.into())?;
    let review_threshold = config.review_threshold.or(model.review_threshold).unwrap_or(DEFAULT_REVIEW_THRESHOLD);
    if model.review_threshold != Some(review_threshold) {
        // The held-out flagged ratio was measured at the model's threshold;
        // at another one it is no baseline.
        model.heldout_flagged_ratio = None;
    }
    tracing::info!(
        model = %model.name,
        version = %model.version,
        input = %model.input,
        categories = ?model.categories.iter().map(|c| &c.code).collect::<Vec<_>>(),
        review_threshold = format!("{review_threshold:.3}"),
        path = %path.display(),
        "model loaded"
    );
    let settings = Settings { review_threshold, max_text_chars: config.max_text_chars as usize };
    Ok((predictor, model, settings))
}

/// Loads ONNX Runtime and the model at MODEL_PATH.
pub fn categorizer(config: &ModelConfig) -> anyhow::Result<(OnnxRuntime, Categorizer)> {
    let runtime = OnnxRuntime::load(&config.ort_dylib_path)?;
    let (predictor, model, settings) = load_scorer(&runtime, config, &config.model_path)?;
    Ok((runtime, Categorizer::new(predictor, model, settings).with_max_product_id_bytes(max_product_id_bytes(config))))
}

fn max_product_id_bytes(config: &ModelConfig) -> usize {
    config.product_id_max_bytes as usize
}

/// The shadow model's thread, when SHADOW_MODEL_PATH is set.
fn shadow(
    runtime: &OnnxRuntime,
    config: &WorkerConfig,
    reader: &Reader,
    metrics: &Arc<Metrics>,
    context: impl FnOnce() -> WorkerContext,
) -> anyhow::Result<Option<ShadowTap>> {
    let Some(path) = &config.shadow.shadow_model_path else { return Ok(None) };
    let (predictor, model, settings) = load_scorer(runtime, &config.model, path).context("the shadow model")?;
    reader.check(model.input).context("the shadow model")?;
    metrics.set_shadow_model(&model);
    let publisher: Option<Box<dyn ShadowPublisher>> = match &config.shadow.shadow_topic {
        Some(topic) => {
            Some(Box::new(KafkaShadowPublisher::new(config.kafka.plain_producer(context())?, topic.clone())))
        }
        None => None,
    };
    tracing::info!(shadow = %model.name, version = %model.version, topic = ?config.shadow.shadow_topic, "shadow model scores every record too");
    let shadow = Categorizer::new(predictor, model, settings)
        .with_max_product_id_bytes(max_product_id_bytes(&config.model))
        .with_reader(reader.clone());
    let tap = spawn_shadow(shadow, publisher, metrics.clone()).context("cannot start the shadow model's thread")?;
    Ok(Some(tap))
}

/// The producer's `message.max.bytes`.
fn max_message_bytes(kafka: &KafkaConfig) -> usize {
    kafka
        .producer_config()
        .get("message.max.bytes")
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
}

/// Runs the worker until `shutdown` (or a fatal error), then stops within
/// `SHUTDOWN_TIMEOUT_SECS`.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.kafka.validate()?;
    let metrics = Arc::new(Metrics::new().context("cannot register metrics")?);
    let health = Arc::new(Health::default());
    let serve_http = http::serve(config.http_addr, health.clone(), metrics.clone(), shutdown.child_token()).await?;
    let http_server = tokio::spawn(serve_http);

    // Installed before anything is loaded: SIGHUP's default action ends the process.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    // The input settings are checked before anything is loaded, and against
    // the model as soon as it is.
    let reader = Reader::new(&config.input)?;
    let carried_headers = config.input.carried_headers()?;
    let (runtime, categorizer) = categorizer(&config.model)?;
    reader.check(categorizer.model().input)?;
    tracing::info!(input = %reader, carried_headers = ?carried_headers, "input format");
    let categorizer = categorizer.with_reader(reader.clone());
    metrics.set_model(&categorizer.model());

    let kafka = &config.kafka;
    tracing::info!(
        brokers = %kafka.bootstrap_servers,
        group = %kafka.group_id,
        input = %kafka.input_topic,
        output = %kafka.output_topic,
        dlq = %kafka.dlq_topic,
        passthrough = ?kafka.passthrough_names(),
        guarantee = ?kafka.delivery_guarantee,
        transactional_id = kafka.exactly_once().then(|| kafka.transactional_id()),
        "starting"
    );
    // Clients first: librdkafka's own checks of the settings fail now, not
    // after waiting for the broker.
    let security = Arc::new(SecurityAlarm::default());
    let context = || WorkerContext::new(metrics.clone(), kafka.input_topic.clone(), security.clone());
    let consumer = kafka.consumer(context())?;
    let producer = kafka.producer(context(), None)?;
    let categorizer = Arc::new(match shadow(&runtime, &config, &reader, &metrics, context)? {
        Some(tap) => categorizer.with_shadow(tap),
        None => categorizer,
    });
    health.set_model_loaded();
    let reloader = ModelReloader {
        runtime,
        config: config.model.clone(),
        watch_interval: Duration::from_millis(config.model_watch_interval_ms),
        categorizer: categorizer.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(reloader.run(hangup, shutdown.child_token()));
    ensure_topics(kafka, config.shadow.shadow_topic.as_slice(), &security, &shutdown).await?;
    if shutdown.is_cancelled() {
        return Ok(());
    }
    let limits = message_limits(kafka, &[&kafka.output_topic, &kafka.dlq_topic]).await;
    // A topic that accepts less than the producer's batches would refuse a
    // whole batch for its size, its small records with it.
    let producer = match limits.values().min() {
        Some(&limit) if limit < max_message_bytes(kafka) => kafka.producer(context(), Some(limit))?,
        _ => producer,
    };
    // The stop's budget: 60% to finish outputs (the pipeline), 20% (at most
    // 5 s) to commit, 15% to leave the group; `main` exits at 100%.
    let shutdown_timeout = Duration::from_secs(config.pipeline.shutdown_timeout_secs);
    let commit_timeout = shutdown_timeout.mul_f64(0.2).min(Duration::from_secs(5));
    let source = KafkaSource::new(consumer, kafka.input_topic.clone(), kafka.group_id.clone(), commit_timeout)?;
    let sink = KafkaSink::new(
        producer,
        kafka.output_topic.clone(),
        kafka.dlq_topic.clone(),
        max_message_bytes(kafka),
        metrics.clone(),
    )
    .with_topic_limits(limits)
    .with_carried_headers(carried_headers);
    let producer = sink.producer().clone();
    let pipeline = config.pipeline.clone();
    let (source, result) = if kafka.exactly_once() {
        let group_metadata = source.group_metadata();
        let transactions = Transactions::new(
            kafka.input_topic.clone(),
            group_metadata,
            TRANSACTION_CALL_TIMEOUT,
            kafka.transaction_timeout(),
        );
        let sink = sink.with_transactions(transactions);
        sink.init_transactions(&shutdown).await?;
        if !pipeline.overlaps_transactions() {
            tracing::warn!(
                max_in_flight = pipeline.max_in_flight,
                txn_max_records = pipeline.txn_max_records,
                "MAX_IN_FLIGHT is below twice TXN_MAX_RECORDS: the worker stops taking records at each commit \
                 (about half the throughput); raise MAX_IN_FLIGHT or lower TXN_MAX_RECORDS"
            );
        }
        let strategy = ExactlyOnce::new(&pipeline);
        Pipeline::new(source, sink, strategy, categorizer, metrics, health, pipeline)
            .context("cannot start the model's thread")?
            .run(shutdown.clone())
            .await
    } else {
        Pipeline::new(source, sink, AtLeastOnce, categorizer, metrics, health, pipeline)
            .context("cannot start the model's thread")?
            .run(shutdown.clone())
            .await
    };
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
