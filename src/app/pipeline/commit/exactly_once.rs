//! Exactly-once: the outputs of a window of records and the positions after
//! them are committed in one sink transaction. A window that is due stops
//! taking outputs and commits once they are acknowledged; the loop goes on
//! reading and scoring meanwhile, and through the commit too, holding the
//! next outputs until it ends (a transactional producer sends nothing while
//! it commits). A window that fails is aborted and its partitions rewound to
//! their last committed position, so their records are processed again.

use std::future::Future;
use std::pin::Pin;
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
    /// The window before it, closed and being committed.
    commit: Option<Commit>,
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
}

/// A window whose outputs are all acknowledged, committed with the
/// positions after them while the loop goes on reading and scoring. Nothing
/// is sent until it ends.
struct Commit {
    window: Window,
    positions: Vec<(i32, i64)>,
    started: std::time::Instant,
    state: CommitState,
}

enum CommitState {
    Running(Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>),
    /// Timed out with its outcome unknown: the same commit is tried again
    /// at this instant.
    RetryAt(Instant),
}

impl ExactlyOnce {
    pub fn new(config: &PipelineConfig) -> Self {
        ExactlyOnce {
            max_records: config.txn_max_records as usize,
            max_time: Duration::from_millis(config.txn_max_ms),
            window: None,
            commit: None,
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
        })
    }

    /// Starts committing the open window (or again, the commit that timed
    /// out), with `budget` for it. A window that sent nothing and moved no
    /// position is just dropped.
    fn start_commit<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        budget: Duration,
    ) {
        let commit = match self.commit.take() {
            Some(commit) => commit,
            None => {
                let Some(mut window) = self.window.take() else { return };
                let positions = stages.partitions.committable();
                if !window.began {
                    if positions.is_empty() {
                        return;
                    }
                    window.began = true;
                    if let Err(error) = stages.publisher.sink.begin() {
                        self.window = Some(window);
                        return self.settled_fault(stages, Fault::Begin(error));
                    }
                }
                let started = std::time::Instant::now();
                Commit { window, positions, started, state: CommitState::RetryAt(Instant::now()) }
            }
        };
        let (records, partitions) = (commit.window.done.len(), commit.positions.len());
        let span = tracing::info_span!("commit transaction", records, partitions);
        let running = stages.publisher.sink.commit(&commit.positions, budget).instrument(span);
        self.commit = Some(Commit { state: CommitState::Running(Box::pin(running)), ..commit });
    }

    fn settled_fault<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        fault: Fault,
    ) {
        match fault.is_abortable() {
            true => _ = self.doomed.get_or_insert(fault),
            false => stages.fail(fault),
        }
    }

    /// Takes the outcome of the commit that ran: counts its window, or
    /// keeps it to try again, or aborts it.
    async fn ended<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        result: Result<(), SinkError>,
    ) -> Result<(), PipelineError> {
        let Some(commit) = self.commit.take() else { return Ok(()) };
        let Err(error) = result else {
            commit.count(stages);
            return Ok(());
        };
        let reason = format!("cannot commit the transaction: {error}");
        match error {
            SinkError::Abortable(_) => {
                self.commit = Some(commit);
                self.abort(stages, Fault::Commit(error)).await;
            }
            // librdkafka's answer to a commit that timed out: commit again;
            // an abort now fails with a conflicting commit in progress.
            SinkError::CommitPending(_) => {
                tracing::warn!(%reason, "the commit's outcome is not known yet; committing again");
                stages.metrics.faults.with_label_values(&["commit_pending"]).inc();
                let state = CommitState::RetryAt(Instant::now() + COMMIT_RETRY);
                self.commit = Some(Commit { state, ..commit });
            }
            _ => stages.fail(Fault::Commit(error)),
        }
        Err(PipelineError::Aborted(reason))
    }

    /// Runs the commit in progress (or the one to try again) to its end
    /// within `deadline`. One that has not ended by then is left running.
    async fn end_commit<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        deadline: Instant,
    ) -> Result<(), PipelineError> {
        loop {
            let Some(commit) = self.commit.as_mut() else { return Ok(()) };
            match &mut commit.state {
                CommitState::RetryAt(_) => {
                    let budget = deadline.saturating_duration_since(Instant::now()).max(MIN_COMMIT);
                    self.start_commit(stages, budget);
                }
                CommitState::Running(running) => {
                    let Ok(result) = tokio::time::timeout_at(deadline.max(Instant::now() + MIN_COMMIT), running).await
                    else {
                        return Err(PipelineError::Aborted("the commit did not end in time".into()));
                    };
                    let ended = self.ended(stages, result).await;
                    let retry = self.commit.is_some() && stages.fatal.is_none() && Instant::now() < deadline;
                    if ended.is_err() && !retry {
                        return ended;
                    }
                }
            }
        }
    }

    /// Commits the open window now, after the commit in progress, within
    /// `deadline`; a doomed window is aborted instead.
    async fn commit_now<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        deadline: Instant,
    ) -> Result<(), PipelineError> {
        self.end_commit(stages, deadline).await?;
        if self.doomed.is_none() {
            self.start_commit(stages, deadline.saturating_duration_since(Instant::now()).max(MIN_COMMIT));
        }
        if let Some(fault) = self.doomed.take() {
            let reason = fault.to_string();
            self.abort(stages, fault).await;
            return Err(PipelineError::Aborted(reason));
        }
        self.end_commit(stages, deadline).await
    }

    /// Waits, until `deadline`, for the commit in progress and for every
    /// output of the open window, then commits it within what is left. An
    /// output not acknowledged in time dooms it.
    async fn finish_window<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(
        &mut self,
        stages: &mut Stages<S, K>,
        deadline: Instant,
    ) -> Result<(), PipelineError> {
        self.end_commit(stages, deadline).await?;
        if self.window.is_some() {
            await_deliveries(self, stages, deadline, |s| s.publisher.has_deliveries()).await;
            if stages.publisher.has_deliveries() {
                self.doomed.get_or_insert(Fault::Unacknowledged(stages.publisher.deliveries()));
            }
        }
        self.commit_now(stages, deadline).await
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
        // A window whose transaction never began has nothing to abort (nor
        // to count): only its records are read again.
        let committing = self.commit.take().is_some_and(|commit| commit.window.began);
        let began = self.window.take().is_some_and(|window| window.began) || committing;
        if began {
            if let Err(error) = stages.publisher.sink.abort().await {
                return stages.fail(Fault::Abort(error));
            }
            stages.metrics.transactions.with_label_values(&["aborted"]).inc();
        }
        stages.rewind(None);
    }
}

