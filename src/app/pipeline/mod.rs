//! The delivery core: records from a source, in batches through the model,
//! outcomes to a sink in offset order, positions stored only behind outcomes
//! that are final. Transport-free: the Kafka adapters and the in-memory broker
//! implement its ports.
//!
//! What it promises (each is a test in `tests.rs`):
//! - every record taken ends as one categorized, dead-lettered or skipped
//!   outcome, or is read again after a restart or by the next owner;
//! - outputs of one partition are handed to the sink in offset order, and no
//!   output is ever re-sent after a later one;
//! - nothing blocks the loop: back-pressure, a full sink queue, a model that
//!   fails or hangs, and a transaction waiting for its acknowledgements all
//!   pause partitions and keep polling, so rebalances and shutdown are served;
//! - on revoke it waits (bounded) for the partitions' outputs, commits their
//!   position, drops their fetched records, withdraws what did not settle,
//!   and only then lets them go;
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
mod publisher;
mod tally;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::PipelineConfig;
use model_thread::{Categorized, ModelThread, ModelThreadGone};
use partitions::{Epoch, Partitions};
use publisher::{too_large, Delivered, Publisher, Refused};
use tally::Counted;

use super::{Categorizer, ModelUnavailable, Outcome, SourceRecord};
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
/// Batches handed to the model at once: one in the model, one ready to start
/// the moment it is done.
const MODEL_QUEUE: usize = 2;
/// Exactly-once: longest time one commit of a window may block the loop
/// before it is tried again on the next turn.
const COMMIT_BUDGET: Duration = Duration::from_secs(5);
/// Exactly-once: how soon a commit whose outcome is unknown is tried again.
const COMMIT_RETRY: Duration = Duration::from_millis(100);

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
    #[error("the last transaction was not committed ({0}); its records will be read again")]
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

/// Exactly-once: the records since the last commit, to be committed together.
struct Window {
    opened: std::time::Instant,
    deadline: Instant,
    /// Outcomes of the records done in the window, counted at its commit.
    done: Vec<Counted>,
    /// The sink's transaction is open.
    began: bool,
    /// Full or out of time: no output joins it any more; it commits once
    /// its outputs are acknowledged.
    closing: bool,
    /// A commit of these positions timed out with its outcome unknown: the
    /// same commit is tried again at the instant given.
    committing: Option<(Vec<(i32, i64)>, Instant)>,
}

impl Window {
    /// When the loop must wake for this window: at its deadline, or for a
    /// commit to try again.
    fn wakes_at(&self) -> Option<Instant> {
        match (&self.committing, self.closing) {
            (_, false) => Some(self.deadline),
            (Some((_, retry_at)), true) => Some(*retry_at),
            (None, true) => None,
        }
    }
}

/// The model is failing on everything: the batch is held until this retry.
struct ModelDown {
    retry_at: Instant,
    backoff: Duration,
}

