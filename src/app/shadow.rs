//! A second model that scores every batch beside the primary one, to compare
//! them before switching. It runs on its own thread and never changes or
//! delays what is published: when it falls behind, batches pass it by and are
//! counted as skipped.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use time::OffsetDateTime;

use super::record::SourceRecord;
use super::service::{Categorizer, Outcome};
use crate::ports::{Predictor, ShadowPublisher};
use crate::telemetry::Metrics;

/// Batches waiting for the shadow; past this the primary path does not wait.
const QUEUE_BATCHES: usize = 4;

/// The primary side's end: hands batches to the shadow without waiting.
pub struct ShadowTap {
    sender: SyncSender<ShadowBatch>,
    metrics: Arc<Metrics>,
}

struct ShadowBatch {
    records: Vec<SourceRecord>,
    /// The primary model's category code per record; `None`: not categorized.
    primary: Vec<Option<String>>,
    at: OffsetDateTime,
}

impl ShadowTap {
    /// Offers the batch and the primary outcomes to the shadow; drops them
    /// (counted) when it is behind.
    pub(super) fn offer<R: AsRef<SourceRecord>>(&self, records: &[R], outcomes: &[Outcome], at: OffsetDateTime) {
        let primary: Vec<Option<String>> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Outcome::Categorized(event) => Some(event.category.code.clone()),
                _ => None,
            })
            .collect();
        let categorized = primary.iter().flatten().count() as u64;
        if categorized == 0 {
            return;
        }
        let batch = ShadowBatch { records: records.iter().map(|r| r.as_ref().clone()).collect(), primary, at };
        match self.sender.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.shadow_skipped.with_label_values(&["behind"]).inc_by(categorized)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.metrics.shadow_skipped.with_label_values(&["stopped"]).inc_by(categorized)
            }
        }
    }
}

/// Starts the shadow thread around `shadow`; it ends when the tap is dropped.
pub fn spawn_shadow<P: Predictor + 'static>(
    shadow: Categorizer<P>,
    publisher: Option<Box<dyn ShadowPublisher>>,
    metrics: Arc<Metrics>,
) -> std::io::Result<ShadowTap> {
    let (sender, receiver) = sync_channel(QUEUE_BATCHES);
    let thread_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("shadow-model".into())
        .spawn(move || run(&shadow, &receiver, publisher.as_deref(), &thread_metrics))?;
    Ok(ShadowTap { sender, metrics })
}

fn run<P: Predictor>(
    shadow: &Categorizer<P>,
    batches: &Receiver<ShadowBatch>,
    publisher: Option<&dyn ShadowPublisher>,
    metrics: &Metrics,
) {
    for batch in batches {
        let outcomes = match shadow.categorize(&batch.records, batch.at) {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let scored = batch.primary.iter().flatten().count() as u64;
                metrics.shadow_skipped.with_label_values(&["model_error"]).inc_by(scored);
                tracing::warn!(%error, "the shadow model failed on a batch");
                continue;
            }
        };
        for ((record, primary), outcome) in batch.records.iter().zip(&batch.primary).zip(&outcomes) {
            let Some(primary) = primary else { continue };
            match outcome {
                Outcome::Categorized(event) => {
                    compare(metrics, primary, &event.category.code);
                    if let Some(publisher) = publisher {
                        publisher.publish(record, event);
                    }
                }
                _ => metrics.shadow_skipped.with_label_values(&["rejected"]).inc(),
            }
        }
    }
}

fn compare(metrics: &Metrics, primary: &str, shadow: &str) {
    metrics.shadow_compared.inc();
    if primary == shadow {
        metrics.shadow_agreed.inc();
    } else {
        metrics.shadow_disagreements.with_label_values(&[primary, shadow]).inc();
    }
    metrics.shadow_agreement.set(metrics.shadow_agreed.get() as f64 / metrics.shadow_compared.get() as f64);
}
