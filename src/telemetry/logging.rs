//! Logs through `tracing`, as text for people or JSON for log pipelines, and
//! spans to OpenTelemetry when export is configured.

use std::ffi::OsStr;
use std::io::IsTerminal as _;

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

/// Whether log lines get ANSI colours: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
/// Files and pipes get plain text.
pub fn use_colours(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Installs the global subscriber. `RUST_LOG` filters logs (default
/// `default_filter`) written to stderr, so stdout stays free for output.
/// Spans of this crate go to OpenTelemetry only when export is requested.
pub fn init(format: LogFormat, default_filter: &str) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let colours = use_colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let logs = match format {
        LogFormat::Text => fmt::layer().with_ansi(colours).with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_ansi(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_colours(true, None));
        assert!(use_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR is no request");
        assert!(!use_colours(false, None), "a file or a pipe gets no escape codes");
        assert!(!use_colours(true, Some(OsStr::new("1"))));
        assert!(!use_colours(false, Some(OsStr::new("1"))));
    }
}
