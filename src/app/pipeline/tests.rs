//! The pipeline against the in-memory broker: each test drives one of the
//! delivery guarantees through the ports, with the test deciding when records
//! arrive, when outputs are acknowledged and when rebalances happen.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{AtLeastOnce, ExactlyOnce, Pipeline, PipelineConfig, PipelineError};
use crate::adapters::memory::{MemoryBroker, MemorySource};
use crate::app::{Categorizer, Output, Settings};
use crate::domain::{Category, InputKind, ModelInfo, ModelInput, Prediction, RejectReason};
use crate::health::Health;
use crate::ports::{PredictError, Predictor, Rebalance, SinkError};
use crate::telemetry::Metrics;

/// Category 0 for everything, unless broken. A closed gate holds every
/// call at its start, so a test can act while a batch is in the model.
#[derive(Clone, Default)]
struct Model {
    broken: Arc<AtomicBool>,
    /// This many batches fail whole: their call and every call after it
    /// (the categorizer's one-record retries and probe) until the next batch.
    failing_batches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    gate_closed: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Predictor for Model {
    fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        while self.gate_closed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if inputs.len() > 1 {
            let fails = self.failing_batches.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            self.failing.store(fails.is_ok(), Ordering::SeqCst);
        }
        if self.broken.load(Ordering::SeqCst) || self.failing.load(Ordering::SeqCst) {
            return Err(PredictError("the session is gone".into()));
        }
        Ok(inputs.iter().map(|_| Prediction { probabilities: vec![0.9, 0.1] }).collect())
    }
}

struct Harness {
    model: Model,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    task: JoinHandle<(MemorySource, Result<(), PipelineError>)>,
}

fn config() -> PipelineConfig {
    PipelineConfig {
        batch_size: 4,
        batch_timeout_ms: 5,
        model_call_timeout_ms: 5_000,
        max_in_flight: 1000,
        max_in_flight_bytes: 64 * 1024 * 1024,
        revoke_timeout_secs: 5,
        shutdown_timeout_secs: 5,
        txn_max_records: 1000,
        txn_max_ms: 60_000,
    }
}

fn start(config: PipelineConfig, broker: &MemoryBroker) -> Harness {
    let model = Model::default();
    let info = ModelInfo {
        name: "m".into(),
        version: "1".into(),
        input: InputKind::Text,
        categories: vec![
            Category { code: "A".into(), name: "A".into() },
            Category { code: "B".into(), name: "B".into() },
        ],
        review_threshold: None,
        heldout_flagged_ratio: None,
    };
    let categorizer = Categorizer::new(model.clone(), info, Settings { review_threshold: 0.5, max_text_chars: 100 });
    let health = Arc::new(Health::default());
    health.set_model_loaded();
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let shutdown = CancellationToken::new();
    let (source, sink, categorizer) = (broker.source(), broker.sink(), Arc::new(categorizer));
    let (health_, metrics_) = (health.clone(), metrics.clone());
    let task = match broker.is_transactional() {
        true => {
            let strategy = ExactlyOnce::new(&config);
            let pipeline = Pipeline::new(source, sink, strategy, categorizer, metrics_, health_, config);
            tokio::spawn(pipeline.expect("model thread").run(shutdown.clone()))
        }
        false => {
            let pipeline = Pipeline::new(source, sink, AtLeastOnce, categorizer, metrics_, health_, config);
            tokio::spawn(pipeline.expect("model thread").run(shutdown.clone()))
        }
    };
    Harness { model, health, metrics, shutdown, task }
}

impl Harness {
    async fn stop(self) -> Result<(), PipelineError> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("stops in time").expect("no panic").1
    }
}

const PRODUCT: &str = r#"{"product_id":"P","name":"pastilha"}"#;

fn produce(broker: &MemoryBroker, partition: i32, count: usize) {
    for _ in 0..count {
        broker.produce(partition, Some(PRODUCT));
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Lets the pipeline run for a while when the test expects nothing to happen.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn offsets(broker: &MemoryBroker, partition: i32) -> Vec<i64> {
    broker.sent().iter().filter(|s| s.partition == partition).map(|s| s.offset).collect()
}

#[tokio::test]
async fn outputs_are_sent_in_offset_order_and_positions_wait_for_every_earlier_ack() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0, 1]));
    produce(&broker, 0, 10);
    produce(&broker, 1, 3);
    let h = start(config(), &broker);
    eventually("13 outputs sent", || broker.sent().len() == 13).await;
    assert_eq!(offsets(&broker, 0), (0..10).collect::<Vec<_>>());
    assert_eq!(offsets(&broker, 1), vec![0, 1, 2]);

    // Acknowledged out of order, as outputs on different output partitions are.
    let p0: Vec<usize> = (0..13).filter(|i| broker.sent()[*i].partition == 0).collect();
    for &index in p0.iter().skip(1).rev() {
        broker.reply(index, Ok(()));
    }
    settle().await;
    assert_eq!(broker.stored(0).unwrap_or(0), 0, "offset 0 is not acknowledged: the position must stay at 0");
    broker.reply(p0[0], Ok(()));
    eventually("position 10 stored", || broker.stored(0) == Some(10)).await;
    broker.ack_all();
    eventually("position 3 stored", || broker.stored(1) == Some(3)).await;
    h.stop().await.expect("clean stop");
    assert_eq!(broker.committed(0), Some(10));
    assert_eq!(broker.committed(1), Some(3));
}

