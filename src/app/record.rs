use std::sync::Arc;

/// A consumed record, as the app sees it: where it came from and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Shared by the records of a topic and their results.
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

impl AsRef<SourceRecord> for SourceRecord {
    fn as_ref(&self) -> &SourceRecord {
        self
    }
}
