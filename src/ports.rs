//! What the app needs from the outside world: a model, a source of records
//! and a sink for outcomes. Adapters implement them for ONNX and Kafka; the
//! in-memory broker implements the source and sink for tests.

use std::future::Future;
use std::time::Duration;

use crate::app::{CategorizedEvent, Output, SourceRecord};
use crate::domain::{ModelInput, Prediction};

/// Categorizes a batch of products in one call: batching is what makes model
/// inference fast.
pub trait Predictor: Send + Sync {
    /// One prediction per input, in input order.
    fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError>;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PredictError(pub String);

/// A change of the partitions this instance owns. The source does not act on
/// it until the pipeline confirms it: the pipeline first finishes with
/// revoked partitions, so their offsets can still be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    Assigned(Vec<i32>),
    /// `lost`: the partitions may already be another member's (the session
    /// expired); nothing of theirs can be committed any more.
    Revoked {
        partitions: Vec<i32>,
        lost: bool,
    },
}

/// A record as the source hands it over.
pub struct Received<M> {
    pub record: SourceRecord,
    /// What only the transport needs (headers, timestamp).
    pub meta: M,
    /// The record's trace span; it ends when the record's outcome is final.
    pub span: tracing::Span,
}

pub enum SourceEvent<M> {
    /// A record of an owned partition, in offset order within its partition.
    Record(Received<M>),
    Rebalance(Rebalance),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// Worth logging; the source recovers by itself (broker down, rejoin).
    #[error("{0}")]
    Transient(String),
    /// The source cannot go on without an operator (authorization, fenced).
    #[error("{0}")]
    Fatal(String),
}

/// Records in, positions out.
pub trait RecordSource: Send {
    type Meta: Send + Unpin + 'static;

    /// The next record or rebalance. Cancel-safe: nothing is lost when the
    /// future is dropped before it completes.
    fn next(&mut self) -> impl Future<Output = Result<SourceEvent<Self::Meta>, SourceError>> + Send;

    /// The pipeline is done with a rebalance event: the source may now hand
    /// revoked partitions over, or start fetching assigned ones.
    fn confirm(&mut self, rebalance: &Rebalance) -> Result<(), SourceError>;

    /// Stops fetching these partitions (back-pressure); `next` keeps serving
    /// rebalances.
    fn pause(&mut self, partitions: &[i32]) -> Result<(), SourceError>;

    fn resume(&mut self, partitions: &[i32]) -> Result<(), SourceError>;

    /// Every record before `offset` in `partition` is done: the position to
    /// restart from. The source commits stored positions on its own schedule.
    fn store(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError>;

    /// Commits these positions now (revoke, shutdown), waiting at most what
    /// the source allows itself.
    fn commit(&mut self, positions: &[(i32, i64)]) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Reads these partitions again from these offsets: records fetched from
    /// them and not yet handed out are dropped.
    fn rewind(&mut self, positions: &[(i32, i64)]) -> Result<(), SourceError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The sink's queue is full; the same output may be sent again once
    /// earlier deliveries finish.
    #[error("the output queue is full")]
    QueueFull,
    /// The output is larger than the broker accepts.
    #[error("{0}")]
    TooLarge(String),
    /// A transaction commit did not finish in time and its outcome is not
    /// known yet: commit again (an abort would conflict with it).
    #[error("{0}")]
    CommitPending(String),
    /// Withdrawn by [`OutputSink::release`] before it was delivered: its
    /// record must be read again.
    #[error("the output was withdrawn before delivery")]
    Withdrawn,
    /// The open transaction cannot commit: abort it and process its records
    /// again.
    #[error("{0}")]
    Abortable(String),
    /// Nothing sent now can succeed without an operator: not authorized, no
    /// such topic, a fenced or failed producer.
    #[error("{0}")]
    Fatal(String),
}

/// Outcomes out. Outputs of one input partition are delivered in the order
/// they are sent; a delivery that fails is not retried by the pipeline
/// (retrying after later outputs would reorder them), so the sink itself
/// retries whatever can still succeed.
pub trait OutputSink: Send {
    type Meta: Send + Unpin + 'static;
    type Delivery: Future<Output = Result<(), SinkError>> + Send + Unpin + 'static;

    /// Enqueues the output of `record`. A dead
    /// letter never fails with `TooLarge`: the sink truncates it.
    fn send(&mut self, received: &Received<Self::Meta>, output: &Output) -> Result<Self::Delivery, SinkError>;

    /// The partitions' outputs still undelivered must never land: they belong
    /// to another instance now. Their deliveries, and possibly those of other
    /// partitions (Kafka withdraws everything queued), fail with `Withdrawn`.
    fn release(&mut self, partitions: &[i32]);
}

/// Exactly-once: outputs are written in transactions that also commit the
/// input positions; the source's own commits are not used.
pub trait TransactionalSink: OutputSink {
    /// Opens a transaction: what is sent from now on is part of it.
    fn begin(&mut self) -> Result<(), SinkError>;

    /// Commits the open transaction with these input positions, once every
    /// output sent in it is acknowledged; gives up after `budget` with
    /// `CommitPending` (call it again) unless the sink knows better. The
    /// commit borrows nothing, so the caller can go on reading and scoring
    /// while it runs; nothing may be sent, begun or aborted until it ends.
    fn commit(
        &mut self,
        positions: &[(i32, i64)],
        budget: Duration,
    ) -> impl Future<Output = Result<(), SinkError>> + Send + 'static;

    /// Aborts the open transaction: none of its outputs will ever be read
    /// (by `read_committed` consumers), and deliveries still pending fail.
    fn abort(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Where a shadow model's results go for offline comparison. Best effort:
/// nothing waits for them and nothing is retried by the app.
pub trait ShadowPublisher: Send {
    fn publish(&self, record: &SourceRecord, event: &CategorizedEvent);
}
