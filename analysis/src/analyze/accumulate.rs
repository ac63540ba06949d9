//! The per-call accumulators of the analysis pass: what [`super::Analyzer`] updates for every
//! call the call-tree builder reconstructs, and for every invocation. This is the analysis's
//! hot path (`cargo xtask bench`, section (e)): the filter and the probe-cost choice are
//! constant parameters ([`Fixed`]), samples of whole nanoseconds keep their integer value
//! ([`Sample`]), and accumulators are created at a function's first call.

use kpath_trace::{flags, ExecContext};

use crate::calltree::{Call, CallVisitor, Frame, Shape};
use crate::results::{Filter, Interruptions};
use crate::shapes::ShapeTable;
use crate::stage::Stage;
use crate::stats::{Moments, RunningMean, SampleStats};

#[derive(Clone, Debug)]
pub(super) struct FuncAcc {
    /// Samples kept by the filter (`calls()` = kept + dropped).
    pub(super) kept: SampleStats,
    /// Net times (duration minus interrupt time) of calls without a switch or migration;
    /// only their mean is reported.
    pub(super) net: RunningMean,
    pub(super) interrupted: Interruptions,
    pub(super) dropped: u64,
    /// Calls whose task was switched out inside them.
    pub(super) blocked: u64,
    /// Their switched-out time, summed over all calls.
    pub(super) off_cpu_ns: u128,
    /// Samples clamped to zero by the probe-cost subtraction.
    pub(super) clamped: u64,
    /// Smallest depth seen (`u16::MAX` before the first call).
    pub(super) min_depth: u16,
    pub(super) max_height: u16,
}

impl Default for FuncAcc {
    fn default() -> Self {
        Self {
            kept: SampleStats::new(),
            net: RunningMean::new(),
            interrupted: Interruptions::default(),
            dropped: 0,
            blocked: 0,
            off_cpu_ns: 0,
            clamped: 0,
            min_depth: u16::MAX,
            max_height: 0,
        }
    }
}

impl FuncAcc {
    pub(super) fn calls(&self) -> u64 {
        self.kept.count() + self.dropped
    }
}

/// What one stage accumulates besides its functions.
pub(super) struct StageAcc {
    /// Samples per depth from the root.
    pub(super) by_depth: Vec<Moments>,
    /// Samples per height above the leaves.
    pub(super) by_height: Vec<Moments>,
    /// Root calls kept by the filter, and dropped (root calls = kept + dropped).
    pub(super) roots: SampleStats,
    pub(super) root_dropped: u64,
    /// The invocations' tree shapes.
    pub(super) shapes: ShapeTable,
    /// Root calls per CPU, indexed by CPU.
    pub(super) cpus: Vec<u64>,
    /// Root calls per (context, thread group): where the stage's work came from. A few
    /// entries, found by a linear search from the last one hit (roots of one source follow
    /// each other).
    pub(super) sources: Vec<((u8, u32), u64)>,
    last_source: usize,
}

impl StageAcc {
    pub(super) fn new(max_shapes: usize) -> Self {
        Self {
            by_depth: Vec::new(),
            by_height: Vec::new(),
            roots: SampleStats::new(),
            root_dropped: 0,
            shapes: ShapeTable::new(max_shapes),
            cpus: Vec::new(),
            sources: Vec::new(),
            last_source: 0,
        }
    }

    /// Counts one root call of `cpu`, from `source` (context, thread group).
    #[inline]
    fn count_root(&mut self, cpu: u32, source: (u8, u32)) {
        match self.cpus.get_mut(cpu as usize) {
            Some(n) => *n += 1,
            None => {
                self.cpus.resize(cpu as usize + 1, 0);
                self.cpus[cpu as usize] = 1;
            }
        }
        if let Some((s, n)) = self.sources.get_mut(self.last_source) {
            if *s == source {
                *n += 1;
                return;
            }
        }
        match self.sources.iter().position(|(s, _)| *s == source) {
            Some(i) => {
                self.sources[i].1 += 1;
                self.last_source = i;
            }
            None => {
                self.last_source = self.sources.len();
                self.sources.push((source, 1));
            }
        }
    }
}

/// Everything the analysis accumulates per call and per invocation.
pub(super) struct Accumulators {
    pub(super) nfuncs: usize,
    pub(super) filter: Filter,
    /// Whether any function has a probe cost to subtract (`probe_cost_ns` not all zero).
    pub(super) subtract: bool,
    pub(super) probe_cost_ns: Vec<f64>,
    /// ANDed with `switches`, ORed into the void test: see [`crate::results::Clock::void_masks`].
    pub(super) switch_mask: u32,
    /// Flags that make a sample void: see [`crate::results::Clock::void_masks`].
    pub(super) void_flags: u32,
    /// Per (stage, function): the index of its accumulator in `funcs`, or [`NO_SLOT`] until
    /// its first call. Memory grows with the functions that occur, not with the function
    /// table (a table of 200 000 entries costs 12 bytes each; an accumulator is ~150).
    pub(super) slots: Vec<u32>,
    pub(super) funcs: Vec<FuncAcc>,
    /// Per stage, in [`Stage::index`] order.
    pub(super) stages: [StageAcc; 3],
}

