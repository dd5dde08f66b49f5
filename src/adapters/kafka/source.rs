//! The record source over a Kafka consumer: records and rebalances in the
//! order librdkafka reports them, positions stored for auto-commit, explicit
//! commits bounded in time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::context::{apply, WorkerContext};
use super::headers::{copy_headers, HeaderList};
use super::spans;
use crate::app::SourceRecord;
use crate::ports::{Rebalance, Received, RecordSource, SourceError, SourceEvent};

/// What a Kafka record carries besides the app's view of it.
pub struct KafkaMeta {
    pub headers: HeaderList,
    pub timestamp_ms: Option<i64>,
}

pub struct KafkaSource {
    consumer: Arc<StreamConsumer<WorkerContext>>,
    /// The one topic subscribed to, shared by its records.
    topic: Arc<str>,
    group: String,
    /// How long a commit on revoke or at shutdown may take.
    commit_timeout: Duration,
}

impl KafkaSource {
    pub fn new(
        consumer: StreamConsumer<WorkerContext>,
        topic: String,
        group: String,
        commit_timeout: Duration,
    ) -> anyhow::Result<Self> {
        consumer.subscribe(&[&topic]).map_err(|error| anyhow::anyhow!("cannot subscribe to {topic}: {error}"))?;
        Ok(KafkaSource { consumer: Arc::new(consumer), topic: topic.into(), group, commit_timeout })
    }

    /// Leaves the group. librdkafka's close can wait on an unreachable broker:
    /// it runs on a blocking thread and is abandoned after `timeout`.
    pub async fn close(self, timeout: Duration) {
        self.consumer.context().closing.store(true, Ordering::SeqCst);
        let consumer = self.consumer;
        let closed = tokio::task::spawn_blocking(move || drop(consumer));
        if tokio::time::timeout(timeout, closed).await.is_err() {
            tracing::warn!(?timeout, "the consumer did not close in time; leaving it");
        }
    }

    /// What a transaction needs to commit input positions for this group
    /// member; read at each commit, as the generation changes on rebalance.
    pub fn group_metadata(&self) -> impl Fn() -> Option<ConsumerGroupMetadata> + Send + Sync + 'static {
        let consumer = Arc::downgrade(&self.consumer);
        move || consumer.upgrade().and_then(|consumer| consumer.group_metadata())
    }

    fn received(&self, message: &BorrowedMessage<'_>) -> Received<KafkaMeta> {
        let timestamp_ms = message.timestamp().to_millis();
        self.consumer.context().note_taken(message.partition(), timestamp_ms);
        let record = SourceRecord {
            topic: match message.topic() {
                topic if topic == &*self.topic => self.topic.clone(),
                topic => topic.into(),
            },
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
        };
        let headers = copy_headers(message);
        let span = spans::process(&record, &headers, &self.group);
        Received { record, meta: KafkaMeta { headers, timestamp_ms }, span }
    }

    /// librdkafka 2.12.1 commits the stored positions of partitions it lets
    /// go even when the assignment was lost (confluentinc/librdkafka#5585):
    /// after a session timeout, without a member id, and the broker's refusal
    /// is fatal for a static member (`INSTANCE_ID`), so a broker failover made
    /// the worker exit. With no valid stored position there is nothing to
    /// commit; the next owner starts from the last commit, as it must anyway.
    fn forget_stored(&self, lost: &TopicPartitionList) {
        if let Err(error) = self.consumer.store_offsets(lost) {
            tracing::warn!(%error, "cannot clear the lost partitions' stored positions");
        }
    }

    fn list(&self, positions: impl IntoIterator<Item = (i32, Offset)>) -> Result<TopicPartitionList, SourceError> {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in positions {
            list.add_partition_offset(&self.topic, partition, offset).map_err(|e| classify(&e))?;
        }
        Ok(list)
    }
}

/// Errors an operator must fix; anything else librdkafka retries by itself.
fn classify(error: &KafkaError) -> SourceError {
    use RDKafkaErrorCode::*;
    match error.rdkafka_error_code() {
        Some(
            Fatal
            | FencedInstanceId
            | GroupAuthorizationFailed
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | SaslAuthenticationFailed
            | Authentication
            | InvalidArgument,
        ) => SourceError::Fatal(error.to_string()),
        _ => SourceError::Transient(error.to_string()),
    }
}