#[tokio::test]
async fn tombstones_are_skipped_in_order_and_bad_records_dead_lettered() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    broker.produce(0, Some(PRODUCT));
    broker.produce(0, None);
    broker.produce(0, Some("not json"));
    let h = start(config(), &broker);
    eventually("everything done", || broker.stored(0) == Some(3)).await;
    let sent = broker.sent();
    assert_eq!(sent.len(), 2, "the tombstone has no output");
    assert!(matches!(sent[0].output, Output::Categorized(_)));
    assert!(matches!(&sent[1].output, Output::DeadLetter(r) if r.reason == RejectReason::InvalidJson));
    h.stop().await.expect("clean stop");
}

/// Defect 2 of the review: acknowledgements of a revoked assignment arriving
/// after the partition came back must not move its position.
#[tokio::test]
async fn a_late_ack_from_before_a_revoke_cannot_move_the_position_of_the_reassignment() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { revoke_timeout_secs: 0, ..config() }, &broker);
    eventually("4 outputs sent", || broker.sent().len() == 4).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(0), "nothing was acknowledged");
    broker.rebalance(Rebalance::Assigned(vec![0]));
    eventually("the 4 records sent again", || broker.sent().len() == 8).await;
    for index in 0..4 {
        broker.reply(index, Ok(()));
    }
    settle().await;
    assert_eq!(broker.stored(0).unwrap_or(0), 0, "stale acknowledgements moved the position");
    for index in 4..8 {
        broker.reply(index, Ok(()));
    }
    eventually("position 4 stored", || broker.stored(0) == Some(4)).await;
    h.stop().await.expect("clean stop");
}

/// Defect 4: on revoke the pipeline finishes the partition's outputs before
/// letting it go, commits their position and drops what it fetched but did
/// not send.
#[tokio::test]
async fn a_revoke_waits_for_outputs_then_commits_before_handing_the_partition_over() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0, 1]));
    produce(&broker, 0, 3);
    let h = start(config(), &broker);
    eventually("3 outputs sent", || broker.sent().len() == 3).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    settle().await;
    assert_eq!(broker.confirmed().len(), 1, "the revoke must wait for the partition's outputs");
    broker.ack_all();
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(3), "committed before it was handed over");
    produce(&broker, 1, 1);
    broker.auto_ack(true);
    eventually("partition 1 goes on", || broker.stored(1) == Some(1)).await;
    h.stop().await.expect("clean stop");
}

/// Found by the scale-out run (a 1 -> 3 scale-up repeated ~250 results):
/// librdkafka commits a revoked partition's stored position as it lets it
/// go, after the revoke's own commit, so a stored position older than the
/// committed one moved the group back.
#[tokio::test]
async fn a_revoke_leaves_the_committed_position_where_its_own_commit_put_it() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    broker.auto_ack(true);
    produce(&broker, 0, 3);
    let h = start(config(), &broker);
    eventually("position 3 stored", || broker.stored(0) == Some(3)).await;
    broker.auto_ack(false);
    produce(&broker, 0, 3);
    eventually("6 outputs sent", || broker.sent().len() == 6).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    settle().await;
    assert_eq!(broker.confirmed().len(), 1, "the revoke waits for the 3 outputs");
    broker.ack_all();
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(6), "the next owner starts after the 6 results");
    h.stop().await.expect("clean stop");
}

/// Defect 5: at the in-flight bound the pipeline stops taking records, and
/// once enough fetched records wait it pauses partitions, but it keeps
/// polling, so a rebalance is still served.
#[tokio::test]
async fn back_pressure_pauses_partitions_and_rebalances_are_still_served() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let total = 8 + super::MIN_WAITING + 100;
    produce(&broker, 0, total);
    let h = start(PipelineConfig { max_in_flight: 8, ..config() }, &broker);
    eventually("paused", || broker.paused().contains(&0)).await;
    settle().await;
    assert_eq!(broker.sent().len(), 8, "the in-flight bound did not hold");
    broker.rebalance(Rebalance::Assigned(vec![1]));
    eventually("assignment served while paused", || broker.confirmed().len() == 2).await;
    assert!(broker.paused().contains(&1), "a partition assigned while paused starts paused");
    broker.auto_ack(true);
    broker.ack_all();
    eventually("everything sent after resuming", || broker.sent().len() == total).await;
    eventually("resumed", || broker.paused().is_empty()).await;
    eventually("every position stored", || broker.stored(0) == Some(total as i64)).await;
    h.stop().await.expect("clean stop");
}

