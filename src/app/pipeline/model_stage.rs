//! The model stage: records taken into batches, handed to the model thread
//! and received back in order. It owns the model's outage (a batch failing
//! whole is held for a retry, with every batch handed over behind it) and the
//! call deadline; while the model is out, the intake pauses.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::model_thread::{Categorized, ModelThread, ModelThreadGone};
use super::{Item, PipelineConfig};
use crate::app::{Categorizer, ModelUnavailable, Outcome};
use crate::health::Health;
use crate::telemetry::Metrics;

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Batches handed to the model at once: one in the model, one ready to start
/// the moment it is done.
const QUEUE: usize = 2;
/// A call running this many times `MODEL_CALL_TIMEOUT_MS` is hung: only a
/// restart (a new ONNX Runtime session) can help.
const HUNG_FACTOR: u32 = 12;

pub struct ModelStage<M> {
    /// Reads batches before the model thread gets them and makes outcomes of
    /// them after: the model's thread only runs the model.
    categorizer: Arc<Categorizer>,
    thread: ModelThread<M>,
    /// Taken, not yet handed to the model.
    batch: Vec<Item<M>>,
    batch_deadline: Instant,
    down: Option<Down>,
    /// A call runs past `MODEL_CALL_TIMEOUT_MS`.
    stalled: bool,
    /// While down: records at the front of `batch` held for the retry, and
    /// batches still to come back that are held behind them.
    held: usize,
    held_behind: usize,
    batch_size: usize,
    batch_timeout: Duration,
    call_timeout: Duration,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// The model is failing on everything: the batch is held until this retry.
struct Down {
    retry_at: Instant,
    backoff: Duration,
}

/// A batch back from the model.
pub enum Back<M> {
    /// Its records with their outcomes, in order.
    Done(Vec<(Item<M>, Outcome)>),
    /// Held for the model's retry.
    Held,
}

impl<M: Send + 'static> ModelStage<M> {
    /// Starts the model's thread.
    pub fn start(
        categorizer: Arc<Categorizer>,
        config: &PipelineConfig,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        Ok(ModelStage {
            categorizer,
            thread: ModelThread::start()?,
            batch: Vec::with_capacity(config.batch_size as usize),
            batch_deadline: Instant::now(),
            down: None,
            stalled: false,
            held: 0,
            held_behind: 0,
            batch_size: config.batch_size as usize,
            batch_timeout: Duration::from_millis(config.batch_timeout_ms),
            call_timeout: Duration::from_millis(config.model_call_timeout_ms),
            health,
            metrics,
        })
    }

    /// Down or stalled: records must wait, partitions pause.
    pub fn is_out(&self) -> bool {
        self.down.is_some() || self.stalled
    }

