//! Where each context's open calls live, and how a call finds them.
//!
//! - Softirq and hard-IRQ contexts: one stack per CPU in `IRQ_STACKS`.
//! - Tasks: slot `tid & TASK_SLOT_MASK` of `TASK_STACKS`, a direct-mapped array, when the task
//!   holds that slot; otherwise the shared LRU map `STACKS`, keyed by tid. Finding a held slot
//!   is an array index the verifier inlines plus one compare. The hash map's look-up is a call,
//!   a hash and a key compare; in every entry and exit of stats mode it was the largest part
//!   of what kpath added to the bare timing pair (`docs/performance-history.md`, "Task stacks in
//!   a direct-mapped array").
//!
//! A task claims a free slot at its first entry (`claim`) and gives it back when it exits
//! (`release`, from `sched:sched_process_exit`). A task whose slot another task holds keeps
//! its calls in `STACKS`, for as long as it lives (counted: `Stat::SharedStackSlot`), so that
//! a task's open calls are always in one place.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray},
};
use aya_log_ebpf::macro_support::Level;
use probe_common::{counters::Stat, task_slots, ExecContext};

use crate::{
    maps::{stat, CallStack, OffCpu, SwitchedOut, IRQ_STACKS},
    settings,
};

/// A task-stack slot.
#[repr(C)]
pub struct TaskSlot {
    /// Tasks inside `claim` now, plus one while a task holds the slot. Changed only with
    /// atomic adds, so that two tasks claiming the slot at once cannot both win (`claim`).
    claims: u64,
    /// The holder's tid; 0: free.
    owner: u32,
    _pad: u32,
    stack: CallStack,
}

/// The task-stack slots; user space sets the size (`Settings::task_slots`) and the mask.
#[map]
static TASK_STACKS: Array<TaskSlot> = Array::with_max_entries(task_slots::DEFAULT_TASK_SLOTS, 0);

/// The stacks of tasks whose slot another task holds. LRU so that tasks which exit while
/// their `sched_process_exit` program is skipped (the kernel's recursion guard) age out.
#[map]
static STACKS: LruHashMap<u64, CallStack> =
    LruHashMap::with_max_entries(task_slots::DEFAULT_TASK_SLOTS, 0);

/// A zeroed stack to insert from: too big for the 512-byte BPF stack.
#[map]
static EMPTY_STACK: PerCpuArray<CallStack> = PerCpuArray::with_max_entries(1, 0);

/// Task `tid`'s key in `STACKS`: its process-context stack key (`probe_common::event`).
#[inline(always)]
fn task_key(tid: u32) -> u64 {
    probe_common::event::stack_key(ExecContext::Process as u8, 0, tid)
}

/// `IRQ_STACKS`' index of a softirq or hard-IRQ context; `None` in process context.
#[inline(always)]
fn irq_stack_index(ctx: ExecContext) -> Option<u32> {
    match ctx {
        ExecContext::Process => None,
        ExecContext::SoftIrq => Some(0),
        ExecContext::HardIrq => Some(1),
    }
}

/// The slot task `tid` may hold.
#[inline(always)]
fn slot_of(tid: u32) -> Option<*mut TaskSlot> {
    TASK_STACKS.get_ptr_mut(task_slots::slot_of(tid, settings::TASK_SLOT_MASK.load()))
}

/// Adds `delta` (wrapping: `u64::MAX` takes one away) to a slot's claim count atomically.
/// The result is not used, which lets the BPF backend emit the atomic add that every kernel
/// and CPU version takes (`BPF_ATOMIC | BPF_ADD`, no fetch).
#[inline(always)]
fn add_claims(slot: *mut TaskSlot, delta: u64) {
    // SAFETY: `slot` points at a map value that lives for the program's run; the atomic
    // intrinsic is the only writer of `claims`.
    unsafe {
        core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::SeqCst }>(
            core::ptr::addr_of_mut!((*slot).claims),
            delta,
        );
    }
}

/// The open calls of task `tid` if it has any yet: its slot's, when it holds it, or its
/// entry in `STACKS`.
#[inline(always)]
pub fn task_stack(tid: u32) -> Option<&'static mut CallStack> {
    if let Some(p) = slot_of(tid) {
        // SAFETY: a map value that lives for the program's run; only the holder uses the
        // stack, and only `claim`/`release` (of this same task) change the holder.
        let slot = unsafe { &mut *p };
        if tid != 0 && slot.owner == tid {
            return Some(&mut slot.stack);
        }
    }
    let p = STACKS.get_ptr_mut(task_key(tid))?;
    // SAFETY: a task's stack lives as long as its key, and only that task's programs (and the
    // switch program, while the task is not running) use it.
    Some(unsafe { &mut *p })
}

