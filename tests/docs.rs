//! Keeps the docs true, without a broker: every setting the binary reads is
//! in docs/configuration.md with its default, every metric it registers is in
//! docs/operations.md, every `make` target, script and relative link named in
//! README.md and docs/ exists, and the event examples (and outputs made by
//! the worker's own code) are valid against docs/schemas/. A setting or
//! metric added without its docs fails here.
//!
//! The settings come from the clap definition itself (`Cli::command()`), the
//! metrics from the registry the worker builds: no hand-kept list to forget.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use common::*;
use product_categorizer::adapters::kafka::{
    Client, Property, CONSUMER_DEFAULTS, EXACTLY_ONCE_LOCKED, EXACTLY_ONCE_PRODUCER_DEFAULTS, LOCKED_PROPERTIES,
    PRODUCER_DEFAULTS,
};
use product_categorizer::config::Cli;
use product_categorizer::domain::RejectReason;
use product_categorizer::telemetry::metrics::Metrics;

fn read(path: impl AsRef<Path>) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every docs/*.md, with their paths relative to the repo.
fn pages() -> Vec<(PathBuf, String)> {
    let mut pages = vec![(PathBuf::from("README.md"), read("README.md"))];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    for path in docs {
        let relative = path.strip_prefix(repo()).expect("under the repo").to_path_buf();
        let text = read(&relative);
        pages.push((relative, text));
    }
    pages
}

/// The cells of a Markdown table row, trimmed; `None` for other lines.
fn cells(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    // A `\|` inside a cell is a literal bar, not a separator.
    let inner = inner.replace("\\|", "\u{0}");
    Some(inner.split('|').map(|c| c.replace('\u{0}', "|").trim().to_owned()).collect())
}

/// The rows of the first table under `heading` in `text`.
fn table_under(text: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no `{heading}` heading");
    lines
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .filter_map(cells)
        .skip(2) // header and separator
        .collect()
}

/// Each setting: (variable, long flag, default values), from the binary's
/// own clap definition, the `predict` subcommand's included.
fn settings() -> Vec<(String, String, Vec<String>)> {
    let command = Cli::command();
    let mut found = Vec::new();
    let arguments = command.get_arguments().chain(command.get_subcommands().flat_map(|s| s.get_arguments()));
    for argument in arguments {
        let Some(env) = argument.get_env() else { continue };
        let env = env.to_string_lossy().into_owned();
        if found.iter().any(|(name, _, _)| *name == env) {
            continue;
        }
        let long = argument.get_long().map(|l| format!("--{l}")).unwrap_or_default();
        let defaults = argument.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        found.push((env, long, defaults));
    }
    found
}

#[test]
fn every_setting_is_in_docs_configuration_with_its_default() {
    let text = read("docs/configuration.md");
    let rows = table_under(&text, "## Settings");
    let by_name: HashMap<String, &Vec<String>> =
        rows.iter().map(|row| (row[0].trim_matches('`').to_owned(), row)).collect();
    let settings = settings();
    assert!(settings.len() >= 30, "the clap definition gave only {} settings", settings.len());
    let mut problems = Vec::new();
    for (env, long, defaults) in &settings {
        let Some(row) = by_name.get(env) else {
            problems.push(format!("{env} ({long}) is not in docs/configuration.md's settings table"));
            continue;
        };
        if !row[1].contains(&format!("`{long}`")) {
            problems.push(format!("{env}: the flag column should name `{long}`, has {:?}", row[1]));
        }
        let documented = &row[3];
        match defaults.as_slice() {
            [] if !documented.starts_with("unset") => {
                problems.push(format!("{env} has no default in the code; the docs say {documented:?}"))
            }
            [] => {}
            values => {
                let expected = format!("`{}`", values.join(","));
                if documented != &expected {
                    problems.push(format!("{env}: default {expected} in the code, {documented:?} in the docs"));
                }
            }
        }
    }
    let known: BTreeSet<&str> = settings.iter().map(|(env, _, _)| env.as_str()).collect();
    for name in by_name.keys() {
        if !known.contains(name.as_str()) {
            problems.push(format!("{name} is documented as a setting but the binary does not read it"));
        }
    }
    assert!(problems.is_empty(), "docs/configuration.md is out of date:\n  {}", problems.join("\n  "));
}

#[test]
fn every_kafka_client_default_and_locked_property_is_in_docs_configuration() {
    let text = read("docs/configuration.md");
    let check = |heading: &str, properties: &[&[Property]]| {
        let rows = table_under(&text, heading);
        let mut problems = Vec::new();
        for property in properties.iter().flat_map(|p| p.iter()) {
            let client = match property.client {
                Client::Consumer => "consumer",
                Client::Producer => "producer",
            };
            let documented = rows.iter().any(|row| {
                row[0] == client
                    && row[1].split(" (").next() == Some(format!("`{}`", property.name).as_str())
                    && row[2] == format!("`{}`", property.value)
            });
            if !documented {
                problems.push(format!("{client} {}={} under {heading}", property.name, property.value));
            }
        }
        problems
    };
    let mut problems = check("## Kafka client defaults", &[CONSUMER_DEFAULTS, PRODUCER_DEFAULTS]);
    problems.extend(check("## Locked properties", &[LOCKED_PROPERTIES]));
    // The exactly-once variants are told in the prose below the table.
    for property in EXACTLY_ONCE_LOCKED.iter().chain(EXACTLY_ONCE_PRODUCER_DEFAULTS) {
        if !text.contains(property.name) || !text.contains(property.value) {
            problems.push(format!("exactly-once: {}={}", property.name, property.value));
        }
    }
    assert!(problems.is_empty(), "missing from docs/configuration.md:\n  {}", problems.join("\n  "));
}

#[test]
fn every_metric_the_worker_registers_is_in_docs_operations() {
    let text = read("docs/operations.md");
    let metrics = Metrics::new().expect("metrics");
    let names = metrics.names();
    assert!(names.len() >= 20, "only {} metrics registered?", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| !text.contains(&format!("`{name}`")) && !text.contains(&format!("`{name}{{")))
        .collect();
    assert!(missing.is_empty(), "metrics missing from docs/operations.md's table: {missing:?}");
    // And the other way: a documented metric the worker does not register.
    let documented: BTreeSet<&str> = text
        .split('`')
        .filter(|span| span.starts_with("categorizer_") && !span.ends_with('_') && !span.contains('*'))
        .map(|span| span.split(['{', ' ', '[']).next().unwrap_or(span))
        .map(|name| name.strip_suffix("_bucket").unwrap_or(name))
        .collect();
    let unknown: Vec<&&str> = documented.iter().filter(|d| !names.iter().any(|n| n == *d)).collect();
    assert!(unknown.is_empty(), "docs/operations.md names metrics the worker does not register: {unknown:?}");
}

#[test]
fn every_alert_rule_is_in_docs_operations() {
    let text = read("docs/operations.md");
    let rules = read("deploy/prometheus/alerts.yml");
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert:")).map(str::trim).collect();
    assert!(!alerts.is_empty(), "no alerts found in deploy/prometheus/alerts.yml");
    let missing: Vec<&&str> = alerts.iter().filter(|a| !text.contains(&format!("`{a}`"))).collect();
    assert!(missing.is_empty(), "alerts missing from docs/operations.md: {missing:?}");
}

/// The code in a page, one entry per line of a fenced block or inline span.
fn code_of(text: &str) -> Vec<&str> {
    let mut code = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push(line);
            continue;
        }
        code.extend(line.split('`').skip(1).step_by(2));
    }
    code
}

fn make_targets() -> BTreeSet<String> {
    read("Makefile")
        .lines()
        .filter(|l| !l.starts_with(['\t', '#', ' ', '.']))
        .filter_map(|l| l.split_once(':').filter(|(_, rest)| !rest.starts_with('=')).map(|(t, _)| t))
        .flat_map(|targets| targets.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_make_target_script_and_link_named_in_the_docs_exists() {
    let targets = make_targets();
    assert!(targets.contains("run") && targets.contains("test"), "Makefile parsed wrong: {targets:?}");
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let code = code_of(&text);
        for span in &code {
            let words: Vec<&str> = span.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0] == "make" {
                    let target = pair[1].trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
                    if !target.is_empty() && !pair[1].contains('=') && !targets.contains(target) {
                        problems.push(format!("{}: `make {target}`: no such Makefile target", page.display()));
                    }
                }
            }
        }
        let code = code.join("\n");
        for word in code.split(|c: char| c.is_whitespace() || "()\"'`;,|<>$".contains(c)) {
            if let Some(rest) = word.strip_prefix("scripts/") {
                let script = rest.trim_end_matches(['.', ':']);
                if !script.is_empty() && !repo().join("scripts").join(script).exists() {
                    problems.push(format!("{}: scripts/{script}: no such script", page.display()));
                }
            }
        }
        // Relative Markdown links: the file they point at exists.
        let dir = page.parent().unwrap_or(Path::new("")).to_path_buf();
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            let target = link.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !repo().join(&dir).join(target).exists() {
                problems.push(format!("{}: link to {link}: no such file", page.display()));
            }
        }
    }
    assert!(problems.is_empty(), "the docs name things that do not exist:\n  {}", problems.join("\n  "));
}

/// Each ```json <schema> block of the README and docs, validated against
/// docs/schemas/<schema>.schema.json.
#[test]
fn the_event_examples_in_the_docs_are_valid_against_the_schemas() {
    let mut examples: HashMap<String, usize> = HashMap::new();
    for (page, text) in pages() {
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(schema) = line.trim().strip_prefix("```json ").map(str::trim) else { continue };
            let block: Vec<&str> = lines.by_ref().take_while(|l| !l.trim_start().starts_with("```")).collect();
            let value: serde_json::Value = serde_json::from_str(&block.join("\n"))
                .unwrap_or_else(|e| panic!("{}: a ```json {schema} block is not JSON: {e}", page.display()));
            assert_schema(schema, &value);
            *examples.entry(schema.to_owned()).or_default() += 1;
        }
    }
    for schema in ["product-created", "product-categorized", "dead-letter-headers"] {
        assert!(examples.get(schema).is_some_and(|n| *n >= 2), "README and docs/event-formats.md each show a {schema}");
    }
}

/// A consumer validating dead letters accepts every reason the worker gives.
#[test]
fn the_dead_letter_schema_names_every_reason_the_worker_gives() {
    let path = repo().join("docs/schemas/dead-letter-headers.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&read(&path)).expect("schema");
    let listed: BTreeSet<&str> = schema["properties"]["dlq.reason"]["enum"]
        .as_array()
        .expect("dlq.reason has an enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let given: BTreeSet<&str> = RejectReason::ALL.iter().map(RejectReason::code).collect();
    assert_eq!(listed, given);
}

/// The schemas are strict enough to catch a wrong event.
#[test]
fn the_schemas_refuse_events_that_break_the_format() {
    let output = serde_json::json!({
        "event_id": "4f0c2f1e-8a7e-5b7e-9d3c-2a1b0c9d8e7f", "product_id": "P",
        "category": {"code": "A", "name": "A"}, "confidence": 0.9, "probabilities": {"A": 0.9},
        "needs_review": false, "model": {"name": "m", "version": "1"},
        "source": {"topic": "t", "partition": 0, "offset": 1}, "categorized_at": "2026-11-25T12:00:00.041Z"
    });
    assert_schema("product-categorized", &output);
    let path = repo().join("docs/schemas/product-categorized.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&read(&path)).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    for (field, bad) in [("confidence", serde_json::json!("high")), ("needs_review", serde_json::json!(null))] {
        let mut broken = output.clone();
        broken[field] = bad;
        assert!(!validator.is_valid(&broken), "{field} should be refused");
    }
    let mut missing = output.clone();
    missing.as_object_mut().expect("object").remove("model");
    assert!(!validator.is_valid(&missing), "a result without `model` should be refused");
}

/// Real outputs, made by the worker's own decode, model and serialization
/// (`predict --json` runs the same code path as Kafka records), are valid
/// results; the records the docs show as input are accepted by it.
#[test]
fn real_outputs_of_the_worker_are_valid_against_the_schema() {
    let inputs = [
        r#"{"event_id": "e-1", "product_id": "SKU-000123", "name": "Pastilha de freio dianteira Gol G5", "brand": "Cobreq"}"#,
        r#"{"product_id": 42, "name": "SSD Kingston A400 480GB", "description": null}"#,
        r#"{"product_id": "SKU-3", "name": "Cimento CP II 50kg", "occurred_at": "2026-11-25T12:00:00Z", "extra": [1]}"#,
    ];
    for input in inputs {
        assert_schema("product-created", &serde_json::from_str(input).expect("JSON"));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_product-categorizer"))
        .current_dir(repo())
        .env("ORT_DYLIB_PATH", ort_dylib())
        .env_remove("RUST_LOG")
        .args(["predict", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn predict");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for input in inputs {
            writeln!(stdin, "{input}").expect("write");
        }
    }
    let output = child.wait_with_output().expect("predict");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let events: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(events.len(), inputs.len(), "{stdout}");
    for event in &events {
        assert_schema("product-categorized", event);
    }
    assert_eq!(events[0]["source"]["event_id"], "e-1");
}

/// The schema a Debezium fixture's value follows, by its file name.
fn debezium_schema_of(name: &str) -> Option<&'static str> {
    if name.starts_with("key") {
        None
    } else if name.starts_with("flattened") {
        Some("debezium-flattened")
    } else if name.starts_with("envelope-schema") || name == "create_schema.json" {
        Some("debezium-envelope-with-schema")
    } else {
        Some("debezium-envelope")
    }
}

/// Every accepted change-event form has its schema in docs/schemas/, and
/// the records real Debezium wrote (tests/fixtures/debezium/real, captured
/// from Debezium 3.6.1 on Kafka Connect 4.3.1) and the hand-written
/// fixtures of tests/cdc.rs are valid against them; broken envelopes are
/// not. tests/debezium_e2e.rs validates every record of its live run too.
#[test]
fn real_and_hand_written_debezium_records_are_valid_against_the_schemas() {
    let mut checked: HashMap<&str, usize> = HashMap::new();
    for dir in ["tests/fixtures/debezium", "tests/fixtures/debezium/real"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(schema) = debezium_schema_of(&name) else { continue };
            let document: serde_json::Value = serde_json::from_str(&read(path.strip_prefix(repo()).unwrap()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // A captured record is {topic, offset, key, value}.
            let value = if dir.ends_with("real") { document["value"].clone() } else { document };
            assert!(!value.is_null(), "{name}: tombstones are not kept as fixtures");
            assert_schema(schema, &value);
            if schema == "debezium-envelope-with-schema" {
                assert_schema("debezium-envelope", &value["payload"]);
            }
            *checked.entry(schema).or_default() += 1;
        }
    }
    for schema in ["debezium-envelope", "debezium-envelope-with-schema", "debezium-flattened"] {
        assert!(checked.get(schema).is_some_and(|n| *n >= 3), "few fixtures for {schema}: {checked:?}");
    }

    let validator = |name: &str| {
        let schema: serde_json::Value =
            serde_json::from_str(&read(format!("docs/schemas/{name}.schema.json"))).expect("schema");
        jsonschema::validator_for(&schema).expect("a valid schema")
    };
    let envelope = validator("debezium-envelope");
    let create: serde_json::Value = serde_json::from_str(&read("tests/fixtures/debezium/create.json")).unwrap();
    for (what, edit) in [
        ("an unknown op", serde_json::json!({"op": "x"})),
        ("a create without after", serde_json::json!({"after": null})),
        ("before of the wrong type", serde_json::json!({"before": []})),
        ("op not a string", serde_json::json!({"op": 1})),
    ] {
        let mut broken = create.clone();
        for (k, v) in edit.as_object().unwrap() {
            broken[k] = v.clone();
        }
        assert!(!envelope.is_valid(&broken), "{what} should be refused");
    }
    let with_schema = validator("debezium-envelope-with-schema");
    assert!(!with_schema.is_valid(&serde_json::json!({"schema": {"type": "struct"}, "payload": {"op": "c"}})));
    assert!(with_schema.is_valid(&serde_json::json!({"schema": {"type": "struct"}, "payload": null})), "a tombstone");
    let flattened = validator("debezium-flattened");
    assert!(!flattened.is_valid(&serde_json::json!({"id": 1, "__deleted": "yes"})));
    assert!(!flattened.is_valid(&serde_json::json!({"schema": {"type": "struct"}, "payload": {"__op": "x"}})));
}
