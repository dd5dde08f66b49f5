//! The output sink over an idempotent Kafka producer: outcomes become result
//! or dead-letter records, enqueued in the order the pipeline sends them.
//! librdkafka retries transient failures itself, in order and without
//! duplicates (`message.timeout.ms=0`: until it succeeds), so a failure that
//! reaches the sink is permanent and classified: too large, or fatal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use time::OffsetDateTime;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::WorkerContext;
use super::headers::{dead_letter_headers, result_headers, DeadLetterInfo};
use super::source::KafkaMeta;
use super::spans;
use crate::app::{format_timestamp, Outcome};
use crate::ports::{OutputSink, Received, SinkError};
use crate::telemetry::tracing::inject;
use crate::telemetry::Metrics;

/// Room left for the record framing beside key, value and headers.
const FRAMING_BYTES: usize = 512;
/// Sizes a dead letter's value is cut to when the broker refuses it whole:
/// the producer's limit first, then smaller for a broker or topic whose
/// limit is lower, then headers only.
const FALLBACK_VALUE_BYTES: [usize; 2] = [64 * 1024, 0];

/// A record ready to send.
#[derive(Clone)]
struct Outbound {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

pub struct KafkaSink {
    producer: FutureProducer<WorkerContext>,
    output_topic: String,
    dlq_topic: String,
    /// The producer's `message.max.bytes`.
    max_message_bytes: usize,
    metrics: Arc<Metrics>,
}

pub type KafkaDelivery = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>;

impl KafkaSink {
    pub fn new(
        producer: FutureProducer<WorkerContext>,
        output_topic: String,
        dlq_topic: String,
        max_message_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        KafkaSink { producer, output_topic, dlq_topic, max_message_bytes, metrics }
    }

    /// The producer, for a bounded flush at shutdown.
    pub fn producer(&self) -> &FutureProducer<WorkerContext> {
        &self.producer
    }
}

fn enqueue(producer: &FutureProducer<WorkerContext>, message: &Outbound) -> Result<DeliveryFuture, SinkError> {
    let mut record = FutureRecord::to(&message.topic).payload(&message.payload).headers(message.headers.clone());
    if let Some(key) = &message.key {
        record = record.key(key);
    }
    producer.send_result(record).map_err(|(error, _)| classify(&error, &message.topic))
}

/// Permanent failures, named with the topic they concern.
fn classify(error: &KafkaError, topic: &str) -> SinkError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => SinkError::QueueFull,
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge) => {
            SinkError::TooLarge(format!("{topic} refused the record as too large: {error}"))
        }
        _ => SinkError::Fatal(format!("cannot write to topic {topic}: {error}")),
    }
}

async fn delivered(delivery: DeliveryFuture, topic: &str) -> Result<(), SinkError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(classify(&error, topic)),
        Err(_) => Err(SinkError::Fatal(format!("the producer for {topic} was dropped"))),
    }
}

/// The dead letter with its value cut to `value_bytes`, and headers saying
/// so. A value that fits is sent as it is: the broker refuses whole batches,
/// so a small record may have been refused only for its neighbour's size.
fn truncated(message: &Outbound, value_bytes: usize) -> Outbound {
    if message.payload.len() <= value_bytes {
        return message.clone();
    }
    let original = message.payload.len().to_string();
    let headers = message
        .headers
        .clone()
        .insert(Header { key: "dlq.truncated", value: Some("true") })
        .insert(Header { key: "dlq.original.size", value: Some(&original) });
    Outbound {
        topic: message.topic.clone(),
        key: message.key.clone(),
        payload: message.payload[..value_bytes.min(message.payload.len())].to_vec(),
        headers,
    }
}

fn header_bytes(headers: &OwnedHeaders) -> usize {
    use rdkafka::message::Headers;
    headers.iter().map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 8).sum()
}

impl OutputSink for KafkaSink {
    type Meta = KafkaMeta;
    type Delivery = KafkaDelivery;

