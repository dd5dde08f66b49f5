//! The model on a thread of its own. The loop hands it batches, read already,
//! and goes on fetching, sending and acknowledging while it works, so
//! inference overlaps the I/O instead of taking turns with it. The thread
//! runs only the model call. Batches come back in the order they were handed
//! over.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc as tokio_mpsc;

use super::Item;
use crate::app::{ModelUnavailable, Predicted, Prepared};

/// A batch back from the model.
pub(super) struct Categorized<M> {
    pub items: Vec<Item<M>>,
    pub predicted: Result<Predicted, ModelUnavailable>,
    /// Time in the model, not counting the wait in its queue.
    pub took: Duration,
}

/// The model thread ended: a panic outside the model call (the categorizer
/// catches the model's own), so a bug of ours.
#[derive(Debug, thiserror::Error)]
#[error("the model thread stopped")]
pub struct ModelThreadGone;

pub(super) struct ModelThread<M> {
    batches: mpsc::Sender<(Vec<Item<M>>, Prepared)>,
    results: tokio_mpsc::UnboundedReceiver<Categorized<M>>,
    /// Handed over, not yet received back.
    pending: usize,
    /// When the model started on the batch it is working on (as far as the
    /// loop can tell: handed over to an idle model, or the previous batch
    /// came back).
    busy_since: Option<Instant>,
}

impl<M: Send + 'static> ModelThread<M> {
    /// The thread ends when this handle is dropped (after the batch it is on).
    pub fn start() -> std::io::Result<Self> {
        let (batches, inbox) = mpsc::channel::<(Vec<Item<M>>, Prepared)>();
        let (outbox, results) = tokio_mpsc::unbounded_channel();
        std::thread::Builder::new().name("model".into()).spawn(move || {
            for (items, prepared) in inbox {
                let started = Instant::now();
                let spans: Vec<tracing::Span> = items
                    .iter()
                    .map(|item| {
                        tracing::debug_span!(parent: &item.received.span, "categorize", otel.name = "categorize", batch.size = items.len())
                    })
                    .collect();
                let predicted = prepared.predict();
                drop(spans);
                let done = Categorized { items, predicted, took: started.elapsed() };
                if outbox.send(done).is_err() {
                    return;
                }
            }
        })?;
        Ok(ModelThread { batches, results, pending: 0, busy_since: None })
    }

    /// Hands over records read into `prepared`, for the model call only.
    pub fn submit(&mut self, items: Vec<Item<M>>, prepared: Prepared) -> Result<(), ModelThreadGone> {
        self.batches.send((items, prepared)).map_err(|_| ModelThreadGone)?;
        if self.pending == 0 {
            self.busy_since = Some(Instant::now());
        }
        self.pending += 1;
        Ok(())
    }

    /// Batches handed over and not yet received back.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Since when the model works on its current batch, if it works.
    pub fn busy_since(&self) -> Option<Instant> {
        self.busy_since
    }

    /// The next batch back, in submission order. Cancel-safe.
    pub async fn next(&mut self) -> Result<Categorized<M>, ModelThreadGone> {
        let done = self.results.recv().await.ok_or(ModelThreadGone)?;
        self.pending -= 1;
        self.busy_since = (self.pending > 0).then(Instant::now);
        Ok(done)
    }
}
