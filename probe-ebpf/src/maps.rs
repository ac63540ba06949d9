//! Maps shared with user space, and the kernel-only bookkeeping maps.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use probe_common::{
    busy::CpuBusy,
    counters::{Stat, HIT_SLOTS, STAT_SLOTS},
    event::MAX_DEPTH,
    ring::DEFAULT_RING_BYTES,
    stage::{TpStage, TP_STAGE_COUNT, TP_STAGE_OFF},
    stats::{FuncStats, STATS_MAX_FUNCS},
};

pub use probe_common::counters::Hit;

/// Enter/exit records to user space, one ring per CPU up to `EVENT_RINGS`: CPU `c` writes
/// to `EVENTS_{c % 8}` (`probe_common::ring::ring_of_cpu`, [`on_event_ring!`]). User space
/// sizes the rings that this machine's CPUs write to (`--ring-buffer-size`) and shrinks the
/// others to one page, then reads them all and merges them by time (`probe-user/src/ring.rs`).
#[map]
pub static EVENTS_0: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_1: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_2: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_3: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_4: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_5: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_6: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);
#[map]
pub static EVENTS_7: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

const _: () = assert!(
    probe_common::ring::EVENT_RINGS == 8,
    "`on_event_ring!` and the `EVENTS_n` maps list eight rings"
);

/// Evaluates `$body` with `$ring` bound to CPU `$cpu`'s event ring. One branch per ring,
/// each naming its map: the verifier needs the map of a reservation to be a known map on
/// every path, which a pointer chosen from a table of maps would not be. The branches verify
/// separately (their map pointers differ, so no state is pruned across them); only the
/// reservation and what follows it is repeated, eight short tails per program.
macro_rules! on_event_ring {
    ($cpu:expr, |$ring:ident| $body:expr) => {
        match probe_common::ring::ring_of_cpu($cpu) {
            0 => {
                let $ring = &$crate::maps::EVENTS_0;
                $body
            }
            1 => {
                let $ring = &$crate::maps::EVENTS_1;
                $body
            }
            2 => {
                let $ring = &$crate::maps::EVENTS_2;
                $body
            }
            3 => {
                let $ring = &$crate::maps::EVENTS_3;
                $body
            }
            4 => {
                let $ring = &$crate::maps::EVENTS_4;
                $body
            }
            5 => {
                let $ring = &$crate::maps::EVENTS_5;
                $body
            }
            6 => {
                let $ring = &$crate::maps::EVENTS_6;
                $body
            }
            _ => {
                let $ring = &$crate::maps::EVENTS_7;
                $body
            }
        }
    };
}
pub(crate) use on_event_ring;

/// Records this CPU submitted since it last looked at its event ring's fill (`wakeup.rs`).
#[map]
pub static FILL_CHECKS: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU problem counters, indexed by [`Stat`].
#[map]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_SLOTS, 0);

/// Per-CPU program run counters, indexed by [`Hit`].
#[map]
pub static HITS: PerCpuArray<u64> = PerCpuArray::with_max_entries(HIT_SLOTS, 0);

/// Function address (as `bpf_get_func_ip` reports it) → function id. User space inserts
/// each address twice, with and without the 4-byte ENDBR64 prefix, for IBT kernels.
#[map]
pub static FUNC_IPS: HashMap<u64, u32> = HashMap::with_max_entries(32768, 0);

/// Tracepoint stage ([`TpStage`] index) → function id, or `TP_STAGE_OFF`.
#[map]
pub static TP_FUNC_IDS: Array<u32> = Array::with_max_entries(TP_STAGE_COUNT, 0);

/// Per-function call counts per CPU (discovery and stats modes), indexed by function id.
#[map]
pub static CALL_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(32768, 0);

/// Per-function aggregates per CPU (stats mode), indexed by function id.
#[map]
pub static FUNC_STATS: PerCpuArray<FuncStats> = PerCpuArray::with_max_entries(STATS_MAX_FUNCS, 0);

/// Per-CPU busy and idle time, from the switches to and from the idle task (`record::switched`,
/// `probe_common::busy`); read by user space at the end of a recording.
#[map]
pub static CPU_BUSY: PerCpuArray<CpuBusy> = PerCpuArray::with_max_entries(1, 0);

