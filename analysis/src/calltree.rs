//! Rebuilding call trees from enter/exit records (methodology step 3), streaming.
//!
//! Records are split into **context streams**: one per task (`tid`) in process context and
//! one per CPU in softirq and in hardirq context. Each stream keeps a stack of open calls;
//! an exit closes the nearest open call of the same function. A depth-0 call opens a **root
//! invocation** whose stage is decided by [`StageClassifier`]; the invocation ends when that
//! call returns. The builder reports every closed call, with its open ancestors, to a
//! [`CallVisitor`], and every finished invocation with its **shape** (the sequence of enters
//! and returns, see [`Shape`]).
//!
//! A selection (`crate::selection`, [`TreeBuilder::with_filter`]) decides when an invocation
//! begins whether it is kept; the calls and the end of an invocation that is not are not
//! reported, but its records are read as the others are (anomalies count the whole trace).
//!
//! Memory is bounded by the number of streams and the depth of the stacks, never by the
//! number of records. Anomalies are counted in [`TreeAnomalies`] and make the invocation
//! *broken*: its calls still yield samples but its shape is not used for counts per datagram.
//!
//! The file is over 600 lines because a fifth of it is tests of the anomalies
//! (unmatched exits, unwinding, cut traces) on hand-made record sequences.

use std::collections::HashMap;

use kpath_trace::{flags, Event, EventKind};

use crate::results::Clock;
use crate::selection::{AppliedSelection, InvocationFilter, SelectionCounts};
use crate::stage::{Stage, StageClassifier};

/// One token of a shape: `func_id·2` for an enter, `func_id·2 + 1` for a return.
pub type ShapeToken = u32;

/// The enter/return sequence of one root invocation, as [`ShapeToken`]s.
pub type Shape = [ShapeToken];

/// Encodes an enter of `func_id`.
pub const fn enter_token(func_id: u32) -> ShapeToken {
    func_id << 1
}

/// Encodes a return of `func_id`.
pub const fn ret_token(func_id: u32) -> ShapeToken {
    (func_id << 1) | 1
}

/// An open call on a stream's stack.
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame {
    /// Function id.
    pub func_id: u32,
    /// Entry timestamp.
    pub entry_ts_ns: u64,
    /// Height of the highest closed child + 1 (0 while no child closed).
    pub child_height: u16,
    /// Probed calls closed inside this one, at any depth.
    pub descendants: u32,
    /// Time of the direct children closed so far (ns).
    pub child_time_ns: u64,
    /// Number of this call in its invocation, in entry order (the root is 0).
    pub call_id: u32,
}

/// A call that just returned.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The exit record.
    pub exit: &'a Event,
    /// Function id.
    pub func_id: u32,
    /// Stage of the root invocation.
    pub stage: Stage,
    /// Depth counted from the root (root = 0).
    pub depth: u16,
    /// Height counted from the leaves (no probed callees = 0).
    pub height: u16,
    /// Duration exit − entry (ns), from the exit record; on the on-CPU clock without the
    /// time the task was switched out ([`TreeBuilder::with_clock`]).
    pub dur_ns: u64,
    /// Entry timestamp.
    pub entry_ts_ns: u64,
    /// Probed calls inside this one, at any depth.
    pub descendants: u32,
    /// Time of its direct probed callees (ns); `dur_ns − child_time_ns` is its self time.
    pub child_time_ns: u64,
    /// Number of its root invocation in the trace, in the order invocations began (from 0).
    pub invocation: u64,
    /// Number of this call in its invocation, in entry order (the root is 0). Enters whose
    /// call never returned (lost events) take a number too, so a broken invocation can skip
    /// numbers, and its calls' parent (`ancestors.last().call_id`) may be one never reported.
    pub call_id: u32,
}

