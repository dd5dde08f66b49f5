//! `product-categorizer redrive` over Kafka: reads the dead-letter topic from
//! the redrive group's committed position up to the end offsets seen at
//! start, sends what [`Plan`] selects back to the input topic, and commits
//! the group's position past everything it read, in the same transaction as
//! the sends where the cluster allows transactions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::config::{describe, KafkaConfig};
use super::headers::{copy_headers, key_text};
use crate::app::redrive::{redriven_headers, DeadLetterFacts, Decision, Event, HeaderPairs, Mode, Plan, Summary};

/// Bound of each metadata, offset and commit request to the brokers.
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);
/// Most dead letters per transaction (or per acknowledged batch).
const BATCH_RECORDS: usize = 500;
/// Longest a batch stays open: progress is committed at least this often.
const BATCH_TIME: Duration = Duration::from_secs(1);
/// How long one wait for the next dead letter lasts before the loop looks
/// at its deadlines again.
const POLL: Duration = Duration::from_millis(200);
/// A full producer queue is tried again after this.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

/// What to redrive, where to.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    pub dlq_topic: String,
    pub target_topic: String,
    /// The consumer group whose committed position marks what was redriven.
    pub group: String,
    pub dry_run: bool,
    /// Use transactions unless the cluster refuses them.
    pub transactions: bool,
    /// Start at the earliest dead letter, not at the group's position.
    pub from_beginning: bool,
    /// Longest wait for the next dead letter while some partition is still
    /// short of its end offset at start.
    pub idle_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("{0:#}")]
    Setup(anyhow::Error),
    #[error("{context}: {message}")]
    Kafka { context: String, message: String },
    #[error("topic {topic} does not exist (or is not visible to these credentials): {what}")]
    MissingTopic { topic: String, what: &'static str },
    #[error(
        "another redrive with group {group} started and took over its transactional id ({transactional_id}); \
         this one stopped: what it committed stays committed, the other one goes on from there"
    )]
    Fenced { group: String, transactional_id: String },
    #[error(
        "no dead letter arrived for {waited:?} while partitions {behind} of {topic} were still short of their end \
         offset at start; what was read before is committed, run again to go on"
    )]
    Stalled { waited: Duration, topic: String, behind: String },
    #[error("interrupted: what was read before is committed ({mode}); run again to go on")]
    Interrupted { mode: &'static str },
}

fn kafka_error(context: impl Into<String>, error: &KafkaError) -> RedriveError {
    RedriveError::Kafka { context: context.into(), message: describe(error) }
}

/// The dead-letter offsets of one partition still to read: `[next, end)`.
#[derive(Debug, Clone, Copy)]
struct Range {
    end: i64,
    done: bool,
}

