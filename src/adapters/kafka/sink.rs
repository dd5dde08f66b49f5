//! The output sink over an idempotent Kafka producer: outcomes become result
//! or dead-letter records, enqueued in the order the pipeline sends them.
//! librdkafka retries transient failures itself, in order and without
//! duplicates (`message.timeout.ms=0`: until it succeeds), so a failure that
//! reaches the sink is permanent and classified: too large, or fatal.
//!
//! Exactly-once: a transactional producer. Outputs and input positions are
//! committed together; any failure of a send aborts the transaction (the
//! pipeline then processes its records again), except those an operator must
//! fix, which are fatal. A refusal for size cannot be retried inside the
//! doomed transaction, so the sink remembers it and sends that record's
//! output smaller when it comes again: result -> dead letter -> dead letter
//! cut to 64 KiB -> headers only.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::WorkerContext;
use super::dead_letter::{DeadLetter, DeadLetterInfo, FRAMING_BYTES};
use super::headers::result_headers;
use super::source::KafkaMeta;
use super::spans;
use crate::app::{format_timestamp, Outcome};
use crate::ports::{OutputSink, Received, SinkError};
use crate::telemetry::tracing::inject;
use crate::telemetry::Metrics;

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
    /// A dead letter's parts, to cut it again if the broker refuses it.
    dead_letter: Option<Arc<DeadLetter>>,
}

pub struct KafkaSink {
    producer: FutureProducer<WorkerContext>,
    output_topic: String,
    dlq_topic: String,
    /// The producer's `message.max.bytes`.
    max_message_bytes: usize,
    metrics: Arc<Metrics>,
    transactions: Option<Transactions>,
}

/// What the sink needs for exactly-once.
pub struct Transactions {
    input_topic: String,
    group_metadata: Box<dyn Fn() -> Option<ConsumerGroupMetadata> + Send + Sync>,
    /// How long one transactional call may block before it is retried.
    timeout: Duration,
    refused: Refusals,
}

/// Input records (partition, offset) whose outputs the broker refused as too
/// large, shared with the deliveries that learn it.
#[derive(Clone, Default)]
struct Refusals(Arc<Mutex<HashMap<(i32, i64), Refused>>>);

#[derive(Clone, Copy, Default)]
struct Refused {
    result: bool,
    dead_letters: usize,
}

impl Refusals {
    fn map(&self) -> MutexGuard<'_, HashMap<(i32, i64), Refused>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, record: (i32, i64)) -> Refused {
        self.map().get(&record).copied().unwrap_or_default()
    }

    fn note(&self, record: (i32, i64), dead_letter: bool) {
        let mut map = self.map();
        let refused = map.entry(record).or_default();
        match dead_letter {
            true => refused.dead_letters += 1,
            false => refused.result = true,
        }
    }

    fn forget(&self, record: (i32, i64)) {
        self.map().remove(&record);
    }
}

impl Transactions {
    pub fn new(
        input_topic: String,
        group_metadata: impl Fn() -> Option<ConsumerGroupMetadata> + Send + Sync + 'static,
        timeout: Duration,
    ) -> Self {
        Transactions { input_topic, group_metadata: Box::new(group_metadata), timeout, refused: Refusals::default() }
    }
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
        KafkaSink { producer, output_topic, dlq_topic, max_message_bytes, metrics, transactions: None }
    }

    /// Exactly-once: outputs go out in transactions. The producer must have a
    /// `transactional.id`; call [`Self::init_transactions`] before sending.
    pub fn with_transactions(mut self, transactions: Transactions) -> Self {
        self.transactions = Some(transactions);
        self
    }

    /// Registers the transactional id with the broker: fences any older
    /// producer with the same id (a crashed or paused instance) and aborts
    /// its open transaction. Waits for the broker until `shutdown`.
    pub async fn init_transactions(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let Some(transactions) = &self.transactions else { return Ok(()) };
        let timeout = transactions.timeout;
        loop {
            let producer = self.producer.clone();
            match blocking(move || producer.init_transactions(timeout)).await {
                Ok(()) => return Ok(()),
                Err(Retry(error)) => {
                    tracing::warn!(%error, "cannot initialize transactions yet; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(error) => anyhow::bail!("cannot initialize the transactional producer: {error}"),
            }
        }
    }

    /// The producer, for a bounded flush at shutdown.
    pub fn producer(&self) -> &FutureProducer<WorkerContext> {
        &self.producer
    }
}

fn enqueue(
    producer: &FutureProducer<WorkerContext>,
    message: &Outbound,
    transactional: bool,
) -> Result<DeliveryFuture, SinkError> {
    let mut record = FutureRecord::to(&message.topic).payload(&message.payload).headers(message.headers.clone());
    if let Some(key) = &message.key {
        record = record.key(key);
    }
    producer.send_result(record).map_err(|(error, _)| classify(&error, &message.topic, transactional))
}

/// Failures named with the topic they concern. Without transactions every
/// failure that reaches the sink is permanent; in a transaction, anything an
/// operator need not fix only dooms the transaction.
fn classify(error: &KafkaError, topic: &str, transactional: bool) -> SinkError {
    use RDKafkaErrorCode::*;
    match error.rdkafka_error_code() {
        Some(QueueFull) => SinkError::QueueFull,
        Some(MessageSizeTooLarge | MessageBatchTooLarge) => {
            SinkError::TooLarge(format!("{topic} refused the record as too large: {error}"))
        }
        Some(code) if transactional && !needs_an_operator(code) => {
            SinkError::Abortable(format!("cannot write to topic {topic}: {error}"))
        }
        _ => SinkError::Fatal(format!("cannot write to topic {topic}: {error}")),
    }
}

/// Errors no abort and retry can fix.
fn needs_an_operator(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        Fatal
            | Fenced
            | ProducerFenced
            | InvalidProducerEpoch
            | TransactionCoordinatorFenced
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | TransactionalIdAuthorizationFailed
            | GroupAuthorizationFailed
            | UnknownTopic
            | UnknownTopicOrPartition
    )
}

