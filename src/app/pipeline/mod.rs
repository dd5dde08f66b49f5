//! The delivery core: records from a source, in batches through the model,
//! outcomes to a sink in offset order, positions moved only behind outcomes
//! that are final. Transport-free: the Kafka adapters and the in-memory broker
//! implement its ports. `docs/architecture.md` draws the stages and names the
//! test behind each promise.
//!
//! The stages, each owning its state: the [`Intake`] (waiting records,
//! pause/resume), the [`ModelStage`] (batch, model thread, outage, call
//! deadline), the [`Publisher`] (outbox and deliveries), the offset tracker
//! ([`Partitions`]), and the commit strategy ([`CommitStrategy`]:
//! at-least-once or exactly-once, chosen at start). [`Stages`] holds the
//! first four and the moves between them; the loop is [`Pipeline::run`].
//!
//! What it promises (each is a test in `tests.rs`):
//! - every record taken ends as one categorized, dead-lettered or skipped
//!   outcome, or is read again after a restart or by the next owner;
//! - outputs of one partition are handed to the sink in offset order, and no
//!   output is ever re-sent after a later one;
//! - nothing blocks the loop: back-pressure, a full sink queue, a model that
//!   fails or hangs, and a transaction waiting for its acknowledgements all
//!   pause partitions and keep polling, so rebalances and shutdown are served;
//! - on revoke it waits (bounded) for the partitions' work, commits their
//!   position, drops their fetched records, and only then lets them go;
//! - a model failing on everything holds the batch and retries it (not ready),
//!   it never dead-letters the stream;
//! - a fatal sink or source error makes it not ready and ends it with an error.

mod commit;
mod config;
mod intake;
mod model_stage;
mod model_thread;
mod partitions;
mod publisher;
mod tally;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use commit::{AtLeastOnce, CommitStrategy, ExactlyOnce};
pub use config::PipelineConfig;
use intake::{weight, Intake};
use model_stage::{Back, ModelStage};
use model_thread::{Categorized, ModelThreadGone};
use partitions::{Epoch, Partitions};
use publisher::{too_large, Delivered, Publisher, Refused};
use tally::Counted;

use super::{Categorizer, Outcome, Output, SourceRecord};
use crate::health::Health;
use crate::ports::{OutputSink, Rebalance, Received, RecordSource, SinkError, SourceError, SourceEvent};
use crate::telemetry::Metrics;

/// Fetched records that may wait beyond `MAX_IN_FLIGHT` before the
/// partitions are paused.
const MIN_WAITING: usize = 1024;

/// Source events taken in one turn of the loop, when the source has them
/// ready: the other stages wait at most this long (~0.1 ms) for their turn.
const READY_BURST: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("stopped after a fatal error")]
    Fatal(#[source] Fault),
    #[error(
        "{0} outputs were not acknowledged within the shutdown timeout; their records stay uncommitted and will be \
         read again"
    )]
    Unfinished(usize),
    #[error("cannot commit the final positions; the records after the last commit will be read again")]
    Uncommitted(#[source] SourceError),
    #[error("the last transaction was not committed ({0}); its records will be read again")]
    Aborted(String),
}