/// A sample, with its whole nanoseconds when it has them (see [`SampleStats::push_ns`]).
#[derive(Clone, Copy)]
struct Sample {
    value: f64,
    ns: Option<u64>,
}

impl Sample {
    #[inline(always)]
    fn ns(ns: u64) -> Self {
        Self {
            value: ns_to_f64(ns),
            ns: Some(ns),
        }
    }

    #[inline(always)]
    fn any(value: f64) -> Self {
        Self { value, ns: None }
    }

    #[inline(always)]
    fn push_to(self, stats: &mut SampleStats) {
        match self.ns {
            Some(ns) => stats.push_ns(ns, self.value),
            None => stats.push(self.value),
        }
    }

    #[inline(always)]
    fn push_to_moments(self, moments: &mut Moments) {
        match self.ns {
            Some(ns) => moments.push_ns(ns),
            None => moments.push(self.value),
        }
    }
}

/// `ns as f64`, with one signed conversion instruction when `ns < 2⁶³` (always, in practice)
/// instead of the longer unsigned sequence; the same value either way.
#[inline(always)]
fn ns_to_f64(ns: u64) -> f64 {
    match i64::try_from(ns) {
        Ok(i) => i as f64,
        Err(_) => huge_ns_to_f64(ns),
    }
}

/// The other case of [`ns_to_f64`], out of line: inlined, the compiler would merge the two
/// back into the unsigned conversion.
#[cold]
#[inline(never)]
fn huge_ns_to_f64(ns: u64) -> f64 {
    ns as f64
}

/// [`Filter`] as a constant parameter of the per-call code (see [`Fixed`]).
pub(super) const NO_FILTER: u8 = 0;
pub(super) const INTERRUPTED_FILTER: u8 = 1;
pub(super) const NET_FILTER: u8 = 2;

/// The accumulators with the filter and the probe-cost choice fixed at compile time: the code
/// run for every call then tests neither (one instance of the loop per combination).
pub(super) struct Fixed<'a, const FILTER: u8, const SUBTRACT: bool>(
    pub(super) &'a mut Accumulators,
);

impl<const FILTER: u8, const SUBTRACT: bool> CallVisitor for Fixed<'_, FILTER, SUBTRACT> {
    #[inline(always)]
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        self.0.call_fixed::<FILTER, SUBTRACT>(call);
    }

    fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
        self.0.invocation(stage, shape, broken);
    }
}

impl CallVisitor for Accumulators {
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        match (self.filter, self.subtract) {
            (Filter::None, false) => self.call_fixed::<NO_FILTER, false>(call),
            (Filter::None, true) => self.call_fixed::<NO_FILTER, true>(call),
            (Filter::Interrupted, false) => self.call_fixed::<INTERRUPTED_FILTER, false>(call),
            (Filter::Interrupted, true) => self.call_fixed::<INTERRUPTED_FILTER, true>(call),
            (Filter::Net, false) => self.call_fixed::<NET_FILTER, false>(call),
            (Filter::Net, true) => self.call_fixed::<NET_FILTER, true>(call),
        }
    }

    fn invocation(&mut self, stage: Stage, shape: &Shape, broken: bool) {
        if !broken {
            self.stages[stage.index()].shapes.add(shape);
        }
    }
}

/// A (stage, function) without calls yet.
pub(super) const NO_SLOT: u32 = u32::MAX;

impl Accumulators {
    /// The accumulator of slot index `idx`, created at its first call; `None` for an index
    /// outside the table.
    #[inline(always)]
    fn func_mut(&mut self, idx: usize) -> Option<&mut FuncAcc> {
        let slot = *self.slots.get(idx)?;
        let slot = if slot == NO_SLOT {
            self.new_slot(idx)
        } else {
            slot as usize
        };
        self.funcs.get_mut(slot)
    }

    #[cold]
    #[inline(never)]
    fn new_slot(&mut self, idx: usize) -> usize {
        let slot = self.funcs.len();
        self.funcs.push(FuncAcc::default());
        // At most 3 × u32::MAX − 1 functions: the function table's ids are u32.
        self.slots[idx] = u32::try_from(slot).unwrap_or(NO_SLOT - 1);
        slot
    }