impl KafkaSource {
    /// Like `classify`; a fatal authentication failure says what to check,
    /// as the client error callback reported it. (TLS failures raise the
    /// security alarm once they repeat.)
    fn classify_consumed(&self, error: &KafkaError) -> SourceError {
        let hint = super::context::security_failure(error.rdkafka_error_code(), &error.to_string());
        match (classify(error), hint) {
            (SourceError::Fatal(_), Some(hint)) => {
                let failure = self.consumer.context().security.last().unwrap_or(hint);
                SourceError::Fatal(format!("cannot connect to Kafka: {failure}"))
            }
            (other, _) => other,
        }
    }
}

impl RecordSource for KafkaSource {
    type Meta = KafkaMeta;

    async fn next(&mut self) -> Result<SourceEvent<KafkaMeta>, SourceError> {
        let context = self.consumer.context();
        loop {
            if let Some(rebalance) = context.next_rebalance() {
                return Ok(SourceEvent::Rebalance(rebalance));
            }
            // The rebalance callback runs inside `recv` and wakes `rebalanced`.
            tokio::select! {
                () = context.rebalanced.notified() => {}
                failure = context.security.raised() => {
                    return Err(SourceError::Fatal(format!("cannot connect to Kafka: {failure}")));
                }
                message = self.consumer.recv() => {
                    return match message {
                        Ok(message) => Ok(SourceEvent::Record(self.received(&message))),
                        Err(error) => Err(self.classify_consumed(&error)),
                    };
                }
            }
        }
    }

    fn confirm(&mut self, rebalance: &Rebalance) -> Result<(), SourceError> {
        let partitions = match rebalance {
            Rebalance::Assigned(partitions) | Rebalance::Revoked { partitions, .. } => partitions,
        };
        let list = self.list(partitions.iter().map(|p| (*p, Offset::Invalid)))?;
        if let Rebalance::Revoked { lost: true, .. } = rebalance {
            self.forget_stored(&list);
        }
        apply(self.consumer.as_ref(), rebalance, &list).map_err(|e| classify(&e))?;
        self.consumer.context().confirmed(rebalance);
        Ok(())
    }

    fn pause(&mut self, partitions: &[i32]) -> Result<(), SourceError> {
        let list = self.list(partitions.iter().map(|p| (*p, Offset::Invalid)))?;
        self.consumer.pause(&list).map_err(|e| classify(&e))
    }

    fn resume(&mut self, partitions: &[i32]) -> Result<(), SourceError> {
        let list = self.list(partitions.iter().map(|p| (*p, Offset::Invalid)))?;
        self.consumer.resume(&list).map_err(|e| classify(&e))
    }

    fn store(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        let list = self.list(positions.iter().map(|(p, o)| (*p, Offset::Offset(*o))))?;
        self.consumer.store_offsets(&list).map_err(|e| classify(&e))
    }