async fn delivered(delivery: DeliveryFuture, topic: &str, transactional: bool) -> Result<(), SinkError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(classify(&error, topic, transactional)),
        Err(_) => Err(SinkError::Fatal(format!("the producer for {topic} was dropped"))),
    }
}

/// Why a transactional call failed, as the pipeline must react.
#[derive(Debug, thiserror::Error)]
enum TransactionError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Abort(String),
    #[error("{0}")]
    Fatal(String),
}
use TransactionError::Retry;

impl From<KafkaError> for TransactionError {
    fn from(error: KafkaError) -> Self {
        let message = error.to_string();
        match &error {
            KafkaError::Transaction(e) if e.is_fatal() => TransactionError::Fatal(message),
            KafkaError::Transaction(e) if e.txn_requires_abort() => TransactionError::Abort(message),
            KafkaError::Transaction(e) if e.is_retriable() => Retry(message),
            _ => match error.rdkafka_error_code() {
                Some(code) if needs_an_operator(code) => TransactionError::Fatal(message),
                _ => TransactionError::Abort(message),
            },
        }
    }
}

impl From<TransactionError> for SinkError {
    fn from(error: TransactionError) -> Self {
        match error {
            Retry(message) | TransactionError::Abort(message) => SinkError::Abortable(message),
            TransactionError::Fatal(message) => SinkError::Fatal(message),
        }
    }
}

/// A blocking librdkafka call on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, TransactionError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result.map_err(TransactionError::from),
        Err(join) => Err(TransactionError::Fatal(format!("a transactional call panicked: {join}"))),
    }
}

/// How many times a retriable transactional call is tried.
const TRANSACTION_ATTEMPTS: usize = 5;

