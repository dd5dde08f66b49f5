//! An in-memory broker behind the source and sink ports, for deterministic
//! tests of the pipeline: the test decides when records arrive, when
//! rebalances happen, and when (and how) each output is acknowledged. In
//! transactional mode the sink keeps each transaction's outputs apart until
//! it commits, as a `read_committed` consumer sees them.
//!
//! Where the pipeline's correctness depends on librdkafka's behaviour, it
//! behaves the same: a partition's pause flag survives revoke and assign; a
//! full queue refuses with `QueueFull`; a release withdraws every pending
//! output, of any partition, like a purge; a commit that timed out makes an
//! abort fail ("conflicting commit in progress") until it is committed; a
//! revoked partition's stored position is committed as it goes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use crate::app::{Output, SourceRecord};
use crate::ports::{
    OutputSink, Rebalance, Received, RecordSource, SinkError, SourceError, SourceEvent, TransactionalSink,
};

pub const TOPIC: &str = "in";

/// Decides, per output, whether `send` refuses it at once.
pub type SendHook = Box<dyn FnMut(&SourceRecord, &Output) -> Option<SinkError> + Send>;

/// One output as the sink received it, in send order.
#[derive(Debug, Clone)]
pub struct Sent {
    pub partition: i32,
    pub offset: i64,
    pub output: Output,
}

#[derive(Default)]
struct State {
    log: BTreeMap<i32, Vec<Option<Vec<u8>>>>,
    /// Next offset to hand out, per assigned partition.
    fetch: BTreeMap<i32, i64>,
    paused: BTreeSet<i32>,
    stored: HashMap<i32, i64>,
    committed: HashMap<i32, i64>,
    events: VecDeque<Rebalance>,
    confirmed: Vec<Rebalance>,
    sent: Vec<Sent>,
    waiting: HashMap<usize, oneshot::Sender<Result<(), SinkError>>>,
    auto_ack: bool,
    hook: Option<SendHook>,
    transactional: bool,
    /// Indexes in `sent` of the open transaction's outputs.
    open: Option<Vec<usize>>,
    /// Outputs of committed transactions, in commit order.
    visible: Vec<Sent>,
    /// What the next commit fails with.
    commit_failure: Option<SinkError>,
    aborted: usize,
    rewinds: Vec<(i32, i64)>,
    /// A commit timed out with its output unknown: like librdkafka, an
    /// abort now fails and the next commit finishes it.
    commit_pending: bool,
    /// A commit has been called and has not ended: sending, beginning and
    /// aborting are pipeline bugs until it does.
    committing: bool,
    /// Commits wait while this is true.
    hold_commits: Option<tokio::sync::watch::Sender<bool>>,
    /// Commits that have ended.
    commits_ended: usize,
    /// Outputs sent and not yet acknowledged that make the sink's queue full.
    queue_limit: Option<usize>,
    /// Offers refused because the queue was full.
    queue_full: usize,
    /// Outputs withdrawn by `release`, never delivered.
    withdrawn: Vec<(i32, i64)>,
}

/// Cloning gives another handle to the same broker.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
}

