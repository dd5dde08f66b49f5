//! librdkafka callbacks: statistics become lag metrics, client errors are
//! counted, rebalances drive readiness and tell the loop what was revoked.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use crate::health::Health;
use crate::telemetry::Metrics;

pub struct WorkerContext {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    input_topic: String,
    group: Mutex<GroupView>,
}

#[derive(Default)]
struct GroupView {
    assigned: HashSet<i32>,
    /// Revoked since the loop last asked.
    revoked: Vec<i32>,
    /// Timestamp (ms) of the record the loop took last, per partition.
    last_taken_ms: HashMap<i32, i64>,
}

impl WorkerContext {
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>, input_topic: String) -> Self {
        WorkerContext { metrics, health, input_topic, group: Mutex::default() }
    }

    fn group(&self) -> std::sync::MutexGuard<'_, GroupView> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Partitions revoked since the last call.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut self.group().revoked)
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
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut group = self.group();
            for element in partitions.elements_for_topic(&self.input_topic) {
                let partition = element.partition();
                group.assigned.remove(&partition);
                group.revoked.push(partition);
                group.last_taken_ms.remove(&partition);
                let labels = [self.input_topic.as_str(), &partition.to_string()];
                let _ = self.metrics.consumer_lag.remove_label_values(&labels);
                let _ = self.metrics.consumer_lag_seconds.remove_label_values(&labels);
            }
            self.metrics.assigned_partitions.set(group.assigned.len() as i64);
            tracing::info!(partitions = ?group.revoked, "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let mut group = self.group();
                group.assigned.extend(partitions.elements_for_topic(&self.input_topic).iter().map(|e| e.partition()));
                self.metrics.assigned_partitions.set(group.assigned.len() as i64);
                self.health.set_group_joined();
                let mut assigned: Vec<i32> = group.assigned.iter().copied().collect();
                assigned.sort_unstable();
                tracing::info!(partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                self.metrics.kafka_errors.with_label_values(&["rebalance"]).inc();
                tracing::warn!(%error, "rebalance failed");
            }
        }
    }
}
