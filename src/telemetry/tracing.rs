//! OpenTelemetry traces: OTLP export configured by the standard `OTEL_*`
//! variables, and W3C trace context carried in Kafka headers.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// Service name when OTEL_SERVICE_NAME does not give one.
const SERVICE_NAME: &str = "product-categorizer";

/// True when the user asked for export: an OTLP endpoint is set and neither
/// `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`.
pub fn export_requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value));
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// A tracer provider exporting over OTLP (protocol from
/// OTEL_EXPORTER_OTLP_PROTOCOL, default http/protobuf), sampler from
/// OTEL_TRACES_SAMPLER.
pub fn otlp_provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up the OTLP trace exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// Record headers: names and values as bytes, as Kafka carries them.
pub type RecordHeaders = [(Vec<u8>, Option<Vec<u8>>)];

/// Reads `traceparent`/`tracestate` from record headers.
pub struct HeaderExtractor<'a>(pub &'a RecordHeaders);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(key.as_bytes()))
            .and_then(|(_, value)| std::str::from_utf8(value.as_deref()?).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().filter_map(|(name, _)| std::str::from_utf8(name).ok()).collect()
    }
}

struct HeaderInjector(Vec<(String, String)>);

impl Injector for HeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// The trace context in a record's headers; an empty context when the
/// headers carry none or garbage (a new trace starts).
pub fn extract(headers: &RecordHeaders) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The `traceparent` (and `tracestate`) headers continuing `context`; when it
/// holds no span (tracing is off), the input's own trace headers are passed on
/// so the trace still continues downstream.
pub fn inject(context: &Context, input: &RecordHeaders) -> Vec<(String, String)> {
    if context.span().span_context().is_valid() {
        let mut injector = HeaderInjector(Vec::new());
        TraceContextPropagator::new().inject_context(context, &mut injector);
        return injector.0;
    }
    let extractor = HeaderExtractor(input);
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| extractor.get(name).map(|value| (name.to_owned(), value.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()))).collect()
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_extracted_and_garbage_is_ignored() {
        let cx = extract(&headers(&[("traceparent", PARENT)]));
        assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for garbage in ["", "00-xyz", "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"] {
            assert!(!extract(&headers(&[("traceparent", garbage)])).span().span_context().is_valid());
        }
        assert!(!extract(&[("traceparent".into(), Some(vec![0xff]))]).span().span_context().is_valid());
    }

    #[test]
    fn without_a_span_the_input_trace_headers_pass_through() {
        let input = headers(&[("traceparent", PARENT), ("tracestate", "vendor=1"), ("other", "x")]);
        let out = inject(&Context::new(), &input);
        assert_eq!(out, vec![("traceparent".into(), PARENT.into()), ("tracestate".into(), "vendor=1".into())]);
        assert!(inject(&Context::new(), &[]).is_empty());
    }

    #[test]
    fn a_span_context_is_injected_as_traceparent() {
        let cx = extract(&headers(&[("traceparent", PARENT)]));
        let out = inject(&cx, &[]);
        assert_eq!(out[0], ("traceparent".into(), PARENT.into()));
    }
}
