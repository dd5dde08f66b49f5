//! The real thing, no mocks: PostgreSQL 15 (scripts/local-postgres), Kafka
//! Connect standalone with the Debezium PostgreSQL connector 3.6.1
//! (scripts/local-connect, the connector config of
//! deploy/debezium/products.properties), the broker at
//! KAFKA_BOOTSTRAP_SERVERS and the worker binary.
//!
//! Two connectors, each with its own slot and publication: `products`
//! (REPLICA IDENTITY FULL), the envelope with JsonConverter schemas on, and
//! `items` (no REPLICA IDENTITY FULL, a long TOASTed description), rows
//! flattened by ExtractNewRecordState with schemas off. Snapshot rows,
//! inserts, updates (text changed and unchanged), deletes and tombstones go
//! through; then Connect is killed mid-stream and the worker too; every row
//! inserted ends with a result, nothing reaches the dead-letter topics, and
//! every record Debezium wrote is valid against docs/schemas/.
//!
//! Ignored by `cargo test`: it needs PostgreSQL and ~0.5 GB more memory for
//! ~1 min. scripts/test-all runs it:
//! `cargo test --release --test debezium_e2e -- --ignored`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

fn connect_port() -> String {
    std::env::var("CDC_E2E_CONNECT_PORT").unwrap_or_else(|_| "28084".into())
}

/// Runs one of the project's scripts; its output, or a panic with it.
fn script(name: &str, args: &[&str], connect_dir: &Path) -> String {
    try_script(name, args, connect_dir).unwrap_or_else(|e| panic!("scripts/{name} {args:?}: {e}"))
}

fn try_script(name: &str, args: &[&str], connect_dir: &Path) -> Result<String, String> {
    let output = Command::new(repo().join("scripts").join(name))
        .args(args)
        .current_dir(repo())
        .env("KAFKA_BOOTSTRAP_SERVERS", brokers())
        .env("LOCAL_CONNECT_DIR", connect_dir)
        .env("LOCAL_CONNECT_PORT", connect_port())
        .output()
        .map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("{}\n{text}", output.status))
    }
}

