//! Turns outcomes into output and dead-letter records, and delivers them until
//! the broker acknowledges them.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::context::WorkerContext;
use super::headers::{dead_letter_headers, result_headers, trace_id, DeadLetterInfo, HeaderList, TraceHeaders};
use crate::app::{CategorizedEvent, SourceRecord};
use crate::domain::{ModelInfo, Rejection};
use crate::telemetry::Metrics;

/// A record ready to send.
pub struct Outbound {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
}

pub struct Publisher {
    producer: FutureProducer<WorkerContext>,
    output_topic: String,
    dlq_topic: String,
    model_name: String,
    model_version: String,
    metrics: Arc<Metrics>,
}

impl Publisher {
    pub fn output_topic(&self) -> &str {
        &self.output_topic
    }

    pub fn dlq_topic(&self) -> &str {
        &self.dlq_topic
    }

    pub fn new(
        producer: FutureProducer<WorkerContext>,
        output_topic: String,
        dlq_topic: String,
        model: &ModelInfo,
        metrics: Arc<Metrics>,
    ) -> Self {
        Publisher {
            producer,
            output_topic,
            dlq_topic,
            model_name: model.name.clone(),
            model_version: model.version.clone(),
            metrics,
        }
    }

    /// The result record: keyed like the input, or by product id when the
    /// input had no key.
    pub fn result(
        &self,
        record: &SourceRecord,
        event: &CategorizedEvent,
        trace: &TraceHeaders,
    ) -> Result<Outbound, serde_json::Error> {
        Ok(Outbound {
            topic: self.output_topic.clone(),
            key: Some(record.key.clone().unwrap_or_else(|| event.product_id.clone().into_bytes())),
            payload: serde_json::to_vec(event)?,
            headers: result_headers(&self.model_name, &self.model_version, trace),
        })
    }

    /// The dead letter: the original key, value and headers, plus why.
    pub fn dead_letter(
        &self,
        record: &SourceRecord,
        headers: &HeaderList,
        rejection: &Rejection,
        failed_at: &str,
        trace: &TraceHeaders,
    ) -> Outbound {
        let info = DeadLetterInfo {
            rejection,
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            failed_at,
        };
        Outbound {
            topic: self.dlq_topic.clone(),
            key: record.key.clone(),
            payload: record.value.clone().unwrap_or_default(),
            headers: dead_letter_headers(headers, &info, trace),
        }
    }

    /// Sends until the broker acknowledges. A failed attempt (librdkafka has
    /// already retried within `message.timeout.ms`) is retried with backoff,
    /// never skipped: the offset cannot be committed before this returns.
    pub async fn deliver(&self, message: &Outbound) -> Result<(), rdkafka::error::KafkaError> {
        let attempt = || async {
            let mut record =
                FutureRecord::to(&message.topic).payload(&message.payload).headers(message.headers.clone());
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            self.producer.send(record, Timeout::Never).await.map_err(|(error, _)| error)
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times();
        attempt
            .retry(backoff)
            .notify(|error, wait| {
                self.metrics.publish_retries.inc();
                let trace_id = trace_id(&message.headers).unwrap_or_default();
                tracing::warn!(%error, topic = %message.topic, trace_id, retry_in = ?wait, "publish failed; retrying");
            })
            .await
            .map(|_| ())
    }
}
