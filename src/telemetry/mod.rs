//! Metrics, logs and traces.

pub mod logging;
pub mod metrics;

pub use metrics::Metrics;
