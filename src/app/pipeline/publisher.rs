//! The publisher: outputs handed to the sink in the order they were offered,
//! and their deliveries. A full sink queue holds the outbox (never the loop):
//! it is offered again once a delivery finishes, or after a while.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use prometheus::IntCounter;
use tokio::time::Instant;

use super::partitions::Partitions;
use super::tally::Counted;
use super::Item;
use crate::app::Output;
use crate::domain::{RejectReason, Rejection};
use crate::ports::{OutputSink, SinkError};

/// How long a full sink queue is left alone when no delivery finishes.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(100);

/// A delivery that finished, with the record it carried and what it counts
/// for.
pub(super) type Delivered<M> = (Item<M>, Counted, Result<(), SinkError>);

/// A delivery in progress, with its record. The output itself is dropped
/// once handed to the sink (which holds its bytes): with MAX_IN_FLIGHT
/// results in flight, their events were a third of the worker's memory.
struct Sending<D, M> {
    item: Option<(Item<M>, Counted)>,
    delivery: D,
}

impl<D: Future<Output = Result<(), SinkError>> + Unpin, M: Unpin> Future for Sending<D, M> {
    type Output = Delivered<M>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = std::task::ready!(Pin::new(&mut this.delivery).poll(cx));
        match this.item.take() {
            Some((item, counted)) => Poll::Ready((item, counted, result)),
            // FuturesUnordered never polls a finished future again.
            None => Poll::Pending,
        }
    }
}

/// A send the sink refused for good, and of which record.
pub(super) struct Refused {
    pub error: SinkError,
    pub record: String,
}

pub(super) struct Publisher<K: OutputSink> {
    pub sink: K,
    outbox: VecDeque<(Item<K::Meta>, Output)>,
    deliveries: FuturesUnordered<Sending<K::Delivery, K::Meta>>,
    /// The sink's queue is full: nothing is offered before this, unless a
    /// delivery finishes first.
    blocked_until: Option<Instant>,
    /// Counts offers the sink refused as full.
    refused_full: IntCounter,
}

impl<K: OutputSink> Publisher<K> {
    pub fn new(sink: K, refused_full: IntCounter) -> Self {
        Publisher {
            sink,
            outbox: VecDeque::new(),
            deliveries: FuturesUnordered::new(),
            blocked_until: None,
            refused_full,
        }
    }

    /// Queues an output behind those offered before it.
    pub fn offer(&mut self, item: Item<K::Meta>, output: Output) {
        self.outbox.push_back((item, output));
    }

    /// Queues an output ahead of the others: a dead letter replacing a
    /// refused result goes to another topic, so it reorders nothing.
    pub fn offer_first(&mut self, item: Item<K::Meta>, output: Output) {
        self.outbox.push_front((item, output));
    }

    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty()
    }

    pub fn has_deliveries(&self) -> bool {
        !self.deliveries.is_empty()
    }

    pub fn deliveries(&self) -> usize {
        self.deliveries.len()
    }

    /// When a blocked outbox is offered again by time.
    pub fn retry_at(&self) -> Option<Instant> {
        self.blocked_until.filter(|_| !self.outbox.is_empty())
    }

    /// Hands the outbox to the sink, in order, until the sink is full or
    /// refuses a record for good. Outputs of records no longer current are
    /// dropped: they are read again, or are not ours any more.
    pub fn publish(&mut self, partitions: &mut Partitions) -> Result<(), Refused> {
        if self.blocked_until.is_some_and(|until| Instant::now() < until) {
            return Ok(());
        }
        self.blocked_until = None;
        while let Some((item, output)) = self.outbox.pop_front() {
            let record = &item.received.record;
            if !partitions.is_current(record.partition, item.epoch) {
                continue;
            }
            match self.sink.send(&item.received, &output) {
                Ok(delivery) => {
                    partitions.sent(record.partition, item.epoch);
                    self.deliveries.push(Sending { item: Some((item, Counted::of(&output))), delivery });
                }
                Err(SinkError::QueueFull) => {
                    self.refused_full.inc();
                    self.blocked_until = Some(Instant::now() + QUEUE_FULL_WAIT);
                    self.outbox.push_front((item, output));
                    return Ok(());
                }
                Err(SinkError::TooLarge(detail)) if matches!(output, Output::Categorized(_)) => {
                    self.outbox.push_front((item, too_large(&detail)));
                }
                Err(error) => {
                    return Err(Refused { error, record: super::describe(record) });
                }
            }
        }
        Ok(())
    }

    /// The next delivery to finish. Cancel-safe.
    pub async fn next_delivered(&mut self) -> Option<Delivered<K::Meta>> {
        let done = self.deliveries.next().await;
        if done.is_some() {
            // Room in the sink's queue.
            self.blocked_until = None;
        }
        done
    }

    /// A delivery that already finished, if any.
    pub fn ready(&mut self) -> Option<Delivered<K::Meta>> {
        let done = self.deliveries.next().now_or_never().flatten();
        if done.is_some() {
            self.blocked_until = None;
        }
        done
    }

    /// Forgets outputs not yet handed to the sink that `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&Item<K::Meta>) -> bool) {
        self.outbox.retain(|(item, _)| keep(item));
    }

    /// Forgets every delivery in progress (their outputs were aborted).
    pub fn forget_deliveries(&mut self) {
        self.deliveries.clear();
    }

    /// Deliveries in progress whose records `counts` accepts.
    pub fn sending(&self, mut counts: impl FnMut(&Item<K::Meta>) -> bool) -> usize {
        self.deliveries.iter().filter_map(|sending| sending.item.as_ref()).filter(|(item, _)| counts(item)).count()
    }
}

pub(super) fn too_large(detail: &str) -> Output {
    Output::DeadLetter(Rejection::new(
        RejectReason::OutputTooLarge,
        format!("the result is larger than the broker accepts: {detail}"),
    ))
}
