//! kpath's kernel side. Entry points only: each mechanism's program finds the function id and
//! hands over to `record` (calls) or `irq` (interrupt accounting), retsnoop-style.
//!
//! Every helper below the entry points is `#[inline(always)]`: kernels before ~6.6 reject
//! global BPF subprograms that take pointer arguments ("reg type unsupported for arg#0"),
//! which is how a non-inlined Rust function is emitted. One body per program loads everywhere.
#![no_std]
#![no_main]
// `core::intrinsics::atomic_xadd`: the BPF target has no compare-and-swap, so `AtomicU64`
// offers no `fetch_add` there; the intrinsic is the atomic add itself (`stacks::claim`).
#![allow(internal_features)]
#![feature(core_intrinsics)]

#[macro_use]
mod klog;
mod bare;
mod irq;
mod maps;
mod record;
mod settings;
mod stacks;
mod wakeup;

use aya_ebpf::{
    helpers::generated::bpf_get_func_ip,
    macros::{fentry, fexit, kprobe, kretprobe, tracepoint},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext, TracePointContext},
    EbpfContext,
};
use probe_common::stage::TpStage;

use crate::maps::{hit, Hit};

/// The id of the probed function, from its address (`bpf_get_func_ip`), via `FUNC_IPS`.
#[inline(always)]
fn func_id_of<C: EbpfContext>(ctx: &C) -> Option<u32> {
    // SAFETY: the helper only reads the program context it is given.
    let ip = unsafe { bpf_get_func_ip(ctx.as_ptr()) };
    // SAFETY: the value is a plain u32 that user space writes once before attaching.
    unsafe { maps::FUNC_IPS.get(ip) }.copied()
}

#[kprobe]
pub fn kpath_kprobe_entry(ctx: ProbeContext) -> u32 {
    hit(Hit::Kprobe);
    if let Some(id) = func_id_of(&ctx) {
        record::enter(&ctx, id);
    }
    0
}

#[kretprobe]
pub fn kpath_kprobe_exit(ctx: RetProbeContext) -> u32 {
    // Every exit program takes its timestamp first: the id look-up is not timed.
    let ts = record::now();
    hit(Hit::Kretprobe);
    if let Some(id) = func_id_of(&ctx) {
        record::exit(&ctx, ts, id);
    }
    0
}

#[fentry]
pub fn kpath_fentry_entry(ctx: FEntryContext) -> u32 {
    hit(Hit::Fentry);
    if let Some(id) = func_id_of(&ctx) {
        record::enter(&ctx, id);
    }
    0
}

#[fexit]
pub fn kpath_fexit_exit(ctx: FExitContext) -> u32 {
    let ts = record::now();
    hit(Hit::Fexit);
    if let Some(id) = func_id_of(&ctx) {
        record::exit(&ctx, ts, id);
    }
    0
}

/// The bare timing pair on kprobes (`bare.rs`), for calibration.
#[kprobe]
pub fn kpath_bare_kprobe(_ctx: ProbeContext) -> u32 {
    bare::enter();
    0
}

#[kretprobe]
pub fn kpath_bare_kretprobe(_ctx: RetProbeContext) -> u32 {
    bare::exit();
    0
}

/// The bare timing pair on fentry/fexit.
#[fentry]
pub fn kpath_bare_fentry(_ctx: FEntryContext) -> u32 {
    bare::enter();
    0
}

#[fexit]
pub fn kpath_bare_fexit(_ctx: FExitContext) -> u32 {
    bare::exit();
    0
}

/// The bare timing pair on a tracepoint pair.
#[tracepoint]
pub fn kpath_bare_tp_enter(_ctx: TracePointContext) -> u32 {
    bare::enter();
    0
}

#[tracepoint]
pub fn kpath_bare_tp_exit(_ctx: TracePointContext) -> u32 {
    bare::exit();
    0
}

/// Defines the entry and exit programs of one tracepoint stage.
macro_rules! tp_stage {
    ($enter:ident, $exit:ident, $stage:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            hit(Hit::TpEnter);
            if let Some(id) = maps::stage_func_id($stage) {
                record::enter(&ctx, id);
            }
            0
        }

        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            let ts = record::now();
            hit(Hit::TpExit);
            if let Some(id) = maps::stage_func_id($stage) {
                record::exit(&ctx, ts, id);
            }
            0
        }
    };
}

