//! `product-categorizer redrive` against a real broker, with the real worker
//! and model: a record dead-lettered for a cause that is then fixed (a
//! `product_id` longer than PRODUCT_ID_MAX_BYTES, raised on the next run) is
//! redriven and categorized; a record that fails every time (no text) stops
//! after `--max-redrives`; a dry run sends and commits nothing; a second run
//! sends nothing the first one sent.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const INPUT_PARTITIONS: i32 = 2;
/// 18 bytes: over the first worker's PRODUCT_ID_MAX_BYTES, under the default.
const FIXABLE: &str = "SKU-FIXABLE-000001";
/// No name, brand or description: `missing_text` whatever the settings (and
/// short enough for the first worker's PRODUCT_ID_MAX_BYTES).
const HOPELESS: &str = "NO-TEXT";
const GOOD: &str = "SKU-GOOD";
const MAX_REDRIVES: u32 = 2;

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The number on the summary line `label`.
    fn count(&self, label: &str) -> u64 {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix("  ")?.strip_prefix(label)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` line in the summary:\n{}\n{}", self.stdout, self.stderr))
    }
}

fn redrive(topics: &Topics, args: &[&str]) -> Run {
    let output = command_on(Path::new(env!("CARGO_BIN_EXE_product-categorizer")), topics)
        .arg("redrive")
        .args(["--idle-timeout-secs", "20"])
        .args(args)
        .output()
        .expect("run redrive");
    let run = Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("redrive {args:?}:\n{}{}", run.stdout, run.stderr);
    assert!(run.success, "redrive {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

fn key(message: &OwnedMessage) -> String {
    String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned()
}

fn dead_letters_of(topics: &Topics, product: &str, count: usize, wait: Duration) -> Vec<OwnedMessage> {
    let all = consume_until(&topics.dlq, wait, |m| m.iter().filter(|m| key(m) == product).count() >= count);
    all.into_iter().filter(|m| key(m) == product).collect()
}

fn total(offsets: &HashMap<i32, i64>) -> i64 {
    offsets.values().sum()
}

/// Stops a worker gracefully, so its committed positions cover every record
/// it handled (a killed one would handle some again on the next start).
fn stop(mut worker: Worker) {
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "worker exited with {status}:\n{}", worker.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_cause_is_redriven_and_categorized_and_a_hopeless_record_stops_after_max_redrives() {
    let topics = Topics::new("redrive");
    topics.create_input(INPUT_PARTITIONS).await;

    // A worker whose PRODUCT_ID_MAX_BYTES is too small for FIXABLE.
    let worker = Worker::start(&topics, TEXT_MODEL, &[("PRODUCT_ID_MAX_BYTES", "10")]);
    let fixable = json!({"product_id": FIXABLE, "name": "Cimento CP II 50kg", "brand": "Votorantim"});
    let inputs = [
        Input {
            headers: vec![("origin".into(), b"erp".to_vec())],
            partition: Some(1),
            ..Input::json(FIXABLE, fixable.clone())
        },
        Input { partition: Some(0), ..Input::json(HOPELESS, json!({"product_id": HOPELESS})) },
        Input { partition: Some(1), ..Input::json(GOOD, json!({"product_id": GOOD, "name": "SSD Kingston 480GB"})) },
    ];
    let positions = produce(&topics.input, &inputs).await;
    let dead = consume(&topics.dlq, 2, WAIT);
    assert_eq!(dead.len(), 2, "two dead letters:\n{}", worker.log_text());
    let reason_of = |product: &str| {
        dead.iter().find(|m| key(m) == product).and_then(|m| header(m, "dlq.reason")).map(str::to_owned)
    };
    assert_eq!(reason_of(FIXABLE).as_deref(), Some("invalid_field"));
    assert_eq!(reason_of(HOPELESS).as_deref(), Some("missing_text"));
    assert_eq!(consume(&topics.output, 1, WAIT).len(), 1, "the good record is categorized");
    stop(worker);

    let input_end = end_offsets(&topics.input, INPUT_PARTITIONS);
    assert_eq!(total(&input_end), 3);

    // A dry run names both and sends and commits nothing.
    let dry = redrive(&topics, &["--dry-run"]);
    assert_eq!(dry.count("would send"), 2);
    let would: Vec<&str> = dry.stdout.lines().filter(|l| l.starts_with("would send ")).collect();
    assert_eq!(would.len(), 2, "{}", dry.stdout);
    let fixable_line = would.iter().find(|l| l.contains(FIXABLE)).unwrap_or_else(|| panic!("{}", dry.stdout));
    let (partition, offset) = positions[0];
    assert!(fixable_line.contains(&format!("source {} {partition}@{offset}", topics.input)), "{fixable_line}");
    assert!(fixable_line.contains("reason invalid_field"), "{fixable_line}");
    assert_eq!(end_offsets(&topics.input, INPUT_PARTITIONS), input_end, "a dry run sends nothing");
    let redrive_group = format!("{}-redrive", topics.group);
    let committed_after_dry_run = committed(&redrive_group, &topics.dlq, 3);
    assert!(committed_after_dry_run.values().all(|o| *o < 0), "a dry run commits nothing: {committed_after_dry_run:?}");

    // The worker is stopped: the first run sends both, the second nothing.
    let first = redrive(&topics, &["--max-redrives", &MAX_REDRIVES.to_string()]);
    assert_eq!((first.count("read"), first.count("sent"), first.count("gave up")), (2, 2, 0));
    assert!(first.stdout.contains("(transactions)"), "the local broker allows transactions:\n{}", first.stdout);
    let second = redrive(&topics, &["--max-redrives", &MAX_REDRIVES.to_string()]);
    assert_eq!((second.count("read"), second.count("sent")), (0, 0), "nothing is sent twice");

    // What was written back, once: the original key, value and headers, no
    // dlq.*, a redrive count, to the partition it came from. (The input's
    // end offsets also count the transactions' commit markers.)
    let input = consume(&topics.input, 6, Duration::from_secs(5));
    assert_eq!(input.len(), 3 + 2, "each dead letter sent back once");
    let resent: Vec<&OwnedMessage> = input.iter().filter(|m| header(m, "redrive.count").is_some()).collect();
    assert_eq!(resent.len(), 2);
    let again = resent.iter().find(|m| key(m) == FIXABLE).expect("the fixable record was sent back");
    assert_eq!(again.payload(), Some(fixable.to_string().as_bytes()), "the original value bytes");
    assert_eq!(again.partition(), 1, "to the partition it was read from");
    assert_eq!(header(again, "redrive.count"), Some("1"));
    assert_eq!(header(again, "origin"), Some("erp"), "the original headers");
    let names: Vec<String> = again.headers().map(|h| h.iter().map(|h| h.key.to_owned()).collect()).unwrap_or_default();
    assert!(names.iter().all(|n| !n.starts_with("dlq.")), "no dlq.* header: {names:?}");

    // The cause is fixed (the default PRODUCT_ID_MAX_BYTES): the fixable
    // record is categorized; the hopeless one is dead-lettered again with
    // its count, and redriven until it is given up.
    let worker = Worker::start(&topics, TEXT_MODEL, &[]);
    let outputs = consume_until(&topics.output, WAIT, |m| m.iter().any(|m| json(m)["product_id"] == FIXABLE));
    let result = outputs.iter().find(|m| json(m)["product_id"] == FIXABLE).map(json);
    let result = result.unwrap_or_else(|| panic!("{FIXABLE} was not categorized:\n{}", worker.log_text()));
    assert_eq!(result["category"]["code"], "MATERIAL_CONSTRUCAO", "{result}");

    let mut gave_up = 0;
    for redrives in 1..=MAX_REDRIVES + 1 {
        let letters = dead_letters_of(&topics, HOPELESS, redrives as usize + 1, WAIT);
        assert_eq!(letters.len(), redrives as usize + 1, "dead letter {redrives}:\n{}", worker.log_text());
        let latest = letters.last().expect("a dead letter");
        assert_eq!(header(latest, "redrive.count"), Some(redrives.to_string().as_str()), "the count is carried");
        assert_schema("dead-letter-headers", &headers_object(latest));
        let run = redrive(&topics, &["--max-redrives", &MAX_REDRIVES.to_string()]);
        assert_eq!(run.count("read"), 1);
        if redrives < MAX_REDRIVES {
            assert_eq!((run.count("sent"), run.count("gave up")), (1, 0));
        } else {
            assert_eq!((run.count("sent"), run.count("gave up")), (0, 1));
            let line = run.stdout.lines().find(|l| l.starts_with("gave up ")).unwrap_or_default();
            assert!(line.contains(HOPELESS) && line.contains("reason missing_text"), "{}", run.stdout);
            gave_up += 1;
            break;
        }
    }
    assert_eq!(gave_up, 1, "the hopeless record was given up");
    // Given up: no further dead letter for it, and nothing left to redrive.
    let letters = dead_letters_of(&topics, HOPELESS, MAX_REDRIVES as usize + 2, Duration::from_secs(5));
    assert_eq!(letters.len(), MAX_REDRIVES as usize + 1, "the first dead letter and one per redrive");
    let last = redrive(&topics, &["--max-redrives", &MAX_REDRIVES.to_string()]);
    assert_eq!((last.count("read"), last.count("sent")), (0, 0));
    stop(worker);
}

/// Without transactions the group's position is still committed, and a run
/// with filters skips (and moves past) what they leave out.
#[tokio::test(flavor = "multi_thread")]
async fn without_transactions_filters_skip_and_the_position_still_moves() {
    let topics = Topics::new("redrive-plain");
    topics.create_input(1).await;
    let worker = Worker::start(&topics, TEXT_MODEL, &[]);
    let inputs = [
        Input::json("bad-json", json!({"product_id": "A", "name": 42})),
        Input::json("no-text", json!({"product_id": "B"})),
    ];
    produce(&topics.input, &inputs).await;
    assert_eq!(consume(&topics.dlq, 2, WAIT).len(), 2, "{}", worker.log_text());
    stop(worker);

    let started = Instant::now();
    let run = redrive(&topics, &["--no-transactions", "--reason", "missing_text"]);
    assert!(run.stdout.contains("(no transactions"), "{}", run.stdout);
    assert_eq!((run.count("read"), run.count("sent"), run.count("skipped by filter")), (2, 1, 1));
    assert!(run.stdout.contains("missing_text"), "per reason:\n{}", run.stdout);
    assert!(started.elapsed() < Duration::from_secs(20), "it ends once the topic is read: {:?}", started.elapsed());
    let input = consume(&topics.input, 3, WAIT);
    let resent: Vec<String> = input.iter().filter(|m| header(m, "redrive.count").is_some()).map(key).collect();
    assert_eq!(resent, ["no-text"]);
    let again = redrive(&topics, &["--no-transactions"]);
    assert_eq!((again.count("read"), again.count("sent")), (0, 0), "the filtered record was moved past");
    // --from-beginning reads everything again (and sends what it selects).
    let dry = redrive(&topics, &["--dry-run", "--from-beginning", "--reason", "invalid_field"]);
    assert_eq!((dry.count("read"), dry.count("would send")), (2, 1));
}
