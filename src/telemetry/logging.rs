//! Logs through `tracing`, as text for people or JSON for log pipelines, and
//! spans to OpenTelemetry when export is configured.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

use super::tracing::{export_requested, otlp_provider};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flushes buffered spans when dropped at exit.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: cannot flush traces: {error}");
            }
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` filters logs (default
/// `default_filter`) written to stderr, so stdout stays free for output.
/// Spans of this crate go to OpenTelemetry only when export is requested.
pub fn init(format: LogFormat, default_filter: &str) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = match format {
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);

    let (provider, setup_error) = match export_requested().then(otlp_provider) {
        None => (None, None),
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(error)) => (None, Some(error)),
    };
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("product-categorizer"))
            .with_filter(Targets::new().with_target("product_categorizer", tracing::Level::DEBUG))
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
    if let Some(error) = setup_error {
        tracing::error!("{error:#}; continuing without trace export");
    }
    TelemetryGuard { provider }
}