/// Defect 6: a model failing on every input holds the batch, is not ready
/// and dead-letters nothing; the batch goes through once the model is back.
#[tokio::test]
async fn a_model_failing_on_everything_holds_the_stream_instead_of_dead_lettering_it() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(config(), &broker);
    h.model.broken.store(true, Ordering::SeqCst);
    produce(&broker, 0, 6);
    eventually("not ready", || !h.health.is_ready()).await;
    eventually("paused", || broker.paused().contains(&0)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(broker.sent().is_empty(), "nothing may be dead-lettered: {:?}", broker.sent());
    assert_eq!(broker.stored(0).unwrap_or(0), 0);
    h.model.broken.store(false, Ordering::SeqCst);
    eventually("all six categorized", || broker.sent().len() == 6).await;
    assert!(broker.sent().iter().all(|s| matches!(s.output, Output::Categorized(_))));
    assert_eq!(offsets(&broker, 0), (0..6).collect::<Vec<_>>());
    eventually("ready again", || h.health.is_ready()).await;
    h.stop().await.expect("clean stop");
}

/// The model runs on its own thread: while it works on a batch, the loop
/// still handles acknowledgements and stores positions.
#[tokio::test]
async fn acknowledgements_are_handled_while_the_model_works() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 4);
    let h = start(config(), &broker);
    eventually("the first batch sent", || broker.sent().len() == 4).await;
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    eventually("the second batch in the model", || h.model.calls.load(Ordering::SeqCst) == 2).await;
    broker.ack_all();
    eventually("position 4 stored while the model works", || broker.stored(0) == Some(4)).await;
    h.model.gate_closed.store(false, Ordering::SeqCst);
    broker.auto_ack(true);
    eventually("the second batch done", || broker.stored(0) == Some(8)).await;
    assert_eq!(offsets(&broker, 0), (0..8).collect::<Vec<_>>());
    h.stop().await.expect("clean stop");
}

/// Records wait in the source while the model is busy: the pipeline pulls
/// about a batch ahead, so a slow model does not pause the partitions (which
/// would throw the source's prefetched records away, to be fetched again).
#[tokio::test]
async fn a_busy_model_leaves_records_in_the_source_instead_of_pausing() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(config(), &broker);
    h.model.gate_closed.store(true, Ordering::SeqCst);
    let total = 2 * super::MIN_WAITING;
    produce(&broker, 0, total);
    eventually("a batch in the model", || h.model.calls.load(Ordering::SeqCst) == 1).await;
    settle().await;
    assert!(broker.paused().is_empty(), "paused while the model was merely busy");
    h.model.gate_closed.store(false, Ordering::SeqCst);
    eventually("everything sent", || broker.sent().len() == total).await;
    assert!(broker.paused().is_empty());
    h.stop().await.expect("clean stop");
}

/// The in-flight bound reached for a moment (acknowledgements on their way)
/// is not back-pressure: records stay in the source. Pulling them into the
/// waiting queue paused the partitions, which throws librdkafka's prefetch
/// away and, on resume, starved the worker for about a second: with
/// MAX_IN_FLIGHT=2000 the text model drained 7k records/s instead of 64k.
#[tokio::test]
async fn the_in_flight_bound_reached_for_a_moment_leaves_records_in_the_source_instead_of_pausing() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let total = 8 + super::MIN_WAITING + 100;
    produce(&broker, 0, total);
    let h = start(PipelineConfig { max_in_flight: 8, ..config() }, &broker);
    eventually("the in-flight bound reached", || broker.sent().len() == 8).await;
    tokio::time::sleep(super::commit::SHORT_HOLD / 4).await;
    assert!(broker.paused().is_empty(), "paused while acknowledgements were merely on their way");
    broker.auto_ack(true);
    broker.ack_all();
    eventually("everything sent", || broker.sent().len() == total).await;
    assert!(broker.paused().is_empty());
    h.stop().await.expect("clean stop");
}

/// A batch that fails in the model is retried before the batch handed over
/// after it, even when that one succeeded: a partition's outputs stay in
/// offset order.
#[tokio::test]
async fn a_failed_batch_is_retried_before_the_batch_that_followed_it_into_the_model() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(config(), &broker);
    h.model.gate_closed.store(true, Ordering::SeqCst);
    h.model.failing_batches.store(1, Ordering::SeqCst);
    produce(&broker, 0, 8);
    eventually("the first batch in the model", || h.model.calls.load(Ordering::SeqCst) == 1).await;
    settle().await;
    h.model.gate_closed.store(false, Ordering::SeqCst);
    eventually("8 outputs sent", || broker.sent().len() == 8).await;
    assert!(h.model.calls.load(Ordering::SeqCst) >= 3, "the first batch was retried");
    assert_eq!(offsets(&broker, 0), (0..8).collect::<Vec<_>>());
    h.stop().await.expect("clean stop");
}

/// A revoke takes the batch still in the model through to its outputs, so
/// their position is committed before the partition goes.
#[tokio::test]
async fn a_revoke_waits_for_the_batch_in_the_model() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(config(), &broker);
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    eventually("the batch in the model", || h.model.calls.load(Ordering::SeqCst) == 1).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    settle().await;
    assert_eq!(broker.confirmed().len(), 1, "the revoke must wait for the batch in the model");
    h.model.gate_closed.store(false, Ordering::SeqCst);
    eventually("the batch's outputs sent", || broker.sent().len() == 4).await;
    broker.ack_all();
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(4), "committed before it was handed over");
    h.stop().await.expect("clean stop");
}

