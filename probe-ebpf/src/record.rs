//! Call bookkeeping: push a frame at entry, pop and time it at exit, emit records.
//!
//! Depth is tracked per task in process context and per CPU in softirq and hardirq context.
//! A missed probe (BPF recursion protection drops nested programs) shows up as an exit that
//! does not match the top frame: the stack is searched and unwound to the match, or the exit
//! is flagged unmatched, so depth is never corrupted silently.
//!
//! Interval hygiene: an entry takes its timestamp *last* and an exit takes it *first*, so that
//! kpath's own work (filters, map look-ups, the record's copy into the ring) falls outside the
//! interval it measures. What still lies between the two timestamps, besides the function:
//! - after the entry's timestamp: storing it into the open frame, the program's return, and
//!   (only with entry records, `probe_common::mode::TRACE_ENTRIES`) storing it into the ring
//!   slot and the ring-buffer submit (a store and, above the fill level only, an irq_work;
//!   see `wakeup.rs`); then the rest of the hook's dispatch (the kprobe's
//!   ftrace/int3 return path, the fentry trampoline's return into the function, or the other
//!   handlers of the same tracepoint);
//! - before the exit's timestamp: the exit hook's dispatch up to the program (the kretprobe
//!   trampoline, the fexit trampoline, or the tracepoint's handler loop) and the program's
//!   first instructions;
//! - every probe pair of the calls nested inside (analysis subtracts the calibrated pair once
//!   per descendant with `--subtract-probe-cost`).
//!
//! `kpath-probe calibrate` measures all of it against a bare timing pair on the same hook.
//!
//! The file is long because entry, exit and the context-switch bookkeeping share the frame
//! layout and the stacks, and each verifier workaround is explained where it sits.

use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid,
    generated::{bpf_get_current_comm, bpf_get_smp_processor_id, bpf_ktime_get_ns},
};
use aya_ebpf::EbpfContext;
use aya_log_ebpf::macro_support::Level;
use probe_common::{
    counters::Stat,
    event::{flags, MAX_DEPTH},
    Event, EventKind, ExecContext,
};

use crate::{
    irq,
    maps::{self, count_call, stat, CallStack, Frame, IrqState, CPU_BUSY},
    settings, stacks, wakeup,
};

/// The slot of frame `i` in a stack's `frames`: `i` masked to the array's bounds. Every
/// index used is already below `MAX_DEPTH`; the mask is for the verifier, which can then bound
/// the access on every kernel of the matrix. `black_box` keeps the mask: knowing `i < 32`
/// from an earlier test, LLVM drops it, and 6.1's verifier does not carry that test's bound
/// to a copy of `i` spilled to the stack before it ("R1 unbounded memory access"). (A loop
/// over the frames was compiled into a pointer walk that the 6.1 verifier cannot bound,
/// "invalid access to map value, value_size=1288 off=1304"; the constant-index branches that
/// replaced it cost 32 compares per access, in every entry and exit.)
#[inline(always)]
fn slot(i: u32) -> usize {
    core::hint::black_box(i) as usize & (MAX_DEPTH - 1)
}

/// The innermost open frame of `$stack` below `$depth` whose function is `$id`, or
/// `MAX_DEPTH`: unrolled over constant indices, in ascending order (the last match wins), and
/// stopped at `$depth`, so that a search costs as many steps as there are open frames (one or
/// two on the stand) rather than `MAX_DEPTH`. Constant indices are the verifier's reason: a
/// search from the top down, at `slot(depth - 1 - k)`, was compiled into a walk back from the
/// top frame's pointer that no verifier can bound ("invalid access to map value ... off=-48").
macro_rules! innermost_frame {
    ($stack:expr, $depth:expr, $id:expr; $($k:literal)*) => {{
        let depth: u32 = $depth;
        let mut found = MAX_DEPTH;
        'search: {
            $(
                if $k >= depth {
                    break 'search;
                }
                if $stack.frames[$k].func_id == $id {
                    found = $k;
                }
            )*
        }
        found
    }};
}

