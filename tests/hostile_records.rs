//! Records the broker accepts but a careless consumer chokes on: header names
//! and values that are not UTF-8, a key, headers and values near the size
//! limit, a product id of a megabyte, an empty value, a tombstone. One
//! partition gets them all between good records; the same worker process
//! must end each (a result, a dead letter naming its offset, or a skip) and
//! move its committed offset past every one.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::bindings::{rd_kafka_header_add, rd_kafka_headers_t};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, Message};
use serde_json::json;

/// The whole test's bound: start, produce ~5 MB, drain.
const WAIT: Duration = Duration::from_secs(90);
/// The broker's default record-batch limit, which the input topic keeps.
const BROKER_LIMIT: usize = 1_048_588;

/// As long as the broker takes beside a small value in one batch (61 bytes
/// of batch header, ~35 of record framing).
const LONG_KEY: usize = 1_048_400;

/// What a record must end as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Result,
    DeadLetter(&'static str),
    Skip,
}

struct Hostile {
    what: &'static str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// Names as raw bytes: any the broker accepts.
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    expect: Expect,
}

fn record(what: &'static str, key: &[u8], value: &[u8], expect: Expect) -> Hostile {
    Hostile { what, key: Some(key.to_vec()), value: Some(value.to_vec()), headers: Vec::new(), expect }
}

fn event(product_id: &str, name: &str) -> Vec<u8> {
    json!({"product_id": product_id, "name": name}).to_string().into_bytes()
}

fn hostile_records() -> Vec<Hostile> {
    let not_utf8_name = (b"caf\xe9".to_vec(), Some(b"latte".to_vec()));
    let big_headers: Vec<_> = (0..250).map(|i| (format!("h{i:03}").into_bytes(), Some(vec![b'v'; 4_096]))).collect();
    vec![
        record("a good record first", b"good-1", &event("SKU-1", "Filtro de oleo Tecfil PSL55"), Expect::Result),
        Hostile {
            headers: vec![not_utf8_name.clone()],
            ..record("a header name that is not UTF-8", b"k1", &event("SKU-2", "SSD Kingston 480GB"), Expect::Result)
        },
        Hostile {
            headers: vec![not_utf8_name, (b"origin".to_vec(), Some(b"erp".to_vec()))],
            ..record(
                "the same, dead-lettered",
                b"k2",
                br#"{"product_id":"P","name":42}"#,
                Expect::DeadLetter("invalid_field"),
            )
        },
        Hostile {
            headers: vec![(b"bin".to_vec(), Some(b"\xff\xfe\x00".to_vec())), (b"null".to_vec(), None)],
            ..record("header values that are not UTF-8", b"k3", b"{", Expect::DeadLetter("invalid_json"))
        },
        // The key stands in for the missing product_id, and is far too long
        // for one. With the `dlq.*` headers it is over the limit.
        record(
            "a key near the limit",
            &vec![b'k'; LONG_KEY],
            br#"{"name":"Cabo HDMI 2m"}"#,
            Expect::DeadLetter("invalid_field"),
        ),
        Hostile {
            headers: big_headers,
            ..record("a megabyte of headers", b"k5", b"[1,2]", Expect::DeadLetter("invalid_json"))
        },
        record("a value that is not UTF-8", b"k6", b"\xff\xfe\xfd{}", Expect::DeadLetter("invalid_json")),
        record("a value near the limit", b"k7", &vec![b'x'; 1_048_000], Expect::DeadLetter("invalid_json")),
        record(
            "a valid event with a product_id of a megabyte",
            b"k8",
            &event(&"P".repeat(1_000_000), "Cimento CP II"),
            Expect::DeadLetter("invalid_field"),
        ),
        record("an empty value", b"k9", b"", Expect::DeadLetter("invalid_json")),
        Hostile { value: None, ..record("a tombstone", b"k10", b"", Expect::Skip) },
        record("a good record after", b"good-2", &event("SKU-3", "Pastilha de freio Cobreq"), Expect::Result),
    ]
}