/// Runs the redrive. `summary` is filled as it goes, so a caller can report
/// what was done even when it fails; `on_event` hears of each record.
pub async fn redrive(
    kafka: &KafkaConfig,
    options: &RedriveOptions,
    plan: &Plan,
    summary: &mut Summary,
    on_event: &mut dyn FnMut(Event<'_>),
    shutdown: CancellationToken,
) -> Result<Mode, RedriveError> {
    // One transactional id per group: two redrives of one group at once
    // fence each other instead of both sending the same records.
    let transactional_id = format!("{}-txn", options.group);
    let config = kafka.for_redrive(&options.group, &transactional_id);
    config.validate().map_err(RedriveError::Setup)?;
    let mut consumer_config = config.consumer_config();
    // Says when a partition is read to its end (under read_committed: to the
    // last committed transaction), for partitions whose last offsets are
    // transaction markers that never arrive as records.
    consumer_config.set("enable.partition.eof", "true");
    let consumer: StreamConsumer<QuietEof> = consumer_config
        .create_with_context(QuietEof)
        .map_err(|e| kafka_error("cannot create the Kafka consumer", &e))?;

    let dlq_partitions = blocking(|| partitions(&consumer, &options.dlq_topic, "the dead-letter topic to redrive"))?;
    let target_partitions = blocking(|| partitions(&consumer, &options.target_topic, "the input topic to redrive to"))?;

    // The producer first: initializing transactions fences an older redrive
    // of this group and settles its open transaction, so the positions read
    // next include everything it committed.
    let (producer, mode) = if options.dry_run {
        (None, Mode::DryRun)
    } else {
        let (producer, mode) = blocking(|| producer(&config, options))?;
        (Some(producer), mode)
    };

    let mut ranges = BTreeMap::new();
    let starts = blocking(|| start_offsets(&consumer, options, &dlq_partitions))?;
    let mut assignment = TopicPartitionList::new();
    let mut expected = 0u64;
    for (partition, (start, end)) in starts {
        if start < end {
            assignment
                .add_partition_offset(&options.dlq_topic, partition, Offset::Offset(start))
                .map_err(|e| kafka_error("cannot assign the dead-letter partitions", &e))?;
            expected += (end - start) as u64;
            ranges.insert(partition, Range { end, done: false });
        }
    }
    on_event(Event::Started { mode, expected });
    if ranges.is_empty() {
        return Ok(mode);
    }
    consumer.assign(&assignment).map_err(|e| kafka_error("cannot assign the dead-letter partitions", &e))?;

    let mut batch = Batch::default();
    let mut last_record = Instant::now();
    let mut interrupted = false;
    while ranges.values().any(|r| !r.done) {
        let next = tokio::select! {
            _ = shutdown.cancelled() => { interrupted = true; break; }
            next = tokio::time::timeout(POLL, consumer.recv()) => next,
        };
        match next {
            Ok(Ok(message)) => {
                let partition = message.partition();
                let Some(range) = ranges.get_mut(&partition).filter(|r| !r.done && message.offset() < r.end) else {
                    // Past the end at start: a later run's.
                    continue;
                };
                if message.offset() + 1 >= range.end {
                    range.done = true;
                }
                last_record = Instant::now();
                let (decision, read) = handle(&message, plan, summary, on_event);
                if let (Decision::Send { count }, Some(producer)) = (decision, &producer) {
                    if mode == Mode::Transactions && !batch.open {
                        producer.begin_transaction().map_err(|e| kafka_error("cannot begin a transaction", &e))?;
                        batch.open = true;
                    }
                    let delivery = send(producer, options, &target_partitions, &message, &read, count).await?;
                    batch.deliveries.push(delivery);
                }
                batch.positions.insert(partition, message.offset() + 1);
                batch.records += 1;
                batch.started.get_or_insert_with(Instant::now);
                on_event(Event::Progress { summary, expected });
            }
            Ok(Err(KafkaError::PartitionEOF(partition))) => {
                // Everything readable is read; what an open transaction holds
                // back is left for the next run (its position is not passed).
                if let Some(range) = ranges.get_mut(&partition) {
                    range.done = true;
                }
            }
            Ok(Err(error)) => {
                // librdkafka retries what it can; the idle bound below ends a
                // redrive that makes no progress.
                tracing::warn!(error = %describe(&error), "while reading the dead-letter topic");
            }
            Err(_) => {}
        }
        let due = batch.records >= BATCH_RECORDS || batch.started.is_some_and(|t| t.elapsed() >= BATCH_TIME);
        if due {
            batch.commit(&consumer, producer.as_ref(), mode, &config, options).await?;
        }
        if last_record.elapsed() >= options.idle_timeout {
            batch.commit(&consumer, producer.as_ref(), mode, &config, options).await?;
            let behind: Vec<String> = ranges.iter().filter(|(_, r)| !r.done).map(|(p, _)| p.to_string()).collect();
            return Err(RedriveError::Stalled {
                waited: options.idle_timeout,
                topic: options.dlq_topic.clone(),
                behind: behind.join(", "),
            });
        }
    }
    batch.commit(&consumer, producer.as_ref(), mode, &config, options).await?;
    on_event(Event::Progress { summary, expected });
    if interrupted {
        return Err(RedriveError::Interrupted { mode: mode.describe() });
    }
    Ok(mode)
}

/// The consumer's context: librdkafka also reports the end of a partition
/// as a client error, which rdkafka logs at error level; here it is the
/// expected end of a redrive.
struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!(error = %describe(&error), reason, "librdkafka");
        }
    }
}

impl ConsumerContext for QuietEof {}

/// Runs a call that blocks on the brokers without stalling the runtime's
/// other tasks (the signal handler).
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(call)
}

/// The partition ids of `topic`.
fn partitions(consumer: &StreamConsumer<QuietEof>, topic: &str, what: &'static str) -> Result<Vec<i32>, RedriveError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| kafka_error(format!("cannot read the metadata of topic {topic}"), &e))?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(RedriveError::MissingTopic { topic: topic.to_owned(), what });
    }
    Ok(ids)
}

