//! Outcome metrics. At-least-once counts a record once its output is
//! acknowledged; exactly-once counts it once its transaction commits, since
//! the outcomes of an aborted transaction are produced again.

use std::sync::Arc;

use crate::app::Output;
use crate::domain::SkipReason;
use crate::telemetry::Metrics;

/// One record's contribution to the outcome metrics.
pub enum Counted {
    Categorized { code: Arc<str>, confidence: f64, needs_review: bool },
    DeadLettered(&'static str),
    Skipped(SkipReason),
}

impl Counted {
    pub fn of(output: &Output) -> Self {
        match output {
            Output::Categorized(event) => Counted::Categorized {
                code: event.category.code.clone(),
                confidence: event.confidence,
                needs_review: event.needs_review,
            },
            Output::DeadLetter(rejection) => Counted::DeadLettered(rejection.reason.code()),
        }
    }

    pub fn count(&self, metrics: &Metrics) {
        match self {
            Counted::Categorized { code, confidence, needs_review } => {
                let flag = if *needs_review { "true" } else { "false" };
                metrics.categorized.with_label_values(&[code, flag]).inc();
                metrics.confidence.observe(*confidence);
            }
            Counted::DeadLettered(reason) => metrics.dead_lettered.with_label_values(&[reason]).inc(),
            Counted::Skipped(reason) => metrics.skipped.with_label_values(&[reason.code()]).inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flagged rate on the dashboard and its alert read the flag label.
    #[test]
    fn a_result_is_counted_under_its_category_and_review_flag() {
        let metrics = Metrics::new().expect("metrics");
        for needs_review in [true, true, false] {
            Counted::Categorized { code: "A".into(), confidence: 0.5, needs_review }.count(&metrics);
        }
        assert_eq!(metrics.categorized.with_label_values(&["A", "true"]).get(), 2);
        assert_eq!(metrics.categorized.with_label_values(&["A", "false"]).get(), 1);
    }
}
