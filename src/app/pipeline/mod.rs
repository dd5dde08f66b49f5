//! The delivery core: records from a source, in batches through the model,
//! outcomes to a sink in offset order, positions stored only behind outcomes
//! that are final. Transport-free: the Kafka adapters and the in-memory broker
//! implement its ports.
//!
//! What it promises (each is a test below):
//! - every record taken ends as one categorized, dead-lettered or skipped
//!   outcome, or is read again after a restart or by the next owner;
//! - outputs of one partition are handed to the sink in offset order, and no
//!   output is ever re-sent after a later one;
//! - back-pressure pauses partitions and keeps polling, so rebalances are
//!   served and the instance stays in its group;
//! - on revoke it waits (bounded) for the partitions' outputs, commits their
//!   position, drops their fetched records, and only then lets them go;
//! - a model failing on everything holds the batch and retries it (not ready),
//!   it never dead-letters the stream;
//! - a fatal sink or source error makes it not ready and ends it with an error.
//!
//! With a transactional sink (exactly-once), positions are not stored in the
//! source: the outputs of a window of records and the positions after them
//! are committed in one sink transaction. A transaction that fails is
//! aborted, its partitions are rewound to their last committed position, and
//! their records are processed again; a revoke commits (or aborts) the open
//! transaction before the partitions go.

mod config;
mod model_thread;
mod partitions;
mod tally;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::PipelineConfig;
use model_thread::{Categorized, ModelThread, ModelThreadGone};
use partitions::{Epoch, Partitions};
use tally::Counted;

use super::{Categorizer, ModelUnavailable, Outcome, SourceRecord};
use crate::domain::{RejectReason, Rejection};
use crate::health::Health;
use crate::ports::{OutputSink, Predictor, Rebalance, Received, RecordSource, SinkError, SourceError, SourceEvent};
use crate::telemetry::Metrics;

const MODEL_RETRY_MIN: Duration = Duration::from_millis(200);
const MODEL_RETRY_MAX: Duration = Duration::from_secs(30);
/// Fetched records that may wait beyond `MAX_IN_FLIGHT` before the
/// partitions are paused.
const MIN_WAITING: usize = 1024;
/// On abort, how long deliveries of the aborted transaction may still take
/// to report.
const ABORT_SETTLE: Duration = Duration::from_millis(500);
/// How long to wait before offering an output again to a full sink queue.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);
/// Batches handed to the model at once: one in the model, one ready to start
/// the moment it is done.
const MODEL_QUEUE: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Fatal(String),
    #[error(
        "{0} outputs were not acknowledged within the shutdown timeout; their records stay uncommitted and will be \
         read again"
    )]
    Unfinished(usize),
    #[error("cannot commit the final positions ({0}); the records after the last commit will be read again")]
    Uncommitted(SourceError),
    #[error("the last transaction was aborted ({0}); its records will be read again")]
    Aborted(String),
}

/// A record on its way through: taken in `epoch` of its partition.
struct Item<M> {
    received: Received<M>,
    epoch: Epoch,
}

impl<M> AsRef<SourceRecord> for Item<M> {
    fn as_ref(&self) -> &SourceRecord {
        &self.received.record
    }
}

/// A delivery in progress, with the record it carries.
struct Sending<D, M> {
    item: Option<(Item<M>, Outcome)>,
    delivery: D,
}

impl<D: Future<Output = Result<(), SinkError>> + Unpin, M: Unpin> Future for Sending<D, M> {
    type Output = (Item<M>, Outcome, Result<(), SinkError>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = std::task::ready!(Pin::new(&mut this.delivery).poll(cx));
        let (item, outcome) = this.item.take().expect("a delivery completes once");
        Poll::Ready((item, outcome, result))
    }
}

/// Exactly-once: the records since the last commit, to be committed together.
struct Window {
    opened: std::time::Instant,
    deadline: Instant,
    /// Outcomes of the records done in the window, counted at its commit.
    done: Vec<Counted>,
    /// The sink's transaction is open.
    began: bool,
}

