//! A second model that scores every batch beside the primary one, to compare
//! them before switching. It runs on its own thread and never changes or
//! delays what is published: when it falls behind, batches pass it by and are
//! counted as skipped.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use time::OffsetDateTime;

use super::record::SourceRecord;
use super::service::{Categorizer, Outcome};
use crate::ports::ShadowPublisher;
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
    primary: Vec<Option<Arc<str>>>,
    at: OffsetDateTime,
}

impl ShadowTap {
    /// Offers the batch and the primary outcomes to the shadow; drops them
    /// (counted) when it is behind.
    pub(super) fn offer<R: AsRef<SourceRecord>>(&self, records: &[R], outcomes: &[Outcome], at: OffsetDateTime) {
        let primary: Vec<Option<Arc<str>>> = outcomes
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
pub fn spawn_shadow(
    shadow: Categorizer,
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

fn run(
    shadow: &Categorizer,
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::app::{CategorizedEvent, Settings};
    use crate::domain::{Category, InputKind, ModelInfo, ModelInput, Prediction};
    use crate::ports::PredictError;
    use crate::ports::Predictor;

    /// Category A for every text, or B for texts containing `b_word`;
    /// waits `delay` per call.
    struct Fixed {
        b_word: &'static str,
        delay: Duration,
    }

    impl Predictor for Fixed {
        fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
            std::thread::sleep(self.delay);
            Ok(inputs
                .iter()
                .map(|input| match input {
                    ModelInput::Text(t) if t.contains(self.b_word) => vec![0.1, 0.9],
                    _ => vec![0.9, 0.1],
                })
                .map(|probabilities| Prediction { probabilities })
                .collect())
        }
    }

    fn categorizer(version: &str, b_word: &'static str, delay: Duration) -> Categorizer {
        let model = ModelInfo {
            name: "m".into(),
            version: version.into(),
            input: InputKind::Text,
            categories: ["A", "B"].iter().map(|c| Category { code: (*c).into(), name: (*c).into() }).collect(),
            review_threshold: None,
            heldout_flagged_ratio: None,
        };
        Categorizer::new(Fixed { b_word, delay }, model, Settings { review_threshold: 0.5, max_text_chars: 100 })
    }

    #[derive(Default, Clone)]
    struct Published(Arc<Mutex<Vec<(i64, String, String)>>>);

    impl ShadowPublisher for Published {
        fn publish(&self, record: &SourceRecord, event: &CategorizedEvent) {
            self.0.lock().unwrap().push((
                record.offset,
                event.model.version.to_string(),
                event.category.code.to_string(),
            ));
        }
    }

    fn record(offset: i64, value: &str) -> SourceRecord {
        SourceRecord { topic: "in".into(), partition: 0, offset, key: None, value: Some(value.as_bytes().to_vec()) }
    }

    fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_shadow_is_compared_record_by_record_and_changes_no_outcome() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let published = Published::default();
        let tap = spawn_shadow(
            categorizer("shadow", "parafuso", Duration::ZERO),
            Some(Box::new(published.clone())),
            metrics.clone(),
        )
        .unwrap();
        let primary = categorizer("primary", "nothing", Duration::ZERO).with_shadow(tap);
        let records = [
            record(0, r#"{"product_id":"1","name":"cimento"}"#),
            record(1, r#"{"product_id":"2","name":"parafuso"}"#),
            record(2, "not json"),
            record(3, r#"{"product_id":"4","name":"areia"}"#),
        ];
        let outcomes = primary.categorize(&records, OffsetDateTime::now_utc()).unwrap();
        let codes: Vec<Option<&str>> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Categorized(e) => Some(&*e.category.code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, [Some("A"), Some("A"), None, Some("A")], "the primary model decides");

        eventually("three records compared", || metrics.shadow_compared.get() == 3);
        assert_eq!(metrics.shadow_agreed.get(), 2);
        assert_eq!(metrics.shadow_disagreements.with_label_values(&["A", "B"]).get(), 1);
        assert!((metrics.shadow_agreement.get() - 2.0 / 3.0).abs() < 1e-9);
        let published = published.0.lock().unwrap().clone();
        assert_eq!(
            published,
            [(0, "shadow".into(), "A".into()), (1, "shadow".into(), "B".into()), (3, "shadow".into(), "A".into())]
        );
    }

    /// Answers A once the test opens the gate (drops its sender).
    struct Gated(Mutex<std::sync::mpsc::Receiver<()>>);

    impl Predictor for Gated {
        fn predict(&self, inputs: &[&ModelInput]) -> Result<Vec<Prediction>, PredictError> {
            let _ = self.0.lock().unwrap().recv();
            Ok(inputs.iter().map(|_| Prediction { probabilities: vec![0.9, 0.1] }).collect())
        }
    }

    #[test]
    fn a_shadow_that_falls_behind_is_passed_by_not_waited_for() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let (gate, closed) = std::sync::mpsc::channel();
        let model = categorizer("shadow", "x", Duration::ZERO).model();
        let shadow =
            Categorizer::new(Gated(Mutex::new(closed)), model, Settings { review_threshold: 0.5, max_text_chars: 100 });
        let primary = categorizer("primary", "x", Duration::ZERO)
            .with_shadow(spawn_shadow(shadow, None, metrics.clone()).unwrap());
        let batches = QUEUE_BATCHES + 4;
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let batch = [record(0, r#"{"product_id":"1","name":"cimento"}"#)];
            for _ in 0..batches {
                primary.categorize(&batch, OffsetDateTime::now_utc()).unwrap();
            }
            done.send(()).unwrap();
        });
        finished.recv_timeout(Duration::from_secs(10)).expect("the primary finished while the shadow was stuck");
        let behind = metrics.shadow_skipped.with_label_values(&["behind"]).get();
        assert!(behind >= 3, "at most one batch in the shadow and {QUEUE_BATCHES} queued: {behind} skipped");
        drop(gate);
        eventually("the queued batches compared", || metrics.shadow_compared.get() + behind == batches as u64);
    }
}