impl MemoryBroker {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.wake.notify_one();
    }

    /// Appends a record (`None`: a tombstone) and returns its offset.
    pub fn produce(&self, partition: i32, value: Option<&str>) -> i64 {
        let offset = {
            let mut state = self.state();
            let log = state.log.entry(partition).or_default();
            log.push(value.map(|v| v.as_bytes().to_vec()));
            log.len() as i64 - 1
        };
        self.changed();
        offset
    }

    /// The next `next()` of the source reports this rebalance.
    pub fn rebalance(&self, rebalance: Rebalance) {
        self.state().events.push_back(rebalance);
        self.changed();
    }

    /// Acknowledge every output as soon as it is sent.
    pub fn auto_ack(&self, on: bool) {
        let waiting: Vec<_> = {
            let mut state = self.state();
            state.auto_ack = on;
            if on {
                state.waiting.drain().collect()
            } else {
                Vec::new()
            }
        };
        for (_, reply) in waiting {
            let _ = reply.send(Ok(()));
        }
    }

    /// The sink writes in transactions (exactly-once).
    pub fn transactional(&self) {
        self.state().transactional = true;
    }

    pub fn is_transactional(&self) -> bool {
        self.state().transactional
    }

    /// While `on`, a commit waits (it has begun: nothing may be sent).
    pub fn hold_commits(&self, on: bool) {
        let mut state = self.state();
        match state.hold_commits.as_ref() {
            Some(hold) => _ = hold.send_replace(on),
            None => state.hold_commits = Some(tokio::sync::watch::channel(on).0),
        }
    }

    /// Whether a commit has begun and not ended.
    pub fn is_committing(&self) -> bool {
        self.state().committing
    }

    pub fn commits_ended(&self) -> usize {
        self.state().commits_ended
    }

    pub fn fail_next_commit(&self, error: SinkError) {
        self.state().commit_failure = Some(error);
    }

    /// What a `read_committed` consumer of the outputs sees.
    pub fn visible(&self) -> Vec<Sent> {
        self.state().visible.clone()
    }

    pub fn aborted(&self) -> usize {
        self.state().aborted
    }

    /// Every rewind the source was asked for, in order.
    pub fn rewinds(&self) -> Vec<(i32, i64)> {
        self.state().rewinds.clone()
    }

    /// At most this many outputs wait for their acknowledgement; the sink
    /// refuses more with `QueueFull`.
    pub fn queue_limit(&self, limit: usize) {
        self.state().queue_limit = Some(limit);
    }

    pub fn queue_full_refusals(&self) -> usize {
        self.state().queue_full
    }

    /// Outputs (partition, offset) withdrawn before delivery.
    pub fn withdrawn(&self) -> Vec<(i32, i64)> {
        self.state().withdrawn.clone()
    }

    pub fn on_send(&self, hook: SendHook) {
        self.state().hook = Some(hook);
    }

    /// Finishes the delivery of the `index`-th output sent.
    pub fn reply(&self, index: usize, result: Result<(), SinkError>) {
        let reply = self.state().waiting.remove(&index);
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }

    pub fn ack_all(&self) {
        let waiting: Vec<usize> = self.state().waiting.keys().copied().collect();
        for index in waiting {
            self.reply(index, Ok(()));
        }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    pub fn stored(&self, partition: i32) -> Option<i64> {
        self.state().stored.get(&partition).copied()
    }

    pub fn committed(&self, partition: i32) -> Option<i64> {
        self.state().committed.get(&partition).copied()
    }

    pub fn confirmed(&self) -> Vec<Rebalance> {
        self.state().confirmed.clone()
    }

    pub fn paused(&self) -> BTreeSet<i32> {
        self.state().paused.clone()
    }

    pub fn source(&self) -> MemorySource {
        MemorySource { broker: self.clone() }
    }

    pub fn sink(&self) -> MemorySink {
        MemorySink { broker: self.clone() }
    }

    fn next_record(state: &mut State) -> Option<SourceRecord> {
        let (partition, offset, value) = state.fetch.iter().find_map(|(partition, offset)| {
            let value = state.log.get(partition)?.get(*offset as usize)?;
            (!state.paused.contains(partition)).then(|| (*partition, *offset, value.clone()))
        })?;
        state.fetch.insert(partition, offset + 1);
        Some(SourceRecord { topic: TOPIC.into(), partition, offset, key: Some(b"key".to_vec()), value })
    }
}

pub struct MemorySource {
    broker: MemoryBroker,
}

impl RecordSource for MemorySource {
    type Meta = ();

    async fn next(&mut self) -> Result<SourceEvent<()>, SourceError> {
        loop {
            {
                let mut state = self.broker.state();
                if let Some(rebalance) = state.events.pop_front() {
                    return Ok(SourceEvent::Rebalance(rebalance));
                }
                if let Some(record) = MemoryBroker::next_record(&mut state) {
                    return Ok(SourceEvent::Record(Received { record, meta: (), span: tracing::Span::none() }));
                }
            }
            self.broker.wake.notified().await;
        }
    }

    /// Like Kafka: an assigned partition starts at its committed position.
    fn confirm(&mut self, rebalance: &Rebalance) -> Result<(), SourceError> {
        let mut state = self.broker.state();
        match rebalance {
            Rebalance::Assigned(partitions) => {
                for partition in partitions {
                    let start = state.committed.get(partition).copied().unwrap_or(0);
                    state.fetch.insert(*partition, start);
                }
            }
            Rebalance::Revoked { partitions, lost } => {
                // librdkafka keeps the application's pause flag of a
                // partition across revoke and assign. With auto-commit (not
                // transactional), it commits a revoked partition's stored
                // position as it lets it go, even below one committed
                // explicitly a moment before, and forgets it.
                for partition in partitions {
                    state.fetch.remove(partition);
                    let stored = state.stored.remove(partition);
                    if let (Some(stored), false, false) = (stored, *lost, state.transactional) {
                        state.committed.insert(*partition, stored);
                    }
                }
            }
        }
        state.confirmed.push(rebalance.clone());
        drop(state);
        self.broker.changed();
        Ok(())
    }

    fn pause(&mut self, partitions: &[i32]) -> Result<(), SourceError> {
        self.broker.state().paused.extend(partitions);
        Ok(())
    }

    fn resume(&mut self, partitions: &[i32]) -> Result<(), SourceError> {
        let mut state = self.broker.state();
        for partition in partitions {
            state.paused.remove(partition);
        }
        drop(state);
        self.broker.changed();
        Ok(())
    }

