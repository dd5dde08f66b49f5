//! What `product-categorizer redrive` decides about each dead letter, without
//! Kafka: what its headers say, whether the filters select it, whether it
//! has been redriven too often already, and the headers of the record sent
//! back to the input topic. The Kafka adapter reads and writes; this decides.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Header counting how often a record was sent back to the input topic. The
/// worker copies an input's headers into its dead letter, so the count
/// survives a record that fails again and the next redrive sees it.
pub const REDRIVE_COUNT_HEADER: &str = "redrive.count";

/// Every header the worker adds to a dead letter starts with this.
pub const DLQ_HEADER_PREFIX: &str = "dlq.";

/// Header name -> value (`None`: a header with a null value), in order.
pub type HeaderPairs = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// What a dead letter's headers (and record timestamp) say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFacts {
    /// `dlq.reason`; `None`: not a dead letter of this worker.
    pub reason: Option<String>,
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    /// `dlq.failed_at`, else the dead letter's record timestamp.
    pub failed_at: Option<OffsetDateTime>,
    /// `redrive.count`: how often the record was redriven before it failed
    /// this time (0 when absent).
    pub redrives: u32,
    /// `dlq.truncated=true`: key, value or headers were cut to fit the
    /// dead-letter topic; sending it back would send a different record.
    pub truncated: bool,
}

impl DeadLetterFacts {
    /// Reads the `dlq.*` and `redrive.count` headers. Values that do not
    /// parse count as absent: a dead letter is data from outside.
    pub fn read(headers: &HeaderPairs, timestamp_millis: Option<i64>) -> Self {
        let text = |name: &str| {
            headers
                .iter()
                .rev()
                .find(|(key, _)| key.as_slice() == name.as_bytes())
                .and_then(|(_, value)| value.as_deref())
                .and_then(|value| std::str::from_utf8(value).ok())
                .map(str::trim)
        };
        let failed_at = text("dlq.failed_at")
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .or_else(|| from_millis(timestamp_millis?));
        // Several counts (a hand-made record): the highest, so a loop is never
        // restarted by a stale one.
        let redrives = headers
            .iter()
            .filter(|(key, _)| key.as_slice() == REDRIVE_COUNT_HEADER.as_bytes())
            .filter_map(|(_, value)| std::str::from_utf8(value.as_deref()?).ok()?.trim().parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        DeadLetterFacts {
            reason: text("dlq.reason").filter(|r| !r.is_empty()).map(str::to_owned),
            source_topic: text("dlq.source.topic").map(str::to_owned),
            source_partition: text("dlq.source.partition").and_then(|p| p.parse().ok()),
            source_offset: text("dlq.source.offset").and_then(|o| o.parse().ok()),
            failed_at,
            redrives,
            truncated: text("dlq.truncated").is_some_and(|t| t.eq_ignore_ascii_case("true")),
        }
    }

    /// `topic partition@offset` of the original record, `?` where unknown.
    pub fn source(&self) -> String {
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        format!(
            "{} {}@{}",
            self.source_topic.as_deref().unwrap_or("?"),
            or_unknown(self.source_partition.map(|p| p.to_string())),
            or_unknown(self.source_offset.map(|o| o.to_string()))
        )
    }
}

fn from_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// Which dead letters a redrive sends. Every given criterion must hold; an
/// empty list or `None` does not restrict.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `dlq.reason` is one of these.
    pub reasons: Vec<String>,
    /// `dlq.source.partition` is one of these.
    pub partitions: Vec<i32>,
    /// `dlq.source.offset` at least this (in any selected partition).
    pub from_offset: Option<i64>,
    /// `dlq.source.offset` at most this.
    pub to_offset: Option<i64>,
    /// Failed at or after this.
    pub since: Option<OffsetDateTime>,
    /// Failed before this.
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    /// A dead letter lacking what a criterion reads does not match it: a
    /// filter is a promise about what is sent.
    pub fn matches(&self, facts: &DeadLetterFacts) -> bool {
        let reason_ok =
            self.reasons.is_empty() || facts.reason.as_ref().is_some_and(|r| self.reasons.iter().any(|x| x == r));
        let partition_ok =
            self.partitions.is_empty() || facts.source_partition.is_some_and(|p| self.partitions.contains(&p));
        let from_ok = self.from_offset.is_none_or(|from| facts.source_offset.is_some_and(|o| o >= from));
        let to_ok = self.to_offset.is_none_or(|to| facts.source_offset.is_some_and(|o| o <= to));
        let since_ok = self.since.is_none_or(|since| facts.failed_at.is_some_and(|t| t >= since));
        let until_ok = self.until.is_none_or(|until| facts.failed_at.is_some_and(|t| t < until));
        reason_ok && partition_ok && from_ok && to_ok && since_ok && until_ok
    }
}