/// Defect 1: a result the broker can never take becomes a dead letter, at
/// send time or at delivery, and the partition moves on.
#[tokio::test]
async fn a_result_too_large_becomes_a_dead_letter_and_the_partition_moves_on() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    broker.on_send(Box::new(|record, output| {
        (record.offset == 1 && matches!(output, Output::Categorized(_)))
            .then(|| SinkError::TooLarge("1200000 bytes, limit 1000000".into()))
    }));
    produce(&broker, 0, 4);
    let h = start(config(), &broker);
    eventually("4 outputs sent", || broker.sent().len() == 4).await;
    broker.reply(2, Err(SinkError::TooLarge("refused by the broker".into())));
    eventually("offset 2 resent as a dead letter", || broker.sent().len() == 5).await;
    broker.auto_ack(true);
    broker.ack_all();
    eventually("position 4", || broker.stored(0) == Some(4)).await;
    let sent = broker.sent();
    let too_large = |offset: i64| {
        sent.iter().any(|s| {
            s.offset == offset && matches!(&s.output, Output::DeadLetter(r) if r.reason == RejectReason::OutputTooLarge)
        })
    };
    assert!(too_large(1) && too_large(2), "{sent:?}");
    h.stop().await.expect("clean stop");
}

/// Defect 1: a permanent error makes the worker not ready and ends the run
/// with an error naming the record; earlier outcomes are still committed.
#[tokio::test]
async fn a_fatal_sink_error_ends_the_run_not_ready_after_committing_what_is_done() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    broker.on_send(Box::new(|record, _| {
        (record.offset == 2).then(|| SinkError::Fatal("topic out: not authorized".into()))
    }));
    produce(&broker, 0, 5);
    let h = start(config(), &broker);
    let (_, result) =
        tokio::time::timeout(Duration::from_secs(5), h.task).await.expect("ends by itself").expect("no panic");
    let error = super::chain(&result.expect_err("fatal"));
    assert!(error.contains("partition 0 offset 2") && error.contains("not authorized"), "{error}");
    assert!(!h.health.is_ready());
    assert_eq!(broker.committed(0), Some(2), "records before the failing one are committed, it is not");
}

/// Defect 9: shutdown ends within its timeout even when nothing is
/// acknowledged, and says what was left.
#[tokio::test]
async fn shutdown_is_bounded_when_the_sink_never_answers() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 3);
    let h = start(PipelineConfig { shutdown_timeout_secs: 1, ..config() }, &broker);
    eventually("3 outputs sent", || broker.sent().len() == 3).await;
    let started = std::time::Instant::now();
    let result = h.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(matches!(result, Err(PipelineError::Unfinished(3))), "{result:?}");
    assert_eq!(broker.committed(0).unwrap_or(0), 0, "nothing acknowledged, nothing committed");
}

/// A lost assignment (session expired) is let go at once: nothing can be
/// committed for it any more.
#[tokio::test]
async fn a_lost_assignment_is_let_go_without_waiting() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 2);
    let h = start(config(), &broker);
    eventually("2 outputs sent", || broker.sent().len() == 2).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: true });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), None);
    assert!(!h.health.is_ready(), "no partitions and out of the group: not ready");
    h.stop().await.expect("clean stop");
}

// Exactly-once: a transactional sink.

fn transactional(partitions: Vec<i32>) -> MemoryBroker {
    let broker = MemoryBroker::default();
    broker.transactional();
    broker.rebalance(Rebalance::Assigned(partitions));
    broker
}

fn visible(broker: &MemoryBroker, partition: i32) -> Vec<i64> {
    broker.visible().iter().filter(|s| s.partition == partition).map(|s| s.offset).collect()
}

#[tokio::test]
async fn exactly_once_commits_outputs_and_positions_together_and_never_stores() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    produce(&broker, 0, 10);
    let h = start(PipelineConfig { txn_max_records: 4, ..config() }, &broker);
    eventually("two windows of 4 committed", || broker.committed(0) == Some(8)).await;
    assert_eq!(visible(&broker, 0), (0..8).collect::<Vec<_>>(), "outputs and positions commit together");
    h.stop().await.expect("clean stop");
    assert_eq!(broker.committed(0), Some(10), "the last window is committed at shutdown");
    assert_eq!(visible(&broker, 0), (0..10).collect::<Vec<_>>());
    assert_eq!(broker.stored(0), None, "positions never go through the source");
}

#[tokio::test]
async fn a_window_is_committed_when_its_time_is_up() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    produce(&broker, 0, 3);
    let h = start(PipelineConfig { txn_max_ms: 20, ..config() }, &broker);
    eventually("committed by time", || broker.committed(0) == Some(3)).await;
    assert_eq!(visible(&broker, 0), vec![0, 1, 2]);
    h.stop().await.expect("clean stop");
}

