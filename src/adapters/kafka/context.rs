//! librdkafka callbacks: statistics become lag metrics, client errors are
//! counted, rebalances are handed to the pipeline (`KafkaSource` confirms
//! them).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::Notify;

use crate::ports::Rebalance;
use crate::telemetry::Metrics;

pub struct WorkerContext {
    metrics: Arc<Metrics>,
    input_topic: String,
    group: Mutex<GroupView>,
    rebalances: Mutex<VecDeque<Rebalance>>,
    /// A rebalance is waiting in `rebalances`.
    pub(super) rebalanced: Notify,
    /// The consumer is closing: rebalances are applied at once.
    pub(super) closing: AtomicBool,
}

#[derive(Default)]
struct GroupView {
    assigned: HashSet<i32>,
    /// Timestamp (ms) of the record the loop took last, per partition.
    last_taken_ms: HashMap<i32, i64>,
}

impl WorkerContext {
    pub fn new(metrics: Arc<Metrics>, input_topic: String) -> Self {
        WorkerContext {
            metrics,
            input_topic,
            group: Mutex::default(),
            rebalances: Mutex::default(),
            rebalanced: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn group(&self) -> MutexGuard<'_, GroupView> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rebalances(&self) -> MutexGuard<'_, VecDeque<Rebalance>> {
        self.rebalances.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn next_rebalance(&self) -> Option<Rebalance> {
        self.rebalances().pop_front()
    }

    /// Keeps the lag metrics to the partitions this instance owns.
    pub(super) fn confirmed(&self, rebalance: &Rebalance) {
        let mut group = self.group();
        match rebalance {
            Rebalance::Assigned(partitions) => group.assigned.extend(partitions),
            Rebalance::Revoked { partitions, .. } => {
                for partition in partitions {
                    group.assigned.remove(partition);
                    group.last_taken_ms.remove(partition);
                    let labels = [self.input_topic.as_str(), &partition.to_string()];
                    let _ = self.metrics.consumer_lag.remove_label_values(&labels);
                    let _ = self.metrics.consumer_lag_seconds.remove_label_values(&labels);
                }
            }
        }
        self.metrics.assigned_partitions.set(group.assigned.len() as i64);
    }

    pub fn note_taken(&self, partition: i32, timestamp_ms: Option<i64>) {
        if let Some(ts) = timestamp_ms {
            self.group().last_taken_ms.insert(partition, ts);
        }
    }
}

impl ClientContext for WorkerContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.input_topic) else {
            return;
        };
        let group = self.group();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        for (partition, stats) in &topic.partitions {
            // -1 is librdkafka's internal "unassigned" partition.
            if *partition < 0 || !group.assigned.contains(partition) {
                continue;
            }
            let labels = [self.input_topic.as_str(), &partition.to_string()];
            // A lag of -1 is unknown (no committed offset or high watermark yet): no sample.
            if stats.consumer_lag < 0 {
                let _ = self.metrics.consumer_lag.remove_label_values(&labels);
                let _ = self.metrics.consumer_lag_seconds.remove_label_values(&labels);
                continue;
            }
            self.metrics.consumer_lag.with_label_values(&labels).set(stats.consumer_lag);
            let behind_seconds = match group.last_taken_ms.get(partition) {
                Some(ts) if stats.consumer_lag > 0 => (now_ms - ts).max(0) as f64 / 1000.0,
                _ => 0.0,
            };
            self.metrics.consumer_lag_seconds.with_label_values(&labels).set(behind_seconds);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error.rdkafka_error_code().map_or_else(|| "other".to_owned(), |code| format!("{code:?}"));
        self.metrics.kafka_errors.with_label_values(&[&kind]).inc();
        tracing::warn!(%error, reason, "Kafka client error");
    }
}

impl ConsumerContext for WorkerContext {
    /// Hands the rebalance to the pipeline instead of acting on it here: the
    /// pipeline first finishes with revoked partitions (their offsets can only
    /// be committed while they are still ours), then `KafkaSource::confirm`
    /// calls assign or unassign. librdkafka waits for that call. While the
    /// consumer closes, nobody is left to confirm: act at once.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements_for_topic(&self.input_topic).iter().map(|e| e.partition()).collect();
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assigned(partitions),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                Rebalance::Revoked { partitions, lost: consumer.assignment_lost() }
            }
            // librdkafka expects an unassign: whatever was owned is gone.
            other => {
                self.metrics.kafka_errors.with_label_values(&["rebalance"]).inc();
                tracing::warn!(error = ?other, "rebalance failed; giving up the assignment");
                Rebalance::Revoked { partitions, lost: true }
            }
        };
        tracing::debug!(?rebalance, "rebalance reported; waiting for the pipeline to confirm it");
        if self.closing.load(Ordering::SeqCst) {
            if let Err(error) = apply(consumer, &rebalance, tpl) {
                tracing::warn!(%error, "cannot apply a rebalance while closing");
            }
            return;
        }
        self.rebalances().push_back(rebalance);
        self.rebalanced.notify_one();
    }
}

/// Assigns or unassigns, incrementally under the cooperative protocol.
pub(super) fn apply<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    rebalance: &Rebalance,
    tpl: &TopicPartitionList,
) -> KafkaResult<()> {
    let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
    match (rebalance, cooperative) {
        (Rebalance::Assigned(_), true) => consumer.incremental_assign(tpl),
        (Rebalance::Assigned(_), false) => consumer.assign(tpl),
        (Rebalance::Revoked { .. }, true) => consumer.incremental_unassign(tpl),
        (Rebalance::Revoked { .. }, false) => consumer.unassign(),
    }
}
