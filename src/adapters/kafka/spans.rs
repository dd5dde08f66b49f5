//! Per-record trace spans, named and attributed after the OpenTelemetry
//! messaging conventions for Kafka.

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::headers::HeaderList;
use crate::app::SourceRecord;
use crate::telemetry::tracing::extract;

/// `process <topic>`, a CONSUMER span whose parent is the trace in the
/// record's headers (a new trace when there is none, or garbage).
pub fn process(record: &SourceRecord, headers: &HeaderList, group: &str) -> Span {
    let key = record.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or_default();
    let span = tracing::info_span!(
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
    );
    // Fails only when no OpenTelemetry layer is installed: nothing to link then.
    let _ = span.set_parent(extract(headers));
    span
}

/// The record's share of a batch inference.
pub fn categorize(parent: &Span, batch_size: usize) -> Span {
    tracing::info_span!(parent: parent, "categorize", otel.name = "categorize", batch.size = batch_size)
}

/// `send <topic>`, a PRODUCER span from publish to the broker's acknowledgement.
pub fn send(parent: &Span, topic: &str) -> Span {
    tracing::info_span!(
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
