//! Debezium change events end to end: the real worker binary with
//! INPUT_FORMAT=debezium on a real broker, fed records shaped as Kafka
//! Connect's JsonConverter writes them (tests/fixtures/debezium). Every
//! record ends as a result, a dead letter or a counted skip.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::Message;
use serde_json::{json, Value};

const CREATE: &str = include_str!("fixtures/debezium/create.json");
const SNAPSHOT_WITH_SCHEMA: &str = include_str!("fixtures/debezium/create_schema.json");
const KEY_WITH_SCHEMA: &str = include_str!("fixtures/debezium/key_schema.json");
const UPDATE_FULL: &str = include_str!("fixtures/debezium/update_full.json");
const DELETE: &str = include_str!("fixtures/debezium/delete.json");
const FLATTENED_DELETED: &str = include_str!("fixtures/debezium/flattened_deleted.json");

const WAIT: Duration = Duration::from_secs(60);

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn record(key: &str, value: Option<&Value>) -> Input {
    Input {
        key: Some(key.as_bytes().to_vec()),
        value: value.map(|v| v.to_string().into_bytes()),
        headers: vec![("tenant".into(), b"acme".to_vec()), ("origin".into(), b"erp".to_vec())],
        partition: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_change_events_become_results_skips_and_dead_letters() {
    let topics = Topics::new("cdc");
    topics.create_input(1).await;
    let worker = Worker::start(
        &topics,
        TEXT_MODEL,
        &[
            ("INPUT_FORMAT", "debezium"),
            ("CARRY_FIELDS", "/after/sku,table=/source/table"),
            ("CARRY_HEADERS", "tenant"),
        ],
    );

    let create = fixture(CREATE);
    let snapshot = fixture(SNAPSHOT_WITH_SCHEMA);
    let unchanged = fixture(UPDATE_FULL);
    let mut renamed = fixture(UPDATE_FULL);
    renamed["after"]["name"] = json!("Cimento CP II 50kg");
    renamed["after"]["brand"] = json!("Votorantim");
    renamed["after"]["description"] = json!("Saco de cimento Portland");
    let mut no_before = fixture(UPDATE_FULL);
    no_before["before"] = Value::Null;
    let mut no_after = fixture(CREATE);
    no_after["after"] = Value::Null;
    let mut unknown_op = fixture(CREATE);
    unknown_op["op"] = json!("x");
    let key = r#"{"id":42}"#;
    // (what, input, expected outcome)
    let cases: Vec<(&str, Input, &str)> = vec![
        ("create", record(key, Some(&create)), "INFORMATICA"),
        ("snapshot read, schemas on", record(KEY_WITH_SCHEMA, Some(&snapshot)), "MATERIAL_CONSTRUCAO"),
        ("update of the text", record(key, Some(&renamed)), "MATERIAL_CONSTRUCAO"),
        ("update of the price only", record(key, Some(&unchanged)), "skip:update_unchanged"),
        ("update without before", record(key, Some(&no_before)), "INFORMATICA"),
        ("delete", record(key, Some(&fixture(DELETE))), "skip:delete"),
        ("tombstone", record(key, None), "skip:tombstone"),
        ("flattened delete", record(r#"{"id":43}"#, Some(&fixture(FLATTENED_DELETED))), "skip:delete"),
        ("create without after", record(key, Some(&no_after)), "dlq:invalid_envelope"),
        ("unknown op", record(key, Some(&unknown_op)), "dlq:invalid_envelope"),
    ];
    let inputs: Vec<Input> = cases.iter().map(|(_, input, _)| input.clone()).collect();
    let positions = produce(&topics.input, &inputs).await;
    let expected = |prefix: &str| cases.iter().filter(|(_, _, e)| e.starts_with(prefix)).count();
    let categorized = cases.len() - expected("skip:") - expected("dlq:");

    let results = consume(&topics.output, categorized, WAIT);
    assert_eq!(results.len(), categorized, "{}", worker.log_text());
    let letters = consume(&topics.dlq, expected("dlq:"), WAIT);
    assert_eq!(letters.len(), expected("dlq:"), "{}", worker.log_text());
    for ((what, input, outcome), (_, offset)) in cases.iter().zip(&positions) {
        let offset_of = |m: &rdkafka::message::OwnedMessage| {
            header(m, "dlq.source.offset")
                .map(str::to_owned)
                .or_else(|| json(m)["source"]["offset"].as_i64().map(|o| o.to_string()))
        };
        let result = results.iter().find(|m| offset_of(m).as_deref() == Some(offset.to_string().as_str()));
        let letter = letters.iter().find(|m| offset_of(m).as_deref() == Some(offset.to_string().as_str()));
        match outcome.split_once(':') {
            Some(("skip", _)) => assert!(result.is_none() && letter.is_none(), "{what}: skipped, nothing published"),
            Some(("dlq", reason)) => {
                let letter = letter.unwrap_or_else(|| panic!("{what}: no dead letter"));
                assert_eq!(header(letter, "dlq.reason"), Some(reason), "{what}");
                assert!(header(letter, "dlq.error").is_some_and(|e| e.contains("op")), "{what}: says what is wrong");
                assert_eq!(letter.payload(), input.value.as_deref(), "{what}: the original value");
            }
            _ => {
                let result = result.unwrap_or_else(|| panic!("{what}: no result\n{}", worker.log_text()));
                let event = json(result);
                assert_eq!(event["category"]["code"], json!(outcome), "{what}");
                assert_eq!(result.key(), input.key.as_deref(), "{what}: keyed as the input");
                assert_eq!(header(result, "tenant"), Some("acme"), "{what}: CARRY_HEADERS");
                assert_eq!(header(result, "origin"), None, "{what}: only the headers named");
                assert_eq!(event["carried"]["table"], json!("products"), "{what}: CARRY_FIELDS");
            }
        }
    }
    let first = results.iter().map(json).find(|e| e["source"]["offset"] == json!(positions[0].1)).unwrap();
    assert_eq!(first["product_id"], json!("42"), "the id from the key struct, as decimal text");
    assert_eq!(first["carried"], json!({"sku": "KIN-A400-480", "table": "products"}));
    let second = results.iter().map(json).find(|e| e["source"]["offset"] == json!(positions[1].1)).unwrap();
    assert_eq!(second["product_id"], json!("7"), "the id from a key with a schema");

    wait_for(|| worker.metric("categorizer_records_skipped_total", &[]) == expected("skip:") as f64);
    for (reason, count) in [("tombstone", 1.0), ("delete", 2.0), ("update_unchanged", 1.0), ("update_ignored", 0.0)] {
        let label = format!("reason=\"{reason}\"");
        assert_eq!(worker.metric("categorizer_records_skipped_total", &[&label]), count, "{reason}");
    }
    wait_for(|| worker.metric("categorizer_records_dead_lettered_total", &["reason=\"invalid_envelope\""]) == 2.0);
    assert_eq!(worker.metric("categorizer_records_consumed_total", &[]), cases.len() as f64);
    // Skips move the position like any other outcome.
    wait_for(|| committed(&topics.group, &topics.input, 1) == end_offsets(&topics.input, 1));
}

#[test]
fn bad_input_settings_stop_the_worker_at_start_with_the_setting_named() {
    let topics = Topics::new("cdc-contract");
    let env = [("INPUT_FORMAT", "debezium"), ("FIELD_NAME", ""), ("FIELD_BRAND", ""), ("FIELD_DESCRIPTION", "")];
    let (mut command, _, _) = worker_command(&topics, TEXT_MODEL, &env);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("maps no text field") && stderr.contains("FIELD_NAME"), "{stderr}");
    let (mut command, _, _) = worker_command(&topics, TEXT_MODEL, &[("FIELD_NAME", "after.name")]);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("FIELD_NAME: `after.name` is not a JSON pointer"), "{stderr}");
    let (mut command, _, _) = worker_command(&topics, TEXT_MODEL, &[("CARRY_HEADERS", "tenant,traceparent")]);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("CARRY_HEADERS: `traceparent` is written by the worker"), "{stderr}");
}

/// Polls `condition` for up to 30 s.
fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition not met within 30s");
        std::thread::sleep(Duration::from_millis(200));
    }
}
