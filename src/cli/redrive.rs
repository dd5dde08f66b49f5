//! `product-categorizer redrive`: dead letters back to the input topic once
//! their cause is fixed. The flags, the lines it prints and the summary; the
//! decisions are in [`crate::app::redrive`], the Kafka side in
//! [`crate::adapters::kafka::redrive`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::adapters::kafka::{redrive, KafkaConfig, RedriveOptions};
use crate::app::redrive::{Counts, DeadLetterFacts, Decision, Event, Filter, Mode, Plan, Summary};
use crate::domain::RejectReason;

/// How much of a key a printed line shows.
const KEY_CHARS: usize = 60;
/// Least time between two redraws of the progress line.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The worker-only Kafka settings are hidden from `redrive --help`: the
/// redrive has its own group, transactions and no topics to create.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("instance_id", |a| a.hide(true)),
    mut_arg("delivery_guarantee", |a| a.hide(true)),
    mut_arg("transactional_id", |a| a.hide(true)),
    mut_arg("output_topic", |a| a.hide(true)),
    mut_arg("create_topics", |a| a.hide(true)),
    mut_arg("topic_partitions", |a| a.hide(true)),
    mut_arg("topic_replication_factor", |a| a.hide(true))
)]
pub struct RedriveArgs {
    #[command(flatten)]
    pub kafka: KafkaConfig,

    /// Print one line per dead letter that would be sent, and the summary; send nothing and
    /// commit nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Only dead letters with this dlq.reason (repeatable: any of them).
    #[arg(long = "reason", value_name = "CODE", value_parser = reason_code)]
    pub reasons: Vec<String>,

    /// Only dead letters of records read from this input partition, dlq.source.partition
    /// (repeatable: any of them).
    #[arg(long = "partition", value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub partitions: Vec<i32>,

    /// Only dead letters of records at this input offset (dlq.source.offset) or later, in every
    /// selected partition.
    #[arg(long, value_name = "OFFSET", value_parser = clap::value_parser!(i64).range(0..))]
    pub from_offset: Option<i64>,

    /// Only dead letters of records at this input offset (dlq.source.offset) or earlier.
    #[arg(long, value_name = "OFFSET", value_parser = clap::value_parser!(i64).range(0..))]
    pub to_offset: Option<i64>,

    /// Only dead letters that failed at this time (dlq.failed_at, RFC 3339) or later.
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    pub since: Option<OffsetDateTime>,

    /// Only dead letters that failed before this time (dlq.failed_at, RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    pub until: Option<OffsetDateTime>,

    /// A dead letter whose record was already redriven this often (its redrive.count header) is
    /// not sent again: it is reported as given up.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_redrives: u32,

    /// The consumer group whose committed position on the dead-letter topic marks what was
    /// already redriven [default: <KAFKA_GROUP_ID>-redrive].
    #[arg(long, value_name = "GROUP")]
    pub redrive_group: Option<String>,

    /// Start at the earliest dead letter still kept, not at the redrive group's position
    /// (records redriven before are sent again if the filters select them).
    #[arg(long)]
    pub from_beginning: bool,

    /// Send and commit without transactions: an interrupted run may send its last batch again.
    /// Without this flag transactions are used unless the cluster refuses them (then with a warning).
    #[arg(long)]
    pub no_transactions: bool,

    /// Longest wait for the next dead letter while the topic is not yet read to where it ended
    /// at start; past it the redrive stops with an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
}

fn reason_code(raw: &str) -> Result<String, String> {
    let codes: Vec<&str> = RejectReason::ALL.iter().map(RejectReason::code).collect();
    if codes.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!("not a dead-letter reason; one of: {}", codes.join(", ")))
    }
}

fn rfc3339(raw: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339)
        .map_err(|error| format!("expected an RFC 3339 time such as 2026-11-25T12:00:00Z: {error}"))
}

