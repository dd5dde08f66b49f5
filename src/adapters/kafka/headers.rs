//! Record headers: the original headers carried into dead letters, and the
//! headers the worker adds.

use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::domain::Rejection;

/// Header name -> value (`None` is a header with a null value).
pub type HeaderList = Vec<(String, Option<Vec<u8>>)>;

pub fn copy_headers(headers: Option<&impl Headers>) -> HeaderList {
    headers
        .map(|h| h.iter().map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default()
}

/// `traceparent`/`tracestate` headers, as `telemetry::tracing::inject` gives them.
pub type TraceHeaders = [(String, String)];

fn is_trace_header(key: &str) -> bool {
    key.eq_ignore_ascii_case("traceparent") || key.eq_ignore_ascii_case("tracestate")
}

fn with_trace(mut headers: OwnedHeaders, trace: &TraceHeaders) -> OwnedHeaders {
    for (key, value) in trace {
        headers = headers.insert(Header { key, value: Some(value) });
    }
    headers
}

/// Where a dead letter came from and why it is one.
pub struct DeadLetterInfo<'a> {
    pub rejection: &'a Rejection,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub failed_at: &'a str,
}

/// The original headers, then the `dlq.*` headers. The original trace headers
/// give way to `trace`, which continues the same trace.
pub fn dead_letter_headers(original: &HeaderList, info: &DeadLetterInfo<'_>, trace: &TraceHeaders) -> OwnedHeaders {
    let partition = info.partition.to_string();
    let offset = info.offset.to_string();
    let mut headers = OwnedHeaders::new_with_capacity(original.len() + 6);
    for (key, value) in original.iter().filter(|(key, _)| !is_trace_header(key)) {
        headers = headers.insert(Header { key, value: value.as_deref() });
    }
    for (key, value) in [
        ("dlq.reason", info.rejection.reason.code()),
        ("dlq.error", info.rejection.detail.as_str()),
        ("dlq.source.topic", info.topic),
        ("dlq.source.partition", &partition),
        ("dlq.source.offset", &offset),
        ("dlq.failed_at", info.failed_at),
    ] {
        headers = headers.insert(Header { key, value: Some(value) });
    }
    with_trace(headers, trace)
}

/// Headers of a categorized result.
pub fn result_headers(model_name: &str, model_version: &str, trace: &TraceHeaders) -> OwnedHeaders {
    let headers = OwnedHeaders::new_with_capacity(5)
        .insert(Header { key: "content-type", value: Some("application/json") })
        .insert(Header { key: "model-name", value: Some(model_name) })
        .insert(Header { key: "model-version", value: Some(model_version) });
    with_trace(headers, trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RejectReason;

    fn pairs(headers: &OwnedHeaders) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
            .collect()
    }

    #[test]
    fn dead_letters_keep_original_headers_and_continue_the_trace() {
        let original: HeaderList = vec![
            ("origin".into(), Some(b"erp".to_vec())),
            ("traceparent".into(), Some(b"00-aa-bb-01".to_vec())),
            ("empty".into(), None),
        ];
        let rejection = Rejection::new(RejectReason::MissingText, "no text");
        let info = DeadLetterInfo { rejection: &rejection, topic: "in", partition: 2, offset: 9, failed_at: "t" };
        let trace = [("traceparent".to_owned(), "00-aa-cc-01".to_owned())];
        let headers = dead_letter_headers(&original, &info, &trace);
        let keys: Vec<String> = pairs(&headers).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "origin",
                "empty",
                "dlq.reason",
                "dlq.error",
                "dlq.source.topic",
                "dlq.source.partition",
                "dlq.source.offset",
                "dlq.failed_at",
                "traceparent"
            ]
        );
        assert_eq!(headers.iter().find(|h| h.key == "empty").map(|h| h.value), Some(None), "null values stay null");
        assert_eq!(pairs(&headers)[8], ("traceparent".into(), "00-aa-cc-01".into()));
        assert_eq!(pairs(&headers)[2], ("dlq.reason".into(), "missing_text".into()));
    }
}
