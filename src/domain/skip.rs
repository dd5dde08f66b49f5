/// Why a record was skipped: consumed, counted, and neither categorized nor
/// dead-lettered. The codes are the `reason` label of
/// `categorizer_records_skipped_total`, a public contract like the
/// dead-letter reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A null value: Kafka's deletion marker, no product in it.
    Tombstone,
    /// A change event for a deleted row (op `d`, or `__deleted=true` of the
    /// ExtractNewRecordState transform).
    Delete,
    /// A change event for a truncated table (op `t`): no row in it.
    Truncate,
    /// An update that changed none of the fields the model reads
    /// (UPDATE_POLICY=changed): its category cannot have changed.
    UpdateUnchanged,
    /// An update, and UPDATE_POLICY=never.
    UpdateIgnored,
    /// A change event whose field the model reads holds Debezium's
    /// `__debezium_unavailable_value` placeholder: an unchanged TOASTed
    /// column of a table without REPLICA IDENTITY FULL. The real value is
    /// not in the event, and the placeholder is not product text.
    UnavailableValue,
}

impl SkipReason {
    pub const ALL: [SkipReason; 6] = [
        SkipReason::Tombstone,
        SkipReason::Delete,
        SkipReason::Truncate,
        SkipReason::UpdateUnchanged,
        SkipReason::UpdateIgnored,
        SkipReason::UnavailableValue,
    ];

    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Tombstone => "tombstone",
            SkipReason::Delete => "delete",
            SkipReason::Truncate => "truncate",
            SkipReason::UpdateUnchanged => "update_unchanged",
            SkipReason::UpdateIgnored => "update_ignored",
            SkipReason::UnavailableValue => "unavailable_value",
        }
    }
}