    fn send(&mut self, received: &Received<KafkaMeta>, outcome: &Outcome) -> Result<KafkaDelivery, SinkError> {
        let record = &received.record;
        let observe = self.latency_observer(received.meta.timestamp_ms);
        match outcome {
            Outcome::Categorized(event) => {
                let span = spans::send(&received.span, &self.output_topic);
                let trace = inject(&span.context(), &received.meta.headers);
                let message = Outbound {
                    topic: self.output_topic.clone(),
                    key: Some(record.key.clone().unwrap_or_else(|| event.product_id.clone().into_bytes())),
                    payload: serde_json::to_vec(event)
                        .map_err(|e| SinkError::Fatal(format!("cannot serialize a result event: {e}")))?,
                    // The model that produced this result: it can change between batches.
                    headers: result_headers(&event.model.name, &event.model.version, &trace),
                };
                let delivery = enqueue(&self.producer, &message)?;
                let topic = message.topic;
                Ok(Box::pin(
                    async move {
                        delivered(delivery, &topic).await?;
                        observe();
                        Ok(())
                    }
                    .instrument(span),
                ))
            }
            Outcome::DeadLetter(rejection) => {
                tracing::debug!(parent: &received.span, %rejection, "dead letter");
                let span = spans::send(&received.span, &self.dlq_topic);
                let trace = inject(&span.context(), &received.meta.headers);
                let failed_at = format_timestamp(OffsetDateTime::now_utc());
                let info = DeadLetterInfo {
                    rejection,
                    topic: &record.topic,
                    partition: record.partition,
                    offset: record.offset,
                    failed_at: &failed_at,
                };
                let message = Outbound {
                    topic: self.dlq_topic.clone(),
                    key: record.key.clone(),
                    payload: record.value.clone().unwrap_or_default(),
                    headers: dead_letter_headers(&received.meta.headers, &info, &trace),
                };
                self.send_dead_letter(message, span, observe)
            }
            Outcome::Skipped => Err(SinkError::Fatal("a skipped record has no output".into())),
        }
    }
}

impl KafkaSink {
    /// Records the end-to-end latency once the output is acknowledged.
    fn latency_observer(&self, timestamp_ms: Option<i64>) -> impl FnOnce() + Send + 'static {
        let latency = self.metrics.end_to_end_latency.clone();
        move || {
            if let Some(ts) = timestamp_ms {
                let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
                latency.observe((now_ms - ts).max(0) as f64 / 1000.0);
            }
        }
    }

    /// A dead letter is never refused for its size: it is sent cut down,
    /// marked `dlq.truncated`, rather than blocking its partition.
    fn send_dead_letter(
        &self,
        message: Outbound,
        span: Span,
        observe: impl FnOnce() + Send + 'static,
    ) -> Result<KafkaDelivery, SinkError> {
        let budget = self
            .max_message_bytes
            .saturating_sub(header_bytes(&message.headers) + message.key.as_ref().map_or(0, Vec::len) + FRAMING_BYTES);
        let (first, cut) = match enqueue(&self.producer, &message) {
            Err(SinkError::TooLarge(_)) => {
                let cut = truncated(&message, budget);
                (enqueue(&self.producer, &cut)?, true)
            }
            other => (other?, false),
        };
        if cut {
            tracing::warn!(parent: &span, size = message.payload.len(), "dead letter too large: sent truncated");
        }
        let producer = self.producer.clone();
        Ok(Box::pin(
            async move {
                let mut result = delivered(first, &message.topic).await;
                for value_bytes in FALLBACK_VALUE_BYTES {
                    let Err(SinkError::TooLarge(reason)) = &result else { break };
                    tracing::warn!(%reason, value_bytes, "dead letter refused as too large: sending it truncated");
                    result = match enqueue(&producer, &truncated(&message, value_bytes)) {
                        Ok(delivery) => delivered(delivery, &message.topic).await,
                        Err(error) => Err(error),
                    };
                }
                if let Err(SinkError::TooLarge(reason)) = result {
                    return Err(SinkError::Fatal(format!("even an empty dead letter is too large: {reason}")));
                }
                result?;
                observe();
                Ok(())
            }
            .instrument(span),
        ))
    }
}