/// Defect-style check of the abort path: a send failing inside the
/// transaction aborts it; the partition is read again from its last commit,
/// and every record ends visible exactly once, in order.
#[tokio::test]
async fn an_abortable_delivery_failure_aborts_rewinds_and_each_record_is_visible_once() {
    let broker = transactional(vec![0]);
    produce(&broker, 0, 6);
    let h = start(PipelineConfig { txn_max_ms: 50, ..config() }, &broker);
    eventually("6 outputs sent", || broker.sent().len() == 6).await;
    broker.reply(0, Ok(()));
    broker.reply(1, Ok(()));
    broker.reply(2, Err(SinkError::Abortable("broker went away".into())));
    eventually("aborted and sent again", || broker.aborted() == 1 && broker.sent().len() == 12).await;
    assert_eq!(broker.rewinds(), vec![(0, 0)]);
    broker.auto_ack(true);
    broker.ack_all();
    eventually("committed", || broker.committed(0) == Some(6)).await;
    assert_eq!(visible(&broker, 0), (0..6).collect::<Vec<_>>());
    assert!(h.health.is_ready());
    let categorized = h.metrics.categorized.with_label_values(&["A", "false"]).get();
    assert_eq!(categorized, 6, "counted at commit: the aborted outputs do not count");
    h.stop().await.expect("clean stop");
}

/// A batch in the model when its transaction aborts comes back for records
/// that are read again: its outcomes are dropped, not sent a second time.
#[tokio::test]
async fn a_batch_in_the_model_during_an_abort_is_dropped_and_each_record_is_visible_once() {
    let broker = transactional(vec![0]);
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { txn_max_ms: 50, ..config() }, &broker);
    eventually("the first batch sent", || broker.sent().len() == 4).await;
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    eventually("the second batch in the model", || h.model.calls.load(Ordering::SeqCst) == 2).await;
    broker.reply(0, Err(SinkError::Abortable("broker went away".into())));
    eventually("aborted while the model works", || broker.aborted() == 1).await;
    assert_eq!(broker.rewinds(), vec![(0, 0)]);
    broker.auto_ack(true);
    broker.ack_all();
    h.model.gate_closed.store(false, Ordering::SeqCst);
    eventually("committed", || broker.committed(0) == Some(8)).await;
    assert_eq!(visible(&broker, 0), (0..8).collect::<Vec<_>>());
    h.stop().await.expect("clean stop");
}

/// The stall of exactly-once drains: a commit that waited for the window's
/// last acknowledgements left every record done, the partitions paused on a
/// full waiting queue, and nothing to wake the loop; records that wait must
/// be taken once a commit frees the in-flight bound.
#[tokio::test]
async fn records_waiting_at_the_in_flight_bound_are_taken_after_a_commit_frees_it() {
    let broker = transactional(vec![0]);
    let total = 8 + super::MIN_WAITING + 100;
    produce(&broker, 0, total);
    let h = start(PipelineConfig { max_in_flight: 8, txn_max_ms: 20, ..config() }, &broker);
    eventually("paused at the bound", || broker.paused().contains(&0) && broker.sent().len() == 8).await;
    // The window is due: its commit waits for these acknowledgements.
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker.auto_ack(true);
    broker.ack_all();
    eventually("every record committed", || broker.committed(0) == Some(total as i64)).await;
    h.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_commit_failing_abortably_is_aborted_and_the_window_processed_again() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    broker.fail_next_commit(SinkError::Abortable("coordinator moved".into()));
    produce(&broker, 0, 5);
    let h = start(PipelineConfig { txn_max_ms: 20, ..config() }, &broker);
    eventually("committed after the abort", || broker.committed(0) == Some(5)).await;
    assert_eq!(broker.aborted(), 1);
    assert_eq!(visible(&broker, 0), (0..5).collect::<Vec<_>>());
    assert_eq!(broker.sent().len(), 10, "the aborted window was sent again");
    h.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_revoke_commits_the_open_transaction_before_the_partition_goes() {
    let broker = transactional(vec![0, 1]);
    broker.auto_ack(true);
    produce(&broker, 0, 3);
    let h = start(config(), &broker);
    eventually("3 outputs sent", || broker.sent().len() == 3).await;
    settle().await;
    assert!(broker.visible().is_empty(), "the window is still open");
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(3), "committed before it was handed over");
    assert_eq!(visible(&broker, 0), vec![0, 1, 2]);
    h.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_lost_partition_aborts_the_open_transaction_and_the_others_are_rewound() {
    let broker = transactional(vec![0, 1]);
    broker.auto_ack(true);
    produce(&broker, 0, 2);
    produce(&broker, 1, 2);
    let h = start(config(), &broker);
    eventually("4 outputs sent", || broker.sent().len() == 4).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: true });
    eventually("partition 1 sent again", || broker.sent().len() == 6).await;
    assert_eq!(broker.aborted(), 1);
    assert_eq!(broker.rewinds(), vec![(1, 0)], "only the partition kept is read again");
    h.stop().await.expect("clean stop");
    assert_eq!(broker.committed(0), None, "nothing of the lost partition is committed");
    assert_eq!(visible(&broker, 0), Vec::<i64>::new());
    assert_eq!(visible(&broker, 1), vec![0, 1]);
}

/// Found by the chaos run: with every partition lost there is nothing to
/// read again, and seeking an empty list was fatal.
#[tokio::test]
async fn losing_every_partition_with_a_transaction_open_aborts_it_and_goes_on() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    produce(&broker, 0, 2);
    let h = start(config(), &broker);
    eventually("2 outputs sent", || broker.sent().len() == 2).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: true });
    eventually("aborted", || broker.aborted() == 1).await;
    broker.rebalance(Rebalance::Assigned(vec![0]));
    eventually("read again after the new assignment", || broker.sent().len() == 4).await;
    assert!(h.health.is_ready(), "nothing was wrong: the worker goes on");
    h.stop().await.expect("clean stop");
    assert_eq!(visible(&broker, 0), vec![0, 1]);
}

