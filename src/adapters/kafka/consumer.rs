//! The inbound loop: fetch a batch, categorize it, publish every outcome and
//! store offsets only behind acknowledged outputs (at-least-once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::WorkerContext;
use super::headers::{copy_headers, HeaderList};
use super::offsets::OffsetTracker;
use super::publisher::{Outbound, Publisher};
use super::spans;
use crate::app::{format_timestamp, Categorizer, Outcome, SourceRecord};
use crate::ports::Predictor;
use crate::telemetry::tracing::inject;
use crate::telemetry::Metrics;

/// How the loop batches and bounds its work.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopConfig {
    /// Most records categorized in one model call.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// Longest wait (ms) to fill a batch once its first record arrived.
    #[arg(long, env = "BATCH_TIMEOUT_MS", default_value_t = 20)]
    pub batch_timeout_ms: u64,

    /// Most records taken but not yet acknowledged; the loop stops fetching at this bound.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// On SIGTERM, how long (s) to wait for in-flight outputs before giving up on them.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

/// A consumed record with what only the Kafka side needs.
struct Consumed {
    record: SourceRecord,
    headers: HeaderList,
    timestamp_ms: Option<i64>,
}

/// The Kafka-only part of a consumed record, kept beside the app's batch.
struct Sidecar {
    headers: HeaderList,
    timestamp_ms: Option<i64>,
    span: Span,
}

#[derive(Clone, Copy)]
struct Position {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
}

/// What a finished delivery reports back to the loop.
struct Done {
    position: Position,
    counted: Counted,
}

enum Counted {
    Categorized { category: String, confidence: f64 },
    DeadLettered { reason: &'static str },
    Skipped,
}

pub struct Worker<P> {
    pub consumer: Arc<StreamConsumer<WorkerContext>>,
    pub publisher: Arc<Publisher>,
    pub categorizer: Arc<Categorizer<P>>,
    pub metrics: Arc<Metrics>,
    pub input_topic: String,
    pub group_id: String,
    pub config: LoopConfig,
}

impl<P: Predictor + 'static> Worker<P> {
    /// Runs until `shutdown`, then finishes what is in flight and commits.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.consumer
            .subscribe(&[&self.input_topic])
            .with_context(|| format!("cannot subscribe to {}", self.input_topic))?;
        let batch_size = self.config.batch_size as usize;
        let batch_timeout = Duration::from_millis(self.config.batch_timeout_ms);
        let mut tracker = OffsetTracker::default();
        let mut deliveries: JoinSet<anyhow::Result<Done>> = JoinSet::new();
        let mut batch: Vec<Consumed> = Vec::with_capacity(batch_size);
        let mut deadline = Instant::now();

