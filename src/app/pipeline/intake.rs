//! The intake: records fetched from the source and not yet taken, and the
//! partitions' flow. Its budget is a count and a byte size; past either the
//! partitions pause, and polling goes on, so the group is kept.

use std::collections::VecDeque;

use crate::app::SourceRecord;
use crate::ports::{Received, RecordSource, SourceError};

pub struct Intake<S: RecordSource> {
    pub source: S,
    waiting: VecDeque<Received<S::Meta>>,
    /// Key and value bytes of `waiting`.
    bytes: usize,
    paused: bool,
}

/// What a record weighs in the budgets: its key and value (headers stay in
/// the transport's metadata and are small next to them).
pub fn weight(record: &SourceRecord) -> usize {
    record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len)
}

impl<S: RecordSource> Intake<S> {
    pub fn new(source: S) -> Self {
        Intake { source, waiting: VecDeque::new(), bytes: 0, paused: false }
    }

    pub fn push(&mut self, received: Received<S::Meta>) {
        self.bytes += weight(&received.record);
        self.waiting.push_back(received);
    }

    pub fn pop(&mut self) -> Option<Received<S::Meta>> {
        let received = self.waiting.pop_front()?;
        self.bytes -= weight(&received.record);
        Some(received)
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the waiting records `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&SourceRecord) -> bool) {
        self.waiting.retain(|received| keep(&received.record));
        self.bytes = self.waiting.iter().map(|received| weight(&received.record)).sum();
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Newly assigned partitions take the flow of the others. librdkafka
    /// keeps a partition's pause flag across revoke and assign, so it is set
    /// either way.
    pub fn assigned(&mut self, partitions: &[i32]) -> Result<(), SourceError> {
        match self.paused {
            true => self.source.pause(partitions),
            false => self.source.resume(partitions),
        }
    }

    /// Pauses or resumes the `owned` partitions, when that changes anything.
    pub fn set_paused(&mut self, paused: bool, owned: &[i32]) -> Result<(), SourceError> {
        if paused == self.paused {
            return Ok(());
        }
        match paused {
            true => self.source.pause(owned)?,
            false => self.source.resume(owned)?,
        }
        self.paused = paused;
        Ok(())
    }
}
