//! The partitions this instance owns and, for each, which offset is safe to
//! commit: a partition's position moves past a record only when that record,
//! and every earlier one, is done (output acknowledged, or skipped).
//!
//! Every assignment of a partition gets a new epoch. A record carries the
//! epoch it was taken in, so a late acknowledgement from before a revoke can
//! never move the position of a later assignment of the same partition.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(u64);

#[derive(Debug, Default)]
pub struct Partitions {
    owned: HashMap<i32, Partition, BuildHasherDefault<PartitionHasher>>,
    last_epoch: u64,
}

/// Partition ids are looked up several times per record: a multiplicative
/// hash instead of SipHash (the broker's ids are small and not an attacker's).
#[derive(Default)]
struct PartitionHasher(u64);

impl Hasher for PartitionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i32(&mut self, id: i32) {
        self.0 = u64::from(id as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The records of a partition taken and not yet done. They are taken in
/// offset order and done in any (their outputs go to other partitions), so
/// they wait in a queue: done ones are marked, and let go from its front.
#[derive(Debug, Default)]
struct Pending {
    /// (offset, weight in bytes, done), offsets ascending; the front is not done.
    records: VecDeque<(i64, usize, bool)>,
    /// Records not done.
    len: usize,
    /// Their weights.
    bytes: usize,
}

impl Pending {
    fn insert(&mut self, offset: i64, bytes: usize) {
        match self.records.back() {
            Some(&(last, ..)) if last >= offset => self.insert_within(offset, bytes),
            _ => self.records.push_back((offset, bytes, false)),
        }
        self.len += 1;
        self.bytes += bytes;
    }

    /// A record taken again, or out of order: not what a source does, kept
    /// correct all the same.
    fn insert_within(&mut self, offset: i64, bytes: usize) {
        match self.records.binary_search_by_key(&offset, |record| record.0) {
            Ok(i) => {
                let (_, weight, done) = std::mem::replace(&mut self.records[i], (offset, bytes, false));
                if !done {
                    self.len -= 1;
                    self.bytes -= weight;
                }
            }
            Err(i) => self.records.insert(i, (offset, bytes, false)),
        }
    }

    /// Whether the record was pending.
    fn remove(&mut self, offset: i64) -> bool {
        let Ok(i) = self.records.binary_search_by_key(&offset, |record| record.0) else { return false };
        let (_, bytes, done) = &mut self.records[i];
        if *done {
            return false;
        }
        *done = true;
        self.len -= 1;
        self.bytes -= *bytes;
        while self.records.front().is_some_and(|record| record.2) {
            self.records.pop_front();
        }
        true
    }

    fn first(&self) -> Option<i64> {
        self.records.front().map(|record| record.0)
    }

    fn clear(&mut self) {
        *self = Pending::default();
    }
}

#[derive(Debug)]
struct Partition {
    epoch: Epoch,
    /// Taken, not yet done, with each record's weight in bytes.
    pending: Pending,
    /// Sent to the sink, delivery not yet finished.
    sending: usize,
    /// One past the offset taken last.
    next: Option<i64>,
    /// Moved since the last `committable()`.
    dirty: bool,
    /// Revoke in progress: records are no longer taken.
    closing: bool,
    /// Where a rewind reads again from: the last committed position, or the
    /// first record taken in this assignment.
    committed: Option<i64>,
}

impl Partitions {
    pub fn assign(&mut self, partition: i32) {
        self.last_epoch += 1;
        let epoch = Epoch(self.last_epoch);
        self.owned.insert(
            partition,
            Partition {
                epoch,
                pending: Pending::default(),
                sending: 0,
                next: None,
                dirty: false,
                closing: false,
                committed: None,
            },
        );
    }

    /// Starts a revoke: no more records are taken from the partition.
    pub fn close(&mut self, partition: i32) {
        if let Some(p) = self.owned.get_mut(&partition) {
            p.closing = true;
        }
    }

    /// Ends a revoke. Returns the position to commit for it, if it ever moved.
    pub fn revoke(&mut self, partition: i32) -> Option<(i32, i64)> {
        let p = self.owned.remove(&partition)?;
        p.position().map(|offset| (partition, offset))
    }

    pub fn owned(&self) -> Vec<i32> {
        let mut owned: Vec<i32> = self.owned.keys().copied().collect();
        owned.sort_unstable();
        owned
    }

    /// The record is now in flight. `None`: the partition is not ours (or is
    /// being revoked) and the record must be dropped.
    pub fn take(&mut self, partition: i32, offset: i64, bytes: usize) -> Option<Epoch> {
        let p = self.owned.get_mut(&partition).filter(|p| !p.closing)?;
        p.pending.insert(offset, bytes);
        p.next = Some(offset + 1);
        p.committed.get_or_insert(offset);
        Some(p.epoch)
    }

    /// These positions are committed: a rewind reads again from them.
    pub fn committed(&mut self, positions: &[(i32, i64)]) {
        for (partition, offset) in positions {
            if let Some(p) = self.owned.get_mut(partition) {
                p.committed = Some(*offset);
            }
        }
    }

    /// Forgets everything taken since the last commit: each partition that
    /// took records since (of `only`, when given) starts a new epoch (its
    /// pending outputs no longer count) at its committed position. Returns
    /// where to read again, for the partitions not being revoked.
    pub fn rewind(&mut self, only: Option<&[i32]>) -> Vec<(i32, i64)> {
        let mut rewound = Vec::new();
        for (partition, p) in &mut self.owned {
            if only.is_some_and(|only| !only.contains(partition)) {
                continue;
            }
            let Some(committed) = p.committed else { continue };
            if p.next.is_none_or(|next| next == committed) && p.pending.len == 0 {
                continue;
            }
            self.last_epoch += 1;
            p.epoch = Epoch(self.last_epoch);
            p.pending.clear();
            p.sending = 0;
            p.next = None;
            p.dirty = false;
            if !p.closing {
                rewound.push((*partition, committed));
            }
        }
        rewound.sort_unstable();
        rewound
    }

    /// Whether a record taken in `epoch` still belongs to the current assignment.
    pub fn is_current(&self, partition: i32, epoch: Epoch) -> bool {
        self.owned.get(&partition).is_some_and(|p| p.epoch == epoch)
    }

    pub fn sent(&mut self, partition: i32, epoch: Epoch) {
        if let Some(p) = self.current(partition, epoch) {
            p.sending += 1;
        }
    }

    /// A delivery finished (whatever its result).
    pub fn delivered(&mut self, partition: i32, epoch: Epoch) {
        if let Some(p) = self.current(partition, epoch) {
            p.sending = p.sending.saturating_sub(1);
        }
    }

    /// The record's outcome is final. Stale epochs are ignored.
    pub fn done(&mut self, partition: i32, epoch: Epoch, offset: i64) {
        if let Some(p) = self.current(partition, epoch) {
            if p.pending.remove(offset) {
                p.dirty = true;
            }
        }
    }

    /// Deliveries still in progress for these partitions.
    pub fn sending(&self, partitions: &[i32]) -> usize {
        partitions.iter().filter_map(|p| self.owned.get(p)).map(|p| p.sending).sum()
    }

    pub fn in_flight(&self) -> usize {
        self.owned.values().map(|p| p.pending.len).sum()
    }

    /// Bytes of the records in flight.
    pub fn in_flight_bytes(&self) -> usize {
        self.owned.values().map(|p| p.pending.bytes).sum()
    }

    /// For each partition that moved since the last call, the offset to
    /// restart from: the first record not done, or one past the last taken.
    pub fn committable(&mut self) -> Vec<(i32, i64)> {
        let mut moved: Vec<(i32, i64)> = self
            .owned
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .filter_map(|(partition, p)| {
                p.dirty = false;
                p.position().map(|offset| (*partition, offset))
            })
            .collect();
        moved.sort_unstable();
        moved
    }

    /// The position of every owned partition that ever moved.
    pub fn positions(&self) -> Vec<(i32, i64)> {
        let mut positions: Vec<(i32, i64)> =
            self.owned.iter().filter_map(|(partition, p)| p.position().map(|offset| (*partition, offset))).collect();
        positions.sort_unstable();
        positions
    }

    fn current(&mut self, partition: i32, epoch: Epoch) -> Option<&mut Partition> {
        self.owned.get_mut(&partition).filter(|p| p.epoch == epoch)
    }
}

impl Partition {
    fn position(&self) -> Option<i64> {
        self.pending.first().or(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(p: &mut Partitions, partition: i32, offsets: std::ops::Range<i64>) -> Epoch {
        offsets.map(|o| p.take(partition, o, 1).expect("owned")).last().expect("some offsets")
    }

    #[test]
    fn never_commits_past_a_record_not_done() {
        let mut p = Partitions::default();
        p.assign(0);
        let e = take_all(&mut p, 0, 10..15);
        p.done(0, e, 11);
        p.done(0, e, 12);
        assert_eq!(p.committable(), vec![(0, 10)]);
        p.done(0, e, 10);
        assert_eq!(p.committable(), vec![(0, 13)]);
        assert_eq!(p.committable(), vec![], "nothing moved");
        p.done(0, e, 14);
        p.done(0, e, 13);
        assert_eq!(p.committable(), vec![(0, 15)]);
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn records_of_partitions_not_owned_or_closing_are_not_taken() {
        let mut p = Partitions::default();
        assert_eq!(p.take(3, 1, 1), None);
        p.assign(3);
        p.close(3);
        assert_eq!(p.take(3, 1, 1), None);
    }

    /// The review's race: revoke, reassign, then a stale acknowledgement of
    /// the first assignment arrives. It must not move the new position past
    /// records of the new assignment that are not done.
    #[test]
    fn a_stale_acknowledgement_cannot_move_a_reassigned_partition() {
        let mut p = Partitions::default();
        p.assign(1);
        let old = take_all(&mut p, 1, 100..103);
        p.close(1);
        assert_eq!(p.revoke(1), Some((1, 100)));
        p.assign(1);
        let new = take_all(&mut p, 1, 100..103);
        assert_ne!(old, new);
        for offset in 100..103 {
            p.done(1, old, offset);
        }
        assert_eq!(p.committable(), vec![], "stale acknowledgements are ignored");
        assert_eq!(p.in_flight(), 3);
        p.done(1, new, 100);
        assert_eq!(p.committable(), vec![(1, 101)]);
    }

    #[test]
    fn deliveries_in_progress_are_counted_per_partition() {
        let mut p = Partitions::default();
        p.assign(0);
        p.assign(1);
        let e0 = take_all(&mut p, 0, 0..2);
        let e1 = take_all(&mut p, 1, 0..1);
        p.sent(0, e0);
        p.sent(0, e0);
        p.sent(1, e1);
        assert_eq!(p.sending(&[0]), 2);
        p.delivered(0, e0);
        assert_eq!(p.sending(&[0]), 1);
        assert_eq!(p.sending(&[0, 1]), 2);
    }

    #[test]
    fn a_rewind_goes_back_to_the_last_commit_and_ignores_the_old_epoch() {
        let mut p = Partitions::default();
        p.assign(0);
        p.assign(1);
        p.assign(2);
        let e0 = take_all(&mut p, 0, 10..20);
        for offset in 10..15 {
            p.done(0, e0, offset);
        }
        let e2 = take_all(&mut p, 2, 0..1);
        p.done(2, e2, 0);
        let positions = p.committable();
        p.committed(&positions);
        for offset in 15..20 {
            p.done(0, e0, offset);
        }
        let e1 = take_all(&mut p, 1, 5..7);
        assert_eq!(p.rewind(None), vec![(0, 15), (1, 5)], "partition 2 took nothing since its commit");
        assert_eq!(p.in_flight(), 0);
        p.done(1, e1, 5);
        assert_eq!(p.committable(), vec![], "the old epoch moves nothing");
        let again = p.take(0, 15, 1).expect("owned");
        assert_ne!(again, e0);
        assert_eq!(p.positions(), vec![(0, 15), (2, 1)]);
    }

    #[test]
    fn a_partition_read_again_from_lower_offsets_commits_no_further_than_read() {
        let mut p = Partitions::default();
        p.assign(3);
        let e = p.take(3, 100, 1).expect("owned");
        p.done(3, e, 100);
        let e = p.take(3, 90, 1).expect("owned");
        p.done(3, e, 90);
        assert_eq!(p.committable(), vec![(3, 91)]);
    }

    /// The queue behind the positions: done in any order, taken again.
    #[test]
    fn records_done_out_of_order_or_taken_again_keep_count_weight_and_position() {
        let mut pending = Pending::default();
        for offset in 10..15 {
            pending.insert(offset, 100);
        }
        assert!(pending.remove(12) && pending.remove(14));
        assert!(!pending.remove(12), "done once");
        assert!(!pending.remove(99), "never taken");
        assert_eq!((pending.first(), pending.len, pending.bytes), (Some(10), 3, 300));
        pending.insert(11, 7);
        assert_eq!((pending.len, pending.bytes), (3, 207), "taken again: its new weight, counted once");
        pending.insert(12, 5);
        assert_eq!((pending.len, pending.bytes), (4, 212), "done, then taken again: pending again");
        for offset in [10, 11, 12] {
            assert!(pending.remove(offset));
        }
        assert_eq!((pending.first(), pending.len), (Some(13), 1), "the done front is let go");
        assert!(pending.remove(13));
        assert_eq!((pending.first(), pending.len, pending.bytes, pending.records.len()), (None, 0, 0, 0));
        pending.insert(20, 1);
        pending.insert(18, 2);
        assert_eq!((pending.first(), pending.len, pending.bytes), (Some(18), 2, 3), "out of order, kept in order");
    }
}
