//! The Prometheus registry and every metric the worker exports.

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, linear_buckets, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::{ModelInfo, RejectReason, SkipReason};

const NAMESPACE: &str = "categorizer";

/// `worker_faults_total` kinds: a batch held because the model fails on
/// everything; a model call past its deadline; a transaction commit whose
/// outcome is unknown (committed again); outputs withdrawn on revoke; the
/// worker stopping on a fatal error.
pub const FAULT_KINDS: [&str; 5] =
    ["model_unavailable", "model_stalled", "commit_pending", "outputs_withdrawn", "fatal"];

pub struct Metrics {
    registry: Registry,
    pub consumed: IntCounterVec,
    pub categorized: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub skipped: IntCounterVec,
    pub batch_size: Histogram,
    pub inference_duration: Histogram,
    pub end_to_end_latency: Histogram,
    pub confidence: Histogram,
    pub consumer_lag: IntGaugeVec,
    pub consumer_lag_seconds: GaugeVec,
    pub assigned_partitions: IntGauge,
    pub ready: IntGauge,
    pub model_info: IntGaugeVec,
    pub heldout_flagged_ratio: GaugeVec,
    pub kafka_errors: IntCounterVec,
    pub publish_retries: IntCounter,
    /// The worker's own error states, by kind ([`FAULT_KINDS`]).
    pub faults: IntCounterVec,
    pub transactions: IntCounterVec,
    pub transaction_duration: Histogram,
    pub model_reloads: IntCounterVec,
    pub model_reload_refused: IntGauge,
    pub shadow_model_info: IntGaugeVec,
    pub shadow_compared: IntCounter,
    pub shadow_agreed: IntCounter,
    pub shadow_agreement: Gauge,
    pub shadow_disagreements: IntCounterVec,
    pub shadow_skipped: IntCounterVec,
    /// The names of the worker's own metrics (`categorizer_*`), in registration order.
    names: Vec<String>,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        // The prefix goes on each metric, not the registry, so process_* keep their standard names.
        let registry = Registry::new();
        // Every name registered, for docs/operations.md's check (tests/docs.rs).
        let names = std::cell::RefCell::new(Vec::new());
        let opts = |name: &str, help: &str| Opts::new(name, help).namespace(NAMESPACE);
        let buckets = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).namespace(NAMESPACE).buckets(buckets))
        };
        let mut metrics = Metrics {
            consumed: register(
                &registry,
                &names,
                IntCounterVec::new(opts("records_consumed_total", "Records consumed from the input topic."), &["topic"])?,
            )?,
            categorized: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts(
                        "records_categorized_total",
                        "Records categorized and published, by category and needs_review flag.",
                    ),
                    &["category", "needs_review"],
                )?,
            )?,
            dead_lettered: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts("records_dead_lettered_total", "Records published to the dead-letter topic, by reason."),
                    &["reason"],
                )?,
            )?,
            skipped: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts(
                        "records_skipped_total",
                        "Records consumed with nothing to categorize (tombstones, deleted rows, unchanged updates), by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            batch_size: register(
                &registry,
                &names,
                buckets("batch_size", "Records per inference batch.", exponential_buckets(1.0, 2.0, 11)?)?,
            )?,
            inference_duration: register(
                &registry,
                &names,
                buckets(
                    "inference_duration_seconds",
                    "Time the model takes for one batch (reading the records and building the results are not in it).",
                    exponential_buckets(0.0001, 2.0, 16)?,
                )?,
            )?,
            end_to_end_latency: register(
                &registry,
                &names,
                buckets(
                    "end_to_end_latency_seconds",
                    "From the input record's timestamp to its output acknowledged by the broker.",
                    exponential_buckets(0.001, 2.0, 18)?,
                )?,
            )?,
            confidence: register(
                &registry,
                &names,
                buckets("prediction_confidence", "Probability of the chosen category.", linear_buckets(0.1, 0.1, 10)?)?,
            )?,
            consumer_lag: register(
                &registry,
                &names,
                IntGaugeVec::new(
                    opts("consumer_lag", "Records in the partition not yet committed by this group (librdkafka statistics)."),
                    &["topic", "partition"],
                )?,
            )?,
            consumer_lag_seconds: register(
                &registry,
                &names,
                GaugeVec::new(
                    opts(
                        "consumer_lag_seconds",
                        "While a partition has lag: age of the newest record the worker has taken from it; 0 when caught up.",
                    ),
                    &["topic", "partition"],
                )?,
            )?,
            assigned_partitions: register(
                &registry,
                &names,
                IntGauge::with_opts(opts("assigned_partitions", "Input partitions assigned to this instance."))?,
            )?,
            ready: register(
                &registry,
                &names,
                IntGauge::with_opts(opts("ready", "1 when the model is loaded and the consumer has joined its group."))?,
            )?,
            model_info: register(
                &registry,
                &names,
                IntGaugeVec::new(
                    opts("model_info", "The loaded model (value is always 1)."),
                    &["name", "version", "input_kind"],
                )?,
            )?,
            heldout_flagged_ratio: register(
                &registry,
                &names,
                GaugeVec::new(
                    opts(
                        "model_heldout_flagged_ratio",
                        "The share of results the loaded model flagged needs_review on its held-out data \
                         (model metadata heldout_flagged_ratio), at the threshold in effect; absent when unknown.",
                    ),
                    &["version"],
                )?,
            )?,
            kafka_errors: register(
                &registry,
                &names,
                IntCounterVec::new(opts("kafka_errors_total", "Errors reported by the Kafka client, by kind."), &["kind"])?,
            )?,
            faults: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts("worker_faults_total", "Times the worker entered an error state of its own, by kind."),
                    &["kind"],
                )?,
            )?,
            publish_retries: register(
                &registry,
                &names,
                IntCounter::with_opts(opts(
                    "publish_retries_total",
                    "Outputs offered again to a full producer queue (librdkafka retries failed sends itself).",
                ))?,
            )?,
            transactions: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts("transactions_total", "Exactly-once transactions ended, by result (committed, aborted)."),
                    &["result"],
                )?,
            )?,
            transaction_duration: register(
                &registry,
                &names,
                buckets(
                    "transaction_duration_seconds",
                    "Exactly-once: from a transaction's first record to its commit acknowledged.",
                    exponential_buckets(0.001, 2.0, 16)?,
            )?,
            )?,
            model_reloads: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts("model_reloads_total", "Attempts to load a new model while running, by result (loaded, refused)."),
                    &["result"],
                )?,
            )?,
            model_reload_refused: register(
                &registry,
                &names,
                IntGauge::with_opts(opts(
                    "model_reload_refused",
                    "1 while the last model offered for reload was refused (the previous model keeps serving).",
                ))?,
            )?,
            shadow_model_info: register(
                &registry,
                &names,
                IntGaugeVec::new(
                    opts("shadow_model_info", "The shadow model, when SHADOW_MODEL_PATH is set (value is always 1)."),
                    &["name", "version", "input_kind"],
                )?,
            )?,
            shadow_compared: register(
                &registry,
                &names,
                IntCounter::with_opts(opts(
                    "shadow_compared_total",
                    "Records categorized by both the primary and the shadow model.",
                ))?,
            )?,
            shadow_agreed: register(
                &registry,
                &names,
                IntCounter::with_opts(opts(
                    "shadow_agreed_total",
                    "Records for which the shadow model chose the primary model's category.",
                ))?,
            )?,
            shadow_agreement: register(
                &registry,
                &names,
                Gauge::with_opts(opts(
                    "shadow_agreement_ratio",
                    "Share of compared records on which the shadow agreed, since start.",
                ))?,
            )?,
            shadow_disagreements: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts("shadow_disagreements_total", "Records on which the models disagreed, by category pair."),
                    &["primary", "shadow"],
                )?,
            )?,
            shadow_skipped: register(
                &registry,
                &names,
                IntCounterVec::new(
                    opts(
                        "shadow_skipped_total",
                        "Records the primary model categorized but the shadow did not compare, by reason \
                         (behind, model_error, rejected, stopped).",
                    ),
                    &["reason"],
                )?,
            )?,
            registry,
            names: Vec::new(),
        };
        metrics.names = names.into_inner();
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        for reason in RejectReason::ALL {
            metrics.dead_lettered.with_label_values(&[reason.code()]);
        }
        for reason in SkipReason::ALL {
            metrics.skipped.with_label_values(&[reason.code()]);
        }
        for kind in FAULT_KINDS {
            metrics.faults.with_label_values(&[kind]);
        }
        for result in ["committed", "aborted"] {
            metrics.transactions.with_label_values(&[result]);
        }
        for result in ["loaded", "refused"] {
            metrics.model_reloads.with_label_values(&[result]);
        }
        Ok(metrics)
    }

    /// Shows the model and pre-creates its category series at zero, so rates
    /// exist before the first record. Replaces the model shown before.
    pub fn set_model(&self, model: &ModelInfo) {
        self.model_info.reset();
        self.model_info.with_label_values(&[&model.name, &model.version, model.input.as_str()]).set(1);
        for category in &model.categories {
            for flag in ["false", "true"] {
                self.categorized.with_label_values(&[&category.code, flag]);
            }
        }
        // Absent, not 0, when the model declares no baseline: the alert
        // comparing against it then stays silent instead of firing.
        self.heldout_flagged_ratio.reset();
        if let Some(ratio) = model.heldout_flagged_ratio {
            self.heldout_flagged_ratio.with_label_values(&[&model.version]).set(ratio);
        }
    }

    pub fn set_shadow_model(&self, model: &ModelInfo) {
        self.shadow_model_info.with_label_values(&[&model.name, &model.version, model.input.as_str()]).set(1);
        self.shadow_agreement.set(0.0);
    }

    /// The names of the worker's own metrics (`categorizer_*`; not the
    /// process collector's `process_*`), whether or not they have a sample yet.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        buffer
    }
}

fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    names: &std::cell::RefCell<Vec<String>>,
    metric: M,
) -> prometheus::Result<M> {
    names.borrow_mut().extend(metric.desc().iter().map(|desc| desc.fq_name.clone()));
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}
