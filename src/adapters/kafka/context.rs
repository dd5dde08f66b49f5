//! librdkafka callbacks: statistics become lag metrics, client errors are
//! counted, authentication and TLS failures raise the [`SecurityAlarm`],
//! rebalances are handed to the pipeline (`KafkaSource` confirms them).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ports::Rebalance;
use crate::telemetry::Metrics;

/// How many authentication or TLS failures within [`SECURITY_WINDOW`] mean
/// the security settings are wrong, not a broker restarting: librdkafka
/// retries them for ever, and an endless silent wait helps nobody.
const SECURITY_FAILURES: usize = 3;
const SECURITY_WINDOW: Duration = Duration::from_secs(30);

/// Raised once the worker's Kafka clients keep failing to authenticate or to
/// set up TLS; shared by all of them.
#[derive(Default)]
pub struct SecurityAlarm {
    recent: Mutex<VecDeque<Instant>>,
    /// The last failure, raised or not.
    last: Mutex<Option<String>>,
    reason: Mutex<Option<String>>,
    raised: CancellationToken,
    /// The cluster answered a group request: the protocol matches, so a
    /// connection closed at the first request is a broker going away.
    spoken: AtomicBool,
}

impl SecurityAlarm {
    /// One failure report; librdkafka folds repeats into the next report's
    /// "N identical error(s) suppressed".
    fn note(&self, reason: String) {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.extend(std::iter::repeat_n(now, 1 + suppressed(&reason)));
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
        while recent.front().is_some_and(|at| now.duration_since(*at) > SECURITY_WINDOW) {
            recent.pop_front();
        }
        if recent.len() >= SECURITY_FAILURES && !self.raised.is_cancelled() {
            *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
            self.raised.cancel();
        }
    }

    /// The last failure seen, with what to check.
    pub fn last(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits until raised; then why, with what to check.
    pub async fn raised(&self) -> String {
        self.raised.cancelled().await;
        self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone().unwrap_or_default()
    }
}

/// The N of librdkafka's "(..., N identical error(s) suppressed)".
fn suppressed(message: &str) -> usize {
    message
        .split(" identical error(s) suppressed")
        .next()
        .filter(|head| head.len() < message.len())
        .and_then(|head| head.rsplit([' ', '(']).next()?.parse().ok())
        .unwrap_or(0)
}

/// A client error that says the security settings do not match the
/// broker's, with what to check. librdkafka messages name hosts and
/// mechanisms, never a password.
pub(super) fn security_failure(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<String> {
    match code? {
        RDKafkaErrorCode::Authentication => Some(format!(
            "authentication failed (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD): {reason}"
        )),
        RDKafkaErrorCode::SSL => Some(format!(
            "TLS failed (check KAFKA_SSL_CA_LOCATION, the CA that signed the brokers' certificates, and \
             KAFKA_SECURITY_PROTOCOL): {reason}"
        )),
        _ => None,
    }
}

/// A log line that says the same: a broker that closes every connection at
/// the client's first request (ApiVersion) expects another protocol, e.g. a
/// plaintext client on a TLS listener. librdkafka reports it only as a log
/// line, not as an error. A reset (a broker killed or restarting) is not it.
fn security_failure_in_log(facility: &str, message: &str) -> Option<String> {
    let closed = message.contains("Disconnected") && !message.contains("reset by peer");
    (facility == "FAIL" && closed && message.contains("in state APIVERSION_QUERY")).then(|| {
        format!(
            "the broker closes every connection at the first request: KAFKA_SECURITY_PROTOCOL does not match its \
             listener (SASL_SSL or SSL?): {message}"
        )
    })
}

pub struct WorkerContext {
    metrics: Arc<Metrics>,
    input_topic: String,
    pub(super) security: Arc<SecurityAlarm>,
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
    pub fn new(metrics: Arc<Metrics>, input_topic: String, security: Arc<SecurityAlarm>) -> Self {
        WorkerContext {
            metrics,
            input_topic,
            security,
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
        if let Some(failure) = security_failure(error.rdkafka_error_code(), reason) {
            self.security.note(failure);
        }
    }

    /// As rdkafka's default (librdkafka's levels, target `librdkafka`), and
    /// watched for the one security failure librdkafka only logs.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {facility} {message}")
            }
            Warning => tracing::warn!(target: "librdkafka", "librdkafka: {facility} {message}"),
            Notice | Info => tracing::info!(target: "librdkafka", "librdkafka: {facility} {message}"),
            Debug => tracing::debug!(target: "librdkafka", "librdkafka: {facility} {message}"),
        }
        if self.security.spoken.load(Ordering::SeqCst) {
            return;
        }
        if let Some(failure) = security_failure_in_log(facility, message) {
            self.security.note(failure);
        }
    }
}