    /// Records taken and not yet handed to the model.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_full(&self) -> bool {
        self.batch.len() >= self.batch_size
    }

    /// Whether a full batch may be handed over now.
    pub fn has_room(&self) -> bool {
        self.down.is_none() && self.thread.pending() < QUEUE
    }

    /// Batches handed over and not yet back.
    pub fn pending(&self) -> usize {
        self.thread.pending()
    }

    pub fn push(&mut self, item: Item<M>) {
        if self.batch.is_empty() {
            self.batch_deadline = Instant::now() + self.batch_timeout;
        }
        self.batch.push(item);
    }

    /// Hands up to a batch to the model.
    pub fn submit(&mut self) -> Result<(), ModelThreadGone> {
        let take = self.batch.len().min(self.batch_size);
        let items: Vec<Item<M>> = self.batch.drain(..take).collect();
        let prepared = self.categorizer.read(&items);
        self.thread.submit(items, prepared)
    }

    /// When to hand a batch that is not full to the model: once the model
    /// is idle and the batch's first record waited `BATCH_TIMEOUT_MS`, or at
    /// the model's next retry. While the model works, the batch fills.
    pub fn flush_at(&self) -> Option<Instant> {
        if self.batch.is_empty() || self.thread.pending() > 0 {
            return None;
        }
        Some(self.down.as_ref().map_or(self.batch_deadline, |down| down.retry_at))
    }

    /// When the current call is past its deadline; once it is, when it is
    /// hung for good.
    pub fn deadline(&self) -> Option<Instant> {
        let since = Instant::from_std(self.thread.busy_since()?);
        Some(since + if self.stalled { self.call_timeout * HUNG_FACTOR } else { self.call_timeout })
    }

    /// The current call passed its deadline: not ready until it returns.
    /// `Err` with how long it ran when it is hung for good.
    pub fn stalls(&mut self) -> Result<(), Duration> {
        if self.stalled {
            return Err(self.call_timeout * HUNG_FACTOR);
        }
        let timeout = self.call_timeout;
        tracing::error!(
            ?timeout,
            "a model call is taking longer than MODEL_CALL_TIMEOUT_MS: not ready until it returns"
        );
        self.metrics.faults.with_label_values(&["model_stalled"]).inc();
        self.health.set_model_stalled(true);
        self.stalled = true;
        Ok(())
    }

    /// The next batch back, in submission order. Cancel-safe.
    pub async fn next(&mut self) -> Result<Categorized<M>, ModelThreadGone> {
        self.thread.next().await
    }

    /// A batch back: its outcomes, or held while the model is down.
    pub fn received(&mut self, Categorized { items, predicted, took }: Categorized<M>) -> Back<M> {
        if std::mem::take(&mut self.stalled) {
            tracing::info!(took = ?took, "the stalled model call returned");
            self.health.set_model_stalled(false);
        }
        if self.held_behind > 0 {
            self.hold_behind(items);
            return Back::Held;
        }
        let predicted = match predicted {
            Ok(predicted) => predicted,
            Err(unavailable) => {
                self.hold(items, unavailable);
                return Back::Held;
            }
        };
        self.metrics.inference_duration.observe(took.as_secs_f64());
        self.metrics.batch_size.observe(items.len() as f64);
        // While the model is down only its retry is in the model: this is it
        // (or, after a revoke took the held records, a new batch).
        if self.down.take().is_some() {
            tracing::info!("the model answers again; processing resumes");
        }
        self.health.set_model_available(true);
        let outcomes = self.categorizer.outcomes(&items, predicted, OffsetDateTime::now_utc());
        Back::Done(items.into_iter().zip(outcomes).collect())
    }

    /// The model failed on everything: keep the batch in front of the
    /// records taken after it, retry later, not ready. Batches handed over
    /// after it are held behind it as they come back, whatever their result.
    fn hold(&mut self, items: Vec<Item<M>>, unavailable: ModelUnavailable) {
        let backoff = self.down.as_ref().map_or(RETRY_MIN, |down| (down.backoff * 2).min(RETRY_MAX));
        if self.down.is_none() {
            tracing::warn!(error = %unavailable, retry_in = ?backoff, held = items.len(), "model unavailable; holding the batch");
            self.health.set_model_available(false);
            self.metrics.faults.with_label_values(&["model_unavailable"]).inc();
        }
        self.held = items.len();
        self.held_behind = self.thread.pending();
        self.batch.splice(0..0, items);
        self.down = Some(Down { retry_at: Instant::now() + backoff, backoff });
    }

    /// A batch handed over before the model failed on the one ahead of it:
    /// its records go back behind those held, in order.
    fn hold_behind(&mut self, items: Vec<Item<M>>) {
        self.held_behind -= 1;
        let (at, count) = (self.held, items.len());
        self.batch.splice(at..at, items);
        self.held += count;
    }

    /// Drops the records `keep` refuses. When that takes every held record,
    /// nothing is left to retry: new records are the model's next probe,
    /// instead of paused partitions waiting for ever.
    pub fn retain(&mut self, keep: impl FnMut(&Item<M>) -> bool) {
        self.batch.retain(keep);
        if self.down.is_some() && self.batch.is_empty() && self.held_behind == 0 {
            self.down = None;
        }
    }

    /// At shutdown: one more try whatever the backoff says.
    pub fn retry_now(&mut self) {
        self.down = None;
    }

    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }
}
