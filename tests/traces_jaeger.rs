//! Traces through Kafka headers, checked in a real Jaeger over OTLP.
//! Ignored by a plain `cargo test`: scripts/test-observability starts Jaeger
//! and runs it with `--ignored`, JAEGER_URL and OTLP_ENDPOINT set.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::Message;
use serde_json::{json, Value};

const PRODUCER_SPAN: &str = "00f067aa0ba902b7";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (scripts/test-observability sets it)"))
}

/// A random 32-hex-digit trace id.
fn trace_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:032x}", nanos ^ ((std::process::id() as u128) << 64))
}

fn traceparent_parts(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {value}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// The trace's spans from Jaeger's HTTP API, once `expected` spans arrived.
fn jaeger_spans(trace: &str, expected: usize) -> Vec<Value> {
    let base = env("JAEGER_URL");
    let addr = base.trim_start_matches("http://").trim_end_matches('/').parse().expect("JAEGER_URL host:port");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, body)) = http_get(addr, &format!("/api/traces/{trace}")) {
            let response: Value = serde_json::from_str(&body).expect("Jaeger JSON");
            let spans = response["data"][0]["spans"].as_array().cloned().unwrap_or_default();
            if spans.len() >= expected {
                return spans;
            }
        }
        assert!(Instant::now() < deadline, "trace {trace} did not reach Jaeger with {expected} spans");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn span<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans.iter().find(|s| s["operationName"] == json!(name)).unwrap_or_else(|| {
        panic!("no span {name} in {:?}", spans.iter().map(|s| &s["operationName"]).collect::<Vec<_>>())
    })
}

fn parent(span: &Value) -> String {
    span["references"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["refType"] == json!("CHILD_OF")))
        .and_then(|r| r["spanID"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn tag(span: &Value, key: &str) -> Value {
    span["tags"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["key"] == json!(key)))
        .map(|t| t["value"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Jaeger: run by scripts/test-observability"]
async fn the_worker_continues_the_producers_trace_into_results_and_dead_letters() {
    let topics = Topics::new("traces");
    topics.create_input(1).await;
    let service = unique("categorizer");
    let otlp = env("OTLP_ENDPOINT");
    let _worker = Worker::start(
        &topics,
        TEXT_MODEL,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_SERVICE_NAME", service.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let good_trace = trace_id();
    let bad_trace = format!("{:032x}", u128::from_str_radix(&good_trace, 16).unwrap() ^ 1);
    let traced = |key: &str, value: &[u8], trace: &str| Input {
        key: Some(key.into()),
        value: Some(value.to_vec()),
        headers: vec![("traceparent".into(), format!("00-{trace}-{PRODUCER_SPAN}-01").into_bytes())],
        partition: None,
    };
    let garbage = Input {
        headers: vec![("traceparent".into(), b"not-a-traceparent".to_vec())],
        ..Input::json("garbage", json!({"name": "Monitor LG 24 polegadas"}))
    };
    let positions = produce(
        &topics.input,
        &[
            traced("good", br#"{"name": "Pastilha de freio Cobreq Gol"}"#, &good_trace),
            traced("bad", b"{not json", &bad_trace),
            garbage,
        ],
    )
    .await;

    let outputs = consume(&topics.output, 2, Duration::from_secs(60));
    assert_eq!(outputs.len(), 2);
    let good = outputs.iter().find(|m| m.key() == Some(&b"good"[..])).expect("good result");
    let (out_trace, out_parent) = traceparent_parts(header(good, "traceparent").expect("traceparent on the result"));
    assert_eq!(out_trace, good_trace, "the result continues the producer's trace");

    let spans = jaeger_spans(&good_trace, 3);
    let process = span(&spans, &format!("process {}", topics.input));
    assert_eq!(parent(process), PRODUCER_SPAN, "process span is the child of the producer's span");
    assert_eq!(tag(process, "span.kind"), json!("consumer"));
    assert_eq!(tag(process, "messaging.system"), json!("kafka"));
    assert_eq!(tag(process, "messaging.operation.type"), json!("process"));
    assert_eq!(tag(process, "messaging.destination.name"), json!(topics.input));
    assert_eq!(tag(process, "messaging.consumer.group.name"), json!(topics.group));
    assert_eq!(tag(process, "messaging.destination.partition.id"), json!(positions[0].0.to_string()));
    assert_eq!(tag(process, "messaging.kafka.offset"), json!(positions[0].1));
    assert_eq!(tag(process, "messaging.kafka.message.key"), json!("good"));
    let process_id = process["spanID"].as_str().unwrap();
    assert_eq!(parent(span(&spans, "categorize")), process_id, "inference is under the process span");
    let send = span(&spans, &format!("send {}", topics.output));
    assert_eq!(parent(send), process_id, "publish is under the process span");
    assert_eq!(tag(send, "span.kind"), json!("producer"));
    assert_eq!(send["spanID"].as_str(), Some(out_parent.as_str()), "the result's traceparent points at the send span");

    let letters = consume(&topics.dlq, 1, Duration::from_secs(30));
    let (dlq_trace, dlq_parent) =
        traceparent_parts(header(&letters[0], "traceparent").expect("traceparent on the dead letter"));
    assert_eq!(dlq_trace, bad_trace, "the dead letter continues its producer's trace");
    let dlq_spans = jaeger_spans(&bad_trace, 3);
    let dlq_send = span(&dlq_spans, &format!("send {}", topics.dlq));
    assert_eq!(dlq_send["spanID"].as_str(), Some(dlq_parent.as_str()));
    assert_eq!(parent(span(&dlq_spans, &format!("process {}", topics.input))), PRODUCER_SPAN);

    let fresh = outputs.iter().find(|m| m.key() == Some(&b"garbage"[..])).expect("garbage-header result");
    let (fresh_trace, _) = traceparent_parts(header(fresh, "traceparent").expect("a new trace"));
    assert_ne!(fresh_trace, "0".repeat(32));
    let fresh_spans = jaeger_spans(&fresh_trace, 3);
    assert_eq!(
        parent(span(&fresh_spans, &format!("process {}", topics.input))),
        "",
        "a garbage header starts a new trace"
    );
}
