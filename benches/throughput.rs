//! Throughput figures: model-only (the app service through ONNX Runtime, per
//! batch size) and end to end (the worker binary draining a topic on the local
//! broker). Prints figures; asserts nothing about speed.
//!
//!     make bench            # or: cargo bench --bench throughput
//!
//! Needs a broker at KAFKA_BOOTSTRAP_SERVERS (scripts/local-kafka start) and
//! ORT_DYLIB_PATH (scripts/ort-path).

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

async fn end_to_end() {
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
    let worker = Worker::start(&topics, TEXT_MODEL, &[("RUST_LOG", "info,ort=warn"), ("TOPIC_PARTITIONS", "6")]);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done: i64 = try_end_offsets(&topics.output, 6).map(|ends| ends.values().sum()).unwrap_or(0);
        if done as usize >= RECORDS {
            break;
        }
        assert!(Instant::now() < deadline, "worker did not finish:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    println!(
        "end to end (start worker, drain {RECORDS} records from 6 partitions, publish results): {:.1} s, {:.0} records/s",
        elapsed.as_secs_f64(),
        RECORDS as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    model_only();
    end_to_end().await;
}