/// Why the pipeline stops, or why a transaction must be aborted.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("cannot publish the outcome of {record}")]
    Publish {
        record: String,
        #[source]
        error: SinkError,
    },
    #[error("cannot open a transaction")]
    Begin(#[source] SinkError),
    #[error("cannot commit the transaction")]
    Commit(#[source] SinkError),
    #[error("cannot abort the transaction")]
    Abort(#[source] SinkError),
    #[error("{0} outputs of the transaction were not acknowledged in time")]
    Unacknowledged(usize),
    #[error("partitions lost")]
    PartitionsLost,
    #[error("{what}")]
    Source {
        what: &'static str,
        #[source]
        error: SourceError,
    },
    #[error("the model thread stopped")]
    ModelThreadGone(#[from] ModelThreadGone),
    #[error("a model call has not returned for {0:?}: hung; a restart starts a new ONNX Runtime session")]
    ModelHung(Duration),
}

impl Fault {
    /// An abort of the open transaction, and a retry of its records, can fix it.
    fn is_abortable(&self) -> bool {
        matches!(
            self,
            Fault::Publish { error: SinkError::Abortable(_), .. }
                | Fault::Begin(SinkError::Abortable(_))
                | Fault::Unacknowledged(_)
        )
    }
}

/// An error and its sources, on one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a finished delivery (or a skipped record) means for positions.
pub enum Settled {
    /// The record's outcome is final.
    Done(Counted),
    /// The output was withdrawn while its partition is still ours.
    Withdrawn(i32),
    Failed(Fault),
    /// Nothing to do: a stale epoch, or a dead letter sent in its place.
    Nothing,
}

/// A record on its way through: taken in `epoch` of its partition.
pub struct Item<M> {
    received: Received<M>,
    epoch: Epoch,
}

impl<M> AsRef<SourceRecord> for Item<M> {
    fn as_ref(&self) -> &SourceRecord {
        &self.received.record
    }
}

pub struct Pipeline<S: RecordSource, K: OutputSink<Meta = S::Meta>, C> {
    stages: Stages<S, K>,
    commit: C,
}

/// Everything the commit strategy acts on.
pub struct Stages<S: RecordSource, K: OutputSink<Meta = S::Meta>> {
    intake: Intake<S>,
    publisher: Publisher<K>,
    model: ModelStage<S::Meta>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    config: PipelineConfig,
    partitions: Partitions,
    /// Since when the in-flight budget has had no room.
    full_since: Option<Instant>,
    fatal: Option<Fault>,
}

impl<S, K, C> Pipeline<S, K, C>
where
    S: RecordSource,
    K: OutputSink<Meta = S::Meta>,
    C: CommitStrategy<S, K>,
{
    /// Starts the model's thread.
    pub fn new(
        source: S,
        sink: K,
        commit: C,
        categorizer: Arc<Categorizer>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        config: PipelineConfig,
    ) -> std::io::Result<Self> {
        let stages = Stages {
            intake: Intake::new(source),
            publisher: Publisher::new(sink, metrics.publish_retries.clone()),
            model: ModelStage::start(categorizer, &config, health.clone(), metrics.clone())?,
            metrics,
            health,
            config,
            partitions: Partitions::default(),
            full_since: None,
            fatal: None,
        };
        Ok(Pipeline { stages, commit })
    }

    /// Runs until `shutdown` or a fatal error, then finishes what it can
    /// within the shutdown timeout and commits. Gives the source back, for
    /// the adapter to close.
    pub async fn run(mut self, shutdown: CancellationToken) -> (S, Result<(), PipelineError>) {
        self.process(&shutdown).await;
        let deadline = Instant::now() + self.stages.drain_budget();
        for counted in self.stages.finish_model(deadline).await {
            self.commit.settled(&mut self.stages, Settled::Done(counted));
        }
        let drained = self.commit.drain(&mut self.stages, deadline).await;
        let result = match self.stages.fatal.take() {
            Some(fatal) => Err(PipelineError::Fatal(fatal)),
            None => drained,
        };
        (self.stages.intake.source, result)
    }

    async fn process(&mut self, shutdown: &CancellationToken) {
        while self.stages.fatal.is_none() {
            let stages = &mut self.stages;
            let flush_at = stages.model.flush_at();
            let strategy_wakes = self.commit.wakes_at();
            let model_deadline = stages.model.deadline();
            let publish_at = stages.publisher.retry_at();
            let polls_source = stages.polls_source();
            let poll_at = stages.full_since.map(|since| since + commit::SHORT_HOLD).filter(|at| Instant::now() < *at);
            // Records the source has ready go before a partial batch, so that
            // the model gets what arrived together in one call.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                done = stages.model.next(), if stages.model.pending() > 0 => {
                    for counted in stages.categorized(done) {
                        self.commit.settled(stages, Settled::Done(counted));
                    }
                }
                Some(done) = stages.publisher.next_delivered(), if stages.publisher.has_deliveries() => {
                    let settled = stages.settle(done);
                    self.commit.settled(stages, settled);
                    // Positions are stored once for every report already in.
                    while let Some(done) = stages.publisher.ready() {
                        let settled = stages.settle(done);
                        self.commit.settled(stages, settled);
                    }
                }
                result = self.commit.committing() => self.commit.committed(stages, result).await,
                () = sleep_until(strategy_wakes), if strategy_wakes.is_some() => {}
                () = sleep_until(model_deadline), if model_deadline.is_some() => stages.model_stalls(),
                () = sleep_until(publish_at), if publish_at.is_some() => {}
                () = sleep_until(poll_at), if poll_at.is_some() => {}
                event = stages.intake.source.next(), if polls_source => {
                    self.on_event(event).await;
                    self.take_ready().await;
                }
                () = sleep_until(flush_at), if flush_at.is_some() => stages.submit(),
            }
            commit::publish(&mut self.commit, &mut self.stages);
            self.commit.checkpoint(&mut self.stages).await;
            self.stages.feed_model();
            commit::publish(&mut self.commit, &mut self.stages);
            self.stages.note_room();
            self.stages.apply_back_pressure();
        }
    }

    /// Takes what the source has ready, up to [`READY_BURST`] events, while
    /// less than a batch waits: a turn of the loop per record cost more than
    /// taking the record. Otherwise (back-pressure, the model out) one event
    /// a turn, so that the other stages decide before each.
    async fn take_ready(&mut self) {
        for _ in 1..READY_BURST {
            let stages = &self.stages;
            if stages.fatal.is_some() || stages.intake.len() >= stages.config.batch_size as usize {
                return;
            }
            match self.stages.intake.source.next().now_or_never() {
                Some(event) => self.on_event(event).await,
                None => return,
            }
        }
    }

    async fn on_event(&mut self, event: Result<SourceEvent<S::Meta>, SourceError>) {
        match event {
            Ok(SourceEvent::Record(received)) => self.stages.intake.push(received),
            Ok(SourceEvent::Rebalance(Rebalance::Assigned(partitions))) => self.stages.assign(partitions),
            Ok(SourceEvent::Rebalance(Rebalance::Revoked { partitions, lost })) => self.revoke(partitions, lost).await,
            Err(SourceError::Transient(error)) => {
                self.stages.metrics.kafka_errors.with_label_values(&["consume"]).inc();
                tracing::warn!(%error, "consume failed; the consumer retries by itself");
            }
            Err(error) => self.stages.fail(Fault::Source { what: "cannot consume", error }),
        }
    }

    /// Finishes with revoked partitions before the source lets them go:
    /// takes the batch in the model through to its outputs (bounded), drops
    /// the partitions' records wherever they wait, then lets the commit
    /// strategy settle and commit them.
    async fn revoke(&mut self, partitions: Vec<i32>, lost: bool) {
        let deadline = Instant::now() + Duration::from_secs(self.stages.config.revoke_timeout_secs);
        if !lost {
            for counted in self.stages.settle_model(deadline).await {
                self.commit.settled(&mut self.stages, Settled::Done(counted));
            }
            commit::publish(&mut self.commit, &mut self.stages);
        }
        let dropped = self.stages.drop_partitions(&partitions);
        self.commit.revoke(&mut self.stages, &partitions, lost, deadline).await;
        if lost {
            self.stages.health.set_group_joined(!self.stages.partitions.owned().is_empty());
        }
        tracing::info!(?partitions, lost, dropped_fetched = dropped, "partitions revoked");
        let confirmed = self.stages.intake.source.confirm(&Rebalance::Revoked { partitions, lost });
        if let Err(error) = confirmed {
            self.stages.source_failed("cannot hand the revoked partitions over", error);
        }
    }
}

impl<S, K> Stages<S, K>
where
    S: RecordSource,
    K: OutputSink<Meta = S::Meta>,
{
    /// Whether to pull records from the source: while less than a batch
    /// waits, since the source's own prefetch queue is the buffer (pausing
    /// throws that queue away); and when no record can be taken, so that
    /// rebalances are served while back-pressure pauses the partitions,
    /// except during the first moments of a full in-flight budget (outputs
    /// held for a commit fill it too): records pulled then would only fill
    /// the waiting queue and pause the partitions, for a wait that usually
    /// ends in milliseconds, while librdkafka, resumed, fetches again only
    /// about a second later.
    fn polls_source(&self) -> bool {
        let short_hold = self.full_since.is_some_and(|since| since.elapsed() < commit::SHORT_HOLD);
        self.intake.len() < self.config.batch_size as usize || self.model.is_out() || (!self.may_take() && !short_hold)
    }

    fn note_room(&mut self) {
        match self.may_take() {
            true => self.full_since = None,
            false => _ = self.full_since.get_or_insert_with(Instant::now),
        }
    }

    /// Whether the in-flight budget (records and bytes) has room.
    fn may_take(&self) -> bool {
        self.partitions.in_flight() < self.config.max_in_flight as usize
            && self.partitions.in_flight_bytes() < self.config.max_in_flight_bytes as usize
    }

    // The intake: records in, partitions paused and resumed.

    /// Takes waiting records into the batch (up to a batch, while fewer than
    /// `MAX_IN_FLIGHT` are in flight) and hands full batches to the model
    /// while it has room. Records wait in the queue, not the batch: taking
    /// more than a batch would only move them around in memory.
    fn feed_model(&mut self) {
        loop {
            while !self.model.is_full() && self.may_take() && self.fatal.is_none() {
                let Some(received) = self.intake.pop() else { break };
                self.take(received);
            }
            if !self.model.has_room() || !self.model.is_full() {
                return;
            }
            self.submit();
        }
    }

    fn take(&mut self, received: Received<S::Meta>) {
        let record = &received.record;
        let Some(epoch) = self.partitions.take(record.partition, record.offset, weight(record)) else {
            tracing::debug!(
                partition = record.partition,
                offset = record.offset,
                "dropped a record of a partition not owned"
            );
            return;
        };
        self.metrics.consumed.with_label_values(&[&record.topic]).inc();
        self.model.push(Item { received, epoch });
    }

    fn assign(&mut self, partitions: Vec<i32>) {
        for &partition in &partitions {
            self.partitions.assign(partition);
        }
        let confirmed = self.intake.source.confirm(&Rebalance::Assigned(partitions.clone()));
        if let Err(error) = confirmed {
            return self.source_failed("cannot take the assigned partitions", error);
        }
        if let Err(error) = self.intake.assigned(&partitions) {
            self.source_failed("cannot pause or resume the assigned partitions", error);
        }
        self.health.set_group_joined(true);
        let paused = self.intake.is_paused();
        tracing::info!(?partitions, owned = ?self.partitions.owned(), paused, "partitions assigned");
    }

    /// Pauses every owned partition while too many fetched records (or
    /// bytes) wait or the model is down or stalled; resumes when half of
    /// them are taken. Pausing is not free (librdkafka drops what it
    /// prefetched and fetches it again on resume), hence the waiting records
    /// in between.
    fn apply_back_pressure(&mut self) {
        let (waiting, bytes) = (self.intake.len(), self.intake.bytes());
        let bound = (self.config.max_in_flight as usize).max(MIN_WAITING);
        let bytes_bound = self.config.max_in_flight_bytes as usize;
        let model_out = self.model.is_out();
        let pause = model_out || waiting >= bound || bytes >= bytes_bound;
        let resume = !model_out && waiting <= bound / 2 && bytes <= bytes_bound / 2;
        let paused = match (pause, resume) {
            (true, _) => true,
            (false, true) => false,
            (false, false) => return,
        };
        if paused != self.intake.is_paused() {
            tracing::debug!(waiting, bytes, model_out, paused, "partitions' flow changes");
        }
        if let Err(error) = self.intake.set_paused(paused, &self.partitions.owned()) {
            self.source_failed("cannot pause or resume partitions", error);
        }
    }

    /// Closes the partitions and drops their records wherever they wait (not
    /// sent: the next owner reads them). Returns how many were dropped.
    fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        for &partition in partitions {
            self.partitions.close(partition);
        }
        let fetched = self.model.len() + self.intake.len();
        let revoked = |record: &SourceRecord| partitions.contains(&record.partition);
        self.model.retain(|item| !revoked(&item.received.record));
        self.intake.retain(|record| !revoked(record));
        self.publisher.retain(|item| !revoked(&item.received.record));
        fetched - self.model.len() - self.intake.len()
    }

    /// Reads the partitions (`None`: every one that moved since its last
    /// commit) again from their last committed position; what was taken of
    /// them since is dropped wherever it is.
    fn rewind(&mut self, only: Option<&[i32]>) {
        let positions = self.partitions.rewind(only);
        let partitions = &self.partitions;
        let current = |item: &Item<S::Meta>| partitions.is_current(item.received.record.partition, item.epoch);
        self.model.retain(current);
        self.publisher.retain(current);
        self.intake.retain(|record| !positions.iter().any(|(p, _)| *p == record.partition));
        if positions.is_empty() {
            // Every partition concerned is being let go: its next owner reads
            // from the committed position.
            return;
        }
        tracing::info!(?positions, "rewound to the last committed positions");
        if let Err(error) = self.intake.source.rewind(&positions) {
            self.source_failed("cannot rewind the partitions", error);
        }
    }

    // The model: batches in, outcomes out.

    fn submit(&mut self) {
        if let Err(gone) = self.model.submit() {
            self.fail(gone.into());
        }
    }

    /// The model's call passed its deadline, or is hung for good.
    fn model_stalls(&mut self) {
        if let Err(after) = self.model.stalls() {
            self.fail(Fault::ModelHung(after));
        }
    }

    /// Queues each outcome of a batch back from the model for the sink, in
    /// order. Returns the skipped records, whose outcome is final at once.
    fn categorized(&mut self, done: Result<Categorized<S::Meta>, ModelThreadGone>) -> Vec<Counted> {
        let outcomes = match done.map(|done| self.model.received(done)) {
            Ok(Back::Done(outcomes)) => outcomes,
            Ok(Back::Held) => return Vec::new(),
            Err(gone) => {
                self.fail(gone.into());
                return Vec::new();
            }
        };
        let mut skipped = Vec::new();
        for (item, outcome) in outcomes {
            // Rewound or revoked while in the model: read again, or not ours.
            let record = &item.received.record;
            if !self.partitions.is_current(record.partition, item.epoch) {
                continue;
            }
            match outcome {
                Outcome::Categorized(event) => self.publisher.offer(item, Output::Categorized(event)),
                Outcome::DeadLetter(rejection) => self.publisher.offer(item, Output::DeadLetter(rejection)),
                Outcome::Skipped(reason) => {
                    self.finish(&item);
                    skipped.push(Counted::Skipped(reason));
                }
            }
        }
        skipped
    }

    /// Receives every batch still in the model, until `deadline`. Skipped
    /// records' outcomes are final at once: counted here, so a strategy
    /// that counts at commit counts them once their position moves anyway.
    async fn settle_model(&mut self, deadline: Instant) -> Vec<Counted> {
        let mut skipped = Vec::new();
        while self.model.pending() > 0 && self.fatal.is_none() {
            match tokio::time::timeout_at(deadline, self.model.next()).await {
                Ok(done) => skipped.extend(self.categorized(done)),
                Err(_) => break,
            }
        }
        skipped
    }

    /// At shutdown: what was fetched goes through the model (unless it is
    /// down), until `deadline`.
    async fn finish_model(&mut self, deadline: Instant) -> Vec<Counted> {
        tracing::info!(
            fetched = self.model.len(),
            in_flight = self.partitions.in_flight(),
            "stopping: finishing in-flight records"
        );
        self.model.retry_now();
        let mut skipped = Vec::new();
        while self.fatal.is_none() && !self.model.is_down() {
            if self.model.len() > 0 && self.model.has_room() {
                self.submit();
                continue;
            }
            if self.model.pending() == 0 {
                break;
            }
            match tokio::time::timeout_at(deadline, self.model.next()).await {
                Ok(done) => skipped.extend(self.categorized(done)),
                Err(_) => break,
            }
        }
        skipped
    }

    // The publisher's side: outputs out, deliveries back.

    /// Hands the outbox to the sink; a refusal for good is returned.
    fn publish(&mut self) -> Result<(), Fault> {
        self.publisher
            .publish(&mut self.partitions)
            .map_err(|Refused { error, record }| Fault::Publish { record, error })
    }

    /// What a finished delivery means.
    fn settle(&mut self, (item, counted, result): Delivered<S::Meta>) -> Settled {
        let record = &item.received.record;
        self.partitions.delivered(record.partition, item.epoch);
        let current = self.partitions.is_current(record.partition, item.epoch);
        match result {
            Ok(()) => {
                self.finish(&item);
                Settled::Done(counted)
            }
            // A result the broker refused as too large becomes a dead letter:
            // it goes to another topic, so sending it now reorders nothing.
            Err(SinkError::TooLarge(detail)) if matches!(counted, Counted::Categorized { .. }) => {
                self.publisher.offer_first(item, too_large(&detail));
                Settled::Nothing
            }
            Err(_) if !current => Settled::Nothing,
            Err(SinkError::Withdrawn) => Settled::Withdrawn(record.partition),
            Err(error) => Settled::Failed(Fault::Publish { record: describe(record), error }),
        }
    }

    /// The record's outcome is final: its position may move.
    fn finish(&mut self, item: &Item<S::Meta>) {
        let record = &item.received.record;
        self.partitions.done(record.partition, item.epoch, record.offset);
    }

    /// The positions behind finished records go to the source for its next
    /// commit; a rewind reads again from them.
    fn store(&mut self) {
        let positions = self.partitions.committable();
        if positions.is_empty() {
            return;
        }
        self.partitions.committed(&positions);
        if let Err(error) = self.intake.source.store(&positions) {
            // A partition revoked a moment ago: its next owner reads again.
            tracing::debug!(%error, "cannot store positions");
        }
    }

    /// Deliveries whose records are still ours: a delivery of a partition
    /// revoked since can no longer move any position.
    fn unfinished(&self) -> usize {
        let partitions = &self.partitions;
        self.publisher.sending(|item| partitions.is_current(item.received.record.partition, item.epoch))
    }

    fn drain_budget(&self) -> Duration {
        // Leaves time for the commit and the source's close within the total
        // (see `application::run`).
        Duration::from_secs(self.config.shutdown_timeout_secs).mul_f64(0.6)
    }

    fn source_failed(&mut self, what: &'static str, error: SourceError) {
        match error {
            SourceError::Transient(error) => tracing::warn!(%error, "{what}"),
            error => self.fail(Fault::Source { what, error }),
        }
    }

    /// Not ready from now on; the loop ends and drains.
    fn fail(&mut self, fault: Fault) {
        if self.fatal.is_none() {
            tracing::error!(error = %chain(&fault), "fatal: stopping (not ready); the orchestrator should restart the worker");
            self.metrics.faults.with_label_values(&["fatal"]).inc();
            self.health.set_fatal();
            self.fatal = Some(fault);
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
