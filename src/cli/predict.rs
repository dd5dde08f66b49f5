//! `product-categorizer predict`: try the model on product names without
//! Kafka, through the same app service as Kafka records.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use time::OffsetDateTime;

use crate::app::{Categorizer, Outcome, SourceRecord};

const BATCH: usize = 64;

/// Categorizes `names`, or stdin lines when there are none, and prints one
/// line (or one JSON event) per input.
pub fn run(categorizer: &Categorizer, names: Vec<String>, json: bool) -> anyhow::Result<()> {
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> =
        if names.is_empty() { Box::new(std::io::stdin().lock().lines()) } else { Box::new(names.into_iter().map(Ok)) };
    let mut out = std::io::stdout().lock();
    let mut batch = Vec::with_capacity(BATCH);
    for (index, line) in lines.enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(record(index as i64, line));
        if batch.len() == BATCH {
            print_batch(categorizer, &batch, json, &mut out)?;
            batch.clear();
        }
    }
    print_batch(categorizer, &batch, json, &mut out)
}

/// A name becomes the event `{"product_id": "line-N", "name": ...}`; a JSON
/// line is taken as the event itself.
fn record(index: i64, line: String) -> SourceRecord {
    let value = if line.trim_start().starts_with('{') {
        line.into_bytes()
    } else {
        serde_json::json!({ "name": line }).to_string().into_bytes()
    };
    SourceRecord {
        topic: "stdin".into(),
        partition: 0,
        offset: index,
        key: Some(format!("line-{}", index + 1).into_bytes()),
        value: Some(value),
    }
}

fn print_batch(
    categorizer: &Categorizer,
    batch: &[SourceRecord],
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for (record, outcome) in batch.iter().zip(categorizer.categorize(batch, OffsetDateTime::now_utc())?) {
        let input = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
        match outcome {
            Outcome::Categorized(event) if json => writeln!(out, "{}", serde_json::to_string(&event)?)?,
            Outcome::Categorized(event) => writeln!(
                out,
                "{:<20} {:<24} {:.3}{}  {}",
                event.category.code,
                event.category.name,
                event.confidence,
                if event.needs_review { " review" } else { "" },
                display_input(&input),
            )?,
            Outcome::DeadLetter(rejection) => {
                writeln!(out, "{:<20} {rejection}  {}", "DEAD_LETTER", display_input(&input))?
            }
            Outcome::Skipped(_) => {}
        }
    }
    Ok(())
}

fn display_input(value: &str) -> String {
    serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or_else(|| value.to_owned())
}