/// Headers with names as raw bytes: rdkafka's `OwnedHeaders::insert` takes
/// only `&str` names.
fn raw_headers(headers: &[(Vec<u8>, Option<Vec<u8>>)]) -> OwnedHeaders {
    let list = OwnedHeaders::new_with_capacity(headers.len());
    // rdkafka's own view of its native list: `as_borrowed` casts the list's
    // pointer to `&BorrowedHeaders`, so the address is the list's.
    let native = list.as_borrowed() as *const _ as *mut rd_kafka_headers_t;
    for (name, value) in headers {
        let (value_ptr, value_len) =
            value.as_ref().map_or((std::ptr::null(), 0), |v| (v.as_ptr().cast(), v.len() as isize));
        // SAFETY: `list` owns the native list and is alive; librdkafka copies
        // the name and value, given with their lengths.
        let err =
            unsafe { rd_kafka_header_add(native, name.as_ptr().cast(), name.len() as isize, value_ptr, value_len) };
        assert_eq!(err, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    list
}

/// Produces each record in order to partition 0, uncompressed so sizes stay
/// what the broker checks; (offset of each).
async fn produce_hostile(topic: &str, records: &[Hostile]) -> Vec<i64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("message.max.bytes", "2000000")
        .set("compression.type", "none")
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut offsets = Vec::new();
    for hostile in records {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(0).headers(raw_headers(&hostile.headers));
        if let Some(key) = &hostile.key {
            record = record.key(key);
        }
        if let Some(value) = &hostile.value {
            record = record.payload(value);
        }
        let size = hostile.key.as_ref().map_or(0, Vec::len) + hostile.value.as_ref().map_or(0, Vec::len);
        let delivery = producer.send(record, Duration::from_secs(10)).await;
        let delivery = delivery.unwrap_or_else(|(e, _)| panic!("{} ({size} bytes): {e}", hostile.what));
        assert_eq!(delivery.partition, 0);
        offsets.push(delivery.offset);
    }
    offsets
}

fn header_bytes<'a>(message: &'a OwnedMessage, name: &str) -> Option<Option<&'a [u8]>> {
    message.headers()?.iter().find(|h| h.key == name).map(|h| h.value)
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_records_end_as_results_dead_letters_or_skips_and_the_worker_goes_on() {
    hostile(&[]).await;
}

/// The same in transactions: the dead letters are built the same way.
#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_hostile_records_end_the_same_way() {
    hostile(&[("DELIVERY_GUARANTEE", "exactly-once")]).await;
}