/// Per dead-letter partition: (first offset to read, end offset at start).
/// The first is the group's committed position, or the earliest offset with
/// `--from-beginning`, for a group without one, or when the committed one is
/// outside the log (deleted by retention, or the topic was recreated).
fn start_offsets(
    consumer: &StreamConsumer<QuietEof>,
    options: &RedriveOptions,
    partitions: &[i32],
) -> Result<BTreeMap<i32, (i64, i64)>, RedriveError> {
    let topic = &options.dlq_topic;
    let mut committed = BTreeMap::new();
    if !options.from_beginning {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            list.add_partition(topic, partition);
        }
        let positions = consumer
            .committed_offsets(list, BROKER_TIMEOUT)
            .map_err(|e| kafka_error(format!("cannot read the committed positions of group {}", options.group), &e))?;
        for element in positions.elements() {
            if let Offset::Offset(offset) = element.offset() {
                committed.insert(element.partition(), offset);
            }
        }
    }
    let mut starts = BTreeMap::new();
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, BROKER_TIMEOUT)
            .map_err(|e| kafka_error(format!("cannot read the offsets of {topic} partition {partition}"), &e))?;
        let start = match committed.get(&partition) {
            Some(&offset) if (low..=high).contains(&offset) => offset,
            Some(&offset) => {
                tracing::warn!(
                    partition,
                    committed = offset,
                    earliest = low,
                    end = high,
                    "the group's position is outside the dead-letter log: starting at its earliest offset"
                );
                low
            }
            None => low,
        };
        starts.insert(partition, (start, high));
    }
    Ok(starts)
}

/// The transactional producer, or a plain one where the cluster refuses
/// transactions (with a warning) or `--no-transactions` asked for it.
fn producer(config: &KafkaConfig, options: &RedriveOptions) -> Result<(FutureProducer, Mode), RedriveError> {
    if options.transactions {
        let producer: FutureProducer = config
            .producer_config()
            .create()
            .map_err(|e| kafka_error("cannot create the transactional Kafka producer", &e))?;
        match producer.init_transactions(BROKER_TIMEOUT) {
            Ok(()) => return Ok((producer, Mode::Transactions)),
            Err(error) if transactions_refused(&error) => tracing::warn!(
                error = %describe(&error),
                "the cluster refuses transactions to this client: redriving without them (an interrupted run \
                 may send its last batch again); grant WRITE on the transactional id {} to avoid that",
                config.transactional_id()
            ),
            Err(error) => return Err(kafka_error("cannot initialize transactions", &error)),
        }
    }
    let producer: FutureProducer = config
        .redrive_plain_producer_config()
        .create()
        .map_err(|e| kafka_error("cannot create the Kafka producer", &e))?;
    Ok((producer, Mode::NoTransactions))
}

/// Errors that mean "no transactions here", not "something is broken".
fn transactions_refused(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            TransactionalIdAuthorizationFailed
                | ClusterAuthorizationFailed
                | UnsupportedVersion
                | UnsupportedForMessageFormat
        )
    )
}

/// A dead letter's headers and what they say.
struct ReadDeadLetter {
    headers: HeaderPairs,
    facts: DeadLetterFacts,
}

/// Decides one dead letter and tells the caller.
fn handle(
    message: &BorrowedMessage<'_>,
    plan: &Plan,
    summary: &mut Summary,
    on_event: &mut dyn FnMut(Event<'_>),
) -> (Decision, ReadDeadLetter) {
    let headers = copy_headers(message);
    let facts = DeadLetterFacts::read(&headers, message.timestamp().to_millis());
    let decision = plan.decide(&facts);
    summary.record(&facts, decision);
    on_event(Event::Record {
        dlq_partition: message.partition(),
        dlq_offset: message.offset(),
        facts: &facts,
        decision,
        key: message.key(),
    });
    (decision, ReadDeadLetter { headers, facts })
}

/// Sends the original record back: its key and value bytes, its headers
/// without the `dlq.*` ones and with the new count, to the partition it was
/// read from when that exists (the producer of the input topic chose it;
/// another partitioner could put the key elsewhere), else by key.
async fn send(
    producer: &FutureProducer,
    options: &RedriveOptions,
    target_partitions: &[i32],
    message: &BorrowedMessage<'_>,
    read: &ReadDeadLetter,
    count: u32,
) -> Result<DeliveryFuture, RedriveError> {
    let headers = redriven_headers(&read.headers, count);
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (name, value) in &headers {
        // rdkafka takes names as text; the worker already wrote names that
        // are not UTF-8 escaped into its dead letters.
        owned = owned.insert(Header { key: &key_text(name), value: value.as_deref() });
    }
    let source = &read.facts;
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&options.target_topic).headers(owned);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(value) = message.payload() {
        record = record.payload(value);
    }
    let same_topic = source.source_topic.as_deref() == Some(options.target_topic.as_str());
    if let Some(partition) = source.source_partition.filter(|p| same_topic && target_partitions.contains(p)) {
        record = record.partition(partition);
    }
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
            }
            Err((error, _)) => {
                return Err(kafka_error(format!("cannot send a record to {}", options.target_topic), &error))
            }
        }
    }
}

