//! Entry records rebuilt from exit records, for traces recorded without them (format version
//! 3, metadata `entry_records: false`; `docs/trace-format.md`, "Traces without entry records").
//!
//! An exit record says everything its entry record would: the entry's time is
//! `ts_ns - dur_ns`, and the depth, function, task and context are the same. What it cannot
//! say by itself is *when* the entry comes in the stream: a call's exit follows its callees'
//! exits (post-order), while its entry precedes theirs (pre-order). So the exits of each call
//! stack ([`Event::stack_key`]) are held until the outermost call of their tree (depth 0)
//! returns; then the tree is written out as the kernel would have written it with entry
//! records, each entry before its callees' records and each exit after them.
//!
//! The tree comes from the depths alone. An exit at depth `d` adopts the subtrees before it
//! that are deeper than `d`: exactly its callees' when nothing was lost. Exits flagged
//! `UNMATCHED_EXIT` had no entry (nor a time for one): they get no entry and adopt nothing.
//!
//! Exits held when the trace ends returned inside a call that was still open. Without its
//! entry record their place in a tree is unknown; they are left out and counted
//! ([`EntryRebuilder::unplaced`]), where a trace with entry records would have shown the open
//! call. Memory is bounded by the largest tree of a stack, capped at [`MAX_HELD`] exits per
//! stack, past which the held exits are written out as they stand (with gaps in their nesting
//! that readers count).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use probe_common::event::flags;
use probe_common::{Event, EventKind};

/// Exits held per call stack at most before they are written out without their outer call.
pub const MAX_HELD: usize = 1 << 16;

/// No index (the end of a list in [`EntryRebuilder::write_out`]).
const NONE: u32 = u32::MAX;

/// The exits a call stack holds, and for each, where the subtree it closes begins among them
/// (its own index when it has no callees): two arrays, so that exits are copied as whole
/// 64-byte records.
#[derive(Default)]
struct Held {
    exits: Vec<Event>,
    first: Vec<u32>,
}

/// Rebuilds entry records from a stream of exit records (module docs).
#[derive(Default)]
pub struct EntryRebuilder {
    /// Held exits per call stack, found through `index`.
    stacks: Vec<Held>,
    index: HashMap<u64, usize, BuildHasherDefault<StackKeyHasher>>,
    /// The stack of the previous exit `(key, stacks index)`: consecutive exits usually share it.
    last: Option<(u64, usize)>,
    /// Records ready to be read, in stream order per call stack.
    out: Vec<Event>,
    /// Scratch of `write_out`: per held exit, the first call whose subtree begins there, and
    /// the next such call (lists of indices, `NONE`-terminated).
    heads: Vec<u32>,
    next: Vec<u32>,
    unplaced: u64,
}

impl EntryRebuilder {
    /// Takes the next exit record, in file order.
    pub fn push(&mut self, e: &Event) {
        let key = e.stack_key();
        let si = match self.last {
            Some((k, si)) if k == key => si,
            _ => {
                let next = self.stacks.len();
                let si = *self.index.entry(key).or_insert(next);
                if si == next {
                    self.stacks.push(Held::default());
                }
                self.last = Some((key, si));
                si
            }
        };
        let held = &mut self.stacks[si];
        let at = held.exits.len();
        let mut first = at;
        if e.flags & flags::UNMATCHED_EXIT == 0 {
            // Adopt the subtrees deeper than this call, jumping from each to the one before.
            while first > 0 && held.exits[first - 1].depth > e.depth {
                first = held.first[first - 1] as usize;
            }
        }
        held.exits.push(*e);
        held.first.push(first as u32);
        if e.depth == 0 || held.exits.len() >= MAX_HELD {
            Self::write_out(held, &mut self.heads, &mut self.next, &mut self.out);
        }
    }

    /// The end of the trace: exits still held are dropped and counted ([`Self::unplaced`]).
    pub fn finish(&mut self) {
        for held in &mut self.stacks {
            self.unplaced += held.exits.len() as u64;
            held.exits.clear();
            held.first.clear();
        }
    }

    /// Records ready to be read.
    pub fn output(&self) -> &[Event] {
        &self.out
    }