macro_rules! find_frame {
    ($stack:expr, $depth:expr, $id:expr) => {
        innermost_frame!($stack, $depth, $id;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
    };
}

const _: () = assert!(
    MAX_DEPTH == 32,
    "`find_frame!` lists the steps 0..32, and `slot` masks with MAX_DEPTH - 1"
);

struct Here {
    ctx: ExecContext,
    cpu: u32,
    pid: u32,
    tid: u32,
}

/// Where we are, or `None` when the filters exclude this call.
#[inline(always)]
fn here() -> Option<(Here, &'static maps::IrqState)> {
    // SAFETY: helpers without pointer arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let (ctx, irq_state) = irq::snapshot()?;
    let pid_tgid = bpf_get_current_pid_tgid();
    let here = Here {
        ctx,
        cpu,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
    };
    if !probe_common::cpus::allows(&settings::FILTER_CPUS.load(), cpu) {
        stat(Stat::Filtered);
        return None;
    }
    if ctx == ExecContext::Process {
        let want_pid = settings::FILTER_PID.load();
        if want_pid != 0 && want_pid != here.pid {
            stat(Stat::Filtered);
            return None;
        }
        let want_comm = settings::FILTER_COMM.load();
        if want_comm[0] != 0 || want_comm[1] != 0 {
            // Read into 8-byte words: a byte array would be zeroed with a call to `memset`,
            // a global subprogram that kernels before ~6.6 refuse.
            let mut comm = core::mem::MaybeUninit::<[u64; 2]>::uninit();
            // SAFETY: the helper fills all 16 bytes (zero-padded) or fails; we read the words
            // only on success.
            let rc = unsafe { bpf_get_current_comm(comm.as_mut_ptr().cast(), 16) };
            if rc != 0 || unsafe { comm.assume_init() } != want_comm {
                stat(Stat::Filtered);
                return None;
            }
        }
    }
    Some((here, irq_state))
}

/// Whether exits become records (trace mode, with or without entry records).
#[inline(always)]
fn trace_mode() -> bool {
    let mode = settings::MODE.load();
    mode == probe_common::mode::TRACE || mode == probe_common::mode::TRACE_ENTRIES
}

/// Whether entries become records too (`probe_common::mode::TRACE_ENTRIES`).
#[inline(always)]
fn entry_records() -> bool {
    settings::MODE.load() == probe_common::mode::TRACE_ENTRIES
}

/// Copies a finished record (an exit, or an entry that could not be tracked) into the ring.
#[inline(always)]
fn emit(e: Event) {
    if !trace_mode() {
        // Stats mode: no records; problems are in STATS, timed calls in FUNC_STATS.
        return;
    }
    // `output` copies from the stack; see `enter` for why an entry reserves its slot instead.
    maps::on_event_ring!(e.cpu, |ring| {
        let flags = wakeup::submit_flags(ring);
        if ring.output::<Event>(&e, flags).is_err() {
            stat(Stat::LostEvents);
        }
    });
}

/// Writes the fields of `$e` into the reserved slot `$p` one by one: assigning a whole
/// `Event`, or `..Default::default()`, makes LLVM zero the slot with `memset` calls, global
/// subprograms that kernels before ~6.6 refuse.
macro_rules! write_fields {
    ($p:expr; $($field:ident = $value:expr),* $(,)?) => {{
        let p: *mut Event = $p;
        // SAFETY: `p` is a reserved, exclusively owned ring slot of `size_of::<Event>()`
        // bytes; every field is `Copy`, so writing through the raw place drops nothing.
        $( unsafe { core::ptr::addr_of_mut!((*p).$field).write($value) }; )*
    }};
}

/// Adds a timed exit of `func_id` to its function's aggregate (stats mode): `dur_ns` among the
/// clean samples, or among the interrupted ones.
#[inline(always)]
fn aggregate(func_id: u32, dur_ns: u64, interrupted: bool) {
    let Some(p) = maps::FUNC_STATS.get_ptr_mut(func_id) else {
        return;
    };
    // SAFETY: per-CPU value; programs on one CPU run one at a time.
    let s = unsafe { &mut *p };
    if interrupted {
        s.interrupted.add(dur_ns);
    } else {
        s.clean.add(dur_ns);
        let b = probe_common::stats::bucket(dur_ns);
        s.hist_clean[b] = s.hist_clean[b].wrapping_add(1);
    }
}

/// A function (or stage) was entered. Everything is prepared first (filters, the open frame,
/// and with entry records the record in its ring slot); the timestamp is taken last and then
/// only stored.
#[inline(always)]
pub fn enter<C: EbpfContext>(_ctx: &C, func_id: u32) {
    if settings::MODE.load() == probe_common::mode::COUNT {
        count_call(func_id);
        return;
    }
    let Some((here, irq_state)) = here() else {
        return;
    };
    let Some(stack) = stacks::stack_of(here.ctx, here.tid) else {
        return;
    };
    let depth = stack.depth;
    if settings::MODE.load() == probe_common::mode::STATS {
        enter_stats(here, irq_state, stack, depth, func_id);
        return;
    }
    let mut flag_bits = 0;
    let tracked = (depth as usize) < MAX_DEPTH;
    // Where the open frame's timestamp goes (null when untracked), found before the timestamp
    // is taken, so that after it only the store remains.
    let mut ts_at: *mut u64 = core::ptr::null_mut();
    if !tracked {
        flag_bits |= flags::DEPTH_OVERFLOW;
        count_depth_overflow(func_id);
    } else {
        if find_frame!(stack, depth, func_id) != MAX_DEPTH {
            flag_bits |= flags::RECURSIVE;
        }
        // The counters as of now; the timestamp is patched in below.
        let seen = Seen::now(here.ctx, irq_state, stack);
        let opened = Frame {
            ts_ns: 0,
            irq_ns: seen.irq_ns,
            off_ns: stack.off.ns,
            func_id,
            cpu: here.cpu,
            hardirqs: seen.hardirqs,
            softirqs: seen.softirqs,
            switches: seen.switches,
            cpu_changes: stack.off.cpu_changes,
            flags: flag_bits,
            _pad: 0,
        };
        let frame = &mut stack.frames[slot(depth)];
        *frame = opened;
        ts_at = &mut frame.ts_ns;
    }
    stack.depth = depth + 1;
    // Reserve and fill the record before the timestamp, so that the copy is not timed. By
    // default there is no entry record at all: the exit carries the entry's time and depth.
    if entry_records() {
        maps::on_event_ring!(here.cpu, |ring| {
            let submit_flags = wakeup::submit_flags(ring);
            // Matched right at the reservation: 6.1's verifier loses track of the reference when
            // the `Option` is kept and tested later ("Unreleased reference id=13", from the
            // null branch of a test it did not tie to the reservation).
            match ring.reserve::<Event>(0) {
                Some(mut r) => {
                    write_fields!(r.as_mut_ptr();
                        func_id = func_id,
                        cpu = here.cpu,
                        pid = here.pid,
                        tid = here.tid,
                        depth = depth as u16,
                        kind = EventKind::Enter as u8,
                        context = here.ctx as u8,
                        flags = flag_bits,
                        dur_ns = 0,
                        irq_ns = 0,
                        hardirqs = 0,
                        softirqs = 0,
                        switches = 0,
                        off_cpu_ns = 0,
                    );
                    // The timestamp, last.
                    let ts_ns = now();
                    store_ts(ts_at, ts_ns);
                    write_fields!(r.as_mut_ptr(); ts_ns = ts_ns);
                    r.submit(submit_flags);
                    return;
                }
                None => stat(Stat::LostEvents),
            }
        });
    }
    // Stats mode, or the ring is full (counted): the frame still needs its timestamp, last.
    store_ts(ts_at, now());
}

/// Stats mode's entry: the open frame gets only what stats mode's exit reads (the function,
/// the CPU and the counters that say whether the call was interrupted), then the timestamp,
/// last. No recursion search (its flag reaches only records) and none of the interrupt time
/// or off-CPU time that only records carry.
#[inline(always)]
fn enter_stats(here: Here, irq_state: &IrqState, stack: &mut CallStack, depth: u32, func_id: u32) {
    stack.depth = depth + 1;
    if depth as usize >= MAX_DEPTH {
        count_depth_overflow(func_id);
        return;
    }
    let seen = Seen::now(here.ctx, irq_state, stack);
    let cpu_changes = stack.off.cpu_changes;
    let frame = &mut stack.frames[slot(depth)];
    frame.func_id = func_id;
    frame.cpu = here.cpu;
    frame.hardirqs = seen.hardirqs;
    frame.softirqs = seen.softirqs;
    frame.switches = seen.switches;
    frame.cpu_changes = cpu_changes;
    frame.ts_ns = now();
}

/// Counts (and at `-v`, logs) an entry deeper than the tracked levels.
#[inline(always)]
fn count_depth_overflow(func_id: u32) {
    stat(Stat::DepthOverflow);
    klog!(
        Level::Debug,
        "kpath: function ",
        { func_id },
        " deeper than the ",
        { MAX_DEPTH as u32 },
        " tracked levels"
    );
}

/// Stores an entry's timestamp into its open frame, at `ts_at` from `enter` (null: the call
/// is deeper than the tracked levels).
#[inline(always)]
fn store_ts(ts_at: *mut u64, ts_ns: u64) {
    if !ts_at.is_null() {
        // SAFETY: `ts_at` points into this context's stack, a map value that lives for the
        // whole program run; nothing else writes it meanwhile (see `stacks::open_stack`).
        unsafe { ts_at.write(ts_ns) };
    }
}

/// The counters a frame keeps, as seen by a call of context `ctx` now: the CPU's interrupt
/// counters minus what they gained while the task was switched out (`OffCpu`, zero outside
/// process context), and the switch count that belongs to the context.
struct Seen {
    irq_ns: u64,
    hardirqs: u32,
    softirqs: u32,
    switches: u32,
}

impl Seen {
    #[inline(always)]
    fn now(ctx: ExecContext, irq: &IrqState, stack: &CallStack) -> Self {
        Self {
            // Never below the off-CPU share: that share was taken from these same counters.
            irq_ns: (irq.hardirq_ns + irq.softirq_ns).saturating_sub(stack.off.irq_ns),
            hardirqs: irq.hardirqs.wrapping_sub(stack.off.hardirqs),
            softirqs: irq.softirqs.wrapping_sub(stack.off.softirqs),
            switches: if ctx == ExecContext::Process {
                stack.off.switch_outs
            } else {
                irq.switches
            },
        }
    }
}

/// `sched:sched_switch` at `ts_ns` on `cpu`, from task `prev` to task `next` (thread ids):
/// a task with open calls that leaves the CPU notes when and what the CPU's counters were;
/// when it comes back, the time away and what the counters gained meanwhile are added to its
/// `OffCpu` totals, which exits subtract (see `Seen`). Tasks without a stack cost one failed
/// look-up each. First, the CPU's busy accounting notes the idle task coming or going
/// (`probe_common::busy`: one per-CPU look-up and a few additions). Outside every measured
/// interval except the switched tasks': the time after `ts_ns` counts as on-CPU time of the
/// task switched in, if it has open calls (measured by `cargo xtask bench`, ping-pong).
#[inline(always)]
pub fn switched(ts_ns: u64, cpu: u32, prev: u32, next: u32) {
    let Some((_, irq)) = irq::snapshot() else {
        return;
    };
    if let Some(b) = CPU_BUSY.get_ptr_mut(0) {
        // SAFETY: per-CPU value; programs on one CPU run one at a time.
        unsafe { &mut *b }.switched(ts_ns, prev, next, irq.hardirq_ns + irq.softirq_ns);
    }
    // The idle tasks (tid 0, one per CPU) never have process-context calls.
    if prev != 0 {
        // `prev` is the current task, so none of its probes runs meanwhile.
        if let Some(stack) = stacks::task_stack(prev) {
            if stack.depth > 0 {
                stack.out.ts_ns = ts_ns;
                stack.out.irq_ns = irq.hardirq_ns + irq.softirq_ns;
                stack.out.hardirqs = irq.hardirqs;
                stack.out.softirqs = irq.softirqs;
                stack.out.cpu = cpu;
                stack.off.switch_outs = stack.off.switch_outs.wrapping_add(1);
            }
        }
    }
    if next != 0 {
        // `next` is not running yet, so none of its probes runs meanwhile.
        if let Some(stack) = stacks::task_stack(next) {
            if stack.out.ts_ns != 0 {
                stack.off.ns += ts_ns.saturating_sub(stack.out.ts_ns);
                if stack.out.cpu == cpu {
                    stack.off.irq_ns +=
                        (irq.hardirq_ns + irq.softirq_ns).saturating_sub(stack.out.irq_ns);
                    stack.off.hardirqs = stack
                        .off
                        .hardirqs
                        .wrapping_add(irq.hardirqs.wrapping_sub(stack.out.hardirqs));
                    stack.off.softirqs = stack
                        .off
                        .softirqs
                        .wrapping_add(irq.softirqs.wrapping_sub(stack.out.softirqs));
                } else {
                    stack.off.cpu_changes = stack.off.cpu_changes.wrapping_add(1);
                }
                stack.out.ts_ns = 0;
            }
        }
    }
}

/// What an exit found on its context's stack, which [`pop_frame`] has already popped.
enum Popped {
    /// The innermost open frame of the function, at `found`: the stack now ends below it.
    /// `unwound`: frames above it were left open by exits that never fired, and are dropped
    /// with it (counted, `Stat::Unwound`).
    Found {
        stack: &'static mut CallStack,
        found: u32,
        unwound: bool,
    },
    /// The entry was deeper than the tracked levels (counted at entry): only the count was
    /// popped, to `depth`.
    Overflow { depth: u32 },
    /// No open frame of the function below `depth`, the stack's depth, or no stack at all
    /// for the context (no entry was seen there; `depth` 0). Counted,
    /// `Stat::UnmatchedExits`: nothing popped.
    Unmatched { depth: u32 },
}

/// Finds the innermost open frame of `func_id` on the stack of `here`'s context and pops
/// it, counting what went wrong; both modes' exits start here. Each mode calls it in its own
/// branch, so that the verifier walks each mode's use of the result on its own (shared
/// across the branch, it took 3-4 times as long: `docs/performance-history.md`, "Verifying
/// the exit programs").
#[inline(always)]
fn pop_frame(here: &Here, func_id: u32) -> Popped {
    let Some(stack) = stacks::open_stack(here.ctx, here.tid) else {
        count_unmatched_exit(func_id, here.cpu, here.tid);
        return Popped::Unmatched { depth: 0 };
    };
    let depth = stack.depth;
    if depth as usize > MAX_DEPTH {
        stack.depth = depth - 1;
        return Popped::Overflow { depth: depth - 1 };
    }
    let found = find_frame!(stack, depth, func_id);
    if found == MAX_DEPTH {
        count_unmatched_exit(func_id, here.cpu, here.tid);
        return Popped::Unmatched { depth };
    }
    let found = found as u32;
    let unwound = found + 1 != depth;
    if unwound {
        stat(Stat::Unwound);
    }
    stack.depth = found;
    Popped::Found {
        stack,
        found,
        unwound,
    }
}

/// Whether the call of frame `f`, ending on `cpu`, ran on more than one CPU: then the
/// per-CPU counters of two CPUs would be compared, and the sample is void
/// (`flags::MIGRATED`).
#[inline(always)]
fn migrated(f: &Frame, cpu: u32, stack: &CallStack) -> bool {
    f.cpu != cpu || stack.off.cpu_changes != f.cpu_changes
}

/// Counts (and at `-v`, logs) an exit with no open entry.
#[inline(always)]
fn count_unmatched_exit(func_id: u32, cpu: u32, tid: u32) {
    stat(Stat::UnmatchedExits);
    klog!(
        Level::Debug,
        "kpath: exit of function ",
        { func_id },
        " with no open entry (cpu ",
        { cpu },
        ", tid ",
        { tid },
        ")"
    );
}

/// The clock of every record: `bpf_ktime_get_ns` (CLOCK_MONOTONIC).
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_ns() }
}

