//! At-least-once: a partition's position is stored in the source once every
//! record before it is done; the source commits stored positions on its own
//! schedule, and explicitly on revoke and shutdown.

use tokio::time::Instant;

use super::{await_deliveries, CommitStrategy};
use crate::app::pipeline::{PipelineError, Settled, Stages};
use crate::ports::{OutputSink, RecordSource};

#[derive(Debug, Default)]
pub struct AtLeastOnce;

impl<S: RecordSource, K: OutputSink<Meta = S::Meta>> CommitStrategy<S, K> for AtLeastOnce {
    fn settled(&mut self, stages: &mut Stages<S, K>, settled: Settled) {
        match settled {
            Settled::Done(counted) => counted.count(&stages.metrics),
            // Withdrawn with a revoked partition's outputs: this partition is
            // still ours, so it is read again from its stored position.
            Settled::Withdrawn(partition) => stages.rewind(Some(&[partition])),
            Settled::Failed(fault) => stages.fail(fault),
            Settled::Nothing => {}
        }
    }

    fn may_publish(&mut self, _stages: &mut Stages<S, K>) -> bool {
        true
    }

    fn wakes_at(&self) -> Option<Instant> {
        None
    }

    async fn checkpoint(&mut self, stages: &mut Stages<S, K>) {
        stages.store();
    }

    /// Waits for the partitions' outputs until `deadline`, withdraws those
    /// still unsettled (so none lands after the next owner's), and stores
    /// and commits the partitions' positions.
    async fn revoke(&mut self, stages: &mut Stages<S, K>, partitions: &[i32], lost: bool, deadline: Instant) {
        if !lost {
            await_deliveries(self, stages, deadline, |s| s.partitions.sending(partitions) > 0).await;
        }
        let unsettled = stages.partitions.sending(partitions);
        if unsettled > 0 {
            tracing::warn!(
                ?partitions,
                unsettled,
                "revoked partitions' outputs not acknowledged in time: withdrawn, the next owner reads them again"
            );
            stages.metrics.faults.with_label_values(&["outputs_withdrawn"]).inc();
            stages.publisher.sink.release(partitions);
        }
        let positions: Vec<(i32, i64)> = partitions.iter().filter_map(|p| stages.partitions.revoke(*p)).collect();
        if lost || positions.is_empty() {
            return;
        }
        // Stored too: librdkafka commits a revoked partition's stored
        // position as it lets it go, after this commit, and an older one
        // would move the group back.
        if let Err(error) = stages.intake.source.store(&positions) {
            tracing::warn!(%error, "cannot store the revoked partitions' positions");
        }
        match stages.intake.source.commit(&positions).await {
            Ok(()) => tracing::info!(?positions, "revoked partitions' positions committed"),
            Err(error) => {
                tracing::warn!(%error, "cannot commit the revoked partitions' positions; the next owner may repeat some");
            }
        }
    }

    /// Publishes what is left, waits for every delivery until `deadline`,
    /// then commits every position.
    async fn drain(&mut self, stages: &mut Stages<S, K>, deadline: Instant) -> Result<(), PipelineError> {
        super::publish(self, stages);
        await_deliveries(self, stages, deadline, |s| s.unfinished() > 0 || s.publisher.has_outbox()).await;
        stages.store();
        let positions = stages.partitions.positions();
        let committed = match positions.is_empty() {
            true => Ok(()),
            false => stages.intake.source.commit(&positions).await,
        };
        match (stages.unfinished(), committed) {
            (0, Ok(())) => Ok(()),
            (0, Err(error)) => Err(PipelineError::Uncommitted(error)),
            (unfinished, _) => Err(PipelineError::Unfinished(unfinished)),
        }
    }
}
