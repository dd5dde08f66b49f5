//! Exactly-once: the outputs of a window of records and the positions after
//! them are committed in one sink transaction. A window that is due stops
//! taking outputs and commits once they are acknowledged; the loop goes on
//! meanwhile. A window that fails is aborted and its partitions rewound to
//! their last committed position, so their records are processed again.

use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::{await_deliveries, CommitStrategy};
use crate::app::pipeline::tally::Counted;
use crate::app::pipeline::{Fault, PipelineConfig, PipelineError, Settled, Stages};
use crate::ports::{RecordSource, SinkError, TransactionalSink};

/// On abort, how long deliveries of the aborted transaction may still take
/// to report.
const ABORT_SETTLE: Duration = Duration::from_millis(500);
/// Longest time one commit of a window may block the loop before it is
/// tried again on a later turn.
const COMMIT_BUDGET: Duration = Duration::from_secs(5);
/// How soon a commit whose outcome is unknown is tried again.
const COMMIT_RETRY: Duration = Duration::from_millis(100);
/// The least time a commit is given, even past a deadline.
const MIN_COMMIT: Duration = Duration::from_millis(100);

pub struct ExactlyOnce {
    max_records: usize,
    max_time: Duration,
    window: Option<Window>,
    /// Why the open transaction must be aborted.
    doomed: Option<Fault>,
}

/// The records since the last commit, to be committed together.
struct Window {
    opened: std::time::Instant,
    deadline: Instant,
    /// Outcomes of the records done in the window, counted at its commit.
    done: Vec<Counted>,
    /// The sink's transaction is open.
    began: bool,
    /// Full or out of time: no output joins it any more.
    closing: bool,
    /// A commit of these positions timed out with its outcome unknown: the
    /// same commit is tried again at the instant given.
    committing: Option<(Vec<(i32, i64)>, Instant)>,
}

impl ExactlyOnce {
    pub fn new(config: &PipelineConfig) -> Self {
        ExactlyOnce {
            max_records: config.txn_max_records as usize,
            max_time: Duration::from_millis(config.txn_max_ms),
            window: None,
            doomed: None,
        }
    }

    /// The window in progress, opened now if there is none.
    fn window(&mut self) -> &mut Window {
        let max_time = self.max_time;
        self.window.get_or_insert_with(|| Window {
            opened: std::time::Instant::now(),
            deadline: Instant::now() + max_time,
            done: Vec::new(),
            began: false,
            closing: false,
            committing: None,
        })
    }

    /// Waits, until `deadline`, for every output of the window, then commits
    /// it within what is left. An output not acknowledged in time dooms it.
    async fn finish_window<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        deadline: Instant,
    ) {
        if self.window.is_none() {
            return;
        }
        await_deliveries(self, stages, deadline, |s| s.publisher.has_deliveries()).await;
        if stages.publisher.has_deliveries() {
            self.doomed.get_or_insert(Fault::Unacknowledged(stages.publisher.deliveries()));
        }
        let budget = deadline.saturating_duration_since(Instant::now()).max(MIN_COMMIT);
        let _ = self.commit_window(stages, budget).await;
    }

    /// Commits the window, whose outputs are all acknowledged, with the
    /// positions after them. An abortable failure aborts and rewinds it; a
    /// commit that ran out of `budget` stays pending and is tried again.
    async fn commit_window<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        budget: Duration,
    ) -> Result<(), PipelineError> {
        if let Some(fault) = self.doomed.take() {
            let reason = fault.to_string();
            self.abort(stages, fault).await;
            return Err(PipelineError::Aborted(reason));
        }
        let Some(window) = self.window.as_mut() else { return Ok(()) };
        let positions = match window.committing.take() {
            Some((positions, _)) => positions,
            None => stages.partitions.committable(),
        };
        let (records, opened) = (window.done.len(), window.opened);
        if !window.began {
            if positions.is_empty() {
                self.window = None;
                return Ok(());
            }
            window.began = true;
            if let Err(error) = stages.publisher.sink.begin() {
                return self.commit_failed(stages, error, positions).await;
            }
        }
        let span = tracing::info_span!("commit transaction", records, partitions = positions.len());
        let commit_started = std::time::Instant::now();
        match stages.publisher.sink.commit(&positions, budget).instrument(span).await {
            Ok(()) => {
                for counted in self.window.take().map(|window| window.done).unwrap_or_default() {
                    counted.count(&stages.metrics);
                }
                stages.partitions.committed(&positions);
                stages.metrics.transactions.with_label_values(&["committed"]).inc();
                stages.metrics.transaction_duration.observe(opened.elapsed().as_secs_f64());
                let (open, commit) = (opened.elapsed(), commit_started.elapsed());
                tracing::debug!(records, ?positions, ?open, ?commit, "transaction committed");
                Ok(())
            }
            Err(error) => self.commit_failed(stages, error, positions).await,
        }
    }

    async fn commit_failed<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        error: SinkError,
        positions: Vec<(i32, i64)>,
    ) -> Result<(), PipelineError> {
        let reason = format!("cannot commit the transaction: {error}");
        match error {
            SinkError::Abortable(_) => self.abort(stages, Fault::Commit(error)).await,
            // librdkafka's answer to a commit that timed out: commit again;
            // an abort now fails with a conflicting commit in progress.
            SinkError::CommitPending(_) => {
                tracing::warn!(%reason, "the commit's outcome is not known yet; committing again");
                stages.metrics.faults.with_label_values(&["commit_pending"]).inc();
                if let Some(window) = self.window.as_mut() {
                    window.committing = Some((positions, Instant::now() + COMMIT_RETRY));
                }
            }
            _ => stages.fail(Fault::Commit(error)),
        }
        Err(PipelineError::Aborted(reason))
    }

    /// Aborts the open transaction and reads the records of its partitions
    /// again from their last committed position.
    async fn abort<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        reason: Fault,
    ) {
        tracing::warn!(reason = %crate::app::pipeline::chain(&reason), "aborting the transaction; its records are processed again");
        self.doomed = None;
        // Deliveries of the aborted outputs can no longer move a position,
        // but the sink learns from their results (which outputs the broker
        // refused as too large: a refused batch fails all its records, their
        // reports arriving one by one). Those that end soon run to their end.
        let settle = Instant::now() + ABORT_SETTLE;
        while let Ok(Some(_)) = tokio::time::timeout_at(settle, stages.publisher.next_delivered()).await {}
        stages.publisher.forget_deliveries();
        let began = self.window.take().is_some_and(|window| window.began);
        // A window whose transaction never began has nothing to abort (nor
        // to count): only its records are read again.
        if began {
            if let Err(error) = stages.publisher.sink.abort().await {
                return stages.fail(Fault::Abort(error));
            }
            stages.metrics.transactions.with_label_values(&["aborted"]).inc();
        }
        stages.rewind(None);
    }
}

