//! Exactly-once on the real broker: a zombie instance cannot commit.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use rdkafka::message::OwnedMessage;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn products(from: usize, count: usize) -> Vec<Input> {
    (from..from + count)
        .map(|i| {
            let name = ["Filtro de oleo Tecfil PSL55", "SSD Kingston 480GB", "Cimento CP II 50kg"][i % 3];
            Input::json(&format!("key-{i}"), json!({"product_id": format!("P{i}"), "name": name}))
        })
        .collect()
}

/// How often each input (partition, offset) has a result.
fn results_per_input(outputs: &[OwnedMessage]) -> HashMap<(i64, i64), usize> {
    let mut seen = HashMap::new();
    for message in outputs {
        let source = &json(message)["source"];
        let id = (source["partition"].as_i64().unwrap_or(-1), source["offset"].as_i64().unwrap_or(-1));
        *seen.entry(id).or_default() += 1;
    }
    seen
}

/// The StatefulSet case: instance A stops answering (SIGSTOP) with work in
/// flight; the orchestrator starts its replacement B with the same
/// INSTANCE_ID, so the same transactional id. B fences A and aborts what A
/// left open. When A wakes up it cannot commit anything: it exits non-zero,
/// and every input has exactly one result (read_committed).
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_instance_replaced_then_resumed_is_fenced_and_nothing_is_duplicated() {
    let topics = Topics::new("zombie");
    topics.create_input(3).await;
    let env = [
        ("DELIVERY_GUARANTEE", "exactly-once"),
        ("INSTANCE_ID", "zombie-test"),
        ("TXN_MAX_MS", "200"),
        ("SHUTDOWN_TIMEOUT_SECS", "10"),
    ];
    let mut a = Worker::start(&topics, TEXT_MODEL, &env);
    produce(&topics.input, &products(0, 300)).await;
    assert_eq!(consume(&topics.output, 300, WAIT).len(), 300, "A works\n{}", a.log_text());

    // A is stopped with a transaction most likely open.
    let inputs = products(300, 300);
    let producing = {
        let topic = topics.input.clone();
        tokio::spawn(async move { produce(&topic, &inputs).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    a.signal("STOP");
    producing.await.expect("produced");

    let b = Worker::start(&topics, TEXT_MODEL, &env);
    produce(&topics.input, &products(600, 300)).await;
    let outputs = consume_until(&topics.output, WAIT, |m| m.len() >= 900);
    assert_eq!(outputs.len(), 900, "B took over\n{}", b.log_text());

    a.signal("CONT");
    let status = a.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "the zombie must exit non-zero: {status}\n{}", a.log_text());
    let log = a.log_text();
    assert!(log.to_lowercase().contains("fenced"), "the zombie says it was fenced\n{log}");

    // Give anything the zombie might still have written time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outputs = consume(&topics.output, usize::MAX, Duration::from_secs(10));
    let seen = results_per_input(&outputs);
    assert_eq!(seen.len(), 900, "every input has a result");
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "results seen more than once: {repeated:?}");
    assert!(b.metric("categorizer_transactions_total", &["committed"]) >= 1.0);
}