async fn hostile(env: &[(&str, &str)]) {
    let started = Instant::now();
    let topics = Topics::new("hostile");
    topics.create_input(1).await;
    let mut worker = Worker::start(&topics, TEXT_MODEL, env);
    let records = hostile_records();
    for hostile in &records {
        let size = hostile.key.as_ref().map_or(0, Vec::len)
            + hostile.value.as_ref().map_or(0, Vec::len)
            + hostile.headers.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len)).sum::<usize>();
        assert!(size < BROKER_LIMIT, "{} must be one the broker accepts", hostile.what);
    }
    let offsets = produce_hostile(&topics.input, &records).await;
    let end = offsets.last().copied().unwrap_or_default() + 1;

    // The committed offset passes every record.
    loop {
        if committed(&topics.group, &topics.input, 1).get(&0) == Some(&end) {
            break;
        }
        if let Some(status) = worker.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            panic!("the worker exited with {status}\n{}", worker.log_text());
        }
        assert!(started.elapsed() < WAIT, "the offset did not pass every record\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        worker.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none()),
        "the same worker process is still running"
    );
    assert_eq!(http_get(worker.http, "/readyz").map(|(status, _)| status), Some(200), "and ready");

    let expected = |want: fn(Expect) -> bool| -> BTreeMap<i64, &Hostile> {
        offsets.iter().copied().zip(&records).filter(|(_, h)| want(h.expect)).collect()
    };
    let results = expected(|e| e == Expect::Result);
    let dead = expected(|e| matches!(e, Expect::DeadLetter(_)));
    let left = WAIT.saturating_sub(started.elapsed()).max(Duration::from_secs(5));

    let outputs = consume(&topics.output, results.len(), left);
    let by_offset: BTreeMap<i64, &OwnedMessage> =
        outputs.iter().map(|m| (json(m)["source"]["offset"].as_i64().unwrap_or(-1), m)).collect();
    assert_eq!(by_offset.keys().collect::<Vec<_>>(), results.keys().collect::<Vec<_>>(), "one result per good record");
    for (offset, hostile) in &results {
        assert_eq!(by_offset[offset].key(), hostile.key.as_deref(), "{}", hostile.what);
    }

    let letters = consume(&topics.dlq, dead.len(), left);
    let by_offset: BTreeMap<i64, &OwnedMessage> = letters
        .iter()
        .map(|m| (header(m, "dlq.source.offset").and_then(|o| o.parse().ok()).unwrap_or(-1), m))
        .collect();
    assert_eq!(
        by_offset.keys().collect::<Vec<_>>(),
        dead.keys().collect::<Vec<_>>(),
        "one dead letter per hostile record, none missing, none extra ({} read)\n{}",
        letters.len(),
        worker.log_text()
    );
    for (offset, hostile) in &dead {
        let letter = by_offset[offset];
        let Expect::DeadLetter(reason) = hostile.expect else { unreachable!() };
        assert_eq!(header(letter, "dlq.reason"), Some(reason), "{}", hostile.what);
        assert_eq!(header(letter, "dlq.source.topic"), Some(topics.input.as_str()));
        assert!(header(letter, "dlq.error").is_some_and(|e| !e.is_empty() && e.len() <= 1024), "{}", hostile.what);
        let size = letter.key().map_or(0, <[u8]>::len)
            + letter.payload().map_or(0, <[u8]>::len)
            + letter.headers().map_or(0, |h| h.iter().map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len)).sum());
        assert!(size < BROKER_LIMIT, "{}: {size} bytes", hostile.what);
        // What was cut is a prefix of the original, and said so.
        let value = hostile.value.as_deref().unwrap_or_default();
        assert!(value.starts_with(letter.payload().unwrap_or_default()), "{}", hostile.what);
        let key = hostile.key.as_deref().unwrap_or_default();
        assert!(key.starts_with(letter.key().unwrap_or_default()), "{}", hostile.what);
        let carried = letter.headers().map_or(0, |h| h.iter().filter(|h| !h.key.starts_with("dlq.")).count());
        let cut = letter.payload().map_or(0, <[u8]>::len) < value.len()
            || letter.key().map_or(0, <[u8]>::len) < key.len()
            || carried < hostile.headers.len();
        assert_eq!(header(letter, "dlq.truncated").is_some(), cut, "{}", hostile.what);
    }

    let [_, _, named, binary, long_key, many, ..] = offsets[..] else { unreachable!() };
    let named = by_offset[&named];
    assert_eq!(header(named, "caf\\xe9"), Some("latte"), "a name that is not UTF-8 is carried escaped");
    assert_eq!(header(named, "origin"), Some("erp"));
    let binary = by_offset[&binary];
    assert_eq!(header_bytes(binary, "bin"), Some(Some(&b"\xff\xfe\x00"[..])), "values are carried as bytes");
    assert_eq!(header_bytes(binary, "null"), Some(None));
    let long_key = by_offset[&long_key];
    assert_eq!(
        header(long_key, "dlq.key.original.size"),
        Some(LONG_KEY.to_string().as_str()),
        "the key was cut to fit"
    );
    assert_eq!(long_key.payload(), Some(&br#"{"name":"Cabo HDMI 2m"}"#[..]), "the value is kept");
    assert!(header(long_key, "dlq.error").is_some_and(|e| e.contains("PRODUCT_ID_MAX_BYTES")));
    let many = by_offset[&many];
    let kept = many.headers().map_or(0, |h| h.iter().filter(|h| h.key.starts_with('h')).count());
    let dropped: usize = header(many, "dlq.headers.dropped").and_then(|d| d.parse().ok()).unwrap_or(0);
    assert_eq!(kept + dropped, 250, "every original header is either carried or counted");

    assert_eq!(worker.metric("categorizer_records_skipped_total", &["tombstone"]), 1.0);
    assert!(started.elapsed() < WAIT + Duration::from_secs(30), "took {:?}", started.elapsed());
    drop(worker);
    delete_topics(&topics).await;
}

/// Best effort: the test's topics hold ~6 MB on a broker other tests share.
async fn delete_topics(topics: &Topics) {
    let admin: Result<AdminClient<DefaultClientContext>, _> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create();
    if let Ok(admin) = admin {
        let names = [topics.input.as_str(), topics.output.as_str(), topics.dlq.as_str()];
        let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
    }
}