impl RedriveArgs {
    /// The filters and the loop guard; refuses ranges that select nothing.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        if let (Some(from), Some(to)) = (self.from_offset, self.to_offset) {
            anyhow::ensure!(from <= to, "--from-offset {from} is after --to-offset {to}: nothing would match");
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            anyhow::ensure!(since < until, "--since is not before --until: nothing would match");
        }
        let filter = Filter {
            reasons: self.reasons.clone(),
            partitions: self.partitions.clone(),
            from_offset: self.from_offset,
            to_offset: self.to_offset,
            since: self.since,
            until: self.until,
        };
        Ok(Plan { filter, max_redrives: self.max_redrives })
    }

    pub fn options(&self) -> RedriveOptions {
        RedriveOptions {
            dlq_topic: self.kafka.dlq_topic.clone(),
            target_topic: self.kafka.input_topic.clone(),
            group: self.redrive_group.clone().unwrap_or_else(|| format!("{}-redrive", self.kafka.group_id)),
            dry_run: self.dry_run,
            transactions: !self.no_transactions,
            from_beginning: self.from_beginning,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
        }
    }
}

/// Runs the redrive, printing as it goes and a summary at the end, also
/// when it fails part-way.
pub async fn run(args: RedriveArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let options = args.options();
    let mut summary = Summary::default();
    let mut printer = Printer::new(args.dry_run, std::io::stderr().is_terminal());
    let result = redrive(&args.kafka, &options, &plan, &mut summary, &mut |event| printer.event(event), shutdown).await;
    printer.clear_progress();
    let mode = match &result {
        Ok(mode) => Some(*mode),
        Err(_) => printer.mode,
    };
    // A failure before the first read (a missing topic, bad credentials)
    // has nothing to summarize.
    if let Some(mode) = mode {
        print_summary(&options, mode, &summary).context("cannot write the summary to stdout")?;
    }
    result.map(|_| ()).with_context(|| format!("redrive of {} failed", options.dlq_topic))
}

/// Lines on stdout, the progress line on a terminal's stderr.
struct Printer {
    dry_run: bool,
    terminal: bool,
    mode: Option<Mode>,
    last_progress: Option<Instant>,
    drawn: bool,
}

impl Printer {
    fn new(dry_run: bool, terminal: bool) -> Self {
        Printer { dry_run, terminal, mode: None, last_progress: None, drawn: false }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started { mode, .. } => self.mode = Some(mode),
            Event::Record { dlq_partition, dlq_offset, facts, decision, key } => {
                let line = match decision {
                    Decision::Send { count } if self.dry_run => Some(format!(
                        "would send  {}  as redrive {count}",
                        describe(dlq_partition, dlq_offset, facts, key)
                    )),
                    Decision::GaveUp => Some(format!(
                        "gave up  {}  after {} redrives",
                        describe(dlq_partition, dlq_offset, facts, key),
                        facts.redrives
                    )),
                    Decision::NotRedrivable(why) => Some(format!(
                        "not redrivable ({})  {}",
                        why.describe(),
                        describe(dlq_partition, dlq_offset, facts, key)
                    )),
                    Decision::Send { .. } | Decision::Filtered => None,
                };
                if let Some(line) = line {
                    self.clear_progress();
                    // A closed stdout (a pipe to `head`) must not stop the
                    // redrive half-way: its commits are what counts.
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
            Event::Progress { summary, expected } => self.progress(&summary.total, expected),
        }
    }

    fn progress(&mut self, total: &Counts, expected: u64) {
        if !self.terminal || self.last_progress.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last_progress = Some(Instant::now());
        let percent = (total.read * 100).checked_div(expected).map_or(100, |p| p.min(100));
        let width = 24;
        let filled = (percent as usize * width) / 100;
        let verb = if self.dry_run { "would send" } else { "sent" };
        let line = format!(
            "\r[{}{}] {percent:>3}%  {}/{expected} read, {} {verb}, {} skipped, {} gave up\x1b[K",
            "#".repeat(filled),
            " ".repeat(width - filled),
            total.read,
            total.sent,
            total.filtered,
            total.gave_up
        );
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line.as_bytes());
        let _ = stderr.flush();
        self.drawn = true;
    }

    fn clear_progress(&mut self) {
        if self.drawn {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
            self.drawn = false;
            // Drawn again at the next progress event, whenever it comes.
            self.last_progress = None;
        }
    }
}