/// SQL through psql on the local server; the rows, unaligned.
fn sql(db: &str, statements: &str) -> String {
    let output = Command::new(repo().join("scripts/local-postgres"))
        .args(["psql", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", statements])
        .output()
        .expect("psql");
    assert!(output.status.success(), "{statements}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the test made, undone even when it fails: Connect stopped, the
/// slots and publications dropped, the database dropped, PostgreSQL stopped
/// when the test started it.
struct Setup {
    db: String,
    slots: Vec<String>,
    connect_dir: PathBuf,
    started_postgres: bool,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = try_script("local-connect", &["stop"], &self.connect_dir);
        for slot in &self.slots {
            let _ = Command::new(repo().join("scripts/local-postgres"))
                .args(["psql", "-d", &self.db, "-c"])
                .arg(format!(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'; \
                     DROP PUBLICATION IF EXISTS {slot};"
                ))
                .output();
        }
        let _ = Command::new(repo().join("scripts/local-postgres"))
            .args(["psql", "-d", "postgres", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .output();
        // Connect's log of the last run stays for a look: target/debezium_e2e.connect.log.
        let _ = std::fs::copy(self.connect_dir.join("connect.log"), repo().join("target/debezium_e2e.connect.log"));
        let _ = std::fs::remove_dir_all(&self.connect_dir);
        if self.started_postgres {
            let _ = try_script("local-postgres", &["stop"], &self.connect_dir);
        }
    }
}

/// A connector file: the committed recipe with this run's names.
fn connector(dir: &Path, file: &str, overrides: &[(String, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(repo().join("deploy/debezium/products.properties")).expect("recipe");
    text.push_str("\n# overrides of tests/debezium_e2e.rs (a later key wins)\n");
    for (key, value) in overrides {
        text.push_str(&format!("{key}={value}\n"));
    }
    let path = dir.join(file);
    std::fs::write(&path, text).expect("connector file");
    path
}

fn connect_rss_kb(dir: &Path) -> u64 {
    let pid = std::fs::read_to_string(dir.join("connect.pid")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The results of `topic` by product id (the last one of each id wins).
fn results(topic: &str, until: impl Fn(&BTreeMap<String, Vec<Value>>) -> bool) -> BTreeMap<String, Vec<Value>> {
    let by_id = |messages: &[OwnedMessage]| {
        let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in messages {
            let event = json(m);
            by_id.entry(event["product_id"].as_str().unwrap_or_default().to_owned()).or_default().push(event);
        }
        by_id
    };
    let messages = consume_until(topic, WAIT, |messages| until(&by_id(messages)));
    by_id(&messages)
}

fn ids(range: std::ops::RangeInclusive<i64>) -> BTreeSet<String> {
    range.map(|i| i.to_string()).collect()
}

/// Every record on `topic` (values and keys as JSON; None for a tombstone).
fn records(topic: &str) -> Vec<(Option<Value>, Option<Value>)> {
    let end: i64 = try_end_offsets(topic, 3).map(|e| e.values().sum()).unwrap_or(0);
    let messages = consume(topic, end as usize, WAIT);
    assert_eq!(messages.len() as i64, end, "{topic}: read every record");
    messages
        .iter()
        .map(|m| {
            let parse = |b: Option<&[u8]>| b.map(|b| serde_json::from_slice::<Value>(b).expect("JSON"));
            (parse(m.key()), parse(m.payload()))
        })
        .collect()
}

/// Inserts products named after the catalogue, returns nothing: ids are serial.
fn insert(db: &str, table: &str, rows: &[(&str, &str, &str, &str)]) {
    let values: Vec<String> = rows
        .iter()
        .map(|(sku, name, brand, description)| format!("('{sku}', '{name}', '{brand}', '{description}', 10.50)"))
        .collect();
    sql(db, &format!("INSERT INTO {table} (sku, name, brand, description, price) VALUES {}", values.join(", ")));
}

const CATALOGUE: [(&str, &str, &str, &str); 9] = [
    ("KIN-A400", "SSD Kingston A400 480GB", "Kingston", "SSD SATA III 2,5 polegadas"),
    ("VOT-CP2", "Cimento CP II 50kg", "Votorantim", "Saco de cimento Portland"),
    ("COB-PF1", "Pastilha de freio dianteira Gol G5", "Cobreq", "Jogo com 4 pastilhas"),
    ("LOG-M170", "Mouse sem fio Logitech M170", "Logitech", "Receptor USB nano"),
    ("QTZ-AC2", "Argamassa AC-II 20kg", "Quartzolit", "Argamassa colante"),
    ("TEC-PSL55", "Filtro de oleo Tecfil PSL55", "Tecfil", "Filtro de oleo do motor"),
    ("DEL-I15", "Notebook Dell Inspiron 15", "Dell", "Intel Core i5, 8GB RAM"),
    ("BOS-650", "Furadeira de impacto Bosch 650W", "Bosch", "Mandril de 13 mm"),
    ("COF-ONX", "Amortecedor dianteiro Cofap Onix", "Cofap", "Amortecedor a gas"),
];

fn category(sku: &str) -> &'static str {
    match &sku[..3] {
        "KIN" | "LOG" | "DEL" => "INFORMATICA",
        "VOT" | "QTZ" | "BOS" => "MATERIAL_CONSTRUCAO",
        _ => "AUTOPECAS",
    }
}

/// `count` rows of the catalogue, round robin from `from`, their skus made unique by `tag`.
fn batch(tag: &str, from: usize, count: usize) -> Vec<(String, &'static str, &'static str, &'static str)> {
    (0..count)
        .map(|i| {
            let (sku, name, brand, description) = CATALOGUE[(from + i) % CATALOGUE.len()];
            (format!("{sku}-{tag}{i}"), name, brand, description)
        })
        .collect()
}

/// Inserts `count` rows of the catalogue, one every 150 ms, from another thread.
fn insert_steadily(db: &str, tag: &str, from: usize, count: usize) -> std::thread::JoinHandle<()> {
    let (db, rows) = (db.to_owned(), batch(tag, from, count));
    std::thread::spawn(move || {
        for (sku, name, brand, description) in &rows {
            insert(&db, "products", &[(sku.as_str(), name, brand, description)]);
            std::thread::sleep(Duration::from_millis(150));
        }
    })
}

fn no_dead_letters(topic: &str, worker: &Worker) {
    let letters = consume(topic, 1, Duration::from_secs(3));
    assert!(
        letters.is_empty(),
        "dead letters on {topic}: {:?}\n{}",
        letters.iter().map(|m| header(m, "dlq.error").map(str::to_owned)).collect::<Vec<_>>(),
        worker.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Kafka Connect and Debezium (~0.5 GB, ~1 min): scripts/test-all runs it with --ignored"]
async fn debezium_rows_from_postgres_come_out_categorized_and_survive_restarts() {
    let t0 = Instant::now();
    let base = unique("e2e").replace('-', "_");
    let connect_dir = repo().join(".run/connect-e2e").join(&base);
    std::fs::create_dir_all(&connect_dir).unwrap();
    let started_postgres = try_script("local-postgres", &["status"], &connect_dir).is_err();
    let mut setup = Setup { db: base.clone(), slots: Vec::new(), connect_dir: connect_dir.clone(), started_postgres };
    script("local-postgres", &["start"], &connect_dir);
    let postgres_ready = t0.elapsed();

    // The tables, and rows there before the connectors start (their snapshot).
    let db = base.clone();
    sql("postgres", &format!("CREATE DATABASE {db}"));
    let table_sql = std::fs::read_to_string(repo().join("deploy/debezium/products.sql")).unwrap();
    sql(&db, &table_sql);
    sql(&db, "CREATE TABLE items (id serial PRIMARY KEY, sku text, name text, brand text, description text, price numeric(10,2))");
    insert(&db, "products", &CATALOGUE[..3]);
    // A description past TOAST's threshold that does not compress: stored
    // out of line, so an update that leaves it alone cannot send it.
    sql(
        &db,
        "INSERT INTO items (sku, name, brand, description, price) VALUES \
         ('BOS-650', 'Furadeira de impacto Bosch 650W', 'Bosch', \
          (SELECT string_agg(md5(i::text), ' ') FROM generate_series(1, 300) i), 10), \
         ('LOG-M170', 'Mouse sem fio Logitech M170', 'Logitech', 'Receptor USB nano', 20)",
    );

    // The topics Connect writes, made first with the worker's partitions.
    let products = Topics {
        input: format!("{base}.public.products"),
        output: format!("{base}.products.out"),
        dlq: format!("{base}.products.dlq"),
        group: format!("{base}.products.group"),
    };
    let items = Topics {
        input: format!("{base}_flat.public.items"),
        output: format!("{base}.items.out"),
        dlq: format!("{base}.items.dlq"),
        group: format!("{base}.items.group"),
    };
    create_topic(&products.input, 3).await;
    create_topic(&items.input, 3).await;

    let slot_a = format!("{base}_a");
    let slot_b = format!("{base}_b");
    setup.slots = vec![slot_a.clone(), slot_b.clone()];
    let port = std::env::var("LOCAL_POSTGRES_PORT").unwrap_or_else(|_| "25432".into());
    let common = |name: &str, prefix: &str, table: &str, slot: &str| {
        vec![
            ("name".to_owned(), name.to_owned()),
            ("database.dbname".to_owned(), db.clone()),
            ("database.port".to_owned(), port.clone()),
            ("topic.prefix".to_owned(), prefix.to_owned()),
            ("table.include.list".to_owned(), format!("public.{table}")),
            ("slot.name".to_owned(), slot.to_owned()),
            ("publication.name".to_owned(), slot.to_owned()),
        ]
    };
    let a = common(&format!("{base}-products"), &base, "products", &slot_a);
    let mut b = common(&format!("{base}-items"), &format!("{base}_flat"), "items", &slot_b);
    for (k, v) in [
        // A converter setting of a connector needs its class named too.
        ("key.converter", "org.apache.kafka.connect.json.JsonConverter"),
        ("key.converter.schemas.enable", "false"),
        ("value.converter", "org.apache.kafka.connect.json.JsonConverter"),
        ("value.converter.schemas.enable", "false"),
        ("transforms", "unwrap"),
        ("transforms.unwrap.type", "io.debezium.transforms.ExtractNewRecordState"),
        ("transforms.unwrap.delete.tombstone.handling.mode", "rewrite-with-tombstone"),
        ("transforms.unwrap.add.fields", "op,table"),
    ] {
        b.push((k.to_owned(), v.to_owned()));
    }
    let file_a = connector(&connect_dir, "products.properties", &a);
    let file_b = connector(&connect_dir, "items.properties", &b);
    let files = [file_a.to_str().unwrap(), file_b.to_str().unwrap()];
    let start_connect = || {
        let t = Instant::now();
        script("local-connect", &[&["start"], &files[..]].concat(), &connect_dir);
        t.elapsed()
    };
    let connect_started = start_connect();
    let connect_rss = connect_rss_kb(&connect_dir);

    let worker_env = [("INPUT_FORMAT", "debezium"), ("CARRY_FIELDS", "/after/sku,table=/source/table")];
    let mut worker_a = Worker::start(&products, TEXT_MODEL, &worker_env);
    let worker_b = Worker::start(&items, TEXT_MODEL, &[("INPUT_FORMAT", "debezium"), ("CARRY_FIELDS", "/after/sku")]);
    let setup_done = t0.elapsed();

    // Phase 1: every kind of change, one worker and one Connect all along.
    insert(&db, "products", &CATALOGUE[3..6]); // ids 4, 5, 6
    sql(&db, "UPDATE products SET name = 'Cabo HDMI 2.0 4K 2m', brand = 'Multilaser', description = 'Cabo HDMI' WHERE id = 4");
    sql(&db, "UPDATE products SET price = 99.90 WHERE id = 5");
    sql(&db, "DELETE FROM products WHERE id = 6");
    sql(&db, "UPDATE items SET price = 12 WHERE id = 1"); // the TOASTed description unchanged
    sql(&db, "UPDATE items SET name = 'Mouse Logitech M170 cinza' WHERE id = 2");
    sql(&db, "DELETE FROM items WHERE id = 2");

    let by_id = results(&products.output, |r| ids(1..=6).iter().all(|id| r.contains_key(id)) && r["4"].len() >= 2);
    assert!(ids(1..=6).iter().all(|id| by_id.contains_key(id)), "{by_id:#?}\n{}", worker_a.log_text());
    for (i, (sku, _, _, _)) in CATALOGUE[..6].iter().enumerate() {
        let first = &by_id[&(i + 1).to_string()][0];
        assert_eq!(first["category"]["code"], json!(category(sku)), "row {}: {first}", i + 1);
        assert_eq!(first["carried"], json!({"sku": sku, "table": "products"}), "CARRY_FIELDS");
    }
    assert_eq!(by_id["4"].len(), 2, "the renamed row categorized again: {:?}", by_id["4"]);
    assert_eq!(by_id["4"][1]["category"]["code"], json!("INFORMATICA"));
    assert_eq!(by_id["5"].len(), 1, "the price update skipped");
    let a_consumed = 3 + 3 + 2 + 2; // snapshot, inserts, updates, delete and its tombstone
    wait_for(|| worker_a.metric("categorizer_records_consumed_total", &[]) == a_consumed as f64, &worker_a);
    for (reason, count) in [("update_unchanged", 1.0), ("delete", 1.0), ("tombstone", 1.0), ("unavailable_value", 0.0)]
    {
        let label = format!("reason=\"{reason}\"");
        assert_eq!(worker_a.metric("categorizer_records_skipped_total", &[&label]), count, "products: {reason}");
    }
    assert_eq!(worker_a.metric("categorizer_records_categorized_total", &[]), 7.0);
    assert_eq!(worker_a.metric("categorizer_records_dead_lettered_total", &[]), 0.0);
    no_dead_letters(&products.dlq, &worker_a);

    let items_by_id = results(&items.output, |r| r.contains_key("1") && r.get("2").is_some_and(|v| v.len() >= 2));
    assert_eq!(items_by_id["1"].len(), 1, "the TOAST placeholder is not categorized: {:?}", items_by_id["1"]);
    assert_eq!(items_by_id["2"].len(), 2, "a flattened update (no before) categorized: {:?}", items_by_id.get("2"));
    for event in items_by_id.values().flatten() {
        assert!(!event.to_string().contains("__debezium_unavailable_value"), "{event}");
    }
    let b_consumed = 2 + 2 + 1 + 1; // snapshot, updates, rewritten delete, tombstone
    wait_for(|| worker_b.metric("categorizer_records_consumed_total", &[]) == b_consumed as f64, &worker_b);
    for (reason, count) in [("unavailable_value", 1.0), ("delete", 1.0), ("tombstone", 1.0), ("update_unchanged", 0.0)]
    {
        let label = format!("reason=\"{reason}\"");
        assert_eq!(worker_b.metric("categorizer_records_skipped_total", &[&label]), count, "items: {reason}");
    }
    assert_eq!(worker_b.metric("categorizer_records_dead_lettered_total", &[]), 0.0);
    no_dead_letters(&items.dlq, &worker_b);
    let phase1 = t0.elapsed();

    // Phase 2: Connect killed (kill -9) while rows are being written, one
    // every 150 ms: some in flight, some written while it is down; then
    // started again on its offsets.
    let writer = insert_steadily(&db, "k", 0, 15); // ids 7..=21
    std::thread::sleep(Duration::from_millis(700));
    script("local-connect", &["crash"], &connect_dir);
    std::thread::sleep(Duration::from_millis(500));
    let connect_restarted = start_connect();
    writer.join().expect("writer");

    // Phase 3: the worker killed (kill -9) while rows stream in, another one
    // in its place in the same group.
    let writer = insert_steadily(&db, "w", 4, 15); // 22..=36
    std::thread::sleep(Duration::from_millis(700));
    worker_a.signal("KILL");
    worker_a.wait_exit(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let worker_a = Worker::start(&products, TEXT_MODEL, &worker_env);
    writer.join().expect("writer");

    let live: BTreeSet<String> = sql(&db, "SELECT id FROM products").lines().map(str::to_owned).collect();
    let expected: BTreeSet<String> = live.iter().cloned().chain(["6".to_owned()]).collect();
    assert_eq!(expected, ids(1..=36), "the rows inserted");
    let by_id = results(&products.output, |r| expected.iter().all(|id| r.contains_key(id)));
    let missing: Vec<&String> = expected.iter().filter(|id| !by_id.contains_key(*id)).collect();
    assert!(missing.is_empty(), "rows without a result: {missing:?}\n{}", worker_a.log_text());
    let skus: BTreeMap<String, String> = sql(&db, "SELECT id, sku FROM products")
        .lines()
        .filter_map(|l| l.split_once('|').map(|(i, s)| (i.to_owned(), s.to_owned())))
        .collect();
    for (id, sku) in &skus {
        let event = by_id[id].last().unwrap();
        if id != "4" {
            assert_eq!(event["category"]["code"], json!(category(sku)), "row {id} ({sku}): {event}");
        }
        assert_eq!(event["carried"]["sku"], json!(sku), "row {id}");
        assert_schema("product-categorized", event);
    }
    no_dead_letters(&products.dlq, &worker_a);
    // Connect's log: the one known harmless ERROR at start (Debezium's
    // CloudEventsConverter cannot be loaded on Kafka 4.3), once per start.
    let connect_log = std::fs::read_to_string(connect_dir.join("connect.log")).unwrap_or_default();
    let errors: Vec<&str> = connect_log.lines().filter(|l| l.contains("] ERROR ")).collect();
    let unexpected: Vec<&&str> = errors.iter().filter(|l| !l.contains("Failed to discover Converter")).collect();
    assert!(unexpected.is_empty(), "errors in Connect's log: {unexpected:#?}");
    assert_eq!(errors.len(), 2, "the CloudEventsConverter error, at each of the two starts: {errors:#?}");
    let duplicates: usize = by_id.values().map(|v| v.len() - 1).sum::<usize>() - 1; // row 4 twice by design
    let done = t0.elapsed();

    // Every record Debezium wrote, against the published schemas.
    let mut counts = BTreeMap::new();
    for (key, value) in records(&products.input) {
        let key = key.expect("a key");
        assert!(key["payload"]["id"].is_i64(), "a key struct with its schema: {key}");
        if let Some(value) = value {
            assert_schema("debezium-envelope-with-schema", &value);
            assert_schema("debezium-envelope", &value["payload"]);
            *counts.entry(value["payload"]["op"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    for (_, value) in records(&items.input) {
        if let Some(value) = value {
            assert_schema("debezium-flattened", &value);
        }
    }
    assert_eq!(counts.get("r"), Some(&3), "snapshot reads: {counts:?}");
    assert_eq!(counts.get("d"), Some(&1), "{counts:?}");

    eprintln!(
        "debezium e2e: postgres ready {:.1}s, connect start {:.1}s (restart {:.1}s, RSS {} MB), setup {:.1}s, \
         phase 1 done {:.1}s, all rows {:.1}s, total {:.1}s; results repeated after the kills: {duplicates}; ops {counts:?}",
        postgres_ready.as_secs_f64(),
        connect_started.as_secs_f64(),
        connect_restarted.as_secs_f64(),
        connect_rss / 1024,
        setup_done.as_secs_f64(),
        phase1.as_secs_f64(),
        done.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
    );
    drop(worker_a);
    drop(worker_b);
    drop(setup);
}

/// Polls `condition` for up to 30 s.
fn wait_for(mut condition: impl FnMut() -> bool, worker: &Worker) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 30s\n{}\n{}", worker.metrics(), worker.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
}