#[tokio::test]
async fn a_fenced_producer_ends_the_run_not_ready_with_nothing_committed() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    broker.fail_next_commit(SinkError::Fatal("producer fenced by a newer instance".into()));
    produce(&broker, 0, 3);
    let h = start(PipelineConfig { txn_max_ms: 20, ..config() }, &broker);
    let (_, result) =
        tokio::time::timeout(Duration::from_secs(5), h.task).await.expect("ends by itself").expect("no panic");
    let error = super::chain(&result.expect_err("fatal"));
    assert!(error.contains("fenced"), "{error}");
    assert!(!h.health.is_ready());
    assert_eq!(broker.committed(0), None);
    assert!(broker.visible().is_empty());
}

// The delivery-core review (issue 18): each defect, held by a test.

/// Defect 1: librdkafka keeps a partition's pause flag across revoke and
/// assign. A partition paused by back-pressure, revoked, and assigned again
/// after the pressure went must flow again, not stay paused for ever.
#[tokio::test]
async fn a_partition_paused_then_revoked_and_assigned_again_is_resumed() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let total = 8 + super::MIN_WAITING + 100;
    produce(&broker, 0, total);
    let h = start(PipelineConfig { max_in_flight: 8, revoke_timeout_secs: 0, ..config() }, &broker);
    eventually("paused", || broker.paused().contains(&0)).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    broker.auto_ack(true);
    broker.ack_all();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    eventually("assigned again", || broker.confirmed().len() == 3).await;
    eventually("every record done after the reassignment", || broker.stored(0) == Some(total as i64)).await;
    assert!(broker.paused().is_empty());
    h.stop().await.expect("clean stop");
}

/// Defect 5: the model is down and holds its batch; a revoke takes those
/// records away. Nothing is left to retry, so the partitions must not stay
/// paused for ever: records assigned later flow once the model is back.
#[tokio::test]
async fn a_revoke_that_takes_the_held_batch_does_not_leave_the_partitions_paused() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0, 1]));
    let h = start(config(), &broker);
    h.model.broken.store(true, Ordering::SeqCst);
    produce(&broker, 0, 3);
    eventually("not ready, paused", || !h.health.is_ready() && broker.paused().contains(&0)).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    h.model.broken.store(false, Ordering::SeqCst);
    produce(&broker, 1, 2);
    eventually("partition 1 done", || broker.stored(1) == Some(2)).await;
    eventually("ready again", || h.health.is_ready()).await;
    assert_eq!(broker.committed(0), Some(0), "the held records were not done: the next owner reads them");
    h.stop().await.expect("clean stop");
}

/// Defect 9: a full sink queue holds the outputs, not the loop: rebalances
/// are still served, it is not offered again every few milliseconds, and
/// everything goes out in order once there is room.
#[tokio::test]
async fn a_full_sink_queue_holds_the_outputs_not_the_loop() {
    let broker = MemoryBroker::default();
    broker.queue_limit(2);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 6);
    let h = start(config(), &broker);
    eventually("the queue is full", || broker.sent().len() == 2 && broker.queue_full_refusals() > 0).await;
    broker.rebalance(Rebalance::Assigned(vec![1]));
    eventually("a rebalance served while the queue is full", || broker.confirmed().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(broker.queue_full_refusals() <= 6, "offered {} times in 300 ms", broker.queue_full_refusals());
    broker.auto_ack(true);
    broker.ack_all();
    eventually("every output sent", || broker.stored(0) == Some(6)).await;
    assert_eq!(offsets(&broker, 0), (0..6).collect::<Vec<_>>());
    h.stop().await.expect("clean stop");
}

/// Defect 6: a model call that hangs makes the worker not ready and pauses
/// its partitions, while it keeps polling (a rebalance is served); it
/// recovers when the call returns.
#[tokio::test]
async fn a_model_call_past_its_deadline_is_not_ready_and_keeps_the_group() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(PipelineConfig { model_call_timeout_ms: 100, ..config() }, &broker);
    eventually("ready", || h.health.is_ready()).await;
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    eventually("not ready while the call hangs", || !h.health.is_ready()).await;
    assert!(h.health.reason().contains("MODEL_CALL_TIMEOUT_MS"), "{}", h.health.reason());
    eventually("paused", || broker.paused().contains(&0)).await;
    broker.rebalance(Rebalance::Assigned(vec![1]));
    eventually("a rebalance served while the model hangs", || broker.confirmed().len() == 2).await;
    h.model.gate_closed.store(false, Ordering::SeqCst);
    eventually("ready again", || h.health.is_ready()).await;
    eventually("the batch done", || broker.stored(0) == Some(4)).await;
    eventually("resumed", || broker.paused().is_empty()).await;
    h.stop().await.expect("clean stop");
}