impl<S: RecordSource, K: TransactionalSink<Meta = S::Meta>> CommitStrategy<S, K> for ExactlyOnce {
    fn settled(&mut self, stages: &mut Stages<S, K>, settled: Settled) {
        match settled {
            Settled::Done(counted) => self.window().done.push(counted),
            Settled::Failed(fault) if fault.is_abortable() => {
                self.doomed.get_or_insert(fault);
            }
            Settled::Failed(fault) => stages.fail(fault),
            // Nothing is withdrawn here (a revoke commits or aborts instead).
            Settled::Withdrawn(_) | Settled::Nothing => {}
        }
    }

    /// Not into a doomed or closing window; a transaction begins with its
    /// first output.
    fn may_publish(&mut self, stages: &mut Stages<S, K>) -> bool {
        if self.doomed.is_some() {
            return false;
        }
        let window = self.window();
        if window.closing {
            return false;
        }
        if !window.began {
            window.began = true;
            if let Err(error) = stages.publisher.sink.begin() {
                self.settled(stages, Settled::Failed(Fault::Begin(error)));
                return false;
            }
        }
        true
    }

    fn wakes_at(&self) -> Option<Instant> {
        let window = self.window.as_ref()?;
        match (&window.committing, window.closing) {
            (_, false) => Some(window.deadline),
            (Some((_, retry_at)), true) => Some(*retry_at),
            // Its acknowledgements wake the loop.
            (None, true) => None,
        }
    }

    async fn checkpoint(&mut self, stages: &mut Stages<S, K>) {
        if let Some(fault) = self.doomed.take() {
            return self.abort(stages, fault).await;
        }
        let max_records = self.max_records;
        let Some(window) = self.window.as_mut() else { return };
        if !window.closing && (window.done.len() >= max_records || Instant::now() >= window.deadline) {
            window.closing = true;
        }
        let retry_due = window.committing.as_ref().is_none_or(|(_, at)| Instant::now() >= *at);
        if window.closing && retry_due && !stages.publisher.has_deliveries() {
            let _ = self.commit_window(stages, COMMIT_BUDGET).await;
        }
    }

    /// Commits the open transaction before the partitions go (aborts it if
    /// they are lost: their positions can no longer be committed).
    async fn revoke(&mut self, stages: &mut Stages<S, K>, partitions: &[i32], lost: bool, deadline: Instant) {
        if !lost {
            self.finish_window(stages, deadline).await;
        } else if self.window.is_some() {
            self.abort(stages, Fault::PartitionsLost).await;
        }
        for &partition in partitions {
            stages.partitions.revoke(partition);
        }
    }

    /// Commits the last window within `deadline`; after a fatal error, aborts
    /// it. Outputs not acknowledged by then are left to the broker, which
    /// aborts their transaction (or the restarted instance fences it).
    async fn drain(&mut self, stages: &mut Stages<S, K>, deadline: Instant) -> Result<(), PipelineError> {
        if stages.fatal.is_some() {
            if self.window.as_ref().is_some_and(|window| window.began) {
                let aborted = tokio::time::timeout_at(deadline, stages.publisher.sink.abort()).await;
                if !matches!(aborted, Ok(Ok(()))) {
                    tracing::warn!("cannot abort the last transaction; the broker aborts it when it times out");
                }
            }
            return Ok(());
        }
        // Everything goes into the last commit.
        if let Some(window) = self.window.as_mut() {
            window.closing = false;
        }
        super::publish(self, stages);
        await_deliveries(self, stages, deadline, |s| s.publisher.has_deliveries() || s.publisher.has_outbox()).await;
        if stages.publisher.has_deliveries() {
            return Err(PipelineError::Unfinished(stages.publisher.deliveries()));
        }
        if self.window.is_some() && Instant::now() >= deadline {
            return Err(PipelineError::Aborted("no time left to commit".into()));
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        self.commit_window(stages, budget).await
    }
}