/// Retries a blocking transactional call while librdkafka says it may.
async fn retried<F>(what: &str, call: F) -> Result<(), TransactionError>
where
    F: Fn() -> Result<(), KafkaError> + Send + Sync + Clone + 'static,
{
    let mut attempt = 1;
    loop {
        match blocking(call.clone()).await {
            Err(Retry(error)) if attempt < TRANSACTION_ATTEMPTS => {
                tracing::warn!(%error, attempt, "{what} failed; retrying");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The dead letter with its value cut to `value_bytes`, and headers saying
/// so. A value that fits is sent as it is: the broker refuses whole batches,
/// so a small record may have been refused only for its neighbour's size.
fn truncated(message: &Outbound, value_bytes: usize) -> Outbound {
    match &message.dead_letter {
        Some(dead_letter) if message.payload.len() > value_bytes => {
            dead_letter_within(&message.topic, dead_letter.clone(), value_bytes)
        }
        _ => message.clone(),
    }
}

/// The dead letter cut to the producer's limit, its value to `value_bytes`.
fn dead_letter_within(topic: &str, dead_letter: Arc<DeadLetter>, value_bytes: usize) -> Outbound {
    let fitted = dead_letter.fit(value_bytes);
    Outbound {
        topic: topic.to_owned(),
        key: fitted.key,
        payload: fitted.value,
        headers: fitted.headers,
        dead_letter: Some(dead_letter),
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
        let id = (record.partition, record.offset);
        let observe = self.latency_observer(received.meta.timestamp_ms);
        let refusals = self.refusals();
        let transactional = refusals.is_some();
        match outcome {
            Outcome::Categorized(_) if refusals.as_ref().is_some_and(|r| r.get(id).result) => Err(SinkError::TooLarge(
                format!("{} refused this result as too large (in an aborted transaction)", self.output_topic),
            )),
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
                    dead_letter: None,
                };
                let delivery = enqueue(&self.producer, &message, transactional)?;
                let topic = message.topic;
                Ok(Box::pin(
                    async move {
                        let result = delivered(delivery, &topic, transactional).await;
                        refused_in_transaction(result, refusals.as_ref(), id, false)?;
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
                let dead_letter = DeadLetter::new(
                    record.key.clone(),
                    record.value.clone().unwrap_or_default(),
                    &received.meta.headers,
                    &info,
                    &trace,
                    self.max_message_bytes,
                );
                let message = dead_letter_within(&self.dlq_topic, dead_letter, usize::MAX);
                match refusals {
                    Some(refusals) => self.send_dead_letter_in_transaction(message, refusals, id, span, observe),
                    None => self.send_dead_letter(message, span, observe),
                }
            }
            Outcome::Skipped => Err(SinkError::Fatal("a skipped record has no output".into())),
        }
    }

    fn transactional(&self) -> bool {
        self.transactions.is_some()
    }

    /// Local to the client (no request to the broker until the first send),
    /// so it runs on the caller's thread.
    fn begin(&mut self) -> Result<(), SinkError> {
        self.producer.begin_transaction().map_err(|error| TransactionError::from(error).into())
    }

    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), SinkError> {
        let Some(transactions) = &self.transactions else {
            return Err(SinkError::Fatal("commit without transactions".into()));
        };
        let timeout = transactions.timeout;
        if !positions.is_empty() {
            let group = (transactions.group_metadata)()
                .ok_or_else(|| SinkError::Abortable("the consumer is not in its group".into()))?;
            let mut list = TopicPartitionList::new();
            for (partition, offset) in positions {
                list.add_partition_offset(&transactions.input_topic, *partition, rdkafka::Offset::Offset(*offset))
                    .map_err(|error| SinkError::Fatal(format!("invalid position: {error}")))?;
            }
            let (producer, group) = (self.producer.clone(), Arc::new(group));
            retried("sending the input positions to the transaction", move || {
                producer.send_offsets_to_transaction(&list, &group, timeout)
            })
            .await?;
        }
        let producer = self.producer.clone();
        retried("committing the transaction", move || producer.commit_transaction(timeout)).await?;
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        let timeout = self.transactions.as_ref().map_or(Duration::from_secs(10), |t| t.timeout);
        let producer = self.producer.clone();
        retried("aborting the transaction", move || producer.abort_transaction(timeout))
            .await
            .map_err(|error| SinkError::Fatal(format!("cannot abort the transaction: {error}")))
    }
}

/// In a transaction, a refusal for size dooms the transaction: remember it,
/// so the record's output is sent smaller when the record comes again.
fn refused_in_transaction(
    result: Result<(), SinkError>,
    refusals: Option<&Refusals>,
    id: (i32, i64),
    dead_letter: bool,
) -> Result<(), SinkError> {
    match (result, refusals) {
        (Err(SinkError::TooLarge(reason)), Some(refusals)) => {
            refusals.note(id, dead_letter);
            Err(SinkError::Abortable(format!("{reason}; the record's output is sent smaller after the abort")))
        }
        (result, _) => result,
    }
}

impl KafkaSink {
    fn refusals(&self) -> Option<Refusals> {
        self.transactions.as_ref().map(|t| t.refused.clone())
    }

    /// A dead letter in a transaction: cut as much as its earlier refusals
    /// say, sent once.
    fn send_dead_letter_in_transaction(
        &self,
        message: Outbound,
        refusals: Refusals,
        id: (i32, i64),
        span: Span,
        observe: impl FnOnce() + Send + 'static,
    ) -> Result<KafkaDelivery, SinkError> {
        let message = match refusals.get(id).dead_letters {
            0 => message,
            refused => match FALLBACK_VALUE_BYTES.get(refused - 1) {
                Some(value_bytes) => truncated(&message, *value_bytes),
                None => return Err(SinkError::Fatal("even an empty dead letter is too large for the broker".into())),
            },
        };
        let delivery = match enqueue(&self.producer, &message, true) {
            Err(SinkError::TooLarge(_)) => enqueue(&self.producer, &truncated(&message, self.budget(&message)), true)?,
            other => other?,
        };
        Ok(Box::pin(
            async move {
                let result = delivered(delivery, &message.topic, true).await;
                refused_in_transaction(result, Some(&refusals), id, true)?;
                refusals.forget(id);
                observe();
                Ok(())
            }
            .instrument(span),
        ))
    }

    /// The value size that fits the producer's limit beside the headers and key.
    fn budget(&self, message: &Outbound) -> usize {
        self.max_message_bytes
            .saturating_sub(header_bytes(&message.headers) + message.key.as_ref().map_or(0, Vec::len) + FRAMING_BYTES)
    }

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
        let (first, cut) = match enqueue(&self.producer, &message, false) {
            Err(SinkError::TooLarge(_)) => {
                let cut = truncated(&message, self.budget(&message));
                (enqueue(&self.producer, &cut, false)?, true)
            }
            other => (other?, false),
        };
        if cut {
            tracing::warn!(parent: &span, size = message.payload.len(), "dead letter too large: sent truncated");
        }
        let producer = self.producer.clone();
        Ok(Box::pin(
            async move {
                let mut result = delivered(first, &message.topic, false).await;
                for value_bytes in FALLBACK_VALUE_BYTES {
                    let Err(SinkError::TooLarge(reason)) = &result else { break };
                    tracing::warn!(%reason, value_bytes, "dead letter refused as too large: sending it truncated");
                    result = match enqueue(&producer, &truncated(&message, value_bytes), false) {
                        Ok(delivery) => delivered(delivery, &message.topic, false).await,
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