/// A function (or stage) returned at `ts_ns`, which the exit program took with [`now`] as
/// its very first step (before finding the function id); the bookkeeping comes after it.
///
/// Stats mode needs only the duration and whether anything interrupted the call:
/// [`exit_stats`] reads them from the open frame in place and builds no record (the record
/// and the frame's copy that trace mode needs were 5 of its 17 ns above the floor's exit
/// here; `docs/performance-history.md`, "Stats mode's exit without a record").
#[inline(always)]
pub fn exit<C: EbpfContext>(_ctx: &C, ts_ns: u64, func_id: u32) {
    if settings::MODE.load() == probe_common::mode::COUNT {
        return;
    }
    let Some((here, irq_state)) = here() else {
        return;
    };
    if settings::MODE.load() == probe_common::mode::STATS {
        exit_stats(here, irq_state, ts_ns, func_id);
        return;
    }
    let mut e = Event {
        ts_ns,
        func_id,
        cpu: here.cpu,
        pid: here.pid,
        tid: here.tid,
        kind: EventKind::Exit as u8,
        context: here.ctx as u8,
        depth: 0,
        flags: 0,
        dur_ns: 0,
        irq_ns: 0,
        hardirqs: 0,
        softirqs: 0,
        switches: 0,
        off_cpu_ns: 0,
    };
    let (stack, found) = match pop_frame(&here, func_id) {
        Popped::Found {
            stack,
            found,
            unwound,
        } => {
            if unwound {
                e.flags |= flags::UNWOUND;
            }
            (stack, found)
        }
        Popped::Overflow { depth } => {
            e.depth = depth as u16;
            e.flags = flags::DEPTH_OVERFLOW;
            emit(e);
            return;
        }
        Popped::Unmatched { depth } => {
            e.depth = depth as u16;
            e.flags = flags::UNMATCHED_EXIT;
            emit(e);
            return;
        }
    };
    let f = stack.frames[slot(found)];
    e.depth = found as u16;
    // What the entry found (recursion): without entry records, only the exit can say it.
    e.flags |= f.flags;
    e.dur_ns = ts_ns.saturating_sub(f.ts_ns);
    let off_ns = stack.off.ns.wrapping_sub(f.off_ns);
    if off_ns > u64::from(u32::MAX) {
        e.off_cpu_ns = u32::MAX;
        e.flags |= flags::OFF_CPU_SATURATED;
    } else {
        e.off_cpu_ns = off_ns as u32;
    }
    let seen = Seen::now(here.ctx, irq_state, stack);
    // Per task in process context; per CPU otherwise, where the stack never moves.
    e.switches = seen.switches.wrapping_sub(f.switches);
    if migrated(&f, here.cpu, stack) {
        e.flags |= flags::MIGRATED;
    } else {
        e.hardirqs = seen.hardirqs.wrapping_sub(f.hardirqs);
        e.softirqs = seen.softirqs.wrapping_sub(f.softirqs);
        e.irq_ns = seen.irq_ns.saturating_sub(f.irq_ns);
    }
    emit(e);
}

