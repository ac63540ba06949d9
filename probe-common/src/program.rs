//! The names of the eBPF programs, which user space loads and attaches by name. The kernel
//! side's functions carry these names; `cargo xtask build` checks that the object holds every
//! one of [`ALL`] and the programs of every stage, so that a renamed program fails the build
//! rather than the first attach.

use crate::stage::TpStage;

/// kprobe at function entry.
pub const KPROBE: &str = "kpath_kprobe_entry";
/// kretprobe at function return.
pub const KRETPROBE: &str = "kpath_kprobe_exit";
/// fentry at function entry.
pub const FENTRY: &str = "kpath_fentry_entry";
/// fexit at function return.
pub const FEXIT: &str = "kpath_fexit_exit";
/// `irq:softirq_entry` (counts softirqs, opens the NET_RX stage).
pub const SOFTIRQ_ENTRY: &str = "kpath_irq_softirq_entry";
/// `irq:softirq_exit`.
pub const SOFTIRQ_EXIT: &str = "kpath_irq_softirq_exit";
/// Hard interrupt entries (`irq:irq_handler_entry`, `irq_vectors:*_entry`).
pub const HARDIRQ_ENTRY: &str = "kpath_irq_hardirq_entry";
/// Hard interrupt exits.
pub const HARDIRQ_EXIT: &str = "kpath_irq_hardirq_exit";
/// `sched:sched_switch`.
pub const SCHED_SWITCH: &str = "kpath_sched_switch";
/// `sched:sched_process_exit`: gives up the exiting task's call stack.
pub const TASK_EXIT: &str = "kpath_task_exit";
/// The bare timing pair (calibration): kprobe entry.
pub const BARE_KPROBE: &str = "kpath_bare_kprobe";
/// The bare timing pair: kretprobe.
pub const BARE_KRETPROBE: &str = "kpath_bare_kretprobe";
/// The bare timing pair: fentry.
pub const BARE_FENTRY: &str = "kpath_bare_fentry";
/// The bare timing pair: fexit.
pub const BARE_FEXIT: &str = "kpath_bare_fexit";
/// The bare timing pair: entry tracepoint.
pub const BARE_TP_ENTER: &str = "kpath_bare_tp_enter";
/// The bare timing pair: exit tracepoint.
pub const BARE_TP_EXIT: &str = "kpath_bare_tp_exit";

/// Every program of the object that is not a stage's (see [`stage_programs`]).
pub const ALL: [&str; 16] = [
    KPROBE,
    KRETPROBE,
    FENTRY,
    FEXIT,
    SOFTIRQ_ENTRY,
    SOFTIRQ_EXIT,
    HARDIRQ_ENTRY,
    HARDIRQ_EXIT,
    SCHED_SWITCH,
    TASK_EXIT,
    BARE_KPROBE,
    BARE_KRETPROBE,
    BARE_FENTRY,
    BARE_FEXIT,
    BARE_TP_ENTER,
    BARE_TP_EXIT,
];

/// The entry and exit programs of a tracepoint stage.
pub const fn stage_programs(stage: TpStage) -> (&'static str, &'static str) {
    match stage {
        TpStage::NetifReceiveSkb => (
            "kpath_tp_netif_receive_skb_entry",
            "kpath_tp_netif_receive_skb_exit",
        ),
        TpStage::NetifRx => ("kpath_tp_netif_rx_entry", "kpath_tp_netif_rx_exit"),
        TpStage::NapiGroReceive => (
            "kpath_tp_napi_gro_receive_entry",
            "kpath_tp_napi_gro_receive_exit",
        ),
        TpStage::NetRxSoftirq => (SOFTIRQ_ENTRY, SOFTIRQ_EXIT),
        TpStage::SysSendto => ("kpath_tp_sys_sendto_entry", "kpath_tp_sys_sendto_exit"),
        TpStage::SysSendmsg => ("kpath_tp_sys_sendmsg_entry", "kpath_tp_sys_sendmsg_exit"),
        TpStage::DevXmit => ("kpath_tp_net_dev_xmit_entry", "kpath_tp_net_dev_xmit_exit"),
        TpStage::SysRecvfrom => ("kpath_tp_sys_recvfrom_entry", "kpath_tp_sys_recvfrom_exit"),
        TpStage::SysRecvmsg => ("kpath_tp_sys_recvmsg_entry", "kpath_tp_sys_recvmsg_exit"),
    }
}

/// Offset of `prev_pid` in the `sched:sched_switch` record (after the 8-byte common header
/// and `prev_comm[16]`), as `/sys/kernel/tracing/events/sched/sched_switch/format` gives it.
pub const SCHED_SWITCH_PREV_PID_OFFSET: usize = 24;
/// Offset of `next_pid` in the `sched:sched_switch` record.
pub const SCHED_SWITCH_NEXT_PID_OFFSET: usize = 56;