    fn store(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        let mut state = self.broker.state();
        for (partition, offset) in positions {
            if !state.fetch.contains_key(partition) {
                return Err(SourceError::Transient(format!("partition {partition} is not assigned")));
            }
            state.stored.insert(*partition, *offset);
        }
        Ok(())
    }

    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        self.broker.state().committed.extend(positions.iter().copied());
        Ok(())
    }

    fn rewind(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError> {
        // librdkafka refuses to seek an empty list (_INVALID_ARG).
        if positions.is_empty() {
            return Err(SourceError::Fatal("cannot seek back to []: Seek error: _INVALID_ARG".into()));
        }
        let mut state = self.broker.state();
        for &(partition, offset) in positions {
            if !state.fetch.contains_key(&partition) {
                return Err(SourceError::Transient(format!("partition {partition} is not assigned")));
            }
            state.fetch.insert(partition, offset);
            state.rewinds.push((partition, offset));
        }
        drop(state);
        self.broker.changed();
        Ok(())
    }
}

pub struct MemorySink {
    broker: MemoryBroker,
}

pub struct MemoryDelivery(oneshot::Receiver<Result<(), SinkError>>);

impl Future for MemoryDelivery {
    type Output = Result<(), SinkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|reply| reply.unwrap_or_else(|_| Err(SinkError::Fatal("the broker dropped the delivery".into()))))
    }
}

impl OutputSink for MemorySink {
    type Meta = ();
    type Delivery = MemoryDelivery;

    fn send(&mut self, received: &Received<()>, output: &Output) -> Result<MemoryDelivery, SinkError> {
        let record = &received.record;
        let mut state = self.broker.state();
        if let Some(error) = state.hook.as_mut().and_then(|hook| hook(record, output)) {
            return Err(error);
        }
        if state.queue_limit.is_some_and(|limit| state.waiting.len() >= limit) {
            state.queue_full += 1;
            return Err(SinkError::QueueFull);
        }
        let index = state.sent.len();
        if state.committing {
            return Err(SinkError::Fatal("sent while a commit is in progress".into()));
        }
        if state.transactional {
            let Some(open) = state.open.as_mut() else {
                return Err(SinkError::Fatal("sent outside a transaction".into()));
            };
            open.push(index);
        }
        state.sent.push(Sent { partition: record.partition, offset: record.offset, output: output.clone() });
        let (reply, delivery) = oneshot::channel();
        if state.auto_ack {
            let _ = reply.send(Ok(()));
        } else {
            state.waiting.insert(index, reply);
        }
        Ok(MemoryDelivery(delivery))
    }

    /// Like Kafka's purge, every output not yet acknowledged is withdrawn,
    /// whatever its partition.
    fn release(&mut self, _partitions: &[i32]) {
        let mut state = self.broker.state();
        let mut indexes: Vec<usize> = state.waiting.keys().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            if let Some(reply) = state.waiting.remove(&index) {
                let withdrawn = (state.sent[index].partition, state.sent[index].offset);
                state.withdrawn.push(withdrawn);
                let _ = reply.send(Err(SinkError::Withdrawn));
            }
        }
    }
}

impl TransactionalSink for MemorySink {
    fn begin(&mut self) -> Result<(), SinkError> {
        let mut state = self.broker.state();
        if state.committing {
            return Err(SinkError::Fatal("begun while a commit is in progress".into()));
        }
        if state.open.is_some() {
            return Err(SinkError::Fatal("a transaction is already open".into()));
        }
        state.open = Some(Vec::new());
        Ok(())
    }

    /// Like Kafka, positions and outputs become visible together. Unlike
    /// Kafka it does not wait for deliveries: committing before they finish
    /// is a pipeline bug, reported as fatal.
    fn commit(
        &mut self,
        positions: &[(i32, i64)],
        _budget: Duration,
    ) -> impl Future<Output = Result<(), SinkError>> + Send + 'static {
        let broker = self.broker.clone();
        let hold = {
            let mut state = broker.state();
            state.committing = true;
            state.hold_commits.as_ref().map(tokio::sync::watch::Sender::subscribe)
        };
        let positions = positions.to_vec();
        async move {
            if let Some(mut hold) = hold {
                let _ = hold.wait_for(|held| !held).await;
            }
            let mut state = broker.state();
            state.committing = false;
            state.commits_ended += 1;
            state.commit(&positions)
        }
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        let mut state = self.broker.state();
        if state.committing {
            return Err(SinkError::Fatal("aborted while a commit is in progress".into()));
        }
        if state.commit_pending {
            return Err(SinkError::Fatal("conflicting commit in progress".into()));
        }
        for index in state.open.take().unwrap_or_default() {
            state.waiting.remove(&index);
        }
        state.aborted += 1;
        Ok(())
    }
}

impl State {
    fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), SinkError> {
        let state = self;
        if let Some(error) = state.commit_failure.take() {
            state.commit_pending = matches!(error, SinkError::CommitPending(_));
            return Err(error);
        }
        state.commit_pending = false;
        let Some(open) = state.open.take() else {
            return Err(SinkError::Fatal("no transaction to commit".into()));
        };
        if let Some(index) = open.iter().find(|index| state.waiting.contains_key(index)) {
            return Err(SinkError::Fatal(format!("committed before output {index} was acknowledged")));
        }
        let outputs: Vec<Sent> = open.iter().map(|index| state.sent[*index].clone()).collect();
        state.visible.extend(outputs);
        state.committed.extend(positions.iter().copied());
        Ok(())
    }
}