/// One open call: what was true at its entry. The interrupt counters are the CPU's minus
/// what the task's switched-out periods saw (`OffCpu`), so that an exit's difference counts
/// only interrupts that hit the task while it ran.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Frame {
    pub ts_ns: u64,
    pub irq_ns: u64,
    /// `OffCpu::ns` of the task at entry.
    pub off_ns: u64,
    pub func_id: u32,
    pub cpu: u32,
    pub hardirqs: u32,
    pub softirqs: u32,
    /// `OffCpu::switch_outs` in process context, the CPU's `IrqState::switches` otherwise.
    pub switches: u32,
    /// `OffCpu::cpu_changes` at entry: a change means the task came back on another CPU.
    pub cpu_changes: u32,
    /// What the entry found out about the call that its exit record must say
    /// (`flags::RECURSIVE`): in trace mode without entry records, the exit is the only record.
    pub flags: u32,
    /// Keeps the size a multiple of 8 without implicit padding.
    pub _pad: u32,
}

/// What happened to a task while it was switched out, summed since its stack was created
/// (only while it had open calls). Updated by `sched:sched_switch` (`record::switched`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OffCpu {
    /// Time switched out.
    pub ns: u64,
    /// Interrupt time of its CPU while it was out (when it came back on the same CPU).
    pub irq_ns: u64,
    pub hardirqs: u32,
    pub softirqs: u32,
    /// Times it was switched out.
    pub switch_outs: u32,
    /// Times it came back on another CPU than it left.
    pub cpu_changes: u32,
}

impl OffCpu {
    /// A stack's totals when it is created.
    pub const ZERO: Self = Self {
        ns: 0,
        irq_ns: 0,
        hardirqs: 0,
        softirqs: 0,
        switch_outs: 0,
        cpu_changes: 0,
    };
}

/// Where a switched-out task left its CPU: taken when it is switched out, used when it is
/// switched back in.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SwitchedOut {
    /// When it was switched out; 0 while it runs.
    pub ts_ns: u64,
    /// Its CPU's `hardirq_ns + softirq_ns` then.
    pub irq_ns: u64,
    pub hardirqs: u32,
    pub softirqs: u32,
    pub cpu: u32,
    pub _pad: u32,
}

impl SwitchedOut {
    /// Not switched out.
    pub const ZERO: Self = Self {
        ts_ns: 0,
        irq_ns: 0,
        hardirqs: 0,
        softirqs: 0,
        cpu: 0,
        _pad: 0,
    };
}

/// The open calls of one context (a task, or a CPU's softirq or hardirq context).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CallStack {
    /// Open calls; above `MAX_DEPTH` only counted (`frames` holds the first `MAX_DEPTH`).
    pub depth: u32,
    pub _pad: u32,
    /// Process context only: the task's switched-out time and what its CPU did meanwhile.
    pub off: OffCpu,
    pub out: SwitchedOut,
    pub frames: [Frame; MAX_DEPTH],
}

/// The open calls of each CPU's softirq (index 0) and hard-IRQ (index 1) context, found by
/// `stacks.rs`. A per-CPU array: the receive path runs in softirq context, and there every
/// entry and exit would otherwise hash its key (the CPU) into a map to find the same stack.
#[map]
pub static IRQ_STACKS: PerCpuArray<CallStack> = PerCpuArray::with_max_entries(2, 0);

/// Per-CPU interrupt accounting, updated by the `irq` programs.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IrqState {
    pub hardirqs: u32,
    pub softirqs: u32,
    pub switches: u32,
    pub hardirq_nest: u32,
    pub softirq_nest: u32,
    pub _pad: u32,
    /// Time spent in hardirq handlers on this CPU since load.
    pub hardirq_ns: u64,
    /// Time spent in softirqs on this CPU since load, hardirqs inside them excluded.
    pub softirq_ns: u64,
    pub hardirq_start_ns: u64,
    pub softirq_start_ns: u64,
    /// `hardirq_ns` when the current softirq began.
    pub hardirq_ns_at_softirq_start: u64,
}

#[map]
pub static IRQ_STATE: PerCpuArray<IrqState> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn bump(map: &PerCpuArray<u64>, slot: u32) {
    if let Some(p) = map.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot; BPF programs on one CPU do not preempt each other for it
        // (a nested program that would is blocked by the kernel's recursion guard).
        unsafe { *p += 1 };
    }
}

/// Counts one run of a program kind.
#[inline(always)]
pub fn hit(h: Hit) {
    bump(&HITS, h as u32);
}

/// Counts one problem.
#[inline(always)]
pub fn stat(s: Stat) {
    bump(&STATS, s as u32);
}

/// Counts one call of `func_id`.
#[inline(always)]
pub fn count_call(func_id: u32) {
    bump(&CALL_COUNTS, func_id);
}

/// The function id user space gave a tracepoint stage, if it is being recorded.
#[inline(always)]
pub fn stage_func_id(stage: TpStage) -> Option<u32> {
    match TP_FUNC_IDS.get(stage as u32) {
        Some(&id) if id != TP_STAGE_OFF => Some(id),
        _ => None,
    }
}