/// Receives what the builder reconstructs.
pub trait CallVisitor {
    /// A call returned. `ancestors` are the calls still open around it, outermost first.
    fn call(&mut self, call: &Call<'_>, ancestors: &[Frame]);

    /// A root invocation ended. `broken` is true when records were missing inside it.
    fn invocation(&mut self, _stage: Stage, _shape: &Shape, _broken: bool) {}
}

/// What did not fit the expected nesting (each usually means lost events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeAnomalies {
    /// Exits with no matching open call (missed entry, or flagged `UNMATCHED_EXIT`).
    pub unmatched_exits: u64,
    /// Open calls abandoned because an outer call returned or a new root began.
    pub unwound_calls: u64,
    /// Enters deeper than the open stack (their parents' enters are missing).
    pub depth_gaps: u64,
    /// Records flagged `DEPTH_OVERFLOW` (not timed by the kernel).
    pub depth_overflows: u64,
    /// Root invocations with any of the above inside.
    pub broken_invocations: u64,
    /// Calls still open at the end of the trace. A trace without entry records (format
    /// version 3) has no record of them: it counts instead the calls that returned inside
    /// them, which its reader leaves out (`TraceReader::unplaced_exits`).
    pub open_at_end: u64,
    /// Records older than the record before them in their stream (written out of time
    /// order, e.g. drained per CPU; `crate::reorder`). Absent in results before kpath 0.2.
    #[serde(default)]
    pub out_of_order: u64,
}

struct Stream {
    /// Time of the newest record so far.
    last_ts: u64,
    stack: Vec<Frame>,
    stage: Option<Stage>,
    shape: Vec<ShapeToken>,
    broken: bool,
    /// Number of the current invocation.
    invocation: u64,
    /// Calls entered in the current invocation so far.
    entered: u32,
    /// Whether the selection keeps the current invocation.
    selected: bool,
}

impl Default for Stream {
    fn default() -> Self {
        Self {
            last_ts: 0,
            stack: Vec::new(),
            stage: None,
            shape: Vec::new(),
            broken: false,
            invocation: 0,
            entered: 0,
            selected: true,
        }
    }
}

/// Slots of [`TreeBuilder`]'s stream cache (a power of two).
const STREAM_CACHE: usize = 64;

/// Streams records into call trees.
pub struct TreeBuilder {
    classifier_by_func: Vec<Stage>,
    index: HashMap<u64, usize>,
    streams: Vec<Stream>,
    /// A direct-mapped cache in front of `index`: `(key, stream)` by a multiplicative hash of
    /// the key. Records of a few streams (the CPUs' softirq contexts, the busy tasks)
    /// interleave, and each switch would otherwise cost a SipHash lookup. An empty slot holds
    /// `u64::MAX`, which no key is: bits 32–61 of a [`Event::stack_key`] are always 0.
    cache: Box<[(u64, usize); STREAM_CACHE]>,
    /// The stream of the previous record, `(key, stream)`: most records follow one of their
    /// own stream, and this check is cheaper than the cache's.
    last: (u64, usize),
    anomalies: TreeAnomalies,
    max_shape_len: usize,
    /// ANDed with each exit's `off_cpu_ns` before it is taken from the duration: all ones on
    /// the on-CPU clock, 0 on the wall clock ([`TreeBuilder::with_clock`]).
    off_cpu_mask: u32,
    /// Invocations begun so far (the next one's number).
    invocations: u64,
    /// The selection, if any.
    filter: Option<Box<InvocationFilter>>,
    /// Invocations and calls seen and kept.
    counts: SelectionCounts,
}

/// Longest shape kept for one invocation (tokens); longer invocations are marked broken.
pub const MAX_SHAPE_TOKENS: usize = 1 << 16;

