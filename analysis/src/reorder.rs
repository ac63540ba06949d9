//! Records put back in time order, within a bounded window.
//!
//! The trace format lets a writer emit the records of different CPUs in the order it drained
//! them (`docs/trace-format.md`, "Order"). kpath's recorder drains one ring that all CPUs
//! share, in reservation order, so each call stack's records (one task, or one CPU's softirq or
//! hard-IRQ context) come in time order. A writer that drains per-CPU buffers does not give
//! that: a task that migrates leaves its entry in one CPU's buffer and its exit in another's,
//! and if the second is drained first the exit precedes its entry in the file.
//!
//! [`crate::calltree::TreeBuilder`] counts such records (`TreeAnomalies::out_of_order`: a
//! record older than the one before it in its stream) at the cost of one comparison. When
//! there are any, the analysis reads the trace again through a [`TimeSorter`]: a min-heap on
//! `(timestamp, position in the file)` holding at most [`REORDER_WINDOW`] records, which
//! releases the oldest record whenever it is full. The output is in time order, ties in file
//! order, whenever no record is displaced by more than the window; a record displaced further
//! is still counted as out of order by the second pass, and reported.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use kpath_trace::Event;

/// Records the sorter holds at most (64 bytes each: 16 MiB). A drain batch of kpath's default
/// ring is at most 4 MiB (65 536 records); the window is four of them.
pub const REORDER_WINDOW: usize = 1 << 18;

/// A record keyed by its time, then its position in the file.
struct Keyed {
    ts_ns: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        (self.ts_ns, self.seq) == (other.ts_ns, other.seq)
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ts_ns, self.seq).cmp(&(other.ts_ns, other.seq))
    }
}

/// Sorts a stream of records by time within a window of `window` records (module docs).
pub struct TimeSorter {
    heap: BinaryHeap<Reverse<Keyed>>,
    window: usize,
    seq: u64,
    out: Vec<Event>,
}

impl TimeSorter {
    /// A sorter holding at most `window` records (at least 1).
    pub fn new(window: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            window: window.max(1),
            seq: 0,
            out: Vec::new(),
        }
    }

    /// Takes `block`, in file order; returns the records released, oldest first.
    pub fn push(&mut self, block: &[Event]) -> &[Event] {
        self.out.clear();
        for e in block {
            self.heap.push(Reverse(Keyed {
                ts_ns: e.ts_ns,
                seq: self.seq,
                event: *e,
            }));
            self.seq += 1;
            if self.heap.len() > self.window {
                if let Some(Reverse(k)) = self.heap.pop() {
                    self.out.push(k.event);
                }
            }
        }
        &self.out
    }

    /// The records still held, oldest first (the end of the trace).
    pub fn finish(&mut self) -> &[Event] {
        self.out.clear();
        while let Some(Reverse(k)) = self.heap.pop() {
            self.out.push(k.event);
        }
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts_ns: u64, func_id: u32) -> Event {
        Event {
            ts_ns,
            func_id,
            ..Event::default()
        }
    }

    #[test]
    fn sorts_within_the_window_and_keeps_ties_in_file_order() {
        let input = [
            at(5, 0),
            at(1, 1),
            at(3, 2),
            at(1, 3),
            at(2, 4),
            at(9, 5),
            at(4, 6),
        ];
        let mut s = TimeSorter::new(8);
        let mut got: Vec<(u64, u32)> = Vec::new();
        for chunk in input.chunks(3) {
            got.extend(s.push(chunk).iter().map(|e| (e.ts_ns, e.func_id)));
        }
        got.extend(s.finish().iter().map(|e| (e.ts_ns, e.func_id)));
        assert_eq!(
            got,
            [(1, 1), (1, 3), (2, 4), (3, 2), (4, 6), (5, 0), (9, 5)]
        );
    }

    #[test]
    fn a_record_displaced_beyond_the_window_stays_late() {
        // Window 2: the record of time 0, four places late, overtakes only the two records
        // the window holds.
        let input = [at(1, 0), at(2, 1), at(3, 2), at(4, 3), at(0, 4)];
        let mut s = TimeSorter::new(2);
        let mut got: Vec<u64> = s.push(&input).iter().map(|e| e.ts_ns).collect();
        got.extend(s.finish().iter().map(|e| e.ts_ns));
        assert_eq!(got, [1, 2, 0, 3, 4]);
    }
}