/// The records read since the last commit.
#[derive(Default)]
struct Batch {
    /// Per dead-letter partition: the offset after the last record read.
    positions: BTreeMap<i32, i64>,
    records: usize,
    started: Option<Instant>,
    deliveries: Vec<DeliveryFuture>,
    /// A transaction is open.
    open: bool,
}

impl Batch {
    /// Commits the group's position past every record of the batch: in the
    /// transaction of its sends, or once every send is acknowledged. A dry
    /// run commits nothing.
    async fn commit(
        &mut self,
        consumer: &StreamConsumer<QuietEof>,
        producer: Option<&FutureProducer>,
        mode: Mode,
        config: &KafkaConfig,
        options: &RedriveOptions,
    ) -> Result<(), RedriveError> {
        if self.records == 0 {
            return Ok(());
        }
        let mut positions = TopicPartitionList::new();
        for (&partition, &next) in &self.positions {
            positions
                .add_partition_offset(&options.dlq_topic, partition, Offset::Offset(next))
                .map_err(|e| kafka_error("cannot list the positions to commit", &e))?;
        }
        let deliveries = std::mem::take(&mut self.deliveries);
        match (mode, producer) {
            (Mode::Transactions, Some(producer)) => {
                let result = blocking(|| commit_transaction(consumer, producer, &positions, self.open, config));
                if let Err(error) = result {
                    // Nothing of the batch becomes visible; the next run reads it again.
                    let _ = blocking(|| producer.abort_transaction(BROKER_TIMEOUT));
                    return Err(fenced_or(error, options, config));
                }
            }
            (Mode::NoTransactions, Some(_)) => {
                for delivery in deliveries {
                    match delivery.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((error, _))) => {
                            return Err(kafka_error(
                                format!("cannot send a record to {}", options.target_topic),
                                &error,
                            ))
                        }
                        Err(_) => {
                            return Err(RedriveError::Kafka {
                                context: format!("cannot send a record to {}", options.target_topic),
                                message: "the producer dropped it".into(),
                            })
                        }
                    }
                }
                blocking(|| consumer.commit(&positions, CommitMode::Sync)).map_err(|e| {
                    kafka_error(
                        format!(
                            "the batch was sent but the position of group {} could not be committed (a new run sends \
                             it again)",
                            options.group
                        ),
                        &e,
                    )
                })?;
            }
            _ => {}
        }
        *self = Batch::default();
        Ok(())
    }
}

fn commit_transaction(
    consumer: &StreamConsumer<QuietEof>,
    producer: &FutureProducer,
    positions: &TopicPartitionList,
    open: bool,
    config: &KafkaConfig,
) -> Result<(), KafkaError> {
    if !open {
        // A batch of only skipped records still moves the position, in a
        // transaction of its own.
        producer.begin_transaction()?;
    }
    let group = consumer.group_metadata().ok_or(KafkaError::Canceled)?;
    producer.send_offsets_to_transaction(positions, &group, BROKER_TIMEOUT)?;
    let timeout = config.transaction_timeout();
    let mut attempts = 0;
    loop {
        match producer.commit_transaction(timeout) {
            // librdkafka lets a commit whose outcome is unknown be retried.
            Err(KafkaError::Transaction(error)) if error.is_retriable() && attempts < 3 => attempts += 1,
            other => return other,
        }
    }
}

fn fenced_or(error: KafkaError, options: &RedriveOptions, config: &KafkaConfig) -> RedriveError {
    use RDKafkaErrorCode::*;
    match error.rdkafka_error_code() {
        Some(Fenced | ProducerFenced | InvalidProducerEpoch | TransactionCoordinatorFenced) => {
            RedriveError::Fenced { group: options.group.clone(), transactional_id: config.transactional_id() }
        }
        _ => kafka_error(format!("cannot commit the redrive transaction of group {}", options.group), &error),
    }
}