impl TreeBuilder {
    /// A builder for a trace whose function table is `names`, classifying roots by `classifier`.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, classifier: &StageClassifier) -> Self {
        Self {
            classifier_by_func: names.into_iter().map(|n| classifier.classify(n)).collect(),
            index: HashMap::new(),
            streams: Vec::new(),
            cache: Box::new([(u64::MAX, 0); STREAM_CACHE]),
            last: (u64::MAX, 0),
            anomalies: TreeAnomalies::default(),
            max_shape_len: MAX_SHAPE_TOKENS,
            off_cpu_mask: 0,
            invocations: 0,
            filter: None,
            counts: SelectionCounts::default(),
        }
    }

    /// Reports only the invocations `filter` keeps (`crate::selection`), decided when each
    /// begins.
    pub fn with_filter(mut self, filter: Option<InvocationFilter>) -> Self {
        self.filter = filter.map(Box::new);
        self
    }

    /// Sets what a selection's time window counts from: `ts_ns` of the first record of the
    /// file (the first call wins; without a selection it does nothing).
    pub fn set_origin(&mut self, ts_ns: u64) {
        if let Some(f) = &mut self.filter {
            f.set_origin(ts_ns);
        }
    }

    /// Invocations and calls so far, and how many of them the selection kept (all without
    /// one).
    pub fn counts(&self) -> SelectionCounts {
        self.counts
    }

    /// What the selection applied and kept; `None` without a selection.
    pub fn applied_selection(&self) -> Option<AppliedSelection> {
        self.filter.as_ref().map(|f| f.applied(self.counts))
    }

    /// Times calls on `clock`: on the on-CPU clock a call's duration leaves out the time its
    /// task was switched out (`Event::off_cpu_ns`), and so does its parent's child time. The
    /// wall clock (exit − entry) is the default.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.off_cpu_mask = match clock {
            Clock::OnCpu => u32::MAX,
            Clock::Wall => 0,
        };
        self
    }

    /// Anomalies counted so far.
    pub fn anomalies(&self) -> TreeAnomalies {
        self.anomalies
    }

    fn stream_key(e: &Event) -> u64 {
        e.stack_key()
    }

    #[inline]
    fn stream_index(&mut self, key: u64) -> usize {
        if self.last.0 == key {
            return self.last.1;
        }
        let i = self.cached_stream_index(key);
        self.last = (key, i);
        i
    }

    #[inline]
    fn cached_stream_index(&mut self, key: u64) -> usize {
        // Fibonacci hashing: the top bits of key·2⁶⁴/φ.
        let slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - STREAM_CACHE.trailing_zeros()))
            as usize
            % STREAM_CACHE;
        let (k, i) = self.cache[slot];
        if k == key {
            return i;
        }
        self.stream_index_slow(key, slot)
    }

    #[cold]
    fn stream_index_slow(&mut self, key: u64, slot: usize) -> usize {
        let next = self.streams.len();
        let i = *self.index.entry(key).or_insert(next);
        if i == next {
            self.streams.push(Stream::default());
        }
        self.cache[slot] = (key, i);
        i
    }

    /// Feeds a block of records in order (a block from `TraceReader::next_block`), with the
    /// block that follows it in memory brought into the cache meanwhile
    /// ([`kpath_trace::prefetch_following`]): a quarter less CPU for `kpath report` on the
    /// bench's trace (`docs/performance-history.md`, "Prefetching the next block").
    #[inline]
    pub fn push_block<V: CallVisitor>(&mut self, block: &[Event], visitor: &mut V) {
        for (i, e) in block.iter().enumerate() {
            kpath_trace::prefetch_following(block, i);
            self.push(e, visitor);
        }
    }

    /// Feeds one record.
    #[inline]
    pub fn push<V: CallVisitor>(&mut self, e: &Event, visitor: &mut V) {
        if e.flags & flags::DEPTH_OVERFLOW != 0 {
            self.anomalies.depth_overflows += 1;
            return;
        }
        let si = self.stream_index(Self::stream_key(e));
        if e.kind == EventKind::Enter as u8 {
            self.enter(si, e, visitor);
        } else {
            self.exit(si, e, visitor);
        }
    }

    /// Counts `e` if it is older than the newest record of its stream (`crate::reorder`).
    #[inline(always)]
    fn check_order(s: &mut Stream, e: &Event, anomalies: &mut TreeAnomalies) {
        if e.ts_ns < s.last_ts {
            anomalies.out_of_order += 1;
        } else {
            s.last_ts = e.ts_ns;
        }
    }

    #[inline(always)]
    fn enter<V: CallVisitor>(&mut self, si: usize, e: &Event, visitor: &mut V) {
        let depth = usize::from(e.depth);
        let s = &mut self.streams[si];
        Self::check_order(s, e, &mut self.anomalies);
        if depth < s.stack.len() {
            // Exits of the calls above `depth` were lost.
            self.anomalies.unwound_calls += (s.stack.len() - depth) as u64;
            s.stack.truncate(depth);
            s.broken = true;
            if depth == 0 {
                Self::end_invocation(s, &mut self.anomalies, &mut self.counts, visitor);
            }
        }
        if s.stack.is_empty() {
            s.shape.clear();
            s.broken = depth > 0;
            s.invocation = self.invocations;
            self.invocations += 1;
            s.entered = 0;
            let stage = if depth == 0 {
                self.classifier_by_func
                    .get(e.func_id as usize)
                    .copied()
                    .unwrap_or(Stage::Other)
            } else {
                Stage::Other
            };
            s.stage = Some(stage);
            s.selected = match &mut self.filter {
                None => true,
                Some(f) => f.keeps(e, stage, s.invocation),
            };
        }
        if depth > s.stack.len() {
            self.anomalies.depth_gaps += 1;
            s.broken = true;
        }
        s.stack.push(Frame {
            func_id: e.func_id,
            entry_ts_ns: e.ts_ns,
            call_id: s.entered,
            ..Frame::default()
        });
        s.entered = s.entered.saturating_add(1);
        if s.shape.len() < self.max_shape_len {
            s.shape.push(enter_token(e.func_id));
        } else {
            s.broken = true;
        }
    }

    #[inline(always)]
    fn exit<V: CallVisitor>(&mut self, si: usize, e: &Event, visitor: &mut V) {
        let s = &mut self.streams[si];
        Self::check_order(s, e, &mut self.anomalies);
        let pos = if e.flags & (flags::UNMATCHED_EXIT | flags::UNWOUND) == 0
            && s.stack.last().is_some_and(|f| f.func_id == e.func_id)
        {
            // The usual case, with one test: the innermost open call returns, unflagged.
            s.stack.len() - 1
        } else {
            let found = if e.flags & flags::UNMATCHED_EXIT != 0 {
                None
            } else {
                s.stack.iter().rposition(|f| f.func_id == e.func_id)
            };
            let Some(pos) = found else {
                self.anomalies.unmatched_exits += 1;
                s.broken = !s.stack.is_empty() || s.broken;
                return;
            };
            if pos + 1 < s.stack.len() || e.flags & flags::UNWOUND != 0 {
                self.anomalies.unwound_calls += (s.stack.len() - pos - 1) as u64;
                s.stack.truncate(pos + 1);
                s.broken = true;
            }
            pos
        };
        let Some(f) = s.stack.pop() else { return };
        let dur_ns = if e.dur_ns != 0 {
            e.dur_ns
        } else {
            e.ts_ns.saturating_sub(f.entry_ts_ns)
        }
        .saturating_sub(u64::from(e.off_cpu_ns & self.off_cpu_mask));
        let height = f.child_height;
        if let Some(parent) = s.stack.last_mut() {
            parent.child_height = parent.child_height.max(height.saturating_add(1));
            parent.descendants = parent.descendants.saturating_add(1 + f.descendants);
            parent.child_time_ns = parent.child_time_ns.saturating_add(dur_ns);
        }
        if s.shape.len() < self.max_shape_len {
            s.shape.push(ret_token(e.func_id));
        } else {
            s.broken = true;
        }
        self.counts.calls += 1;
        if s.selected {
            self.counts.kept_calls += 1;
            let call = Call {
                exit: e,
                func_id: e.func_id,
                stage: s.stage.unwrap_or(Stage::Other),
                depth: u16::try_from(pos).unwrap_or(u16::MAX),
                height,
                dur_ns,
                entry_ts_ns: f.entry_ts_ns,
                descendants: f.descendants,
                child_time_ns: f.child_time_ns,
                invocation: s.invocation,
                call_id: f.call_id,
            };
            visitor.call(&call, &s.stack);
        }
        if s.stack.is_empty() {
            Self::end_invocation(s, &mut self.anomalies, &mut self.counts, visitor);
        }
    }

    fn end_invocation<V: CallVisitor>(
        s: &mut Stream,
        anomalies: &mut TreeAnomalies,
        counts: &mut SelectionCounts,
        visitor: &mut V,
    ) {
        if let Some(stage) = s.stage.take() {
            if s.broken {
                anomalies.broken_invocations += 1;
            }
            counts.invocations += 1;
            if s.selected {
                counts.kept_invocations += 1;
                visitor.invocation(stage, &s.shape, s.broken);
            }
        }
        s.shape.clear();
        s.broken = false;
    }

    /// Ends the trace: counts calls left open (their invocations are dropped).
    pub fn finish(&mut self) -> TreeAnomalies {
        for s in &mut self.streams {
            self.anomalies.open_at_end += s.stack.len() as u64;
            s.stack.clear();
            s.shape.clear();
            s.stage = None;
        }
        self.anomalies
    }
}