/// The open calls of the context a call runs in, if it has any yet (an exit's look-up).
#[inline(always)]
pub fn open_stack(ctx: ExecContext, tid: u32) -> Option<&'static mut CallStack> {
    match irq_stack_index(ctx) {
        Some(i) => {
            let p = IRQ_STACKS.get_ptr_mut(i)?;
            // SAFETY: this CPU's value, and the programs of one context on one CPU run one
            // at a time (a nested one is skipped by the kernel's recursion guard).
            Some(unsafe { &mut *p })
        }
        None => task_stack(tid),
    }
}

/// The open calls of the context a call runs in, created for a task at its first call (an
/// entry's look-up).
#[inline(always)]
pub fn stack_of(ctx: ExecContext, tid: u32) -> Option<&'static mut CallStack> {
    if let Some(stack) = open_stack(ctx, tid) {
        return Some(stack);
    }
    if irq_stack_index(ctx).is_some() {
        // Per-CPU array values always exist; a failed look-up is an impossible index.
        return None;
    }
    if let Some(stack) = claim(tid) {
        return Some(stack);
    }
    stat(Stat::SharedStackSlot);
    let key = task_key(tid);
    let empty = EMPTY_STACK.get_ptr(0)?;
    // SAFETY: `empty` points at a zeroed per-CPU value of the map's value type.
    // Passed by reference: a by-value `CallStack` would not fit the 512-byte BPF stack.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let inserted = STACKS.insert(key, unsafe { &*empty }, 0);
    if inserted.is_err() {
        stat(Stat::StackMapFull);
        klog!(
            Level::Warn,
            "kpath: call-stack map full: a call of task ",
            { tid },
            " is not tracked"
        );
        return None;
    }
    let p = STACKS.get_ptr_mut(key)?;
    // SAFETY: as in `task_stack`.
    Some(unsafe { &mut *p })
}

/// Takes task `tid`'s slot if no task holds it, and returns its emptied stack.
///
/// Every claimant adds one to `claims` and then reads it: only a claimant that reads 1 was
/// alone, and it wins; the others take their one back and use `STACKS`. The count is one
/// memory location changed only by atomic adds, so its changes have one order that every
/// CPU sees (coherence): two claimants cannot both read 1 unless one of them had taken its
/// one back first. A holder keeps its one until `release`.
#[inline(always)]
fn claim(tid: u32) -> Option<&'static mut CallStack> {
    // The idle tasks (tid 0, one per CPU) share the id: they never get a slot.
    if tid == 0 {
        return None;
    }
    let p = slot_of(tid)?;
    // SAFETY: as in `task_stack`; `owner` and `claims` are read as plain words, the claim
    // decided by the atomic count below.
    let slot = unsafe { &mut *p };
    if slot.owner != 0 {
        return None;
    }
    add_claims(p, 1);
    // SAFETY: an aligned word of the map value; volatile so that it is read after the add.
    let claims = unsafe { core::ptr::addr_of!(slot.claims).read_volatile() };
    if claims != 1 {
        add_claims(p, u64::MAX);
        return None;
    }
    // Won: the stack's header starts over (frames above `depth` are never read).
    slot.stack.depth = 0;
    slot.stack.off = OffCpu::ZERO;
    slot.stack.out = SwitchedOut::ZERO;
    slot.owner = tid;
    Some(&mut slot.stack)
}

/// Task `tid` exits: its slot, if it holds one, becomes free, and its `STACKS` entry, if it
/// has one, is removed. The holder's stores to the slot come before the release's atomic add
/// in program order, and the x86-64 JIT emits that add with a `lock` prefix, which orders
/// them before it: the next holder cannot see a late store of this one.
#[inline(always)]
pub fn release(tid: u32) {
    if tid == 0 {
        return;
    }
    if let Some(p) = slot_of(tid) {
        // SAFETY: as in `task_stack`; only the holder itself frees its slot.
        let slot = unsafe { &mut *p };
        if slot.owner == tid {
            slot.owner = 0;
            add_claims(p, u64::MAX);
            return;
        }
    }
    let _ = STACKS.remove(task_key(tid));
}
