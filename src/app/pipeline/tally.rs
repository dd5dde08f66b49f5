//! Outcome metrics. At-least-once counts a record once its output is
//! acknowledged; exactly-once counts it once its transaction commits, since
//! the outcomes of an aborted transaction are produced again.

use crate::app::Output;
use crate::domain::SkipReason;
use crate::telemetry::Metrics;

/// One record's contribution to the outcome metrics.
pub enum Counted {
    Categorized(String, f64),
    DeadLettered(&'static str),
    Skipped(SkipReason),
}

impl Counted {
    pub fn of(output: &Output) -> Self {
        match output {
            Output::Categorized(event) => Counted::Categorized(event.category.code.clone(), event.confidence),
            Output::DeadLetter(rejection) => Counted::DeadLettered(rejection.reason.code()),
        }
    }

    pub fn count(&self, metrics: &Metrics) {
        match self {
            Counted::Categorized(code, confidence) => {
                metrics.categorized.with_label_values(&[code]).inc();
                metrics.confidence.observe(*confidence);
            }
            Counted::DeadLettered(reason) => metrics.dead_lettered.with_label_values(&[reason]).inc(),
            Counted::Skipped(reason) => metrics.skipped.with_label_values(&[reason.code()]).inc(),
        }
    }
}