impl Commit {
    fn count<S: RecordSource, K: TransactionalSink<Meta = S::Meta>>(self, stages: &mut Stages<S, K>) {
        let (records, positions, opened) = (self.window.done.len(), self.positions, self.window.opened);
        for counted in self.window.done {
            counted.count(&stages.metrics);
        }
        stages.partitions.committed(&positions);
        stages.metrics.transactions.with_label_values(&["committed"]).inc();
        stages.metrics.transaction_duration.observe(opened.elapsed().as_secs_f64());
        let (open, commit) = (opened.elapsed(), self.started.elapsed());
        tracing::debug!(records, ?positions, ?open, ?commit, "transaction committed");
    }
}

impl<S: RecordSource, K: TransactionalSink<Meta = S::Meta>> CommitStrategy<S, K> for ExactlyOnce {
    fn settled(&mut self, stages: &mut Stages<S, K>, settled: Settled) {
        match settled {
            Settled::Done(counted) => self.window().done.push(counted),
            Settled::Failed(fault) => self.settled_fault(stages, fault),
            // Nothing is withdrawn here (a revoke commits or aborts instead).
            Settled::Withdrawn(_) | Settled::Nothing => {}
        }
    }

    /// Not into a doomed or closing window, nor while a commit runs; a
    /// transaction begins with its first output.
    fn may_publish(&mut self, stages: &mut Stages<S, K>) -> bool {
        if self.doomed.is_some() || self.commit.is_some() {
            return false;
        }
        let window = self.window();
        if window.closing {
            return false;
        }
        if !window.began {
            window.began = true;
            if let Err(error) = stages.publisher.sink.begin() {
                self.settled_fault(stages, Fault::Begin(error));
                return false;
            }
        }
        true
    }

    /// A running commit and the acknowledgements of a closing window wake
    /// the loop themselves.
    fn wakes_at(&self) -> Option<Instant> {
        let retry_at = match self.commit.as_ref().map(|commit| &commit.state) {
            Some(CommitState::RetryAt(at)) => Some(*at),
            _ => None,
        };
        let deadline = self.window.as_ref().filter(|window| !window.closing).map(|window| window.deadline);
        retry_at.into_iter().chain(deadline).min()
    }

    async fn committing(&mut self) -> Result<(), SinkError> {
        match self.commit.as_mut().map(|commit| &mut commit.state) {
            Some(CommitState::Running(running)) => running.await,
            _ => std::future::pending().await,
        }
    }

    async fn committed(&mut self, stages: &mut Stages<S, K>, result: Result<(), SinkError>) {
        let _ = self.ended(stages, result).await;
    }

    async fn checkpoint(&mut self, stages: &mut Stages<S, K>) {
        if let Some(commit) = self.commit.as_ref() {
            if matches!(commit.state, CommitState::RetryAt(at) if Instant::now() >= at) {
                self.start_commit(stages, COMMIT_BUDGET);
            }
            return;
        }
        if let Some(fault) = self.doomed.take() {
            return self.abort(stages, fault).await;
        }
        let max_records = self.max_records;
        let Some(window) = self.window.as_mut() else { return };
        if !window.closing && (window.done.len() >= max_records || Instant::now() >= window.deadline) {
            window.closing = true;
        }
        if window.closing && !stages.publisher.has_deliveries() {
            self.start_commit(stages, COMMIT_BUDGET);
        }
    }

    /// Commits the open transaction before the partitions go (aborts it if
    /// they are lost: their positions can no longer be committed). Either
    /// waits for the commit in progress first.
    async fn revoke(&mut self, stages: &mut Stages<S, K>, partitions: &[i32], lost: bool, deadline: Instant) {
        if !lost {
            let _ = self.finish_window(stages, deadline).await;
        } else if self.end_commit(stages, deadline).await.is_ok() && self.window.is_some() {
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
            let began = self.window.as_ref().is_some_and(|window| window.began) || self.commit.is_some();
            if began {
                let aborted = tokio::time::timeout_at(deadline, stages.publisher.sink.abort()).await;
                if !matches!(aborted, Ok(Ok(()))) {
                    tracing::warn!("cannot abort the last transaction; the broker aborts it when it times out");
                }
            }
            return Ok(());
        }
        self.end_commit(stages, deadline).await?;
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
        self.commit_now(stages, deadline).await
    }
}