    /// Asynchronous: librdkafka drops what it fetched before the seek, also
    /// records already in the consumer's queue. A seek that fails at once
    /// would leave the consumer past the records to read again, so such a
    /// failure, of the call or of one partition, is fatal: the restart reads
    /// them from the committed position.
    fn rewind(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        if positions.is_empty() {
            return Ok(()); // librdkafka refuses an empty list (_INVALID_ARG)
        }
        let list = self.list(positions.iter().map(|(p, o)| (*p, Offset::Offset(*o))))?;
        let sought = self
            .consumer
            .seek_partitions(list, Duration::ZERO)
            .map_err(|error| SourceError::Fatal(format!("cannot seek back to {positions:?}: {error}")))?;
        // Asynchronous: "in progress" is the answer of a seek under way.
        let failed = |element: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| match element.error() {
            Err(error) if error.rdkafka_error_code() != Some(RDKafkaErrorCode::InProgress) => {
                Some((element.partition(), error))
            }
            _ => None,
        };
        match sought.elements().iter().find_map(failed) {
            Some((partition, error)) => {
                Err(SourceError::Fatal(format!("cannot seek partition {partition} back to read it again: {error}")))
            }
            None => Ok(()),
        }
    }

    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        let list = self.list(positions.iter().map(|(p, o)| (*p, Offset::Offset(*o))))?;
        let consumer = self.consumer.clone();
        let commit = tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync));
        match tokio::time::timeout(self.commit_timeout, commit).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(classify(&error)),
            Ok(Err(join)) => Err(SourceError::Transient(format!("the commit panicked: {join}"))),
            Err(_) => Err(SourceError::Transient(format!("no answer within {:?}", self.commit_timeout))),
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::config::ClientConfig;

    use super::*;
    use crate::adapters::kafka::SecurityAlarm;
    use crate::telemetry::Metrics;

    /// Suspected in the delivery-core review, confirmed: the per-partition
    /// errors of a seek were dropped, so a rewind that did not happen went
    /// unnoticed and the consumer went on past the records to read again.
    #[tokio::test]
    async fn a_rewind_whose_seek_fails_is_an_error_not_a_silent_skip() {
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let context = WorkerContext::new(metrics, "in".into(), Arc::new(SecurityAlarm::default()));
        // Nothing listens on port 1, and partition 7 is never assigned.
        let consumer: StreamConsumer<WorkerContext> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("group.id", "g")
            .set("log_level", "0")
            .create_with_context(context)
            .expect("consumer");
        let mut source = KafkaSource::new(consumer, "in".into(), "g".into(), Duration::from_secs(1)).expect("source");
        match source.rewind(&[(7, 42)]) {
            Err(SourceError::Fatal(message)) => assert!(message.contains("partition 7"), "{message}"),
            other => panic!("a failed seek must be fatal, got {other:?}"),
        }
    }

    /// Seen in `make chaos`: after the coordinator's broker crashed, a static
    /// member's session timed out, librdkafka committed the lost partitions'
    /// stored positions without a member id, the broker answered
    /// FENCED_INSTANCE_ID, and the worker exited. librdkafka's mock broker
    /// answers that commit the same way here.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_lost_assignment_leaves_no_stored_position_to_commit() {
        use rdkafka::mocking::MockCluster;
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("in", 1, 1).expect("topic");
        let producer: BaseProducer =
            ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().expect("producer");
        for _ in 0..3 {
            producer.send(BaseRecord::<(), str>::to("in").payload("x")).expect("send");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");

        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let context = WorkerContext::new(metrics, "in".into(), Arc::new(SecurityAlarm::default()));
        let consumer: StreamConsumer<WorkerContext> = ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap_servers())
            .set("group.id", "g")
            .set("group.instance.id", "worker-1")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", "3000")
            .set("heartbeat.interval.ms", "300")
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            // Only the commit on letting go, not a periodic one, is in question.
            .set("auto.commit.interval.ms", "600000")
            .set("auto.offset.reset", "earliest")
            .set("log_level", "0")
            .create_with_context(context)
            .expect("consumer");
        let mut source = KafkaSource::new(consumer, "in".into(), "g".into(), Duration::from_secs(1)).expect("source");

        let mut read = 0;
        while read < 3 {
            match tokio::time::timeout(Duration::from_secs(20), source.next()).await.expect("records within 20 s") {
                Ok(SourceEvent::Rebalance(rebalance)) => source.confirm(&rebalance).expect("confirm"),
                Ok(SourceEvent::Record(_)) => read += 1,
                Err(error) => panic!("consuming: {error}"),
            }
        }
        source.store(&[(0, 3)]).expect("store");

        // The broker answers the next commit as Kafka answered it in the
        // chaos run, and so slowly that the session times out meanwhile.
        mock.request_errors(RDKafkaApiKey::OffsetCommit, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID]);
        mock.broker_round_trip_time(1, Duration::from_secs(5)).expect("slow broker");
        loop {
            match tokio::time::timeout(Duration::from_secs(30), source.next())
                .await
                .expect("a lost session within 30 s")
            {
                Ok(SourceEvent::Rebalance(rebalance @ Rebalance::Revoked { lost: true, .. })) => {
                    source.confirm(&rebalance).expect("confirm the lost assignment");
                    break;
                }
                Ok(SourceEvent::Rebalance(other)) => panic!("expected a lost assignment, got {other:?}"),
                Ok(SourceEvent::Record(_)) | Err(SourceError::Transient(_)) => {}
                Err(error) => panic!("before the session was lost: {error}"),
            }
        }
        mock.broker_round_trip_time(1, Duration::ZERO).expect("broker back to speed");

        // The member rejoins and gets its partition back, without exiting.
        loop {
            match tokio::time::timeout(Duration::from_secs(20), source.next()).await.expect("rejoined within 20 s") {
                Ok(SourceEvent::Rebalance(rebalance)) => {
                    source.confirm(&rebalance).expect("confirm");
                    if matches!(rebalance, Rebalance::Assigned(_)) {
                        break;
                    }
                }
                Ok(SourceEvent::Record(_)) | Err(SourceError::Transient(_)) => {}
                Err(error) => panic!("the lost assignment's position was committed and refused: {error}"),
            }
        }
        source.close(Duration::from_secs(5)).await;
    }
}