/// `dlq 0@5  source product-created 2@1235  reason invalid_field  key "SKU-1"`.
fn describe(dlq_partition: i32, dlq_offset: i64, facts: &DeadLetterFacts, key: Option<&[u8]>) -> String {
    let key = match key {
        None => "(none)".to_owned(),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let mut shown: String = text.chars().take(KEY_CHARS).collect();
            if text.chars().count() > KEY_CHARS {
                shown.push('…');
            }
            format!("{shown:?}")
        }
    };
    format!(
        "dlq {dlq_partition}@{dlq_offset}  source {}  reason {}  key {key}",
        facts.source(),
        facts.reason.as_deref().unwrap_or("(none)")
    )
}

fn print_summary(options: &RedriveOptions, mode: Mode, summary: &Summary) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mode = mode.describe();
    writeln!(out, "redrive of {} to {}, group {} ({mode})", options.dlq_topic, options.target_topic, options.group)?;
    let sent = if options.dry_run { "would send" } else { "sent" };
    let total = &summary.total;
    for (label, value) in [
        ("read", total.read),
        (sent, total.sent),
        ("skipped by filter", total.filtered),
        ("gave up", total.gave_up),
        ("not redrivable", total.not_redrivable),
    ] {
        writeln!(out, "  {label:<18} {value}")?;
    }
    if !summary.by_reason.is_empty() {
        writeln!(out, "  per reason:")?;
        for (reason, c) in &summary.by_reason {
            writeln!(
                out,
                "    {reason:<20} read {}, {sent} {}, skipped by filter {}, gave up {}, not redrivable {}",
                c.read, c.sent, c.filtered, c.gave_up, c.not_redrivable
            )?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RedriveArgs,
    }

    fn parse(args: &[&str]) -> Result<RedriveArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("redrive").chain(args.iter().copied())).map(|cli| cli.args)
    }

    #[test]
    fn the_flags_become_filters_and_the_group_defaults_to_the_workers_plus_redrive() {
        let args = parse(&[
            "--reason",
            "missing_text",
            "--reason",
            "model_error",
            "--partition",
            "2",
            "--from-offset",
            "10",
            "--to-offset",
            "20",
            "--since",
            "2026-11-25T12:00:00Z",
            "--until",
            "2026-11-25T10:00:00-03:00",
            "--group-id",
            "categorizer",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let plan = args.plan().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.filter.reasons, ["missing_text", "model_error"]);
        assert_eq!(plan.filter.partitions, [2]);
        assert_eq!((plan.filter.from_offset, plan.filter.to_offset), (Some(10), Some(20)));
        assert_eq!(plan.max_redrives, 3);
        let options = args.options();
        assert_eq!(options.group, "categorizer-redrive");
        assert!(options.transactions && !options.dry_run && !options.from_beginning);
        assert_eq!(options.idle_timeout, Duration::from_secs(30));
    }

    #[test]
    fn unknown_reasons_bad_times_and_empty_ranges_are_refused() {
        let error = parse(&["--reason", "too_long"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("one of: invalid_json"), "{error}");
        assert!(parse(&["--since", "yesterday"]).is_err());
        assert!(parse(&["--partition", "-1"]).is_err());
        let backwards = parse(&["--from-offset", "9", "--to-offset", "3"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(backwards.plan().is_err());
        let empty = parse(&["--since", "2026-11-25T12:00:00Z", "--until", "2026-11-25T12:00:00Z"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.plan().is_err());
    }

    #[test]
    fn printed_lines_name_the_source_and_cut_long_keys() {
        let facts = DeadLetterFacts {
            reason: Some("invalid_field".into()),
            source_topic: Some("product-created".into()),
            source_partition: Some(2),
            source_offset: Some(1235),
            ..DeadLetterFacts::default()
        };
        let line = describe(0, 5, &facts, Some(b"SKU-1"));
        assert_eq!(line, r#"dlq 0@5  source product-created 2@1235  reason invalid_field  key "SKU-1""#);
        let long = describe(0, 5, &facts, Some("é".repeat(100).as_bytes()));
        assert!(long.ends_with(&format!("\"{}…\"", "é".repeat(KEY_CHARS))), "{long}");
        assert!(describe(0, 5, &DeadLetterFacts::default(), None).ends_with("reason (none)  key (none)"));
    }
}
