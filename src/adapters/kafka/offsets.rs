//! Which offsets are safe to commit: a partition's offset moves past a record
//! only when that record's output, and every earlier record's, is
//! acknowledged by the broker.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionOffsets>,
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Taken from the consumer, output not yet acknowledged.
    pending: BTreeSet<i64>,
    /// One past the offset taken last (the consumer hands them out in order).
    next: i64,
    /// Changed since the last `committable()`.
    dirty: bool,
}

impl OffsetTracker {
    /// A record was taken from the consumer and is now in flight.
    pub fn take(&mut self, partition: i32, offset: i64) {
        let p = self.partitions.entry(partition).or_default();
        p.pending.insert(offset);
        p.next = offset + 1;
    }

    /// The record's outcome is final (output acknowledged, or skipped).
    /// Offsets of forgotten partitions are ignored.
    pub fn ack(&mut self, partition: i32, offset: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            if p.pending.remove(&offset) {
                p.dirty = true;
            }
        }
    }

    /// The partition was revoked: its pending records are someone else's now.
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.pending.len()).sum()
    }

    /// For each partition that moved since the last call, the offset to
    /// commit: the first record still in flight, or one past the last taken.
    pub fn committable(&mut self) -> Vec<(i32, i64)> {
        self.partitions
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .map(|(partition, p)| {
                p.dirty = false;
                (*partition, p.pending.first().copied().unwrap_or(p.next))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<(i32, i64)>) -> Vec<(i32, i64)> {
        v.sort();
        v
    }

    #[test]
    fn never_commits_past_an_unacknowledged_record() {
        let mut t = OffsetTracker::default();
        for offset in 10..15 {
            t.take(0, offset);
        }
        t.ack(0, 11);
        t.ack(0, 12);
        assert_eq!(t.committable(), vec![(0, 10)]);
        t.ack(0, 10);
        assert_eq!(t.committable(), vec![(0, 13)]);
        assert_eq!(t.committable(), vec![], "nothing moved");
        t.ack(0, 14);
        t.ack(0, 13);
        assert_eq!(t.committable(), vec![(0, 15)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent_and_forgettable() {
        let mut t = OffsetTracker::default();
        t.take(0, 1);
        t.take(1, 7);
        t.take(1, 8);
        t.ack(1, 7);
        t.ack(0, 1);
        assert_eq!(sorted(t.committable()), vec![(0, 2), (1, 8)]);
        t.forget(1);
        t.ack(1, 8);
        assert_eq!(t.committable(), vec![]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_partition_read_again_from_lower_offsets_commits_no_further_than_read() {
        let mut t = OffsetTracker::default();
        t.take(3, 100);
        t.ack(3, 100);
        t.take(3, 90);
        t.ack(3, 90);
        assert_eq!(t.committable(), vec![(3, 91)]);
    }
}
