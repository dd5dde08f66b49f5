//! Logs through `tracing`, as text for people or JSON for log pipelines, and
//! spans to OpenTelemetry when export is configured.

use std::ffi::OsStr;
use std::io::IsTerminal as _;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{span, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer, Registry};

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
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let colours = use_colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let (provider, setup_error) = match export_requested().then(otlp_provider) {
        None => (None, None),
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(error)) => (None, Some(error)),
    };
    let spans =
        provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("product-categorizer")).boxed());
    subscriber(filter, logs_layer(format, colours, std::io::stderr), spans).init();
    if let Some(error) = setup_error {
        tracing::error!("{error:#}; continuing without trace export");
    }
    TelemetryGuard { provider }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn logs_layer<W>(format: LogFormat, colours: bool, writer: W) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer().with_ansi(colours).with_writer(writer).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

/// What span export gets: this crate's spans and events down to DEBUG,
/// whatever `RUST_LOG` says about the logs.
fn exported() -> Targets {
    Targets::new().with_target("product_categorizer", Level::DEBUG)
}

/// Logs filtered by `filter`, and spans (when exported) by [`exported`].
///
/// The two layers want different levels, so each gets its own (per-layer)
/// filter. Per-layer filters alone lose events, though: when every one of
/// them refuses a callsite that asked whether it is enabled and then logged
/// nothing (rdkafka's `ClientConfig::new` asks `log_enabled!`; a `log`
/// record below the level), their refusal stays behind in a thread-local and
/// the thread's next always-enabled event is dropped (tokio-rs/tracing#2519:
/// with `RUST_LOG=info,product_categorizer=debug` the warnings about an
/// unreachable broker vanished). A global filter in front, letting through
/// what any layer wants, refuses such callsites first and clears that state.
/// Without export there is one layer: its filter is the global one.
fn subscriber(
    filter: impl Fn() -> EnvFilter,
    logs: BoxedLayer,
    spans: Option<BoxedLayer>,
) -> impl Subscriber + Send + Sync + 'static {
    let exporting = spans.is_some();
    let mut layers: Vec<BoxedLayer> = Vec::new();
    match spans {
        Some(spans) => {
            layers.push(logs.with_filter(filter()).boxed());
            layers.push(spans.with_filter(exported()).boxed());
        }
        None => layers.push(logs),
    }
    tracing_subscriber::registry().with(layers).with(LogsOrSpans { logs: filter(), spans: exporting.then(exported) })
}

/// The global filter: the logs' `EnvFilter`, widened by the span export's
/// targets when spans are exported.
struct LogsOrSpans {
    logs: EnvFilter,
    spans: Option<Targets>,
}

impl LogsOrSpans {
    fn spans_want(&self, metadata: &Metadata<'_>) -> bool {
        self.spans.as_ref().is_some_and(|spans| spans.would_enable(metadata.target(), metadata.level()))
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for LogsOrSpans {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        match self.spans_want(metadata) {
            true => Interest::always(),
            false => Layer::<S>::register_callsite(&self.logs, metadata),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let logs = Layer::<S>::max_level_hint(&self.logs)?;
        Some(match self.spans {
            Some(_) => logs.max(LevelFilter::DEBUG),
            None => logs,
        })
    }

    fn enabled(&self, metadata: &Metadata<'_>, cx: Context<'_, S>) -> bool {
        self.spans_want(metadata) || Layer::<S>::enabled(&self.logs, metadata, cx)
    }

    // The EnvFilter follows spans for its span-based directives.
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        Layer::<S>::on_new_span(&self.logs, attrs, id, cx)
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        Layer::<S>::on_record(&self.logs, id, values, cx)
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.logs, id, cx)
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.logs, id, cx)
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        Layer::<S>::on_close(&self.logs, id, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::callsite::{DefaultCallsite, Identifier};
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    use super::*;

    /// A `log` record's metadata as tracing-log presents it: one callsite for
    /// every record of a level, the target filled in at run time.
    static LOG_CALLSITE: DefaultCallsite = DefaultCallsite::new(&LOG_RECORD);
    static LOG_RECORD: Metadata<'static> = Metadata::new(
        "log event",
        "librdkafka",
        Level::DEBUG,
        None,
        None,
        None,
        FieldSet::new(&["message"], Identifier(&LOG_CALLSITE)),
        Kind::EVENT,
    );

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs an event right after something asked whether a DEBUG `log`
    /// record of another crate is enabled (what rdkafka's `ClientConfig::new`
    /// does) and returns what was written.
    fn log_after_a_refused_query(exporting: bool) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let logs = logs_layer(LogFormat::Text, false, move || writer.clone());
        let spans = exporting.then(|| tracing_subscriber::layer::Identity::new().boxed());
        let filter = || EnvFilter::new("info,product_categorizer=debug");
        tracing::subscriber::with_default(subscriber(filter, logs, spans), || {
            tracing::warn!("first");
            tracing::dispatcher::get_default(|d| d.enabled(&LOG_RECORD));
            tracing::warn!("second");
            tracing::debug!("third");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn no_event_is_lost_after_a_refused_log_query() {
        for exporting in [false, true] {
            let text = log_after_a_refused_query(exporting);
            for line in ["first", "second", "third"] {
                assert!(text.contains(line), "exporting={exporting}: {line:?} lost:\n{text}");
            }
        }
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_colours(true, None));
        assert!(use_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR is no request");
        assert!(!use_colours(false, None), "a file or a pipe gets no escape codes");
        assert!(!use_colours(true, Some(OsStr::new("1"))));
        assert!(!use_colours(false, Some(OsStr::new("1"))));
    }
}
