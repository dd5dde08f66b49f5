//! The Prometheus registry and every metric the worker exports.

use prometheus::{
    exponential_buckets, linear_buckets, Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::{ModelInfo, RejectReason};

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
    pub kafka_errors: IntCounterVec,
    pub publish_retries: IntCounter,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("categorizer".into()), None)?;
        let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| -> prometheus::Result<Histogram> {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let metrics = Metrics {
            consumed: counter("records_consumed_total", "Records consumed from the input topic.", &["topic"])?,
            categorized: counter(
                "records_categorized_total",
                "Records categorized and published, by category.",
                &["category"],
            )?,
            dead_lettered: counter(
                "records_dead_lettered_total",
                "Records published to the dead-letter topic, by reason.",
                &["reason"],
            )?,
            skipped: counter("records_skipped_total", "Records skipped (tombstones), by reason.", &["reason"])?,
            batch_size: histogram("batch_size", "Records per inference batch.", exponential_buckets(1.0, 2.0, 11)?)?,
            inference_duration: histogram(
                "inference_duration_seconds",
                "Time to decode and categorize one batch.",
                exponential_buckets(0.0001, 2.0, 16)?,
            )?,
            end_to_end_latency: histogram(
                "end_to_end_latency_seconds",
                "From the input record's timestamp to its output acknowledged by the broker.",
                exponential_buckets(0.001, 2.0, 18)?,
            )?,
            confidence: histogram(
                "prediction_confidence",
                "Probability of the chosen category.",
                linear_buckets(0.1, 0.1, 10)?,
            )?,
            consumer_lag: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "consumer_lag",
                        "Records in the partition not yet committed by this group (librdkafka statistics).",
                    ),
                    &["topic", "partition"],
                )?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            consumer_lag_seconds: {
                let g = GaugeVec::new(Opts::new("consumer_lag_seconds", "While a partition has lag: age of the newest record the worker has taken from it; 0 when caught up."), &["topic", "partition"])?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            assigned_partitions: gauge("assigned_partitions", "Input partitions assigned to this instance.")?,
            ready: gauge("ready", "1 when the model is loaded and the consumer has joined its group.")?,
            model_info: {
                let g = IntGaugeVec::new(
                    Opts::new("model_info", "The loaded model (value is always 1)."),
                    &["name", "version", "input_kind"],
                )?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            kafka_errors: counter("kafka_errors_total", "Errors reported by the Kafka client, by kind.", &["kind"])?,
            publish_retries: {
                let c = IntCounter::new("publish_retries_total", "Failed publish attempts that were retried.")?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            registry,
        };
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        for reason in RejectReason::ALL {
            metrics.dead_lettered.with_label_values(&[reason.code()]);
        }
        metrics.skipped.with_label_values(&["tombstone"]);
        Ok(metrics)
    }

    /// Shows the model and pre-creates its category series at zero, so rates
    /// exist before the first record.
    pub fn set_model(&self, model: &ModelInfo) {
        self.model_info.with_label_values(&[&model.name, &model.version, model.input.as_str()]).set(1);
        for category in &model.categories {
            self.categorized.with_label_values(&[&category.code]);
        }
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