    /// Forgets the records ready to be read (once they were).
    pub fn clear_output(&mut self) {
        self.out.clear();
    }

    /// Exits left out at the end because a call around them was still open.
    pub fn unplaced(&self) -> u64 {
        self.unplaced
    }

    /// Writes `held` out with its entries: before the exit at index `k`, the entries of the
    /// calls whose subtree begins at `k`, outermost (highest index) first. The calls are put
    /// in lists by where their subtree begins, each call at the head of its list in
    /// ascending order, so that each list comes out outermost first: no sorting.
    fn write_out(held: &mut Held, heads: &mut Vec<u32>, next: &mut Vec<u32>, out: &mut Vec<Event>) {
        let n = held.exits.len();
        heads.clear();
        heads.resize(n, NONE);
        next.clear();
        next.resize(n, NONE);
        for (i, (e, &first)) in held.exits.iter().zip(&held.first).enumerate() {
            if e.flags & flags::UNMATCHED_EXIT == 0 {
                next[i] = heads[first as usize];
                heads[first as usize] = i as u32;
            }
        }
        out.reserve(2 * n);
        for (k, exit) in held.exits.iter().enumerate() {
            let mut j = heads[k];
            while j != NONE {
                out.push(entry_of(&held.exits[j as usize]));
                j = next[j as usize];
            }
            out.push(*exit);
        }
        held.exits.clear();
        held.first.clear();
    }
}

/// Hashes a [`Event::stack_key`] with one multiplication: the stack changes at every tree
/// boundary, where SipHash (the default, made to resist chosen keys, which a trace's keys do
/// not need: a look-up is never worse than a scan of the stacks) was a tenth of the rebuilding.
#[derive(Default)]
struct StackKeyHasher(u64);

impl Hasher for StackKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, key: u64) {
        // Fibonacci hashing; the rotation brings the well-mixed high bits down to the low
        // ones that pick the bucket.
        self.0 = (self.0 ^ key)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// The entry record of the call that `exit` closes.
fn entry_of(exit: &Event) -> Event {
    Event {
        ts_ns: exit.ts_ns.saturating_sub(exit.dur_ns),
        func_id: exit.func_id,
        // The entry's CPU is the exit's unless the task migrated (`MIGRATED`), and then it
        // is not known: an entry record would have said it, the exit does not.
        cpu: exit.cpu,
        pid: exit.pid,
        tid: exit.tid,
        depth: exit.depth,
        kind: EventKind::Enter as u8,
        context: exit.context,
        flags: exit.flags & (flags::RECURSIVE | flags::DEPTH_OVERFLOW),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exit of `func` at `depth`, entered at `entry` and returning at `exit`.
    fn exit(func: u32, depth: u16, entry: u64, exit: u64) -> Event {
        Event {
            ts_ns: exit,
            dur_ns: exit - entry,
            func_id: func,
            tid: 7,
            depth,
            kind: EventKind::Exit as u8,
            ..Event::default()
        }
    }

    /// (kind letter, func, ts) of each record out.
    fn shape(r: &EntryRebuilder) -> Vec<(char, u32, u64)> {
        r.output()
            .iter()
            .map(|e| {
                let k = if e.kind == EventKind::Enter as u8 {
                    'E'
                } else {
                    'X'
                };
                (k, e.func_id, e.ts_ns)
            })
            .collect()
    }

    /// The records that a trace with entry records holds for the calls of `exits`, in the
    /// order the kernel writes them: every record of the stack by time, entries first on ties.
    fn with_entries(exits: &[Event]) -> Vec<(char, u32, u64)> {
        let mut all: Vec<(u64, u8, u32)> = exits
            .iter()
            .flat_map(|e| [(e.ts_ns - e.dur_ns, 0, e.func_id), (e.ts_ns, 1, e.func_id)])
            .collect();
        all.sort();
        all.into_iter()
            .map(|(ts, k, f)| (if k == 0 { 'E' } else { 'X' }, f, ts))
            .collect()
    }

    #[test]
    fn a_tree_comes_out_as_the_kernel_writes_it_with_entry_records() {
        // 0 [10, 100] calls 1 [20, 50] (which calls 2 [30, 40]) and 3 [60, 90] (which calls
        // 4 [70, 80]); then 5 [110, 120] is a tree of its own.
        let exits = [
            exit(2, 2, 30, 40),
            exit(1, 1, 20, 50),
            exit(4, 2, 70, 80),
            exit(3, 1, 60, 90),
            exit(0, 0, 10, 100),
            exit(5, 0, 110, 120),
        ];
        let mut r = EntryRebuilder::default();
        for (i, e) in exits.iter().enumerate() {
            r.push(e);
            if i < 4 {
                assert!(r.output().is_empty(), "held until the root returns");
            }
        }
        assert_eq!(shape(&r), with_entries(&exits));
        r.finish();
        assert_eq!(r.unplaced(), 0);
    }

    #[test]
    fn entries_carry_depth_context_and_the_entry_flags_only() {
        let mut e = exit(3, 0, 5, 9);
        e.flags = flags::RECURSIVE | flags::MIGRATED;
        e.context = 1;
        e.cpu = 1;
        e.irq_ns = 4;
        let mut r = EntryRebuilder::default();
        r.push(&e);
        let out = r.output();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], e, "the exit is unchanged");
        let want = Event {
            ts_ns: 5,
            func_id: 3,
            cpu: 1,
            tid: 7,
            kind: EventKind::Enter as u8,
            context: 1,
            flags: flags::RECURSIVE,
            ..Event::default()
        };
        assert_eq!(out[0], want);
    }