/// Filters plus the loop guard.
#[derive(Debug, Clone)]
pub struct Plan {
    pub filter: Filter,
    /// A dead letter already redriven this often is not sent again.
    pub max_redrives: u32,
}

/// What becomes of one dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send it back, with this `redrive.count`.
    Send { count: u32 },
    /// The filters leave it out.
    Filtered,
    /// Redriven `max_redrives` times already and failed again.
    GaveUp,
    /// Cannot be sent back as the original record.
    NotRedrivable(NotRedrivable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRedrivable {
    /// No `dlq.reason`: not a dead letter this worker wrote.
    NotADeadLetter,
    /// `dlq.truncated`: parts of the original are missing.
    Truncated,
}

impl NotRedrivable {
    pub fn describe(self) -> &'static str {
        match self {
            NotRedrivable::NotADeadLetter => "no dlq.reason header: not a dead letter",
            NotRedrivable::Truncated => "dlq.truncated: the dead letter holds only part of the original",
        }
    }
}

impl Plan {
    /// Not a dead letter before the filters (a filter cannot select it
    /// anyway); the filters before the guards, so a record the user did not
    /// ask for is reported as filtered, not as a problem.
    pub fn decide(&self, facts: &DeadLetterFacts) -> Decision {
        if facts.reason.is_none() {
            return Decision::NotRedrivable(NotRedrivable::NotADeadLetter);
        }
        if !self.filter.matches(facts) {
            return Decision::Filtered;
        }
        if facts.truncated {
            return Decision::NotRedrivable(NotRedrivable::Truncated);
        }
        if facts.redrives >= self.max_redrives {
            return Decision::GaveUp;
        }
        Decision::Send { count: facts.redrives.saturating_add(1) }
    }
}

/// The headers of the record sent back: the dead letter's headers but every
/// `dlq.*` one and any old `redrive.count`, then the new count. Order and
/// null values are kept (a consumer may read the first of a repeated name).
pub fn redriven_headers(headers: &HeaderPairs, count: u32) -> HeaderPairs {
    let mut kept: HeaderPairs = headers
        .iter()
        .filter(|(key, _)| !key.starts_with(DLQ_HEADER_PREFIX.as_bytes()))
        .filter(|(key, _)| key.as_slice() != REDRIVE_COUNT_HEADER.as_bytes())
        .cloned()
        .collect();
    kept.push((REDRIVE_COUNT_HEADER.as_bytes().to_vec(), Some(count.to_string().into_bytes())));
    kept
}

/// Counts of one reason, or of all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub sent: u64,
    pub filtered: u64,
    pub gave_up: u64,
    pub not_redrivable: u64,
}

impl Counts {
    fn add(&mut self, decision: Decision) {
        self.read += 1;
        match decision {
            Decision::Send { .. } => self.sent += 1,
            Decision::Filtered => self.filtered += 1,
            Decision::GaveUp => self.gave_up += 1,
            Decision::NotRedrivable(_) => self.not_redrivable += 1,
        }
    }
}

/// What a redrive did, in total and per `dlq.reason`. In a dry run `sent`
/// counts what would have been sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: Counts,
    pub by_reason: BTreeMap<String, Counts>,
}

impl Summary {
    pub fn record(&mut self, facts: &DeadLetterFacts, decision: Decision) {
        self.total.add(decision);
        let reason = facts.reason.clone().unwrap_or_else(|| "(none)".into());
        self.by_reason.entry(reason).or_default().add(decision);
    }
}

/// How the records are sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing sent, nothing committed.
    DryRun,
    /// Each batch of sends and the group's position commit together.
    Transactions,
    /// Sends are acknowledged, then the position is committed: a redrive
    /// interrupted between the two sends that batch again on the next run.
    NoTransactions,
}

impl Mode {
    pub fn describe(self) -> &'static str {
        match self {
            Mode::DryRun => "dry run: nothing sent, nothing committed",
            Mode::Transactions => "transactions",
            Mode::NoTransactions => "no transactions: an interrupted run may send its last batch again",
        }
    }
}