        loop {
            let room = tracker.in_flight() + batch.len() < self.config.max_in_flight as usize;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(done) = deliveries.join_next() => self.finish(done, &mut tracker)?,
                () = tokio::time::sleep_until(deadline.into()), if !batch.is_empty() => {
                    self.flush(&mut batch, &mut tracker, &mut deliveries).await?;
                }
                message = self.consumer.recv(), if room => {
                    let message = match message {
                        Ok(message) => message,
                        Err(error) => {
                            self.metrics.kafka_errors.with_label_values(&["consume"]).inc();
                            tracing::warn!(%error, "consume failed");
                            continue;
                        }
                    };
                    if batch.is_empty() {
                        deadline = Instant::now() + batch_timeout;
                    }
                    let timestamp_ms = message.timestamp().to_millis();
                    self.consumer.context().note_taken(message.partition(), timestamp_ms);
                    batch.push(Consumed {
                        record: SourceRecord {
                            topic: message.topic().to_owned(),
                            partition: message.partition(),
                            offset: message.offset(),
                            key: message.key().map(<[u8]>::to_vec),
                            value: message.payload().map(<[u8]>::to_vec),
                        },
                        headers: copy_headers(message.headers()),
                        timestamp_ms,
                    });
                    if batch.len() >= batch_size {
                        self.flush(&mut batch, &mut tracker, &mut deliveries).await?;
                    }
                }
            }
            for partition in self.consumer.context().take_revoked() {
                tracker.forget(partition);
            }
            self.store_offsets(&mut tracker);
        }
        self.drain(batch, tracker, deliveries).await
    }

    /// Categorizes the batch and starts delivering each outcome.
    async fn flush(
        &self,
        batch: &mut Vec<Consumed>,
        tracker: &mut OffsetTracker,
        deliveries: &mut JoinSet<anyhow::Result<Done>>,
    ) -> anyhow::Result<()> {
        let consumed = std::mem::take(batch);
        let consumed_counter = self.metrics.consumed.with_label_values(&[&self.input_topic]);
        let mut records = Vec::with_capacity(consumed.len());
        let mut sidecars = Vec::with_capacity(consumed.len());
        for c in consumed {
            tracker.take(c.record.partition, c.record.offset);
            consumed_counter.inc();
            let span = spans::process(&c.record, &c.headers, &self.group_id);
            sidecars.push(Sidecar { headers: c.headers, timestamp_ms: c.timestamp_ms, span });
            records.push(c.record);
        }
        let categorize_spans: Vec<Span> = sidecars.iter().map(|s| spans::categorize(&s.span, records.len())).collect();
        let categorizer = self.categorizer.clone();
        let started = Instant::now();
        let (records, outcomes) = tokio::task::spawn_blocking(move || {
            let outcomes = categorizer.categorize(&records, OffsetDateTime::now_utc());
            (records, outcomes)
        })
        .await
        .context("the categorizer panicked")?;
        drop(categorize_spans);
        self.metrics.inference_duration.observe(started.elapsed().as_secs_f64());
        self.metrics.batch_size.observe(records.len() as f64);

        let failed_at = format_timestamp(OffsetDateTime::now_utc());
        for ((record, sidecar), outcome) in records.into_iter().zip(sidecars).zip(outcomes) {
            let position =
                Position { partition: record.partition, offset: record.offset, timestamp_ms: sidecar.timestamp_ms };
            let (send, counted) = match &outcome {
                Outcome::Skipped => (None, Counted::Skipped),
                Outcome::Categorized(event) => {
                    let span = spans::send(&sidecar.span, self.publisher.output_topic());
                    let trace = inject(&span.context(), &sidecar.headers);
                    let message =
                        self.publisher.result(&record, event, &trace).context("cannot serialize a result event")?;
                    let counted =
                        Counted::Categorized { category: event.category.code.clone(), confidence: event.confidence };
                    (Some((message, span)), counted)
                }
                Outcome::DeadLetter(rejection) => {
                    tracing::debug!(parent: &sidecar.span, %rejection, "dead letter");
                    let span = spans::send(&sidecar.span, self.publisher.dlq_topic());
                    let trace = inject(&span.context(), &sidecar.headers);
                    let message = self.publisher.dead_letter(&record, &sidecar.headers, rejection, &failed_at, &trace);
                    (Some((message, span)), Counted::DeadLettered { reason: rejection.reason.code() })
                }
            };
            deliveries.spawn(deliver(self.publisher.clone(), send, position, counted, sidecar.span));
        }
        Ok(())
    }

    fn finish(
        &self,
        done: Result<anyhow::Result<Done>, tokio::task::JoinError>,
        tracker: &mut OffsetTracker,
    ) -> anyhow::Result<()> {
        let done = done.context("a delivery task panicked")??;
        match &done.counted {
            Counted::Categorized { category, confidence } => {
                self.metrics.categorized.with_label_values(&[category]).inc();
                self.metrics.confidence.observe(*confidence);
            }
            Counted::DeadLettered { reason } => self.metrics.dead_lettered.with_label_values(&[reason]).inc(),
            Counted::Skipped => self.metrics.skipped.with_label_values(&["tombstone"]).inc(),
        }
        if let (Some(ts), false) = (done.position.timestamp_ms, matches!(done.counted, Counted::Skipped)) {
            let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            self.metrics.end_to_end_latency.observe((now_ms as i64 - ts).max(0) as f64 / 1000.0);
        }
        tracker.ack(done.position.partition, done.position.offset);
        Ok(())
    }

    /// Hands librdkafka the offsets safe to commit; it commits them on its
    /// auto-commit interval, on rebalance and on close.
    fn store_offsets(&self, tracker: &mut OffsetTracker) {
        let committable = tracker.committable();
        if committable.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::with_capacity(committable.len());
        for (partition, offset) in committable {
            if let Err(error) = list.add_partition_offset(&self.input_topic, partition, Offset::Offset(offset)) {
                tracing::warn!(%error, partition, offset, "cannot build the offset list");
            }
        }
        if let Err(error) = self.consumer.store_offsets(&list) {
            // Happens for a partition revoked a moment ago: its new owner re-reads.
            tracing::debug!(%error, "cannot store offsets");
        }
    }

    /// Finishes the fetched batch and every delivery, then commits.
    async fn drain(
        &self,
        mut batch: Vec<Consumed>,
        mut tracker: OffsetTracker,
        mut deliveries: JoinSet<anyhow::Result<Done>>,
    ) -> anyhow::Result<()> {
        tracing::info!(
            fetched = batch.len(),
            in_flight = tracker.in_flight(),
            "shutting down: finishing in-flight records"
        );
        if !batch.is_empty() {
            self.flush(&mut batch, &mut tracker, &mut deliveries).await?;
        }
        let timeout = Duration::from_secs(self.config.shutdown_timeout_secs);
        let drained = tokio::time::timeout(timeout, async {
            while let Some(done) = deliveries.join_next().await {
                self.finish(done, &mut tracker)?;
            }
            anyhow::Ok(())
        })
        .await;
        self.store_offsets(&mut tracker);
        let committed = self.consumer.commit_consumer_state(CommitMode::Sync);
        match (drained, committed) {
            (Ok(Ok(())), Ok(())) => {
                tracing::info!("all outputs acknowledged and offsets committed");
                Ok(())
            }
            // Nothing stored: with no new offsets there is nothing to commit.
            (
                Ok(Ok(())),
                Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)),
            ) => Ok(()),
            (Ok(Ok(())), Err(error)) => Err(error).context("cannot commit offsets at shutdown"),
            (Ok(Err(error)), _) => Err(error),
            (Err(_), _) => anyhow::bail!(
                "{} outputs were not acknowledged within {}s; their records stay uncommitted and will be reprocessed",
                tracker.in_flight(),
                timeout.as_secs()
            ),
        }
    }
}

/// Delivers one output; the record's spans end when the broker acknowledges.
async fn deliver(
    publisher: Arc<Publisher>,
    send: Option<(Outbound, Span)>,
    position: Position,
    counted: Counted,
    _process_span: Span,
) -> anyhow::Result<Done> {
    if let Some((message, send_span)) = &send {
        publisher.deliver(message).instrument(send_span.clone()).await.with_context(|| {
            format!("cannot publish the output of partition {} offset {}", position.partition, position.offset)
        })?;
    }
    Ok(Done { position, counted })
}