/// One call of a shape, as recovered by [`walk_shape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeCall {
    /// Function id.
    pub func_id: u32,
    /// Depth from the root.
    pub depth: u16,
    /// Height from the leaves.
    pub height: u16,
}

/// Walks a shape, calling `f(call, ancestors)` for every call when it returns (post-order),
/// with the function ids of its open ancestors, outermost first. Tokens that do not nest are
/// skipped.
pub fn walk_shape(shape: &Shape, mut f: impl FnMut(ShapeCall, &[u32])) {
    let mut stack: Vec<(u32, u16)> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    for &t in shape {
        let func = t >> 1;
        if t & 1 == 0 {
            stack.push((func, 0));
            ids.push(func);
        } else if stack.last().map(|s| s.0) == Some(func) {
            let Some((_, height)) = stack.pop() else {
                break;
            };
            ids.pop();
            if let Some(parent) = stack.last_mut() {
                parent.1 = parent.1.max(height + 1);
            }
            let depth = u16::try_from(stack.len()).unwrap_or(u16::MAX);
            f(
                ShapeCall {
                    func_id: func,
                    depth,
                    height,
                },
                &ids,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls of 300 tasks and of both interrupt contexts of 4 CPUs, interleaved record by
    /// record: far more streams than the stream cache has slots, so they evict each other.
    #[test]
    fn interleaved_streams_beyond_the_cache_keep_their_stacks() {
        struct Calls(
            Vec<(u64, u32, u16, u16, u64)>,
            Vec<(Stage, Vec<ShapeToken>)>,
        );
        impl CallVisitor for Calls {
            fn call(&mut self, c: &Call<'_>, _ancestors: &[Frame]) {
                let e = c.exit;
                self.0
                    .push((e.stack_key(), c.func_id, c.depth, c.height, c.dur_ns));
            }
            fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
                assert!(!broken);
                self.1.push((stage, shape.to_vec()));
            }
        }
        let names = ["net_rx_action", "ip_rcv", "udp_rcv"];
        let mut b = TreeBuilder::new(names, &StageClassifier::default());
        let streams: Vec<(u8, u32, u32)> = (0..300)
            .map(|t| (0, t % 4, 5000 + t))
            .chain((0..8).map(|i| (1 + (i % 2) as u8, i / 2, 0)))
            .collect();
        // a(b(c)) per stream: 6 records, record r of every stream before record r + 1 of any.
        let script = [
            (0u32, 0u16, 0u8),
            (1, 1, 0),
            (2, 2, 0),
            (2, 2, 1),
            (1, 1, 1),
            (0, 0, 1),
        ];
        let mut calls = Calls(Vec::new(), Vec::new());
        for (r, &(func_id, depth, kind)) in script.iter().enumerate() {
            for (s, &(context, cpu, tid)) in streams.iter().enumerate() {
                let e = Event {
                    ts_ns: (r * 1000 + s) as u64,
                    func_id,
                    cpu,
                    tid,
                    depth,
                    kind,
                    context,
                    ..Event::default()
                };
                b.push(&e, &mut calls);
            }
        }
        assert_eq!(b.finish(), TreeAnomalies::default());
        assert_eq!(calls.0.len(), 3 * streams.len());
        for (s, &(context, cpu, tid)) in streams.iter().enumerate() {
            let key = probe_common::event::stack_key(context, cpu, tid);
            let mine: Vec<_> = calls.0.iter().filter(|c| c.0 == key).collect();
            // c, then b, then a; each lasted (exit record − entry record)·1000 ns.
            let want = [(2, 2, 0, 1000), (1, 1, 1, 3000), (0, 0, 2, 5000)];
            assert_eq!(mine.len(), 3, "stream {s}");
            for (c, w) in mine.iter().zip(want) {
                assert_eq!((c.1, c.2, c.3, c.4), w, "stream {s}");
            }
        }
        let shape = vec![0, 2, 4, 5, 3, 1];
        assert_eq!(calls.1.len(), streams.len());
        assert!(calls
            .1
            .iter()
            .all(|(st, sh)| *st == Stage::Rx && *sh == shape));
    }

    /// Invocations are numbered as they begin, calls in entry order, and an enter whose exit
    /// was lost keeps its number: no two calls of an invocation share one.
    #[test]
    fn calls_are_numbered_in_entry_order_per_invocation() {
        struct Ids(Vec<(u32, u64, u32, Option<u32>)>);
        impl CallVisitor for Ids {
            fn call(&mut self, c: &Call<'_>, ancestors: &[Frame]) {
                let parent = ancestors.last().map(|f| f.call_id);
                self.0.push((c.func_id, c.invocation, c.call_id, parent));
            }
        }
        let mut b = TreeBuilder::new(["a", "b", "c", "d"], &StageClassifier::default());
        let mut ids = Ids(Vec::new());
        let mut ts = 0;
        // Task 1: a(b(c) d), b's exit lost; task 2 starts a(c) meanwhile; task 1 then a(d).
        for (tid, func_id, depth, kind) in [
            (1, 0, 0, 0),
            (1, 1, 1, 0),
            (1, 2, 2, 0),
            (1, 2, 2, 1),
            (2, 0, 0, 0),
            (2, 2, 1, 0),
            (1, 3, 1, 0),
            (1, 3, 1, 1),
            (1, 0, 0, 1),
            (2, 2, 1, 1),
            (2, 0, 0, 1),
            (1, 0, 0, 0),
            (1, 3, 1, 0),
            (1, 3, 1, 1),
            (1, 0, 0, 1),
        ] {
            ts += 10;
            let e = Event {
                ts_ns: ts,
                func_id,
                tid,
                depth,
                kind,
                ..Event::default()
            };
            b.push(&e, &mut ids);
        }
        assert_eq!(
            ids.0,
            vec![
                (2, 0, 2, Some(1)),
                (3, 0, 3, Some(0)),
                (0, 0, 0, None),
                (2, 1, 1, Some(0)),
                (0, 1, 0, None),
                (3, 2, 1, Some(0)),
                (0, 2, 0, None),
            ]
        );
    }

    #[test]
    fn walk_shape_gives_depths_and_heights() {
        // a(b(c) d)
        let shape = [
            enter_token(0),
            enter_token(1),
            enter_token(2),
            ret_token(2),
            ret_token(1),
            enter_token(3),
            ret_token(3),
            ret_token(0),
        ];
        let mut got = Vec::new();
        walk_shape(&shape, |c, anc| {
            got.push((c.func_id, c.depth, c.height, anc.to_vec()))
        });
        assert_eq!(
            got,
            vec![
                (2, 2, 0, vec![0, 1]),
                (1, 1, 1, vec![0]),
                (3, 1, 0, vec![0]),
                (0, 0, 2, vec![]),
            ]
        );
    }
}