/// The model is failing on everything: the batch is held until this retry.
struct ModelDown {
    retry_at: Instant,
    backoff: Duration,
}

pub struct Pipeline<S: RecordSource, K: OutputSink<Meta = S::Meta>> {
    source: S,
    sink: K,
    model: ModelThread<S::Meta>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    config: PipelineConfig,
    partitions: Partitions,
    /// Fetched, not yet taken: about a batch ahead of the model, more at the
    /// in-flight bound.
    waiting: VecDeque<Received<S::Meta>>,
    /// Taken, not yet handed to the model.
    batch: Vec<Item<S::Meta>>,
    batch_deadline: Instant,
    deliveries: FuturesUnordered<Sending<K::Delivery, S::Meta>>,
    paused: bool,
    model_down: Option<ModelDown>,
    fatal: Option<String>,
    transactional: bool,
    window: Option<Window>,
    /// Why the open transaction must be aborted.
    doomed: Option<String>,
}

impl<S, K> Pipeline<S, K>
where
    S: RecordSource,
    K: OutputSink<Meta = S::Meta>,
{
    /// Starts the model's thread.
    pub fn new<P: Predictor + 'static>(
        source: S,
        sink: K,
        categorizer: Arc<Categorizer<P>>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        config: PipelineConfig,
    ) -> std::io::Result<Self> {
        Ok(Pipeline {
            transactional: sink.transactional(),
            window: None,
            doomed: None,
            source,
            sink,
            model: ModelThread::start(categorizer)?,
            metrics,
            health,
            waiting: VecDeque::new(),
            batch: Vec::with_capacity(config.batch_size as usize),
            config,
            partitions: Partitions::default(),
            batch_deadline: Instant::now(),
            deliveries: FuturesUnordered::new(),
            paused: false,
            model_down: None,
            fatal: None,
        })
    }

    /// Runs until `shutdown` or a fatal error, then finishes what it can
    /// within the shutdown timeout and commits. Gives the source back, for
    /// the adapter to close.
    pub async fn run(mut self, shutdown: CancellationToken) -> (S, Result<(), PipelineError>) {
        self.process(&shutdown).await;
        let deadline = Instant::now() + self.drain_budget();
        let drained = self.drain(deadline).await;
        let result = match self.fatal.take() {
            Some(fatal) => Err(PipelineError::Fatal(fatal)),
            None => drained,
        };
        (self.source, result)
    }

    async fn process(&mut self, shutdown: &CancellationToken) {
        while self.fatal.is_none() {
            let flush_at = self.flush_at();
            let window_ends = self.window.as_ref().map(|window| window.deadline);
            // Records the source has ready go before a partial batch, so that
            // the model gets what arrived together in one call.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                done = self.model.next(), if self.model.pending() > 0 => self.categorized(done).await,
                Some(done) = self.deliveries.next(), if !self.deliveries.is_empty() => {
                    self.delivered(done).await;
                    self.delivered_ready().await;
                }
                () = tokio::time::sleep_until(window_ends.unwrap_or_else(Instant::now)), if window_ends.is_some() => {}
                event = self.source.next(), if self.polls_source() => self.on_event(event).await,
                () = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    self.submit();
                }
            }
            // A commit waits for the window's last acknowledgements: what it
            // frees is taken right after, or nothing might wake the loop again.
            self.checkpoint().await;
            self.feed_model();
            self.apply_back_pressure();
        }
    }

    /// Whether to pull records from the source: while less than a batch
    /// waits, since the source's own prefetch queue is the buffer (pausing
    /// throws that queue away); and always when no record can be taken, so
    /// that rebalances are served while back-pressure pauses the partitions.
    fn polls_source(&self) -> bool {
        self.waiting.len() < self.config.batch_size as usize
            || self.model_down.is_some()
            || self.partitions.in_flight() >= self.config.max_in_flight as usize
    }

    /// Moves positions forward: stored for the source's next commit, or, in
    /// exactly-once, committed with the window's transaction when it is due.
    async fn checkpoint(&mut self) {
        if !self.transactional {
            return self.store();
        }
        if let Some(reason) = self.doomed.take() {
            return self.abort(reason).await;
        }
        let max_records = self.config.txn_max_records as usize;
        let due = self.window.as_ref().is_some_and(|w| w.done.len() >= max_records || Instant::now() >= w.deadline);
        if due {
            let _ = self.commit_window().await;
        }
    }

    /// The window in progress, opened now if there is none.
    fn window(&mut self) -> &mut Window {
        let max = Duration::from_millis(self.config.txn_max_ms);
        self.window.get_or_insert_with(|| Window {
            opened: std::time::Instant::now(),
            deadline: Instant::now() + max,
            done: Vec::new(),
            began: false,
        })
    }

    /// Commits the window: waits for its outputs, then commits them with the
    /// positions after them. On failure the window is aborted and rewound;
    /// the error says why.
    async fn commit_window(&mut self) -> Result<(), String> {
        if self.window.is_none() {
            return Ok(());
        }
        // Positions may only move past acknowledged outputs. A delivery may
        // send a dead letter in its place: that joins this window.
        while self.doomed.is_none() && self.fatal.is_none() {
            let Some(done) = self.deliveries.next().await else { break };
            self.delivered(done).await;
        }
        if let Some(fatal) = &self.fatal {
            return Err(fatal.clone());
        }
        if let Some(reason) = self.doomed.take() {
            self.abort(reason.clone()).await;
            return Err(reason);
        }
        let positions = self.partitions.committable();
        let Some(window) = self.window.as_mut() else { return Ok(()) };
        let (records, opened) = (window.done.len(), window.opened);
        if !window.began {
            if positions.is_empty() {
                self.window = None;
                return Ok(());
            }
            window.began = true;
            if let Err(error) = self.sink.begin() {
                return self.transaction_failed(error).await;
            }
        }
        let span = tracing::info_span!("commit transaction", records, partitions = positions.len());
        match self.sink.commit(&positions).instrument(span).await {
            Ok(()) => {
                for counted in self.window.take().map(|window| window.done).unwrap_or_default() {
                    counted.count(&self.metrics);
                }
                self.partitions.committed(&positions);
                self.metrics.transactions.with_label_values(&["committed"]).inc();
                self.metrics.transaction_duration.observe(opened.elapsed().as_secs_f64());
                tracing::debug!(records, ?positions, "transaction committed");
                Ok(())
            }
            Err(error) => self.transaction_failed(error).await,
        }
    }

    async fn transaction_failed(&mut self, error: SinkError) -> Result<(), String> {
        let reason = format!("cannot commit the transaction: {error}");
        match error {
            SinkError::Abortable(_) => self.abort(reason.clone()).await,
            _ => self.fail(reason.clone()),
        }
        Err(reason)
    }

    /// Aborts the open transaction and reads the records of its partitions
    /// again from their last committed position.
    async fn abort(&mut self, reason: String) {
        tracing::warn!(%reason, "aborting the transaction; its records are processed again");
        self.doomed = None;
        // Deliveries of the aborted outputs can no longer move a position,
        // but the sink learns from their results (which outputs the broker
        // refused as too large: a refused batch fails all its records, their
        // reports arriving one by one). Those that end soon run to their end.
        let settle = Instant::now() + ABORT_SETTLE;
        while let Ok(Some(_)) = tokio::time::timeout_at(settle, self.deliveries.next()).await {}
        self.deliveries.clear();
        let began = self.window.take().is_some_and(|window| window.began);
        // A window whose transaction never began has nothing to abort (nor
        // to count): only its records are read again.
        if began {
            if let Err(error) = self.sink.abort().await {
                return self.fail(format!("cannot abort the transaction: {error}"));
            }
            self.metrics.transactions.with_label_values(&["aborted"]).inc();
        }
        let positions = self.partitions.rewind();
        let partitions = &self.partitions;
        self.batch.retain(|item| partitions.is_current(item.received.record.partition, item.epoch));
        self.waiting.retain(|received| !positions.iter().any(|(p, _)| *p == received.record.partition));
        tracing::info!(?positions, "rewound to the last committed positions");
        if let Err(error) = self.source.rewind(&positions) {
            self.source_failed("cannot rewind the partitions", error);
        }
    }

    async fn on_event(&mut self, event: Result<SourceEvent<S::Meta>, SourceError>) {
        match event {
            Ok(SourceEvent::Record(received)) => self.waiting.push_back(received),
            Ok(SourceEvent::Rebalance(Rebalance::Assigned(partitions))) => self.assign(partitions),
            Ok(SourceEvent::Rebalance(Rebalance::Revoked { partitions, lost })) => self.revoke(partitions, lost).await,
            Err(SourceError::Transient(error)) => {
                self.metrics.kafka_errors.with_label_values(&["consume"]).inc();
                tracing::warn!(%error, "consume failed; the consumer retries by itself");
            }
            Err(SourceError::Fatal(error)) => self.fail(format!("cannot consume: {error}")),
        }
    }

    /// Takes waiting records into the batch (up to a batch, while fewer than
    /// `MAX_IN_FLIGHT` are in flight) and hands full batches to the model
    /// while it has room. Records wait in the queue, not the batch: taking
    /// more than a batch would only move them around in memory.
    fn feed_model(&mut self) {
        let full = self.config.batch_size as usize;
        loop {
            while self.batch.len() < full
                && self.partitions.in_flight() < self.config.max_in_flight as usize
                && self.fatal.is_none()
            {
                let Some(received) = self.waiting.pop_front() else { break };
                self.take(received);
            }
            if self.model_down.is_some() || self.model.pending() >= MODEL_QUEUE || self.batch.len() < full {
                return;
            }
            self.submit();
        }
    }

    fn take(&mut self, received: Received<S::Meta>) {
        let record = &received.record;
        let Some(epoch) = self.partitions.take(record.partition, record.offset) else {
            tracing::debug!(
                partition = record.partition,
                offset = record.offset,
                "dropped a record of a partition not owned"
            );
            return;
        };
        self.metrics.consumed.with_label_values(&[&record.topic]).inc();
        if self.transactional {
            self.window();
        }
        if self.batch.is_empty() {
            self.batch_deadline = Instant::now() + Duration::from_millis(self.config.batch_timeout_ms);
        }
        self.batch.push(Item { received, epoch });
    }

    fn assign(&mut self, partitions: Vec<i32>) {
        for &partition in &partitions {
            self.partitions.assign(partition);
        }
        let confirmed = self.source.confirm(&Rebalance::Assigned(partitions.clone()));
        if let Err(error) = confirmed {
            return self.source_failed("cannot take the assigned partitions", error);
        }
        if self.paused {
            if let Err(error) = self.source.pause(&partitions) {
                self.source_failed("cannot pause the assigned partitions", error);
            }
        }
        self.health.set_group_joined(true);
        tracing::info!(?partitions, owned = ?self.partitions.owned(), "partitions assigned");
    }

    /// Finishes with revoked partitions before the source lets them go: waits
    /// (bounded) for their outputs, drops their fetched records, commits.
    async fn revoke(&mut self, partitions: Vec<i32>, lost: bool) {
        self.settle_model().await;
        for &partition in &partitions {
            self.partitions.close(partition);
        }
        let fetched = self.batch.len() + self.waiting.len();
        self.batch.retain(|item| !partitions.contains(&item.received.record.partition));
        self.waiting.retain(|received| !partitions.contains(&received.record.partition));
        let dropped = fetched - self.batch.len() - self.waiting.len();
        if self.transactional {
            // A lost partition's position cannot be committed any more: the
            // whole open transaction goes, the partitions kept are rewound.
            if !lost {
                let _ = self.commit_window().await;
            } else if self.window.is_some() {
                self.abort("partitions lost".into()).await;
            }
        } else if !lost {
            let deadline = Instant::now() + Duration::from_secs(self.config.revoke_timeout_secs);
            while self.partitions.sending(&partitions) > 0 && self.fatal.is_none() {
                match tokio::time::timeout_at(deadline, self.deliveries.next()).await {
                    Ok(Some(done)) => self.delivered(done).await,
                    Ok(None) => break,
                    Err(_) => {
                        tracing::warn!(
                            ?partitions,
                            waiting = self.partitions.sending(&partitions),
                            "revoked partitions' outputs not acknowledged in time; the next owner reads them again"
                        );
                        break;
                    }
                }
            }
        }
        let positions: Vec<(i32, i64)> = partitions.iter().filter_map(|p| self.partitions.revoke(*p)).collect();
        if !lost && !positions.is_empty() && !self.transactional {
            if let Err(error) = self.source.commit(&positions).await {
                tracing::warn!(%error, "cannot commit the revoked partitions' positions; the next owner may repeat some");
            }
        }
        if lost {
            self.health.set_group_joined(!self.partitions.owned().is_empty());
        }
        tracing::info!(?partitions, lost, dropped_fetched = dropped, committed = ?positions, "partitions revoked");
        let confirmed = self.source.confirm(&Rebalance::Revoked { partitions, lost });
        if let Err(error) = confirmed {
            self.source_failed("cannot hand the revoked partitions over", error);
        }
    }

    /// When to hand a batch that is not full to the model: once the model
    /// is idle and the batch's first record waited `BATCH_TIMEOUT_MS`, or at
    /// the model's next retry. While the model works, the batch fills.
    fn flush_at(&self) -> Option<Instant> {
        if self.batch.is_empty() {
            return None;
        }
        match &self.model_down {
            Some(down) => (self.model.pending() == 0).then_some(down.retry_at),
            None if self.model.pending() == 0 => Some(self.batch_deadline),
            None => None,
        }
    }

    /// Hands up to a batch to the model.
    fn submit(&mut self) {
        let take = self.batch.len().min(self.config.batch_size as usize);
        let items: Vec<Item<S::Meta>> = self.batch.drain(..take).collect();
        if let Err(gone) = self.model.submit(items) {
            self.fail(gone.to_string());
        }
    }

    /// Sends each outcome of a batch back from the model, in order.
    async fn categorized(&mut self, done: Result<Categorized<S::Meta>, ModelThreadGone>) {
        let Categorized { items, outcomes, took } = match done {
            Ok(done) => done,
            Err(gone) => return self.fail(gone.to_string()),
        };
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(unavailable) => return self.hold(items, unavailable).await,
        };
        self.metrics.inference_duration.observe(took.as_secs_f64());
        self.metrics.batch_size.observe(items.len() as f64);
        // While the model is down only its retry is in the model: this is it.
        if self.model_down.take().is_some() {
            self.health.set_model_available(true);
            tracing::info!("the model answers again; processing resumes");
        }
        for (item, outcome) in items.into_iter().zip(outcomes) {
            if self.fatal.is_some() || self.doomed.is_some() {
                break;
            }
            // Rewound or revoked while in the model: read again, or not ours.
            let record = &item.received.record;
            if !self.partitions.is_current(record.partition, item.epoch) {
                continue;
            }
            match outcome {
                Outcome::Skipped => self.finish(&item, &outcome),
                outcome => self.send(item, outcome).await,
            }
        }
    }

    /// Receives every batch still in the model and sends its outcomes.
    async fn settle_model(&mut self) {
        while self.model.pending() > 0 && self.fatal.is_none() {
            let done = self.model.next().await;
            self.categorized(done).await;
        }
    }

    /// The model failed on everything: keep the batch, and every batch handed
    /// over after it (they go back in front of the others, in order), retry
    /// later, not ready.
    async fn hold(&mut self, mut items: Vec<Item<S::Meta>>, unavailable: ModelUnavailable) {
        while self.model.pending() > 0 {
            match self.model.next().await {
                Ok(later) => items.extend(later.items),
                Err(gone) => return self.fail(gone.to_string()),
            }
        }
        let backoff = self.model_down.as_ref().map_or(MODEL_RETRY_MIN, |down| (down.backoff * 2).min(MODEL_RETRY_MAX));
        tracing::warn!(error = %unavailable, retry_in = ?backoff, held = items.len(), "model unavailable; holding the batch");
        self.health.set_model_available(false);
        self.metrics.kafka_errors.with_label_values(&["model_unavailable"]).inc();
        self.batch.splice(0..0, items);
        self.model_down = Some(ModelDown { retry_at: Instant::now() + backoff, backoff });
    }

    /// Hands one outcome to the sink. Called in offset order per partition,
    /// and never for an output already sent.
    async fn send(&mut self, item: Item<S::Meta>, mut outcome: Outcome) {
        if self.transactional {
            let window = self.window();
            if !window.began {
                window.began = true;
                if let Err(error) = self.sink.begin() {
                    return self.doom_or_fail(&item.received.record, error);
                }
            }
        }
        loop {
            match self.sink.send(&item.received, &outcome) {
                Ok(delivery) => {
                    self.partitions.sent(item.received.record.partition, item.epoch);
                    self.deliveries.push(Sending { item: Some((item, outcome)), delivery });
                    return;
                }
                Err(SinkError::QueueFull) => {
                    self.metrics.publish_retries.inc();
                    tokio::time::sleep(QUEUE_FULL_WAIT).await;
                }
                Err(SinkError::TooLarge(detail)) if matches!(outcome, Outcome::Categorized(_)) => {
                    outcome = too_large(&detail);
                }
                Err(error) => return self.doom_or_fail(&item.received.record, error),
            }
        }
    }

    /// An abortable error dooms the open transaction; any other is fatal.
    fn doom_or_fail(&mut self, record: &SourceRecord, error: SinkError) {
        match error {
            SinkError::Abortable(_) if self.transactional => {
                self.doomed.get_or_insert_with(|| describe(record, &error));
            }
            error => self.fail(describe(record, &error)),
        }
    }

    /// Handles every other delivery that already finished, so positions are
    /// stored once for all of them.
    async fn delivered_ready(&mut self) {
        while let Some(Some(done)) = self.deliveries.next().now_or_never() {
            self.delivered(done).await;
        }
    }

    async fn delivered(&mut self, (item, outcome, result): (Item<S::Meta>, Outcome, Result<(), SinkError>)) {
        let record = &item.received.record;
        self.partitions.delivered(record.partition, item.epoch);
        match result {
            Ok(()) => self.finish(&item, &outcome),
            // A result the broker refused as too large becomes a dead letter:
            // it goes to another topic, so sending it now reorders nothing.
            Err(SinkError::TooLarge(detail)) if matches!(outcome, Outcome::Categorized(_)) => {
                self.send(item, too_large(&detail)).await;
            }
            Err(error) => self.doom_or_fail(&item.received.record, error),
        }
    }

    /// The record's outcome is final: count it and let its position move.
    fn finish(&mut self, item: &Item<S::Meta>, outcome: &Outcome) {
        let counted = Counted::of(outcome);
        match self.transactional {
            true => self.window().done.push(counted),
            false => counted.count(&self.metrics),
        }
        let record = &item.received.record;
        self.partitions.done(record.partition, item.epoch, record.offset);
    }

    fn store(&mut self) {
        let positions = self.partitions.committable();
        if positions.is_empty() {
            return;
        }
        if let Err(error) = self.source.store(&positions) {
            // A partition revoked a moment ago: its next owner reads again.
            tracing::debug!(%error, "cannot store positions");
        }
    }

    /// Pauses every owned partition while too many fetched records wait or
    /// the model is down; resumes when half of them are taken. Pausing is
    /// not free (librdkafka drops what it prefetched and fetches it again on
    /// resume), hence the waiting records in between.
    fn apply_back_pressure(&mut self) {
        let waiting = self.waiting.len();
        let bound = (self.config.max_in_flight as usize).max(MIN_WAITING);
        let pause = self.model_down.is_some() || waiting >= bound;
        let resume = self.model_down.is_none() && waiting <= bound / 2;
        if pause && !self.paused {
            let owned = self.partitions.owned();
            tracing::debug!(waiting, model_down = self.model_down.is_some(), "pausing partitions");
            if let Err(error) = self.source.pause(&owned) {
                return self.source_failed("cannot pause partitions", error);
            }
            self.paused = true;
        } else if resume && self.paused {
            let owned = self.partitions.owned();
            tracing::debug!(waiting, "resuming partitions");
            if let Err(error) = self.source.resume(&owned) {
                return self.source_failed("cannot resume partitions", error);
            }
            self.paused = false;
        }
    }

    fn drain_budget(&self) -> Duration {
        // Leaves time for the commit and the source's close within the total
        // (see `application::run`).
        Duration::from_secs(self.config.shutdown_timeout_secs).mul_f64(0.6)
    }

    /// Sends what was fetched (unless the model or the sink is down), waits
    /// for every delivery until `deadline`, then commits.
    async fn drain(&mut self, deadline: Instant) -> Result<(), PipelineError> {
        tracing::info!(
            fetched = self.batch.len(),
            in_flight = self.partitions.in_flight(),
            "stopping: finishing in-flight records"
        );
        self.model_down = None;
        while self.fatal.is_none() && self.model_down.is_none() && self.doomed.is_none() {
            if !self.batch.is_empty() && self.model.pending() < MODEL_QUEUE {
                self.submit();
                continue;
            }
            if self.model.pending() == 0 {
                break;
            }
            match tokio::time::timeout_at(deadline, self.model.next()).await {
                Ok(done) => self.categorized(done).await,
                Err(_) => break,
            }
        }
        if self.transactional {
            return self.drain_transaction(deadline).await;
        }
        while self.unfinished() > 0 {
            match tokio::time::timeout_at(deadline, self.deliveries.next()).await {
                Ok(Some(done)) => self.delivered(done).await,
                Ok(None) | Err(_) => break,
            }
        }
        self.store();
        let positions = self.partitions.positions();
        let committed = match positions.is_empty() {
            true => Ok(()),
            false => self.source.commit(&positions).await,
        };
        match (self.unfinished(), committed) {
            (0, Ok(())) => Ok(()),
            (0, Err(error)) => Err(PipelineError::Uncommitted(error)),
            (unfinished, _) => Err(PipelineError::Unfinished(unfinished)),
        }
    }

    /// Commits the last window within `deadline`; after a fatal error, aborts it.
    async fn drain_transaction(&mut self, deadline: Instant) -> Result<(), PipelineError> {
        let end = async {
            if self.fatal.is_some() {
                if self.window.is_some() {
                    self.abort("stopping after a fatal error".into()).await;
                }
                return Ok(());
            }
            self.commit_window().await
        };
        match tokio::time::timeout_at(deadline, end).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(PipelineError::Aborted(reason)),
            Err(_) => Err(PipelineError::Unfinished(self.deliveries.len())),
        }
    }

    /// Deliveries whose records are still ours: a delivery of a partition
    /// revoked since can no longer move any position.
    fn unfinished(&self) -> usize {
        self.deliveries
            .iter()
            .filter_map(|sending| sending.item.as_ref())
            .filter(|(item, _)| self.partitions.is_current(item.received.record.partition, item.epoch))
            .count()
    }

    fn source_failed(&mut self, what: &str, error: SourceError) {
        match error {
            SourceError::Transient(error) => tracing::warn!(%error, "{what}"),
            SourceError::Fatal(error) => self.fail(format!("{what}: {error}")),
        }
    }

    /// Not ready from now on; the loop ends and drains.
    fn fail(&mut self, message: String) {
        if self.fatal.is_none() {
            tracing::error!(error = %message, "fatal: stopping (not ready); the orchestrator should restart the worker");
            self.metrics.kafka_errors.with_label_values(&["fatal"]).inc();
            self.health.set_fatal();
            self.fatal = Some(message);
        }
    }
}

fn too_large(detail: &str) -> Outcome {
    Outcome::DeadLetter(Rejection::new(
        RejectReason::OutputTooLarge,
        format!("the result is larger than the broker accepts: {detail}"),
    ))
}

fn describe(record: &SourceRecord, error: &SinkError) -> String {
    format!(
        "cannot publish the outcome of {} partition {} offset {}: {error}",
        record.topic, record.partition, record.offset
    )
}

#[cfg(test)]
mod tests;
