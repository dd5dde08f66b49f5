//! Commit strategies: how positions move past finished records. One is
//! chosen at start; the loop hands it what settled and when to checkpoint,
//! revoke or drain, and never asks which guarantee is on.
//!
//! - [`AtLeastOnce`]: positions are stored in the source behind acknowledged
//!   outputs, and committed by the source on its schedule.
//! - [`ExactlyOnce`]: outputs and the positions after them are committed in
//!   one sink transaction per window; a failed window is aborted and its
//!   records read again.

mod at_least_once;
mod exactly_once;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

pub use at_least_once::AtLeastOnce;
pub use exactly_once::ExactlyOnce;

/// How long a full in-flight budget is taken to be a short wait, during
/// which records that cannot be taken are left in the source.
pub const SHORT_HOLD: Duration = Duration::from_secs(1);

use super::{PipelineError, Settled, Stages};
use crate::ports::{OutputSink, RecordSource, SinkError};

pub trait CommitStrategy<S: RecordSource, K: OutputSink<Meta = S::Meta>>: Send {
    /// A record's outcome is final, or its delivery failed.
    fn settled(&mut self, stages: &mut Stages<S, K>, settled: Settled);

    /// Whether outputs may go to the sink now (and, for a transaction, it is
    /// open to take them).
    fn may_publish(&mut self, stages: &mut Stages<S, K>) -> bool;

    /// When the loop must wake for the strategy.
    fn wakes_at(&self) -> Option<Instant>;

    /// Ends with the outcome of a commit running beside the loop; pending
    /// while none runs.
    fn committing(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        std::future::pending()
    }

    /// Takes the outcome `committing` ended with.
    fn committed(
        &mut self,
        _stages: &mut Stages<S, K>,
        _result: Result<(), SinkError>,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Moves positions forward, once a loop turn.
    fn checkpoint(&mut self, stages: &mut Stages<S, K>) -> impl Future<Output = ()> + Send;

    /// Finishes with `partitions` (their records already dropped from the
    /// stages) before the source lets them go, by `deadline`.
    fn revoke(
        &mut self,
        stages: &mut Stages<S, K>,
        partitions: &[i32],
        lost: bool,
        deadline: Instant,
    ) -> impl Future<Output = ()> + Send;

    /// The last positions at shutdown, by `deadline`.
    fn drain(
        &mut self,
        stages: &mut Stages<S, K>,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), PipelineError>> + Send;
}

/// Waits, until `deadline`, for deliveries while `wanted` holds; what
/// settles goes to the strategy, and outputs held behind a full sink queue
/// are offered as room comes. Every bounded wait for acknowledgements goes
/// through here.
pub async fn await_deliveries<S, K, C>(
    strategy: &mut C,
    stages: &mut Stages<S, K>,
    deadline: Instant,
    wanted: impl Fn(&Stages<S, K>) -> bool,
) where
    S: RecordSource,
    K: OutputSink<Meta = S::Meta>,
    C: CommitStrategy<S, K>,
{
    while wanted(stages) {
        match tokio::time::timeout_at(deadline, stages.publisher.next_delivered()).await {
            Ok(Some(done)) => {
                let settled = stages.settle(done);
                strategy.settled(stages, settled);
                publish(strategy, stages);
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Hands the outbox to the sink when the strategy lets outputs go; a refusal
/// for good goes to the strategy (it dooms a transaction, or is fatal).
pub fn publish<S, K, C>(strategy: &mut C, stages: &mut Stages<S, K>)
where
    S: RecordSource,
    K: OutputSink<Meta = S::Meta>,
    C: CommitStrategy<S, K>,
{
    if stages.fatal.is_some() || !stages.publisher.has_outbox() || !strategy.may_publish(stages) {
        return;
    }
    if let Err(fault) = stages.publish() {
        strategy.settled(stages, Settled::Failed(fault));
    }
}