/// Defect 6, revoke side: a revoke does not wait for ever on a hung model;
/// the records in it are left to the next owner.
#[tokio::test]
async fn a_revoke_does_not_wait_past_its_timeout_for_a_hung_model() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let h = start(PipelineConfig { revoke_timeout_secs: 1, ..config() }, &broker);
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    eventually("the batch in the model", || h.model.calls.load(Ordering::SeqCst) == 1).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed within its timeout", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(0), "the records in the model are left to the next owner");
    h.model.gate_closed.store(false, Ordering::SeqCst);
    settle().await;
    assert!(broker.sent().is_empty(), "outputs of a partition let go were sent: {:?}", broker.sent());
    h.stop().await.expect("clean stop");
}

/// Defect 7: outputs of a revoked partition that did not settle in time are
/// withdrawn before the partition goes, so none can land after the next
/// owner's; the partition kept, whose outputs were withdrawn too, is read
/// again from its stored position and stays in order.
#[tokio::test]
async fn unsettled_outputs_of_a_revoked_partition_are_withdrawn_before_it_goes() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0, 1]));
    produce(&broker, 0, 2);
    produce(&broker, 1, 2);
    let h = start(PipelineConfig { revoke_timeout_secs: 0, ..config() }, &broker);
    eventually("4 outputs sent", || broker.sent().len() == 4).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    let mut withdrawn = broker.withdrawn();
    withdrawn.sort_unstable();
    assert_eq!(withdrawn, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert_eq!(broker.committed(0), Some(0));
    broker.auto_ack(true);
    eventually("partition 1 read again and done", || broker.stored(1) == Some(2)).await;
    assert_eq!(broker.rewinds(), vec![(1, 0)]);
    assert_eq!(offsets(&broker, 1), vec![0, 1, 0, 1]);
    h.stop().await.expect("clean stop");
}

/// Defect 3: exactly-once, a window whose outputs are never acknowledged
/// does not hold shutdown past its bound (nor the loop meanwhile).
#[tokio::test]
async fn exactly_once_shutdown_is_bounded_when_the_window_is_never_acknowledged() {
    let broker = transactional(vec![0]);
    produce(&broker, 0, 3);
    let h = start(PipelineConfig { shutdown_timeout_secs: 1, txn_max_ms: 20, ..config() }, &broker);
    eventually("3 outputs sent", || broker.sent().len() == 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker.rebalance(Rebalance::Assigned(vec![1]));
    eventually("the loop goes on while the window waits", || broker.confirmed().len() == 2).await;
    let started = std::time::Instant::now();
    let result = h.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(matches!(result, Err(PipelineError::Unfinished(3))), "{result:?}");
    assert_eq!(broker.committed(0), None);
}

/// Defect 3, revoke side: a revoke waits for the window's outputs only
/// until its timeout, then aborts and lets the partition go.
#[tokio::test]
async fn exactly_once_revoke_is_bounded_when_the_window_is_never_acknowledged() {
    let broker = transactional(vec![0]);
    produce(&broker, 0, 3);
    let h = start(PipelineConfig { revoke_timeout_secs: 1, ..config() }, &broker);
    eventually("3 outputs sent", || broker.sent().len() == 3).await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.aborted(), 1);
    assert_eq!(broker.committed(0), None);
    assert!(broker.visible().is_empty());
    h.stop().await.expect("clean stop");
}

/// Defect 4: a commit that timed out with its outcome unknown is committed
/// again, not aborted (librdkafka refuses an abort while a commit is in
/// progress, which used to stop the worker).
#[tokio::test]
async fn a_commit_that_timed_out_is_committed_again_not_aborted() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    broker.fail_next_commit(SinkError::CommitPending("commit timed out".into()));
    produce(&broker, 0, 5);
    let h = start(PipelineConfig { txn_max_ms: 20, ..config() }, &broker);
    eventually("committed", || broker.committed(0) == Some(5)).await;
    assert_eq!(broker.aborted(), 0);
    assert_eq!(visible(&broker, 0), (0..5).collect::<Vec<_>>());
    assert_eq!(broker.sent().len(), 5, "nothing processed twice");
    assert!(h.health.is_ready());
    h.stop().await.expect("clean stop");
}

/// Suspected in the review, confirmed: memory was bounded by record count
/// only (5,000 records of 1 MB in flight is 5 GB). Large records stop being
/// taken at the byte bound, and the partitions pause.
#[tokio::test]
async fn large_records_are_bounded_by_bytes_not_only_by_count() {
    let broker = MemoryBroker::default();
    broker.rebalance(Rebalance::Assigned(vec![0]));
    let big = format!(r#"{{"product_id":"P","name":"pastilha","description":"{}"}}"#, "x".repeat(100_000));
    for _ in 0..100 {
        broker.produce(0, Some(&big));
    }
    let bound = 1_000_000;
    let h = start(PipelineConfig { max_in_flight_bytes: bound, batch_size: 64, ..config() }, &broker);
    eventually("paused at the byte bound", || broker.paused().contains(&0)).await;
    settle().await;
    let sent = broker.sent().len();
    assert!((10..=11).contains(&sent), "{sent} records of 100 KB in flight with a 1 MB bound");
    broker.auto_ack(true);
    broker.ack_all();
    eventually("every record done", || broker.stored(0) == Some(100)).await;
    h.stop().await.expect("clean stop");
}

/// Defect 6, the end of it: a call that never returns leaves a process that
/// is not ready for ever, and not ready restarts nothing. Past 12 times the
/// deadline the worker stops with an error, so its orchestrator restarts it.
#[tokio::test]
async fn a_model_call_that_never_returns_ends_the_run_with_an_error() {
    let broker = MemoryBroker::default();
    broker.auto_ack(true);
    broker.rebalance(Rebalance::Assigned(vec![0]));
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { model_call_timeout_ms: 20, ..config() }, &broker);
    eventually("the first batch done", || broker.stored(0) == Some(4)).await;
    h.model.gate_closed.store(true, Ordering::SeqCst);
    produce(&broker, 0, 4);
    let (_, result) =
        tokio::time::timeout(Duration::from_secs(5), h.task).await.expect("ends by itself").expect("no panic");
    let error = super::chain(&result.expect_err("fatal"));
    assert!(error.contains("hung"), "{error}");
    assert!(!h.health.is_ready());
    assert_eq!(broker.committed(0), Some(4), "what was done is committed");
    h.model.gate_closed.store(false, Ordering::SeqCst);
}