/// What the redrive tells its caller as it goes (the command prints it).
#[derive(Debug)]
pub enum Event<'a> {
    /// About to read `expected` dead letters (at most: some offsets may be
    /// transaction markers) from the group's position to the end at start.
    Started { mode: Mode, expected: u64 },
    /// One dead letter decided; `key` is the record key.
    Record {
        dlq_partition: i32,
        dlq_offset: i64,
        facts: &'a DeadLetterFacts,
        decision: Decision,
        key: Option<&'a [u8]>,
    },
    /// Progress: `summary.total.read` of about `expected` records read.
    Progress { summary: &'a Summary, expected: u64 },
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn h(name: &str, value: &str) -> (Vec<u8>, Option<Vec<u8>>) {
        (name.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))
    }

    fn dead_letter(reason: &str, partition: &str, offset: &str, failed_at: &str) -> HeaderPairs {
        vec![
            h("origin", "erp"),
            h("dlq.reason", reason),
            h("dlq.error", "field `name` must be a string, found number"),
            h("dlq.source.topic", "product-created"),
            h("dlq.source.partition", partition),
            h("dlq.source.offset", offset),
            h("dlq.failed_at", failed_at),
            h("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ]
    }

    fn facts(headers: &HeaderPairs) -> DeadLetterFacts {
        DeadLetterFacts::read(headers, None)
    }

    fn plan(filter: Filter) -> Plan {
        Plan { filter, max_redrives: 3 }
    }

    #[test]
    fn the_dlq_headers_are_read() {
        let read = facts(&dead_letter("invalid_field", "3", "1235", "2026-11-25T12:00:00.043Z"));
        assert_eq!(read.reason.as_deref(), Some("invalid_field"));
        assert_eq!(read.source_partition, Some(3));
        assert_eq!(read.source_offset, Some(1235));
        assert_eq!(read.failed_at, Some(datetime!(2026-11-25 12:00:00.043 UTC)));
        assert_eq!(read.redrives, 0);
        assert!(!read.truncated);
        assert_eq!(read.source(), "product-created 3@1235");
    }

    #[test]
    fn headers_that_do_not_parse_count_as_absent() {
        let mut headers = dead_letter("missing_text", "x", "-", "yesterday");
        headers.push(h(REDRIVE_COUNT_HEADER, "many"));
        headers.push((b"dlq.truncated".to_vec(), None));
        let read = DeadLetterFacts::read(&headers, Some(1_764_072_000_000));
        assert_eq!((read.source_partition, read.source_offset), (None, None));
        assert_eq!(read.failed_at, Some(datetime!(2025-11-25 12:00:00 UTC)), "the record timestamp stands in");
        assert_eq!(read.redrives, 0);
        assert!(!read.truncated);
        assert_eq!(read.source(), "product-created ?@?");
    }

    #[test]
    fn the_highest_redrive_count_wins() {
        let mut headers = dead_letter("missing_text", "0", "1", "2026-11-25T12:00:00Z");
        headers.push(h(REDRIVE_COUNT_HEADER, "2"));
        headers.push(h(REDRIVE_COUNT_HEADER, " 1 "));
        assert_eq!(facts(&headers).redrives, 2);
    }

    #[test]
    fn no_filter_sends_every_dead_letter_with_its_count_plus_one() {
        let mut headers = dead_letter("invalid_field", "0", "7", "2026-11-25T12:00:00Z");
        assert_eq!(plan(Filter::default()).decide(&facts(&headers)), Decision::Send { count: 1 });
        headers.push(h(REDRIVE_COUNT_HEADER, "2"));
        assert_eq!(plan(Filter::default()).decide(&facts(&headers)), Decision::Send { count: 3 });
    }

    #[test]
    fn a_record_redriven_max_times_is_given_up() {
        let mut headers = dead_letter("missing_text", "0", "7", "2026-11-25T12:00:00Z");
        headers.push(h(REDRIVE_COUNT_HEADER, "3"));
        assert_eq!(plan(Filter::default()).decide(&facts(&headers)), Decision::GaveUp);
        let never = Plan { filter: Filter::default(), max_redrives: 0 };
        let fresh = dead_letter("missing_text", "0", "7", "2026-11-25T12:00:00Z");
        assert_eq!(never.decide(&facts(&fresh)), Decision::GaveUp, "--max-redrives 0 sends nothing");
    }

    #[test]
    fn truncated_and_foreign_records_are_not_redriven() {
        let mut headers = dead_letter("invalid_json", "0", "7", "2026-11-25T12:00:00Z");
        headers.push(h("dlq.truncated", "true"));
        assert_eq!(plan(Filter::default()).decide(&facts(&headers)), Decision::NotRedrivable(NotRedrivable::Truncated));
        let foreign = vec![h("origin", "erp")];
        assert_eq!(
            plan(Filter::default()).decide(&facts(&foreign)),
            Decision::NotRedrivable(NotRedrivable::NotADeadLetter)
        );
        let by_reason = plan(Filter { reasons: vec!["missing_text".into()], ..Filter::default() });
        assert_eq!(by_reason.decide(&facts(&headers)), Decision::Filtered, "the filters come before the guards");
    }

    #[test]
    fn reason_filter_matches_any_of_the_given_reasons() {
        let filter = Filter { reasons: vec!["missing_text".into(), "model_error".into()], ..Filter::default() };
        let at = "2026-11-25T12:00:00Z";
        assert!(filter.matches(&facts(&dead_letter("model_error", "0", "1", at))));
        assert!(filter.matches(&facts(&dead_letter("missing_text", "0", "1", at))));
        assert!(!filter.matches(&facts(&dead_letter("invalid_field", "0", "1", at))));
    }

    #[test]
    fn partition_and_offset_filters_read_the_source_coordinates_inclusively() {
        let filter = Filter { partitions: vec![1, 2], from_offset: Some(10), to_offset: Some(20), ..Filter::default() };
        let at = "2026-11-25T12:00:00Z";
        let matches = |p: &str, o: &str| filter.matches(&facts(&dead_letter("missing_text", p, o, at)));
        assert!(matches("1", "10"));
        assert!(matches("2", "20"));
        assert!(!matches("1", "9"));
        assert!(!matches("2", "21"));
        assert!(!matches("0", "15"), "another partition");
        assert!(!matches("x", "15"), "no partition: the filter cannot hold");
        let offsets_only = Filter { from_offset: Some(5), ..Filter::default() };
        assert!(offsets_only.matches(&facts(&dead_letter("missing_text", "4", "5", at))), "any partition");
    }

    #[test]
    fn time_filters_take_since_inclusive_and_until_exclusive() {
        let filter = Filter {
            since: Some(datetime!(2026-11-25 12:00 UTC)),
            until: Some(datetime!(2026-11-25 13:00 UTC)),
            ..Filter::default()
        };
        let matches = |at: &str| filter.matches(&facts(&dead_letter("missing_text", "0", "1", at)));
        assert!(matches("2026-11-25T12:00:00.000Z"));
        assert!(matches("2026-11-25T09:59:59-03:00"), "offsets are compared as instants");
        assert!(!matches("2026-11-25T11:59:59.999Z"));
        assert!(!matches("2026-11-25T13:00:00Z"));
        assert!(!matches("not a time"), "no time: the filter cannot hold");
    }

    #[test]
    fn redriven_headers_drop_every_dlq_header_and_set_the_count() {
        let mut headers = dead_letter("invalid_field", "3", "1235", "2026-11-25T12:00:00Z");
        headers.insert(1, (b"empty".to_vec(), None));
        headers.push(h("dlq.truncated", "true"));
        headers.push(h("dlq.original.size", "9"));
        headers.push(h(REDRIVE_COUNT_HEADER, "1"));
        headers.push(h("dlqueue", "not ours: kept"));
        let redriven = redriven_headers(&headers, 2);
        assert_eq!(
            redriven,
            vec![
                h("origin", "erp"),
                (b"empty".to_vec(), None),
                h("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                h("dlqueue", "not ours: kept"),
                h(REDRIVE_COUNT_HEADER, "2"),
            ]
        );
    }

    #[test]
    fn the_summary_counts_each_outcome_in_total_and_per_reason() {
        let mut summary = Summary::default();
        let text = facts(&dead_letter("missing_text", "0", "1", "2026-11-25T12:00:00Z"));
        let field = facts(&dead_letter("invalid_field", "0", "2", "2026-11-25T12:00:00Z"));
        summary.record(&text, Decision::Send { count: 1 });
        summary.record(&text, Decision::GaveUp);
        summary.record(&field, Decision::Filtered);
        summary.record(&DeadLetterFacts::default(), Decision::NotRedrivable(NotRedrivable::NotADeadLetter));
        assert_eq!(summary.total, Counts { read: 4, sent: 1, filtered: 1, gave_up: 1, not_redrivable: 1 });
        assert_eq!(summary.by_reason["missing_text"], Counts { read: 2, sent: 1, gave_up: 1, ..Counts::default() });
        assert_eq!(summary.by_reason["invalid_field"].filtered, 1);
        assert_eq!(summary.by_reason["(none)"].not_redrivable, 1);
    }
}