impl ConsumerContext for WorkerContext {
    /// Hands the rebalance to the pipeline instead of acting on it here: the
    /// pipeline first finishes with revoked partitions (their offsets can only
    /// be committed while they are still ours), then `KafkaSource::confirm`
    /// calls assign or unassign. librdkafka waits for that call. While the
    /// consumer closes, nobody is left to confirm: act at once.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        self.security.spoken.store(true, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SASL: &str = "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: Authentication failed \
                        during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";

    #[tokio::test]
    async fn repeated_security_failures_raise_the_alarm_with_what_to_check() {
        let alarm = SecurityAlarm::default();
        for _ in 0..SECURITY_FAILURES - 1 {
            alarm.note(security_failure(Some(RDKafkaErrorCode::Authentication), SASL).unwrap());
        }
        assert!(!alarm.raised.is_cancelled(), "one failure may be a broker restarting");
        alarm.note(security_failure(Some(RDKafkaErrorCode::Authentication), SASL).unwrap());
        let reason = alarm.raised().await;
        assert!(reason.starts_with("authentication failed (check KAFKA_SASL_MECHANISM"), "{reason}");
        assert!(reason.ends_with("SCRAM-SHA-512"), "{reason}");
    }

    #[test]
    fn suppressed_repeats_count_as_failures() {
        assert_eq!(suppressed("x (after 8ms in state APIVERSION_QUERY, 5 identical error(s) suppressed)"), 5);
        assert_eq!(suppressed("x (after 8ms in state APIVERSION_QUERY)"), 0);
        let alarm = SecurityAlarm::default();
        alarm.note("closed (after 1ms in state APIVERSION_QUERY, 2 identical error(s) suppressed)".into());
        assert!(alarm.raised.is_cancelled());
    }

    #[test]
    fn only_authentication_tls_and_protocol_mismatches_are_security_failures() {
        assert!(security_failure(Some(RDKafkaErrorCode::SSL), "certificate verify failed").is_some());
        for code in
            [RDKafkaErrorCode::BrokerTransportFailure, RDKafkaErrorCode::AllBrokersDown, RDKafkaErrorCode::Resolve]
        {
            assert!(security_failure(Some(code), "Connection refused").is_none(), "{code:?}");
        }
        assert!(security_failure(None, "").is_none());
        let closed = "127.0.0.1:9093/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN \
                      (after 2ms in state APIVERSION_QUERY)";
        assert!(security_failure_in_log("FAIL", closed).is_some_and(|r| r.contains("KAFKA_SECURITY_PROTOCOL")));
        let refused = "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused \
                       (after 0ms in state CONNECT)";
        assert!(security_failure_in_log("FAIL", refused).is_none(), "a broker that is down is waited for");
        // What `make test`'s chaos run saw from a broker killed with -9 and
        // restarting: it made the worker exit 1 before this exception.
        let reset = "GroupCoordinator: 127.0.0.1:29092: Disconnected: connection reset by peer \
                     (after 0ms in state APIVERSION_QUERY)";
        assert!(security_failure_in_log("FAIL", reset).is_none(), "a broker going away is waited for");
    }
}