/// Exactly-once drains of the feature model ran at half their rate once the
/// loop no longer blocked on a commit: while a window waited for its
/// acknowledgements, the loop pulled records it could not take and paused
/// the partitions (a pause throws the source's prefetch away). During a
/// short hold the records stay in the source.
#[tokio::test]
async fn a_short_commit_hold_leaves_records_in_the_source_instead_of_pausing() {
    let broker = transactional(vec![0]);
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { max_in_flight: 8, txn_max_records: 2, ..config() }, &broker);
    eventually("4 outputs sent", || broker.sent().len() == 4).await;
    // Two done: the window is full and waits for outputs 2 and 3.
    broker.reply(0, Ok(()));
    broker.reply(1, Ok(()));
    settle().await;
    let total = 4 + 8 + super::MIN_WAITING + 100;
    produce(&broker, 0, total - 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(broker.paused().is_empty(), "paused while the window waited a moment for its acknowledgements");
    broker.auto_ack(true);
    broker.ack_all();
    eventually("every record committed", || broker.committed(0) == Some(total as i64)).await;
    h.stop().await.expect("clean stop");
}

/// Performance round 5: the loop sat idle through every commit (3-17 ms of
/// windows of 50-110 ms on the feature model). A commit now runs beside it:
/// the records after the window are read and scored meanwhile, but nothing
/// is sent or begun until the commit ends (the memory sink fails the run if
/// it is), and then they go out in order in the next transaction.
#[tokio::test]
async fn records_are_read_and_scored_while_a_commit_runs_and_sent_only_after_it() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    broker.hold_commits(true);
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { txn_max_records: 4, ..config() }, &broker);
    eventually("the first window's commit has begun", || broker.is_committing()).await;
    let calls = h.model.calls.load(Ordering::SeqCst);
    produce(&broker, 0, 8);
    eventually("the next records scored during the commit", || h.model.calls.load(Ordering::SeqCst) >= calls + 2).await;
    settle().await;
    assert_eq!(broker.sent().len(), 4, "nothing is sent while the commit runs");
    assert_eq!(broker.committed(0), None);
    broker.hold_commits(false);
    eventually("every record committed", || broker.committed(0) == Some(12)).await;
    assert_eq!(visible(&broker, 0), (0..12).collect::<Vec<_>>());
    assert_eq!(broker.aborted(), 0);
    assert!(h.health.is_ready());
    h.stop().await.expect("clean stop");
}

/// The records scored during the commit were never sent: they are dropped
/// with the partition and read again by its next owner from the position
/// the commit put there.
#[tokio::test]
async fn a_revoke_during_a_commit_waits_for_it_before_the_partition_goes() {
    let broker = transactional(vec![0, 1]);
    broker.auto_ack(true);
    broker.hold_commits(true);
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { txn_max_records: 4, ..config() }, &broker);
    eventually("the first window's commit has begun", || broker.is_committing()).await;
    produce(&broker, 0, 2);
    settle().await;
    broker.rebalance(Rebalance::Revoked { partitions: vec![0], lost: false });
    settle().await;
    assert_eq!(broker.confirmed().len(), 1, "the partition is held while its commit runs");
    broker.hold_commits(false);
    eventually("revoke confirmed", || broker.confirmed().len() == 2).await;
    assert_eq!(broker.committed(0), Some(4), "the commit ended before the partition was handed over");
    assert_eq!(visible(&broker, 0), (0..4).collect::<Vec<_>>());
    assert_eq!(broker.sent().len(), 4, "the records after it were not sent");
    assert_eq!(broker.commits_ended(), 1);
    h.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_during_a_commit_that_never_ends_is_bounded() {
    let broker = transactional(vec![0]);
    broker.auto_ack(true);
    broker.hold_commits(true);
    produce(&broker, 0, 4);
    let h = start(PipelineConfig { txn_max_records: 4, shutdown_timeout_secs: 1, ..config() }, &broker);
    eventually("the commit has begun", || broker.is_committing()).await;
    let stopped = h.stop().await;
    assert!(matches!(stopped, Err(PipelineError::Aborted(_))), "{stopped:?}");
    assert_eq!(broker.committed(0), None);
}
