//! The worker end to end: real broker, real ONNX Runtime, real models.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use rdkafka::Message;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn categorizes_a_stream_over_several_partitions() {
    let topics = Topics::new("stream");
    topics.create_input(3).await;
    let worker = Worker::start(&topics, TEXT_MODEL, &[]);

    let products = real_products();
    assert!(products.len() >= 20, "need a real list of products");
    let inputs: Vec<Input> = products
        .iter()
        .enumerate()
        .map(|(i, (_, fields))| {
            let mut event = fields.clone();
            event["product_id"] = json!(format!("SKU-{i}"));
            event["event_id"] = json!(format!("evt-{i}"));
            Input { partition: Some(i as i32 % 3), ..Input::json(&format!("key-{i}"), event) }
        })
        .collect();
    let positions = produce(&topics.input, &inputs).await;

    let outputs = consume(&topics.output, inputs.len(), WAIT);
    assert_eq!(outputs.len(), inputs.len(), "one result per record\n{}", worker.log_text());
    let by_key: HashMap<String, _> =
        outputs.iter().map(|m| (String::from_utf8(m.key().unwrap().to_vec()).unwrap(), m)).collect();
    for (i, (expected, fields)) in products.iter().enumerate() {
        let message = by_key[&format!("key-{i}")];
        let event = json(message);
        assert_schema("product-categorized", &event);
        assert_eq!(event["category"]["code"], json!(expected), "{fields}");
        assert!(event["category"]["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(event["product_id"], json!(format!("SKU-{i}")));
        let (partition, offset) = positions[i];
        assert_eq!(
            event["source"],
            json!({"topic": topics.input, "partition": partition, "offset": offset, "event_id": format!("evt-{i}")})
        );
        assert_eq!(event["model"]["name"], json!("product-category-text"));
        let probabilities = event["probabilities"].as_object().unwrap();
        assert_eq!(probabilities.len(), 3);
        let sum: f64 = probabilities.values().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 0.01, "{sum}");
        assert_eq!(event["confidence"], probabilities[expected.as_str()]);
        assert!(event["needs_review"].is_boolean());
        assert_eq!(event["event_id"].as_str().unwrap().len(), 36, "a UUID");
        assert!(event["categorized_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(header(message, "model-version"), event["model"]["version"].as_str());
    }
    let ids: HashSet<_> = outputs.iter().map(|m| json(m)["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), outputs.len(), "event ids are unique per record");
    assert_eq!(worker.metric("categorizer_records_consumed_total", &[]), inputs.len() as f64);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_records_are_dead_lettered_with_their_reason_and_original_bytes() {
    let topics = Topics::new("dlq");
    topics.create_input(1).await;
    let worker = Worker::start(&topics, TEXT_MODEL, &[]);
    // (expected reason, key, value)
    type Bad<'a> = (&'a str, Option<&'a [u8]>, &'a [u8]);
    let bad: Vec<Bad> = vec![
        ("invalid_json", Some(b"k1"), b"{\"name\": \"unterminated"),
        ("invalid_json", Some(b"k2"), b"[1, 2]"),
        ("invalid_json", Some(b"k3"), b"{\"name\": \"\xff\xfe\"}"),
        ("invalid_json", Some(b"k4"), b""),
        ("invalid_field", Some(b"k5"), b"{\"product_id\": \"P\", \"name\": 42}"),
        ("invalid_field", Some(b"k6"), b"{\"product_id\": {}, \"name\": \"Mouse\"}"),
        ("missing_product_id", None, b"{\"name\": \"Mouse sem fio\"}"),
        ("missing_text", Some(b"k8"), b"{\"product_id\": \"P\", \"name\": \"  \", \"brand\": null}"),
    ];
    let inputs: Vec<Input> = bad
        .iter()
        .map(|(_, key, value)| Input {
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
            headers: vec![("origin".into(), b"erp-7".to_vec())],
            partition: None,
        })
        .collect();
    let positions = produce(&topics.input, &inputs).await;

    let letters = consume(&topics.dlq, bad.len(), WAIT);
    assert_eq!(letters.len(), bad.len(), "{}", worker.log_text());
    for ((reason, key, value), (partition, offset)) in bad.iter().zip(&positions) {
        // The dead-letter topic has several partitions: find each letter by its source offset.
        let letter = letters
            .iter()
            .find(|l| header(l, "dlq.source.offset") == Some(offset.to_string().as_str()))
            .unwrap_or_else(|| panic!("no dead letter for offset {offset}"));
        assert_schema("dead-letter-headers", &headers_object(letter));
        assert_eq!(letter.payload().unwrap_or_default(), *value, "original value, untouched");
        assert_eq!(letter.key(), *key, "original key");
        assert_eq!(header(letter, "dlq.reason"), Some(*reason), "{:?}", String::from_utf8_lossy(value));
        assert!(header(letter, "dlq.error").is_some_and(|e| e.len() > 10));
        assert_eq!(header(letter, "origin"), Some("erp-7"), "original headers kept");
        assert_eq!(header(letter, "dlq.source.topic"), Some(topics.input.as_str()));
        assert_eq!(header(letter, "dlq.source.partition"), Some(partition.to_string().as_str()));
        assert_eq!(header(letter, "dlq.source.offset"), Some(offset.to_string().as_str()));
        assert!(header(letter, "dlq.failed_at").is_some_and(|t| t.ends_with('Z')));
    }
    assert!(consume(&topics.output, 1, Duration::from_secs(2)).is_empty(), "no result for a bad record");
    wait_for(|| worker.metric("categorizer_records_dead_lettered_total", &[]) == bad.len() as f64);
    assert_eq!(worker.metric("categorizer_records_dead_lettered_total", &["reason=\"invalid_json\""]), 4.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tombstones_are_skipped_and_keys_stand_in_for_missing_product_ids() {
    let topics = Topics::new("tombstone");
    topics.create_input(1).await;
    let worker = Worker::start(&topics, TEXT_MODEL, &[]);
    let inputs = vec![
        Input { key: Some(b"gone".to_vec()), ..Default::default() },
        Input::json("SKU-KEY-1", json!({"name": "SSD Kingston A400 480GB", "unknown_field": [1, 2]})),
    ];
    produce(&topics.input, &inputs).await;
    let outputs = consume(&topics.output, 2, Duration::from_secs(20));
    assert_eq!(outputs.len(), 1, "only the product is categorized\n{}", worker.log_text());
    let event = json(&outputs[0]);
    assert_eq!(event["product_id"], json!("SKU-KEY-1"));
    assert_eq!(outputs[0].key(), Some(&b"SKU-KEY-1"[..]));
    assert_eq!(event["category"]["code"], json!("INFORMATICA"));
    wait_for(|| worker.metric("categorizer_records_skipped_total", &["tombstone"]) == 1.0);
    assert!(consume(&topics.dlq, 1, Duration::from_secs(2)).is_empty(), "a tombstone is not a dead letter");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_keyed_by_product_id_when_the_input_has_no_key() {
    let topics = Topics::new("nokey");
    topics.create_input(1).await;
    let _worker = Worker::start(&topics, TEXT_MODEL, &[]);
    let input =
        Input { key: None, ..Input::json("", json!({"product_id": 987, "name": "Cimento CP II 50kg Votorantim"})) };
    produce(&topics.input, &[input]).await;
    let outputs = consume(&topics.output, 1, WAIT);
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].key(), Some(&b"987"[..]));
    assert_eq!(json(&outputs[0])["category"]["code"], json!("MATERIAL_CONSTRUCAO"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feature_model_categorizes_feature_vectors() {
    let topics = Topics::new("features");
    topics.create_input(2).await;
    let worker = Worker::start(&topics, FEATURES_MODEL, &[]);
    let centers = [("AUTOPECAS", 0.0), ("INFORMATICA", 3.0), ("MATERIAL_CONSTRUCAO", -3.0)];
    let mut inputs: Vec<Input> = centers
        .iter()
        .enumerate()
        .map(|(i, (_, center))| {
            let features: Vec<f64> = (0..16).map(|j| center + 0.1 * ((i + j) % 3) as f64 - 0.1).collect();
            Input::json(&format!("f{i}"), json!({"product_id": format!("F{i}"), "features": features}))
        })
        .collect();
    inputs.push(Input::json("short", json!({"product_id": "S", "features": [1.0, 2.0]})));
    produce(&topics.input, &inputs).await;
    let outputs = consume(&topics.output, 3, WAIT);
    assert_eq!(outputs.len(), 3, "{}", worker.log_text());
    for message in &outputs {
        let event = json(message);
        assert_schema("product-categorized", &event);
        let i: usize = event["product_id"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(event["category"]["code"], json!(centers[i].0));
        assert_eq!(event["model"]["name"], json!("product-category-features"));
    }
    let letters = consume(&topics.dlq, 1, WAIT);
    assert_eq!(header(&letters[0], "dlq.reason"), Some("invalid_features"));
    assert_schema("dead-letter-headers", &headers_object(&letters[0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_work_commits_and_exits_zero() {
    let topics = Topics::new("sigterm");
    topics.create_input(3).await;
    let mut worker = Worker::start(&topics, TEXT_MODEL, &[]);
    let inputs: Vec<Input> = (0..300)
        .map(|i| Input::json(&format!("k{i}"), json!({"product_id": i, "name": "Mouse sem fio Logitech"})))
        .collect();
    produce(&topics.input, &inputs).await;
    let outputs = consume(&topics.output, inputs.len(), WAIT);
    assert_eq!(outputs.len(), inputs.len());
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}\n{}", worker.log_text());
    assert_eq!(committed(&topics.group, &topics.input, 3), end_offsets(&topics.input, 3), "every offset committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_stream_and_restarted_loses_no_record() {
    let topics = Topics::new("sigkill");
    topics.create_input(3).await;
    let total = 3000;
    let inputs: Vec<Input> = (0..total)
        .map(|i| {
            Input::json(&format!("k{i}"), json!({"product_id": format!("P{i}"), "name": "Filtro de oleo Tecfil PSL55"}))
        })
        .collect();
    produce(&topics.input, &inputs).await;
    // Small batches, little in flight and a slow commit interval make the kill land mid-stream with uncommitted work.
    // A stable instance id: the restarted worker gets its partitions back at once.
    let instance = unique("instance");
    let env = [
        ("BATCH_SIZE", "8"),
        ("MAX_IN_FLIGHT", "8"),
        ("KAFKA_AUTO_COMMIT_INTERVAL_MS", "2000"),
        ("INSTANCE_ID", instance.as_str()),
    ];
    let mut first = Worker::start(&topics, TEXT_MODEL, &env);
    wait_for(|| first.metric("categorizer_records_categorized_total", &[]) >= 200.0);
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    let before_restart = consume(&topics.output, total, Duration::from_secs(3)).len();
    assert!(before_restart < total, "the kill must land mid-stream ({before_restart} of {total} done)");

    let restarted = std::time::Instant::now();
    let _second = Worker::start(&topics, TEXT_MODEL, &env);
    // Ready means the model is loaded and the partitions are assigned.
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(10), "the restarted instance took {took:?} to get its partitions");
    let outputs =
        consume_until(&topics.output, Duration::from_secs(90), |messages| distinct_products(messages).len() >= total);
    let products = distinct_products(&outputs);
    let missing: Vec<usize> = (0..total).filter(|i| !products.contains(&format!("P{i}"))).collect();
    assert!(missing.is_empty(), "lost {} records, e.g. {:?}", missing.len(), &missing[..missing.len().min(10)]);
    // Duplicates are allowed (at-least-once) and carry the same event_id.
    let mut ids: HashMap<String, String> = HashMap::new();
    for m in &outputs {
        let e = json(m);
        let id = e["event_id"].as_str().unwrap().to_owned();
        let product = e["product_id"].as_str().unwrap().to_owned();
        assert_eq!(ids.entry(product).or_insert_with(|| id.clone()), &id, "a reprocessed record keeps its event_id");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_in_one_group_share_the_partitions_and_a_rebalance_loses_nothing() {
    let topics = Topics::new("scale");
    topics.create_input(4).await;
    let total = 3000;
    let inputs: Vec<Input> = (0..total)
        .map(|i| Input::json(&format!("k{i}"), json!({"product_id": format!("P{i}"), "name": "Monitor LED 24 LG"})))
        .collect();
    let (before, after) = inputs.split_at(total / 2);
    produce(&topics.input, before).await;
    let env = [("BATCH_SIZE", "4"), ("MAX_IN_FLIGHT", "8")];
    let mut first = Worker::start(&topics, TEXT_MODEL, &env);
    wait_for(|| first.metric("categorizer_records_categorized_total", &[]) >= 100.0);
    // The second member joins mid-stream: the group rebalances under load.
    let mut second = Worker::start(&topics, TEXT_MODEL, &env);
    wait_for(|| second.metric("categorizer_assigned_partitions", &[]) >= 1.0);
    // The first may have drained the first half meanwhile: the second half
    // gives both members work, whatever the first's speed.
    produce(&topics.input, after).await;

    let outputs =
        consume_until(&topics.output, Duration::from_secs(120), |messages| distinct_products(messages).len() >= total);
    assert_eq!(distinct_products(&outputs).len(), total, "every record categorized at least once");
    let (a, b) = (
        first.metric("categorizer_records_consumed_total", &[]),
        second.metric("categorizer_records_consumed_total", &[]),
    );
    assert!(a > 0.0 && b > 0.0, "both members did work: {a} and {b}");
    assert_eq!(
        first.metric("categorizer_assigned_partitions", &[]) + second.metric("categorizer_assigned_partitions", &[]),
        4.0,
        "the four partitions are split between the two members"
    );
    first.signal("TERM");
    assert!(first.wait_exit(Duration::from_secs(20)).success(), "{}", first.log_text());
    // The first member's leaving rebalances the group: the second stops once
    // it owns every partition. Stopped in the middle of that rebalance, its
    // final commit can meet a generation that moved on (IllegalGeneration;
    // it exits 1 and its records are read again), which make chaos covers.
    wait_for(|| second.metric("categorizer_assigned_partitions", &[]) >= 4.0);
    second.signal("TERM");
    assert!(second.wait_exit(Duration::from_secs(20)).success(), "{}", second.log_text());
    assert_eq!(committed(&topics.group, &topics.input, 4), end_offsets(&topics.input, 4));
}

#[test]
fn a_broken_model_is_refused_at_start_up_with_a_clear_message() {
    let topics = Topics::new("badmodel");
    let garbage = std::env::temp_dir().join(unique("garbage.onnx"));
    std::fs::write(&garbage, b"not a model").unwrap();
    for (model, expected) in [
        (garbage.to_string_lossy().into_owned(), "cannot load model"),
        ("model/does-not-exist.onnx".to_owned(), "no such file"),
        ("tests/fixtures/no_labels.onnx".to_owned(), "no `labels`"),
    ] {
        let (mut command, _, _) = worker_command(&topics, &model, &[]);
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{model}");
        assert!(stderr.contains(expected), "{model}: {stderr}");
    }
}

fn distinct_products(messages: &[rdkafka::message::OwnedMessage]) -> HashSet<String> {
    messages.iter().map(|m| json(m)["product_id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Polls `condition` for up to 30 s.
fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition not met within 30s");
        std::thread::sleep(Duration::from_millis(100));
    }
}
