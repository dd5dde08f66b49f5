//! Per-record trace spans, named and attributed after the OpenTelemetry
//! messaging conventions for Kafka. They are DEBUG spans: exported whenever
//! OpenTelemetry export is on, but only formatted into logs at RUST_LOG=debug,
//! where they cost a fifth of the throughput.

use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::headers::HeaderList;
use crate::app::SourceRecord;
use crate::telemetry::tracing::extract;

/// `process <topic>`, a CONSUMER span whose parent is the trace in the
/// record's headers (a new trace when there is none, or garbage).
pub fn process(record: &SourceRecord, headers: &HeaderList, group: &str) -> Span {
    let key = record.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or_default();
    let span = tracing::debug_span!(
        "process",
        otel.name = %format!("process {}", record.topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.name = "process",
        messaging.operation.type = "process",
        messaging.destination.name = %record.topic,
        messaging.consumer.group.name = %group,
        messaging.destination.partition.id = %record.partition,
        messaging.kafka.offset = record.offset,
        messaging.kafka.message.key = %key,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    // Disabled (no export, logs above debug): skip the header parsing, the
    // output's trace headers pass through on their own.
    if span.is_disabled() {
        return span;
    }
    let parent = extract(headers);
    // Fails only when no OpenTelemetry layer is installed: the logs then carry
    // the producer's trace id, if any.
    let ids = match span.set_parent(parent.clone()) {
        Ok(()) => span.context().span().span_context().clone(),
        Err(_) => parent.span().span_context().clone(),
    };
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
    span
}

/// `send <topic>`, a PRODUCER span from publish to the broker's acknowledgement.
pub fn send(parent: &Span, topic: &str) -> Span {
    tracing::debug_span!(
        parent: parent,
        "send",
        otel.name = %format!("send {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.name = "send",
        messaging.operation.type = "send",
        messaging.destination.name = %topic,
    )
}