    /// The accumulator of (stage, function id), if it had calls.
    pub(super) fn func(&self, stage: Stage, id: usize) -> Option<&FuncAcc> {
        match *self.slots.get(stage.index() * self.nfuncs + id)? {
            NO_SLOT => None,
            slot => self.funcs.get(slot as usize),
        }
    }

    #[inline(always)]
    fn call_fixed<const FILTER: u8, const SUBTRACT: bool>(&mut self, call: &Call<'_>) {
        let si = call.stage.index();
        let e = call.exit;
        // `Clock::interrupted`, and its part that `Filter::Net` cannot correct, as two tests,
        // with the clock's masks hoisted.
        let void = (e.switches & self.switch_mask) | (e.flags & self.void_flags);
        let clean = void == 0;
        let interrupted = (e.hardirqs | e.softirqs | void) != 0;
        let net_ns = call.dur_ns.saturating_sub(e.irq_ns);
        let (value, clamped) = self.sample::<FILTER, SUBTRACT>(call, interrupted, clean, net_ns);
        let idx = si * self.nfuncs + call.func_id as usize;
        let Some(acc) = self.func_mut(idx) else {
            return;
        };
        acc.clamped += u64::from(clamped);
        acc.blocked += u64::from(e.switches != 0 && e.context == ExecContext::Process as u8);
        acc.off_cpu_ns += u128::from(e.off_cpu_ns);
        // Branches, not `min`/`max`: a function's depth and height hardly ever change, and a
        // store skipped is cheaper than a store of the same value.
        if call.depth < acc.min_depth {
            acc.min_depth = call.depth;
        }
        if call.height > acc.max_height {
            acc.max_height = call.height;
        }
        if interrupted {
            let i = &mut acc.interrupted;
            i.total += 1;
            i.hardirq += u64::from(e.hardirqs != 0);
            i.softirq += u64::from(e.softirqs != 0);
            i.switch += u64::from(e.switches != 0);
            i.migration += u64::from(e.flags & flags::MIGRATED != 0);
        }
        if clean {
            acc.net.push_ns(net_ns);
        }
        match value {
            Some(v) => {
                v.push_to(&mut acc.kept);
                let s = &mut self.stages[si];
                push_level(&mut s.by_depth, call.depth, v);
                push_level(&mut s.by_height, call.height, v);
            }
            None => acc.dropped += 1,
        }
        if call.depth == 0 {
            let s = &mut self.stages[si];
            match value {
                Some(v) => v.push_to(&mut s.roots),
                None => s.root_dropped += 1,
            }
            s.count_root(e.cpu, (e.context, e.pid));
        }
    }

    /// The sample of a call under the filter, or `None` if dropped; whether the probe-cost
    /// subtraction had to clamp it to zero. `clean` is true when no context switch or
    /// migration hit the call, `net_ns` is its duration minus the interrupt time.
    #[inline(always)]
    fn sample<const FILTER: u8, const SUBTRACT: bool>(
        &self,
        call: &Call<'_>,
        interrupted: bool,
        clean: bool,
        net_ns: u64,
    ) -> (Option<Sample>, bool) {
        let ns = match FILTER {
            NO_FILTER => Some(call.dur_ns),
            NET_FILTER => clean.then_some(net_ns),
            // INTERRUPTED_FILTER
            _ => (!interrupted).then_some(call.dur_ns),
        };
        let cost = if SUBTRACT {
            self.probe_cost_ns
                .get(call.func_id as usize)
                .copied()
                .unwrap_or(0.0)
        } else {
            0.0
        };
        // Without a probe cost (the default) the sample is the measured time as it is: `x −
        // 0·(…)` is `x`, and a time from integer nanoseconds is never negative.
        if cost == 0.0 {
            return (ns.map(Sample::ns), false);
        }
        let v = ns.map(|ns| ns as f64 - cost * (1.0 + f64::from(call.descendants)));
        // A negative time means the calibration overstates this call's probe cost: keep the
        // sample at zero, and count it so that the report can say so.
        let clamped = v.is_some_and(|x| x < 0.0);
        (v.map(|x| Sample::any(x.max(0.0))), clamped)
    }
}

#[inline(always)]
fn push_level(levels: &mut Vec<Moments>, level: u16, v: Sample) {
    match levels.get_mut(usize::from(level)) {
        Some(m) => v.push_to_moments(m),
        None => push_new_level(levels, level, v),
    }
}

#[cold]
fn push_new_level(levels: &mut Vec<Moments>, level: u16, v: Sample) {
    let l = usize::from(level);
    levels.resize(l + 1, Moments::new());
    v.push_to_moments(&mut levels[l]);
}