    #[test]
    fn stacks_are_rebuilt_apart() {
        let mut a = exit(1, 1, 20, 30);
        let mut b = exit(2, 0, 25, 35);
        b.tid = 8;
        let mut r = EntryRebuilder::default();
        r.push(&a);
        r.push(&b);
        assert_eq!(shape(&r), vec![('E', 2, 25), ('X', 2, 35)]);
        a = exit(0, 0, 10, 40);
        r.clear_output();
        r.push(&a);
        assert_eq!(
            shape(&r),
            vec![('E', 0, 10), ('E', 1, 20), ('X', 1, 30), ('X', 0, 40)]
        );
    }

    #[test]
    fn an_unmatched_exit_gets_no_entry_and_adopts_nothing() {
        let mut unmatched = exit(9, 1, 50, 50);
        unmatched.dur_ns = 0;
        unmatched.flags = flags::UNMATCHED_EXIT;
        let mut r = EntryRebuilder::default();
        r.push(&exit(1, 1, 20, 30));
        r.push(&unmatched);
        r.push(&exit(0, 0, 10, 60));
        assert_eq!(
            shape(&r),
            vec![
                ('E', 0, 10),
                ('E', 1, 20),
                ('X', 1, 30),
                ('X', 9, 50),
                ('X', 0, 60)
            ]
        );
    }

    #[test]
    fn a_lost_exit_leaves_a_gap_in_the_nesting() {
        // 1's exit was lost (the kernel unwound it): 0 adopts 2, two levels down.
        let mut r = EntryRebuilder::default();
        r.push(&exit(2, 2, 30, 40));
        let mut root = exit(0, 0, 10, 60);
        root.flags = flags::UNWOUND;
        r.push(&root);
        assert_eq!(
            r.output()
                .iter()
                .map(|e| (e.kind, e.depth))
                .collect::<Vec<_>>(),
            vec![(0, 0), (0, 2), (1, 2), (1, 0)]
        );
    }

    #[test]
    fn exits_inside_a_call_open_at_the_end_are_counted_not_written() {
        let mut r = EntryRebuilder::default();
        r.push(&exit(2, 2, 30, 40));
        r.push(&exit(1, 1, 20, 50));
        r.finish();
        assert!(r.output().is_empty());
        assert_eq!(r.unplaced(), 2);
    }

    #[test]
    fn a_stack_holding_too_many_exits_is_written_out_as_it_stands() {
        let mut r = EntryRebuilder::default();
        for i in 0..MAX_HELD as u64 {
            r.push(&exit(1, 1, 10 * i + 1, 10 * i + 2));
        }
        assert_eq!(r.output().len(), 2 * MAX_HELD);
        r.finish();
        assert_eq!(r.unplaced(), 0);
    }
}