/// Stats mode's exit, from `exit` once the filters passed: the duration and whether anything
/// interrupted the call, read from the open frame in place and added to the function's
/// aggregate. No record is built, not even for the problems, which are only counted (trace
/// mode's exit writes them as flagged records).
///
/// Its own function, branched to before trace mode's record is started: the mode is a
/// load-time constant, so each mode's programs hold only their own path. With the record's
/// fields set before the branch, as before, stats mode's exit stored them all to the stack and
/// never read them. (When stats mode's figures were instead read once and shared with trace
/// mode's code after the branch, the verifier took 3-4 times as long over each exit program:
/// `docs/performance-history.md`, "Verifying the exit programs".)
#[inline(always)]
fn exit_stats(here: Here, irq_state: &IrqState, ts_ns: u64, func_id: u32) {
    let Popped::Found { stack, found, .. } = pop_frame(&here, func_id) else {
        return;
    };
    let f = &stack.frames[slot(found)];
    let seen = Seen::now(here.ctx, irq_state, stack);
    // What `Event::interrupted` would say of the record trace mode writes.
    let interrupted = probe_common::event::interrupted(
        seen.hardirqs.wrapping_sub(f.hardirqs),
        seen.softirqs.wrapping_sub(f.softirqs),
        seen.switches.wrapping_sub(f.switches),
        migrated(f, here.cpu, stack),
    );
    aggregate(func_id, ts_ns.saturating_sub(f.ts_ns), interrupted);
}
