//! Delivery under errors the broker really raises: outputs too large for the
//! broker, and a topic the worker cannot write to; each at-least-once and
//! exactly-once (where a refusal aborts the transaction, and the record's
//! output is sent smaller when it comes again).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const EXACTLY_ONCE: (&str, &str) = ("DELIVERY_GUARANTEE", "exactly-once");

/// A dead letter over the producer's limit (at send time) or the topic's
/// limit (refused by the broker) is sent truncated and marked; a result over
/// the output topic's limit becomes a dead letter. The partition moves on
/// within seconds.
#[tokio::test(flavor = "multi_thread")]
async fn outputs_too_large_for_the_broker_end_as_marked_dead_letters_and_the_partition_moves_on() {
    outputs_too_large(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_outputs_too_large_end_as_marked_dead_letters_after_aborts_and_the_partition_moves_on() {
    let worker = outputs_too_large(&[EXACTLY_ONCE]).await;
    // The topics' limits are read at start: outputs over them are cut or
    // refused before they are sent, so no transaction has to abort.
    assert_eq!(worker.metric("categorizer_transactions_total", &["aborted"]), 0.0);
}

async fn outputs_too_large(env: &[(&str, &str)]) -> Worker {
    let topics = Topics::new("toolarge");
    topics.create_input(1).await;
    // A result (~400 bytes) is over this output limit; dead letters of 160 kB
    // are over the DLQ's (the limit applies to a compressed batch).
    create_topic_with(&topics.output, 1, &[("max.message.bytes", "300")]).await;
    create_topic_with(&topics.dlq, 1, &[("max.message.bytes", "150000")]).await;
    // Incompressible: the broker's limit applies to the compressed batch.
    let near_producer_limit = noise(999_900);
    let over_topic_limit = noise(160_000);
    let inputs = vec![
        Input { key: Some(b"big".to_vec()), value: Some(near_producer_limit.clone()), ..Input::default() },
        Input { key: Some(b"mid".to_vec()), value: Some(over_topic_limit.clone()), ..Input::default() },
        Input::json("ok", json!({"product_id": "P1", "name": "Filtro de oleo Tecfil PSL55"})),
        Input::json("after", json!({"product_id": "P2", "name": "not categorized: it is a dead letter", "brand": 42})),
    ];
    let worker = Worker::start(&topics, TEXT_MODEL, &[&[("CREATE_TOPICS", "false")], env].concat());
    let started = Instant::now();
    produce(&topics.input, &inputs).await;

    let mut dead = consume(&topics.dlq, 4, WAIT);
    assert_eq!(dead.len(), 4, "every record ends as a dead letter\n{}", worker.log_text());
    // Retries of refused records may land after later ones: order by source.
    dead.sort_by_key(|m| header(m, "dlq.source.offset").unwrap_or_default().parse::<i64>().unwrap_or(-1));
    let reasons: Vec<&str> = dead.iter().map(|m| header(m, "dlq.reason").unwrap_or_default()).collect();
    assert_eq!(reasons, ["invalid_json", "invalid_json", "output_too_large", "invalid_field"]);
    for (message, original) in dead.iter().zip([&near_producer_limit, &over_topic_limit]) {
        assert_eq!(header(message, "dlq.truncated"), Some("true"));
        assert_eq!(header(message, "dlq.original.size"), Some(original.len().to_string().as_str()));
        let value = rdkafka::Message::payload(message).unwrap_or_default();
        // Cut to the dead-letter topic's own limit, read at start.
        assert!(
            value.len() < 150_000 && original.starts_with(value),
            "not a prefix within the limit: {} bytes",
            value.len()
        );
    }
    assert!(header(&dead[2], "dlq.error").unwrap_or_default().contains("larger than the broker accepts"));
    assert!(header(&dead[3], "dlq.truncated").is_none(), "small dead letters are untouched");
    let deadline = Instant::now() + WAIT;
    while committed(&topics.group, &topics.input, 1)[&0] != 4 {
        assert!(Instant::now() < deadline, "the partition did not move on\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(worker.metric("categorizer_records_dead_lettered_total", &["output_too_large"]), 1.0);
    worker
}

/// Defect 10 of the delivery-core review: a topic whose `max.message.bytes`
/// is below the producer's batch size refused whole batches of small
/// results, and every result in them became an `output_too_large` dead
/// letter. The producer's batches now stay within the topics' limits.
#[tokio::test(flavor = "multi_thread")]
async fn small_results_are_not_refused_with_a_batch_over_the_topic_limit() {
    let topics = Topics::new("batchlimit");
    topics.create_input(1).await;
    create_topic_with(&topics.output, 1, &[("max.message.bytes", "4000")]).await;
    create_topic(&topics.dlq, 1).await;
    let worker = Worker::start(&topics, TEXT_MODEL, &[("CREATE_TOPICS", "false")]);
    let inputs: Vec<Input> = (0..400)
        .map(|i| Input::json(&format!("k{i}"), json!({"product_id": format!("SKU-{i:05}"), "name": "Cabo HDMI 2m"})))
        .collect();
    produce(&topics.input, &inputs).await;
    let results = consume(&topics.output, inputs.len(), WAIT);
    assert_eq!(results.len(), inputs.len(), "every result published\n{}", worker.log_text());
    assert_eq!(worker.metric("categorizer_records_dead_lettered_total", &["output_too_large"]), 0.0);
}

/// An output topic the worker cannot write (here: deleted while the worker
/// runs, and it may not create it) is fatal: not ready, a message naming the
/// topic and the error, a non-zero exit, and the failed record's offset not
/// committed. (A topic missing at start stops start-up instead: tests/startup.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn an_output_topic_that_cannot_be_written_makes_the_worker_not_ready_and_exit_non_zero() {
    unwritable_output(&[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_an_output_topic_that_cannot_be_written_is_fatal_too() {
    unwritable_output(&[EXACTLY_ONCE]).await;
}

async fn unwritable_output(env: &[(&str, &str)]) {
    let topics = Topics::new("unwritable");
    topics.create_input(1).await;
    create_topic(&topics.output, 1).await;
    create_topic(&topics.dlq, 1).await;
    let own = [("CREATE_TOPICS", "false"), ("KAFKA_TOPIC_METADATA_PROPAGATION_MAX_MS", "1000")];
    let mut worker = Worker::start(&topics, TEXT_MODEL, &[&own[..], env].concat());
    delete_topic(&topics.output).await;
    produce(&topics.input, &[Input::json("k", json!({"product_id": "P", "name": "SSD Kingston 480GB"}))]).await;
    let deadline = Instant::now() + WAIT;
    while http_get(worker.http, "/readyz").is_some_and(|(status, _)| status == 200) {
        assert!(
            Instant::now() < deadline,
            "still ready; committed {:?}\n{}",
            committed(&topics.group, &topics.input, 1),
            worker.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = worker.wait_exit(Duration::from_secs(40));
    assert!(!status.success(), "exit status {status}");
    let log = worker.log_text();
    assert!(log.contains(&format!("cannot write to topic {}", topics.output)), "{log}");
    assert!(committed(&topics.group, &topics.input, 1)[&0] < 1, "the failed record must not be committed");
}

/// Bytes that do not compress (and are not JSON).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}