tp_stage!(
    kpath_tp_netif_receive_skb_entry,
    kpath_tp_netif_receive_skb_exit,
    TpStage::NetifReceiveSkb
);
tp_stage!(
    kpath_tp_netif_rx_entry,
    kpath_tp_netif_rx_exit,
    TpStage::NetifRx
);
tp_stage!(
    kpath_tp_napi_gro_receive_entry,
    kpath_tp_napi_gro_receive_exit,
    TpStage::NapiGroReceive
);
tp_stage!(
    kpath_tp_sys_sendto_entry,
    kpath_tp_sys_sendto_exit,
    TpStage::SysSendto
);
tp_stage!(
    kpath_tp_sys_sendmsg_entry,
    kpath_tp_sys_sendmsg_exit,
    TpStage::SysSendmsg
);
tp_stage!(
    kpath_tp_net_dev_xmit_entry,
    kpath_tp_net_dev_xmit_exit,
    TpStage::DevXmit
);
tp_stage!(
    kpath_tp_sys_recvfrom_entry,
    kpath_tp_sys_recvfrom_exit,
    TpStage::SysRecvfrom
);
tp_stage!(
    kpath_tp_sys_recvmsg_entry,
    kpath_tp_sys_recvmsg_exit,
    TpStage::SysRecvmsg
);

/// Offset of `vec` in the `irq:softirq_entry`/`softirq_exit` record (after the 8-byte common
/// header), from `/sys/kernel/tracing/events/irq/softirq_entry/format`.
const SOFTIRQ_VEC_OFFSET: usize = 8;
/// `NET_RX_SOFTIRQ` in `include/linux/interrupt.h`.
const NET_RX_SOFTIRQ: u32 = 3;

/// `irq:softirq_entry`: counts the softirq, then opens the NET_RX stage if it is one.
#[tracepoint]
pub fn kpath_irq_softirq_entry(ctx: TracePointContext) -> u32 {
    hit(Hit::Irq);
    irq::softirq_enter();
    // SAFETY: the offset is inside the tracepoint's record.
    let vec: u32 = unsafe { ctx.read_at(SOFTIRQ_VEC_OFFSET) }.unwrap_or(u32::MAX);
    if vec == NET_RX_SOFTIRQ {
        if let Some(id) = maps::stage_func_id(TpStage::NetRxSoftirq) {
            record::enter(&ctx, id);
        }
    }
    0
}

/// `irq:softirq_exit`: closes the NET_RX stage, then ends the softirq's accounting.
#[tracepoint]
pub fn kpath_irq_softirq_exit(ctx: TracePointContext) -> u32 {
    let ts = record::now();
    hit(Hit::Irq);
    irq::softirq_exit_seen();
    // SAFETY: the offset is inside the tracepoint's record.
    let vec: u32 = unsafe { ctx.read_at(SOFTIRQ_VEC_OFFSET) }.unwrap_or(u32::MAX);
    if vec == NET_RX_SOFTIRQ {
        if let Some(id) = maps::stage_func_id(TpStage::NetRxSoftirq) {
            record::exit(&ctx, ts, id);
        }
    }
    irq::softirq_exit();
    0
}

/// Attached to `irq:irq_handler_entry` and each `irq_vectors:*_entry`.
#[tracepoint]
pub fn kpath_irq_hardirq_entry(_ctx: TracePointContext) -> u32 {
    hit(Hit::Irq);
    irq::hardirq_enter();
    0
}

/// Attached to `irq:irq_handler_exit` and each `irq_vectors:*_exit`.
#[tracepoint]
pub fn kpath_irq_hardirq_exit(_ctx: TracePointContext) -> u32 {
    hit(Hit::Irq);
    irq::hardirq_exit();
    0
}

/// Offsets of `prev_pid` and `next_pid` in the `sched:sched_switch` record, from
/// `/sys/kernel/tracing/events/sched/sched_switch/format` (the same from 4.x to 6.18; the
/// loader checks them against the running kernel's format before attaching).
const SCHED_SWITCH_PREV_PID_OFFSET: usize = probe_common::program::SCHED_SWITCH_PREV_PID_OFFSET;
const SCHED_SWITCH_NEXT_PID_OFFSET: usize = probe_common::program::SCHED_SWITCH_NEXT_PID_OFFSET;

/// `sched:sched_switch`: counts context switches per CPU, and keeps the switched-out time of
/// tasks with open calls (`record::switched`).
#[tracepoint]
pub fn kpath_sched_switch(ctx: TracePointContext) -> u32 {
    let ts = record::now();
    hit(Hit::Irq);
    irq::context_switch();
    if settings::MODE.load() == probe_common::mode::COUNT {
        return 0;
    }
    // SAFETY: the offsets are inside the tracepoint's record.
    let prev: u32 = unsafe { ctx.read_at(SCHED_SWITCH_PREV_PID_OFFSET) }.unwrap_or(0);
    // SAFETY: as above.
    let next: u32 = unsafe { ctx.read_at(SCHED_SWITCH_NEXT_PID_OFFSET) }.unwrap_or(0);
    // SAFETY: helper without arguments.
    let cpu = unsafe { aya_ebpf::helpers::generated::bpf_get_smp_processor_id() };
    record::switched(ts, cpu, prev, next);
    0
}

/// `sched:sched_process_exit`, in the exiting task: gives its call stack's slot back
/// (`stacks::release`).
#[tracepoint]
pub fn kpath_task_exit(_ctx: TracePointContext) -> u32 {
    hit(Hit::Irq);
    stacks::release(aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32);
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
