//! Per-CPU interrupt accounting: counts hard IRQs, softirqs and context switches, tracks the
//! current execution context, and sums the time spent inside interrupts, so that each call's
//! exit can say what interrupted it and for how long.

use aya_ebpf::helpers::generated::bpf_ktime_get_ns;
use probe_common::ExecContext;

use crate::maps::{IrqState, IRQ_STATE};

#[inline(always)]
fn state() -> Option<&'static mut IrqState> {
    // SAFETY: per-CPU value; programs on one CPU run one at a time.
    IRQ_STATE.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// A hard interrupt "open" longer than this means its exit was missed.
const HARDIRQ_STUCK_NS: u64 = 10_000_000;

#[inline(always)]
fn now() -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_ns() }
}

/// Hard interrupt handlers run with interrupts off and do not nest; a counter capped at 2
/// still tolerates a vector handler that runs a device handler inside it, and a missed exit
/// heals at the next exit.
#[inline(always)]
pub fn hardirq_enter() {
    if let Some(s) = state() {
        s.hardirqs = s.hardirqs.wrapping_add(1);
        if s.hardirq_nest == 0 {
            s.hardirq_start_ns = now();
        }
        if s.hardirq_nest < 2 {
            s.hardirq_nest += 1;
        }
    }
}

#[inline(always)]
pub fn hardirq_exit() {
    if let Some(s) = state() {
        // An exit without its entry (attached mid-interrupt) must not underflow.
        if s.hardirq_nest == 0 {
            return;
        }
        s.hardirq_nest -= 1;
        if s.hardirq_nest == 1
            && s.hardirq_start_ns != 0
            && now().saturating_sub(s.hardirq_start_ns) > HARDIRQ_STUCK_NS
        {
            // No handler runs this long: an entry's exit was missed. Start over.
            s.hardirq_nest = 0;
        }
        if s.hardirq_nest == 0 && s.hardirq_start_ns != 0 {
            s.hardirq_ns += now().saturating_sub(s.hardirq_start_ns);
        }
    }
}

/// Softirqs never nest on one CPU, so the state is a flag rather than a counter: an entry
/// whose exit was missed (e.g. attached between the two) is healed by the next entry.
#[inline(always)]
pub fn softirq_enter() {
    if let Some(s) = state() {
        s.softirqs = s.softirqs.wrapping_add(1);
        s.softirq_start_ns = now();
        s.hardirq_ns_at_softirq_start = s.hardirq_ns;
        s.softirq_nest = 1;
    }
}

#[inline(always)]
pub fn softirq_exit() {
    if let Some(s) = state() {
        if s.softirq_nest == 0 {
            return;
        }
        s.softirq_nest = 0;
        if s.softirq_start_ns != 0 {
            let total = now().saturating_sub(s.softirq_start_ns);
            // Hard IRQs inside this softirq are already in `hardirq_ns`.
            let nested = s.hardirq_ns.saturating_sub(s.hardirq_ns_at_softirq_start);
            s.softirq_ns += total.saturating_sub(nested);
        }
    }
}

/// At `irq:softirq_exit` we are in a softirq even if its entry was missed (it began before
/// the entry program was attached): say so before recording the exit, without counting it
/// or timing the part we did not see.
#[inline(always)]
pub fn softirq_exit_seen() {
    if let Some(s) = state() {
        if s.softirq_nest == 0 {
            s.softirq_nest = 1;
            s.softirq_start_ns = 0;
        }
    }
}

#[inline(always)]
pub fn context_switch() {
    if let Some(s) = state() {
        s.switches = s.switches.wrapping_add(1);
    }
}

/// What this CPU is running now, and a snapshot of its counters.
#[inline(always)]
pub fn snapshot() -> Option<(ExecContext, &'static IrqState)> {
    let s = state()?;
    let ctx = if s.hardirq_nest > 0 {
        ExecContext::HardIrq
    } else if s.softirq_nest > 0 {
        ExecContext::SoftIrq
    } else {
        ExecContext::Process
    };
    Some((ctx, s))
}
