//! Throughput figures: model-only (the app service through ONNX Runtime, per
//! batch size) and end to end (the worker binary draining a topic on the local
//! broker). Prints figures; asserts nothing about speed.
//!
//!     make bench            # or: cargo bench --bench throughput
//!
//! Needs a broker at KAFKA_BOOTSTRAP_SERVERS (scripts/local-kafka start) and
//! ORT_DYLIB_PATH (scripts/ort-path). With BENCH_BASELINE_BIN set to another
//! build of the worker, the end-to-end drain runs both in alternating rounds
//! and prints the ratio.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use product_categorizer::adapters::onnx::load_model;
use product_categorizer::app::{Categorizer, Settings, SourceRecord};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

const RECORDS: usize = 200_000;

fn events(n: usize) -> Vec<Vec<u8>> {
    let products = real_products();
    (0..n)
        .map(|i| {
            let mut event = products[i % products.len()].1.clone();
            event["product_id"] = serde_json::json!(format!("SKU-{i}"));
            event.to_string().into_bytes()
        })
        .collect()
}

fn model_only() {
    let (predictor, model) = load_model(&ort_dylib(), &repo().join(TEXT_MODEL), 1).expect("model");
    let categorizer = Categorizer::new(predictor, model, Settings { review_threshold: 0.5, max_text_chars: 1000 });
    let values = events(20_000);
    println!("model only (decode + validate + ONNX Runtime, 1 thread), {} records:", values.len());
    for batch in [1, 8, 64, 256] {
        let records: Vec<SourceRecord> = values
            .iter()
            .enumerate()
            .map(|(i, v)| SourceRecord {
                topic: "bench".into(),
                partition: 0,
                offset: i as i64,
                key: None,
                value: Some(v.clone()),
            })
            .collect();
        let started = Instant::now();
        for chunk in records.chunks(batch) {
            categorizer.categorize(chunk, time::OffsetDateTime::now_utc()).expect("the model answers");
        }
        let rate = records.len() as f64 / started.elapsed().as_secs_f64();
        println!("  batch {batch:>4}: {rate:>10.0} records/s");
    }
}

const ROUNDS: usize = 3;

/// Fills a fresh 6-partition topic with `RECORDS` events, then times one
/// worker draining it, from its start to the last result final (published,
/// or committed with exactly-once), as its own metrics count them.
async fn drain(binary: &std::path::Path, guarantee: &str) -> f64 {
    let topics = Topics::new("bench");
    topics.create_input(6).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let values = events(RECORDS);
    // Enqueue everything, then wait for every acknowledgement.
    let deliveries: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = format!("k{i}");
            producer
                .send_result(FutureRecord::to(&topics.input).key(&key).payload(v))
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("delivery").map_err(|(e, _)| e).expect("produce");
    }
    let started = Instant::now();
    let env = [("RUST_LOG", "info,ort=warn"), ("TOPIC_PARTITIONS", "6"), ("DELIVERY_GUARANTEE", guarantee)];
    let worker = Worker::start_command(worker_command_of(binary, &topics, TEXT_MODEL, &env));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let metrics = worker.metrics();
        let done = metric_value(&metrics, "categorizer_records_categorized_total", &[])
            + metric_value(&metrics, "categorizer_records_dead_lettered_total", &[]);
        if done as usize >= RECORDS {
            break;
        }
        assert!(Instant::now() < deadline, "worker did not finish:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    RECORDS as f64 / started.elapsed().as_secs_f64()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

async fn end_to_end() {
    let this = std::path::PathBuf::from(env!("CARGO_BIN_EXE_product-categorizer"));
    let mut contenders = vec![("this build", this.clone(), "at-least-once"), ("exactly-once", this, "exactly-once")];
    if let Some(baseline) = std::env::var_os("BENCH_BASELINE_BIN") {
        contenders.push(("baseline", baseline.into(), "at-least-once"));
    }
    println!("end to end (start worker, drain {RECORDS} records from 6 partitions, publish results), {ROUNDS} rounds:");
    let mut rates = vec![Vec::new(); contenders.len()];
    for round in 1..=ROUNDS {
        for ((label, binary, guarantee), rates) in contenders.iter().zip(&mut rates) {
            let rate = drain(binary, guarantee).await;
            println!("  round {round} {label:<12} {rate:>8.0} records/s");
            rates.push(rate);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    for ((label, binary, _), median) in contenders.iter().zip(&medians) {
        println!("  median {label:<12} {median:>8.0} records/s  ({})", binary.display());
    }
    println!("  exactly-once / at-least-once: {:.2}x", medians[1] / medians[0]);
    if let [this, _, baseline] = medians[..] {
        println!("  this build / baseline: {:.2}x", this / baseline);
    }
}

#[tokio::main]
async fn main() {
    model_only();
    end_to_end().await;
}