pub struct Pipeline<S: RecordSource, K: OutputSink<Meta = S::Meta>> {
    source: S,
    publisher: Publisher<K>,
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
    paused: bool,
    model_down: Option<ModelDown>,
    /// A model call runs past `MODEL_CALL_TIMEOUT_MS`.
    model_stalled: bool,
    /// While the model is down: records at the front of `batch` held for
    /// its retry, and batches still to come back that are held behind them.
    held: usize,
    held_behind: usize,
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
            publisher: Publisher::new(sink),
            model: ModelThread::start(categorizer)?,
            metrics,
            health,
            waiting: VecDeque::new(),
            batch: Vec::with_capacity(config.batch_size as usize),
            config,
            partitions: Partitions::default(),
            batch_deadline: Instant::now(),
            paused: false,
            model_down: None,
            model_stalled: false,
            held: 0,
            held_behind: 0,
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
            let window_ends = self.window.as_ref().and_then(Window::wakes_at);
            let model_deadline = self.model_deadline().filter(|_| !self.model_stalled);
            let publish_at = self.publisher.retry_at();
            // Records the source has ready go before a partial batch, so that
            // the model gets what arrived together in one call.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                done = self.model.next(), if self.model.pending() > 0 => self.categorized(done),
                Some(done) = self.publisher.next_delivered(), if self.publisher.has_deliveries() => {
                    self.delivered(done);
                    self.delivered_ready();
                }
                () = sleep_until(window_ends), if window_ends.is_some() => {}
                () = sleep_until(model_deadline), if model_deadline.is_some() => self.model_stalls(),
                () = sleep_until(publish_at), if publish_at.is_some() => {}
                event = self.source.next(), if self.polls_source() => self.on_event(event).await,
                () = sleep_until(flush_at), if flush_at.is_some() => self.submit(),
            }
            self.publish();
            self.checkpoint().await;
            self.feed_model();
            self.publish();
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
            || self.model_stalled
            || self.partitions.in_flight() >= self.config.max_in_flight as usize
    }

    /// Moves positions forward: stored for the source's next commit, or, in
    /// exactly-once, committed with the window's transaction when it is due
    /// and its outputs are acknowledged (the loop goes on meanwhile).
    async fn checkpoint(&mut self) {
        if !self.transactional {
            return self.store();
        }
        if let Some(reason) = self.doomed.take() {
            return self.abort(reason).await;
        }
        let max_records = self.config.txn_max_records as usize;
        let Some(window) = self.window.as_mut() else { return };
        if !window.closing && (window.done.len() >= max_records || Instant::now() >= window.deadline) {
            window.closing = true;
        }
        if window.closing && !self.publisher.has_deliveries() {
            let _ = self.commit_window(COMMIT_BUDGET).await;
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
            closing: false,
            committing: None,
        })
    }

    /// Waits, until `deadline`, for every output of the window, then commits
    /// it within what is left (at least a moment). An output not acknowledged
    /// in time aborts the window.
    async fn finish_window(&mut self, deadline: Instant) -> Result<(), String> {
        if self.window.is_none() {
            return Ok(());
        }
        self.await_deliveries(deadline, |p| p.publisher.has_deliveries()).await;
        if self.publisher.has_deliveries() && self.fatal.is_none() {
            self.doomed.get_or_insert_with(|| "outputs not acknowledged in time".into());
        }
        let budget = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        self.commit_window(budget).await
    }

    /// Commits the window, whose outputs are all acknowledged, with the
    /// positions after them. An abortable failure aborts and rewinds it; a
    /// commit that ran out of `budget` stays pending and is tried again.
    async fn commit_window(&mut self, budget: Duration) -> Result<(), String> {
        if let Some(fatal) = &self.fatal {
            return Err(fatal.clone());
        }
        if let Some(reason) = self.doomed.take() {
            self.abort(reason.clone()).await;
            return Err(reason);
        }
        let Some(window) = self.window.as_mut() else { return Ok(()) };
        let positions = match window.committing.take() {
            Some((positions, _)) => positions,
            None => self.partitions.committable(),
        };
        let (records, opened) = (window.done.len(), window.opened);
        if !window.began {
            if positions.is_empty() {
                self.window = None;
                return Ok(());
            }
            window.began = true;
            if let Err(error) = self.publisher.sink.begin() {
                return self.transaction_failed(error, positions).await;
            }
        }
        let span = tracing::info_span!("commit transaction", records, partitions = positions.len());
        match self.publisher.sink.commit(&positions, budget).instrument(span).await {
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
            Err(error) => self.transaction_failed(error, positions).await,
        }
    }

    async fn transaction_failed(&mut self, error: SinkError, positions: Vec<(i32, i64)>) -> Result<(), String> {
        let reason = format!("cannot commit the transaction: {error}");
        match error {
            SinkError::Abortable(_) => self.abort(reason.clone()).await,
            // librdkafka's answer to a commit that timed out: commit again;
            // an abort now fails with a conflicting commit in progress.
            SinkError::CommitPending(_) => {
                tracing::warn!(%reason, "the commit's outcome is not known yet; committing again");
                self.metrics.kafka_errors.with_label_values(&["commit_pending"]).inc();
                if let Some(window) = self.window.as_mut() {
                    window.committing = Some((positions, Instant::now() + COMMIT_RETRY));
                }
            }
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
        while let Ok(Some(_)) = tokio::time::timeout_at(settle, self.publisher.next_delivered()).await {}
        self.publisher.forget_deliveries();
        let began = self.window.take().is_some_and(|window| window.began);
        // A window whose transaction never began has nothing to abort (nor
        // to count): only its records are read again.
        if began {
            if let Err(error) = self.publisher.sink.abort().await {
                return self.fail(format!("cannot abort the transaction: {error}"));
            }
            self.metrics.transactions.with_label_values(&["aborted"]).inc();
        }
        self.rewind(None);
    }

    /// Reads the partitions (`None`: every one that moved since its last
    /// commit) again from their last committed position; what was taken of
    /// them since is dropped wherever it is.
    fn rewind(&mut self, only: Option<&[i32]>) {
        let positions = self.partitions.rewind(only);
        let partitions = &self.partitions;
        let current = |item: &Item<S::Meta>| partitions.is_current(item.received.record.partition, item.epoch);
        self.batch.retain(current);
        self.publisher.retain(current);
        self.waiting.retain(|received| !positions.iter().any(|(p, _)| *p == received.record.partition));
        self.model_up_if_nothing_held();
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
        if self.batch.is_empty() {
            self.batch_deadline = Instant::now() + Duration::from_millis(self.config.batch_timeout_ms);
        }
        self.batch.push(Item { received, epoch });
    }

    /// librdkafka keeps a partition's pause flag across revoke and assign:
    /// a partition comes back paused if it went paused, so its state is set
    /// here either way.
    fn assign(&mut self, partitions: Vec<i32>) {
        for &partition in &partitions {
            self.partitions.assign(partition);
        }
        let confirmed = self.source.confirm(&Rebalance::Assigned(partitions.clone()));
        if let Err(error) = confirmed {
            return self.source_failed("cannot take the assigned partitions", error);
        }
        let flow = match self.paused {
            true => self.source.pause(&partitions),
            false => self.source.resume(&partitions),
        };
        if let Err(error) = flow {
            self.source_failed("cannot pause or resume the assigned partitions", error);
        }
        self.health.set_group_joined(true);
        tracing::info!(?partitions, owned = ?self.partitions.owned(), paused = self.paused, "partitions assigned");
    }

    /// Finishes with revoked partitions before the source lets them go: waits
    /// (bounded) for their outputs, drops their fetched records, commits, and
    /// withdraws outputs that did not settle, so none lands after the next
    /// owner's.
    async fn revoke(&mut self, partitions: Vec<i32>, lost: bool) {
        let deadline = Instant::now() + Duration::from_secs(self.config.revoke_timeout_secs);
        if !lost {
            self.settle_model(deadline).await;
        }
        for &partition in &partitions {
            self.partitions.close(partition);
        }
        let fetched = self.batch.len() + self.waiting.len();
        let revoked = |record: &SourceRecord| partitions.contains(&record.partition);
        self.batch.retain(|item| !revoked(&item.received.record));
        self.waiting.retain(|received| !revoked(&received.record));
        self.publisher.retain(|item| !revoked(&item.received.record));
        self.model_up_if_nothing_held();
        let dropped = fetched - self.batch.len() - self.waiting.len();
        if self.transactional {
            // A lost partition's position cannot be committed any more: the
            // whole open transaction goes, the partitions kept are rewound.
            if !lost {
                let _ = self.finish_window(deadline).await;
            } else if self.window.is_some() {
                self.abort("partitions lost".into()).await;
            }
        } else {
            if !lost {
                self.await_deliveries(deadline, |p| p.partitions.sending(&partitions) > 0).await;
            }
            let unsettled = self.partitions.sending(&partitions);
            if unsettled > 0 {
                tracing::warn!(
                    ?partitions,
                    unsettled,
                    "revoked partitions' outputs not acknowledged in time: withdrawn, the next owner reads them again"
                );
                self.publisher.sink.release(&partitions);
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

    /// When the model's current call is past its deadline.
    fn model_deadline(&self) -> Option<Instant> {
        let since = self.model.busy_since()?;
        Some(Instant::from_std(since) + Duration::from_millis(self.config.model_call_timeout_ms))
    }

    /// Hands up to a batch to the model.
    fn submit(&mut self) {
        let take = self.batch.len().min(self.config.batch_size as usize);
        let items: Vec<Item<S::Meta>> = self.batch.drain(..take).collect();
        if let Err(gone) = self.model.submit(items) {
            self.fail(gone.to_string());
        }
    }

    /// A model call runs past its deadline: not ready, and the partitions
    /// pause (polling goes on, so the group is kept) until it returns.
    fn model_stalls(&mut self) {
        let timeout = Duration::from_millis(self.config.model_call_timeout_ms);
        tracing::error!(
            ?timeout,
            "a model call is taking longer than MODEL_CALL_TIMEOUT_MS: not ready until it returns"
        );
        self.metrics.kafka_errors.with_label_values(&["model_stalled"]).inc();
        self.health.set_model_stalled(true);
        self.model_stalled = true;
    }

    /// Queues each outcome of a batch back from the model for the sink, in
    /// order.
    fn categorized(&mut self, done: Result<Categorized<S::Meta>, ModelThreadGone>) {
        let Categorized { items, outcomes, took } = match done {
            Ok(done) => done,
            Err(gone) => return self.fail(gone.to_string()),
        };
        if std::mem::take(&mut self.model_stalled) {
            tracing::info!(took = ?took, "the stalled model call returned");
            self.health.set_model_stalled(false);
        }
        if self.held_behind > 0 {
            return self.hold_behind(items);
        }
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(unavailable) => return self.hold(items, unavailable),
        };
        self.metrics.inference_duration.observe(took.as_secs_f64());
        self.metrics.batch_size.observe(items.len() as f64);
        // While the model is down only its retry is in the model: this is it
        // (or, after a revoke took the held records, a new batch).
        if self.model_down.take().is_some() {
            tracing::info!("the model answers again; processing resumes");
        }
        self.health.set_model_available(true);
        for (item, outcome) in items.into_iter().zip(outcomes) {
            // Rewound or revoked while in the model: read again, or not ours.
            let record = &item.received.record;
            if !self.partitions.is_current(record.partition, item.epoch) {
                continue;
            }
            match outcome {
                Outcome::Skipped => self.finish(&item, &outcome),
                outcome => self.publisher.offer(item, outcome),
            }
        }
    }

    /// Receives every batch still in the model, until `deadline`.
    async fn settle_model(&mut self, deadline: Instant) {
        while self.model.pending() > 0 && self.fatal.is_none() {
            match tokio::time::timeout_at(deadline, self.model.next()).await {
                Ok(done) => self.categorized(done),
                Err(_) => return,
            }
        }
        self.publish();
    }

    /// The model failed on everything: keep the batch in front of the
    /// records taken after it, retry later, not ready. Batches handed over
    /// after it are held behind it as they come back, whatever their result.
    fn hold(&mut self, items: Vec<Item<S::Meta>>, unavailable: ModelUnavailable) {
        let backoff = self.model_down.as_ref().map_or(MODEL_RETRY_MIN, |down| (down.backoff * 2).min(MODEL_RETRY_MAX));
        if self.model_down.is_none() {
            tracing::warn!(error = %unavailable, retry_in = ?backoff, held = items.len(), "model unavailable; holding the batch");
            self.health.set_model_available(false);
            self.metrics.kafka_errors.with_label_values(&["model_unavailable"]).inc();
        }
        self.held = items.len();
        self.held_behind = self.model.pending();
        self.batch.splice(0..0, items);
        self.model_down = Some(ModelDown { retry_at: Instant::now() + backoff, backoff });
    }

    /// A batch handed over before the model failed on the one ahead of it:
    /// its records go back behind those held, in order.
    fn hold_behind(&mut self, items: Vec<Item<S::Meta>>) {
        self.held_behind -= 1;
        let (at, count) = (self.held, items.len());
        self.batch.splice(at..at, items);
        self.held += count;
    }

    /// A revoke or rewind took every held record away: nothing is left to
    /// retry, so new records are the model's next probe instead of paused
    /// partitions waiting for ever.
    fn model_up_if_nothing_held(&mut self) {
        if self.model_down.is_some() && self.batch.is_empty() && self.held_behind == 0 {
            self.model_down = None;
        }
    }

    /// Hands the outbox to the sink, unless outputs must wait: a fatal
    /// error, a doomed transaction, or a window closing on its
    /// acknowledgements. A transaction begins with its first output.
    fn publish(&mut self) {
        if self.fatal.is_some() || self.doomed.is_some() || !self.publisher.has_outbox() {
            return;
        }
        if self.transactional {
            let window = self.window();
            if window.closing {
                return;
            }
            if !window.began {
                window.began = true;
                if let Err(error) = self.publisher.sink.begin() {
                    return self.doom_or_fail(None, error);
                }
            }
        }
        if let Err(Refused { error, record }) = self.publisher.publish(&mut self.partitions) {
            self.doom_or_fail(Some(&record), error);
        }
    }

    /// An abortable error dooms the open transaction; any other is fatal.
    fn doom_or_fail(&mut self, record: Option<&str>, error: SinkError) {
        let message = match record {
            Some(record) => format!("cannot publish the outcome of {record}: {error}"),
            None => format!("cannot open a transaction: {error}"),
        };
        match error {
            SinkError::Abortable(_) if self.transactional => {
                self.doomed.get_or_insert(message);
            }
            _ => self.fail(message),
        }
    }

    /// Handles every other delivery that already finished, so positions are
    /// stored once for all of them.
    fn delivered_ready(&mut self) {
        while let Some(done) = self.publisher.ready() {
            self.delivered(done);
        }
    }

    fn delivered(&mut self, (item, outcome, result): Delivered<S::Meta>) {
        let record = &item.received.record;
        self.partitions.delivered(record.partition, item.epoch);
        let current = self.partitions.is_current(record.partition, item.epoch);
        match result {
            Ok(()) => self.finish(&item, &outcome),
            // A result the broker refused as too large becomes a dead letter:
            // it goes to another topic, so sending it now reorders nothing.
            Err(SinkError::TooLarge(detail)) if matches!(outcome, Outcome::Categorized(_)) => {
                self.publisher.offer_first(item, too_large(&detail));
            }
            // Withdrawn with a revoked partition's outputs: this partition is
            // still ours, so it is read again from its stored position.
            Err(SinkError::Withdrawn) if current && !self.transactional => {
                let partition = record.partition;
                self.rewind(Some(&[partition]));
            }
            Err(SinkError::Withdrawn) => {}
            Err(_) if !current => {}
            Err(error) => self.doom_or_fail(Some(&describe(record)), error),
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

    /// At-least-once: the positions behind acknowledged outputs go to the
    /// source for its next commit; a rewind reads again from them.
    fn store(&mut self) {
        let refused = std::mem::take(&mut self.publisher.refused_full);
        self.metrics.publish_retries.inc_by(refused);
        let positions = self.partitions.committable();
        if positions.is_empty() {
            return;
        }
        self.partitions.committed(&positions);
        if let Err(error) = self.source.store(&positions) {
            // A partition revoked a moment ago: its next owner reads again.
            tracing::debug!(%error, "cannot store positions");
        }
    }

    /// Pauses every owned partition while too many fetched records wait or
    /// the model is down or stalled; resumes when half of them are taken.
    /// Pausing is not free (librdkafka drops what it prefetched and fetches
    /// it again on resume), hence the waiting records in between.
    fn apply_back_pressure(&mut self) {
        let waiting = self.waiting.len();
        let bound = (self.config.max_in_flight as usize).max(MIN_WAITING);
        let model_out = self.model_down.is_some() || self.model_stalled;
        let pause = model_out || waiting >= bound;
        let resume = !model_out && waiting <= bound / 2;
        if pause && !self.paused {
            let owned = self.partitions.owned();
            tracing::debug!(waiting, model_out, "pausing partitions");
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

    /// Waits, until `deadline`, for deliveries while `wanted` holds. Every
    /// bounded wait for acknowledgements goes through here.
    async fn await_deliveries(&mut self, deadline: Instant, wanted: impl Fn(&Self) -> bool) {
        while wanted(self) {
            match tokio::time::timeout_at(deadline, self.publisher.next_delivered()).await {
                Ok(Some(done)) => {
                    self.delivered(done);
                    self.publish_now();
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Like `publish`, also into a closing window: used while stopping, when
    /// everything goes into the last commit.
    fn publish_now(&mut self) {
        if let Some(window) = self.window.as_mut() {
            window.closing = false;
        }
        self.publish();
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
                Ok(done) => self.categorized(done),
                Err(_) => break,
            }
        }
        self.publish_now();
        // A full sink queue: offered again as deliveries finish.
        self.await_deliveries(deadline, |p| p.publisher.has_outbox() && p.fatal.is_none()).await;
        if self.transactional {
            return self.drain_transaction(deadline).await;
        }
        self.await_deliveries(deadline, |p| p.unfinished() > 0).await;
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

    /// Commits the last window within `deadline`; after a fatal error, aborts
    /// it. Outputs not acknowledged by then are left to the broker, which
    /// aborts their transaction (or the next instance fences it).
    async fn drain_transaction(&mut self, deadline: Instant) -> Result<(), PipelineError> {
        if self.fatal.is_some() {
            if self.window.as_ref().is_some_and(|window| window.began) {
                let aborted = tokio::time::timeout_at(deadline, self.publisher.sink.abort()).await;
                if !matches!(aborted, Ok(Ok(()))) {
                    tracing::warn!("cannot abort the last transaction; the broker aborts it when it times out");
                }
            }
            return Ok(());
        }
        self.await_deliveries(deadline, |p| p.publisher.has_deliveries()).await;
        if self.publisher.has_deliveries() {
            return Err(PipelineError::Unfinished(self.publisher.deliveries()));
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        if budget.is_zero() && self.window.is_some() {
            return Err(PipelineError::Aborted("no time left to commit".into()));
        }
        self.commit_window(budget).await.map_err(PipelineError::Aborted)
    }

    /// Deliveries whose records are still ours: a delivery of a partition
    /// revoked since can no longer move any position.
    fn unfinished(&self) -> usize {
        let partitions = &self.partitions;
        self.publisher.sending(|item| partitions.is_current(item.received.record.partition, item.epoch))
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

async fn sleep_until(at: Option<Instant>) {
    tokio::time::sleep_until(at.unwrap_or_else(Instant::now)).await;
}

/// Names a record in error messages.
fn describe(record: &SourceRecord) -> String {
    format!("{} partition {} offset {}", record.topic, record.partition, record.offset)
}

#[cfg(test)]
mod tests;
