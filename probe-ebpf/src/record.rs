//! Call bookkeeping: push a frame at entry, pop and time it at exit, emit records.
//!
//! Depth is tracked per task in process context and per CPU in softirq and hardirq context.
//! A missed probe (BPF recursion protection drops nested programs) shows up as an exit that
//! does not match the top frame: the stack is searched and unwound to the match, or the exit
//! is flagged unmatched, so depth is never corrupted silently.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid,
    generated::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
};
use probe_common::{
    counters::Stat,
    event::{flags, MAX_DEPTH},
    Event, EventKind, ExecContext,
};

use crate::{
    irq,
    maps::{self, count_call, stat, CallStack, Frame, EMPTY_STACK, STACKS},
    settings,
};

/// Where a call's stack lives: the task in process context, the CPU otherwise.
#[inline(always)]
fn context_key(ctx: ExecContext, cpu: u32, tid: u32) -> u64 {
    match ctx {
        ExecContext::Process => u64::from(tid),
        ExecContext::SoftIrq => (1 << 62) | u64::from(cpu),
        ExecContext::HardIrq => (2 << 62) | u64::from(cpu),
    }
}

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
    let want_cpu = settings::FILTER_CPU.load();
    if want_cpu != u32::MAX && want_cpu != cpu {
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
        if want_comm[0] != 0 {
            match bpf_get_current_comm() {
                Ok(comm) if comm == want_comm => {}
                _ => {
                    stat(Stat::Filtered);
                    return None;
                }
            }
        }
    }
    Some((here, irq_state))
}

#[inline(always)]
fn stack_of(key: u64) -> Option<&'static mut CallStack> {
    if let Some(p) = STACKS.get_ptr_mut(key) {
        // SAFETY: the value lives as long as its key; only this context's programs use it.
        return Some(unsafe { &mut *p });
    }
    let empty = EMPTY_STACK.get_ptr(0)?;
    // SAFETY: `empty` points at a zeroed per-CPU value of the map's value type.
    // Passed by reference: a by-value `CallStack` would not fit the 512-byte BPF stack.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let inserted = STACKS.insert(key, unsafe { &*empty }, 0);
    if inserted.is_err() {
        stat(Stat::StackMapFull);
        return None;
    }
    // SAFETY: as above.
    STACKS.get_ptr_mut(key).map(|p| unsafe { &mut *p })
}

#[inline(always)]
fn emit(e: Event) {
    match maps::EVENTS.reserve::<Event>(0) {
        Some(mut slot) => {
            slot.write(e);
            slot.submit(0);
        }
        None => stat(Stat::LostEvents),
    }
}

/// A function (or stage) was entered.
#[inline(always)]
pub fn enter(func_id: u32) {
    if settings::MODE.load() == settings::MODE_COUNT {
        count_call(func_id);
        return;
    }
    let Some((here, irq_state)) = here() else {
        return;
    };
    let Some(stack) = stack_of(context_key(here.ctx, here.cpu, here.tid)) else {
        return;
    };
    // SAFETY: helper without arguments.
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    let depth = stack.depth;
    let mut flag_bits = 0;
    if depth as usize >= MAX_DEPTH {
        flag_bits |= flags::DEPTH_OVERFLOW;
        stat(Stat::DepthOverflow);
    } else {
        for i in 0..MAX_DEPTH {
            if i as u32 >= depth {
                break;
            }
            if stack.frames[i].func_id == func_id {
                flag_bits |= flags::RECURSIVE;
                break;
            }
        }
        stack.frames[depth as usize] = Frame {
            ts_ns,
            irq_ns: irq_state.hardirq_ns + irq_state.softirq_ns,
            func_id,
            cpu: here.cpu,
            hardirqs: irq_state.hardirqs,
            softirqs: irq_state.softirqs,
            switches: irq_state.switches,
            _pad: 0,
        };
    }
    stack.depth = depth + 1;
    emit(Event {
        ts_ns,
        func_id,
        cpu: here.cpu,
        pid: here.pid,
        tid: here.tid,
        depth: depth as u16,
        kind: EventKind::Enter as u8,
        context: here.ctx as u8,
        flags: flag_bits,
        ..Event::default()
    });
}

/// A function (or stage) returned.
#[inline(always)]
pub fn exit(func_id: u32) {
    if settings::MODE.load() == settings::MODE_COUNT {
        return;
    }
    let Some((here, irq_state)) = here() else {
        return;
    };
    let key = context_key(here.ctx, here.cpu, here.tid);
    // SAFETY: helper without arguments.
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    let mut e = Event {
        ts_ns,
        func_id,
        cpu: here.cpu,
        pid: here.pid,
        tid: here.tid,
        kind: EventKind::Exit as u8,
        context: here.ctx as u8,
        ..Event::default()
    };
    let Some(stack) = STACKS.get_ptr_mut(key) else {
        e.flags = flags::UNMATCHED_EXIT;
        stat(Stat::UnmatchedExits);
        emit(e);
        return;
    };
    // SAFETY: see `stack_of`.
    let stack = unsafe { &mut *stack };
    let depth = stack.depth;
    if depth as usize > MAX_DEPTH {
        // The entry was counted but not stored: pop the count only.
        stack.depth = depth - 1;
        e.depth = (depth - 1) as u16;
        e.flags = flags::DEPTH_OVERFLOW;
        emit(e);
        return;
    }
    // Find the innermost open frame of this function; normally the top one.
    let mut found = MAX_DEPTH;
    for i in 0..MAX_DEPTH {
        let level = MAX_DEPTH - 1 - i;
        if (level as u32) < depth && stack.frames[level].func_id == func_id {
            found = level;
            break;
        }
    }
    if found == MAX_DEPTH {
        e.depth = depth as u16;
        e.flags = flags::UNMATCHED_EXIT;
        stat(Stat::UnmatchedExits);
        emit(e);
        return;
    }
    if found as u32 + 1 != depth {
        e.flags |= flags::UNWOUND;
        stat(Stat::Unwound);
    }
    let f = stack.frames[found];
    stack.depth = found as u32;
    e.depth = found as u16;
    e.dur_ns = ts_ns.saturating_sub(f.ts_ns);
    if f.cpu != here.cpu {
        // Per-CPU counters of two CPUs cannot be compared: the sample is void.
        e.flags |= flags::MIGRATED;
    } else {
        e.hardirqs = irq_state.hardirqs.wrapping_sub(f.hardirqs);
        e.softirqs = irq_state.softirqs.wrapping_sub(f.softirqs);
        e.switches = irq_state.switches.wrapping_sub(f.switches);
        e.irq_ns = (irq_state.hardirq_ns + irq_state.softirq_ns).saturating_sub(f.irq_ns);
    }
    emit(e);
}
