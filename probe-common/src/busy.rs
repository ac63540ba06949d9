//! Per-CPU busy and idle time, from the switches to and from the idle task: the proxy's whole
//! service demand (utilisation law, `S = busy time / datagrams`), of which the probed path is
//! a part, and its busy cycles (`docs/recorder.md`, "Busy time").
//!
//! A CPU is **idle** while its idle task (pid 0) is current and no interrupt runs over it;
//! everything else is **busy**: tasks, and hardirqs and softirqs, including those that run
//! over the idle task (on an idle proxy CPU, the receive softirq of a datagram runs there,
//! before the task it wakes). The kernel side sees the idle task come and go in
//! `sched:sched_switch` (pid 0 as `prev` or `next`), and takes the interrupt time that ran
//! over it from its per-CPU interrupt totals, which the same handler already reads.
//!
//! A **busy cycle** is one wake-up's work: from the switch out of the idle task to the next
//! switch into it, plus the interrupt time over the idle task just before (the softirq that
//! woke the task). At low load one datagram makes one cycle, so the cycles give the mean and
//! variance of the service demand of one datagram. `sched_switch` was chosen over
//! `power:cpu_idle` because it fires on every kernel (cpu_idle needs a cpuidle driver; x86
//! guests without one idle in `default_idle` with no event) and marks the moment the idle
//! task stops, where cpu_idle's exit comes before the interrupt that ends the idle state is
//! handled.

use crate::stats::Moments;

/// One CPU's busy accounting, in the `CPU_BUSY` per-CPU map. All times are
/// `bpf_ktime_get_ns` (CLOCK_MONOTONIC); a field that is 0 was not set yet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuBusy {
    /// The first switch seen on this CPU: the start of the accounted window.
    pub first_ns: u64,
    /// The last switch seen: the end of the window (the CPU's state after it is unknown).
    pub last_ns: u64,
    /// Idle time within the window: the idle task current, less the interrupt time over it.
    /// Only idle periods that ended inside the window count, so the window ends busy or at
    /// the start of the current idle period, and `busy = last − first − idle_ns`.
    pub idle_ns: u64,
    /// Interrupt time over the idle task within the window (busy, and part of `busy`).
    pub idle_irq_ns: u64,
    /// Busy cycles up to [`LONG_CYCLE_NS`] that began and ended inside the window, in ns.
    pub cycles: Moments,
    /// Longer cycles: a busy period of many datagrams at load, or other work (a kernel
    /// thread, a preempting task) that one outlier would let dominate the variance of the
    /// one-datagram cycles. Counted apart, with their total time.
    pub long_cycles: u64,
    /// Their total time, ns.
    pub long_cycles_ns: u64,
    /// Start of the current idle period (0 when busy or unknown).
    pub idle_since_ns: u64,
    /// The CPU's interrupt time total (hardirq + softirq) at `idle_since_ns`.
    pub irq_at_idle_ns: u64,
    /// Start of the current busy cycle (0 when idle, or when it began before the window).
    pub cycle_since_ns: u64,
    /// Interrupt time over the idle task just before the current cycle.
    pub cycle_irq_ns: u64,
}

/// Cycles longer than this (1 ms) are counted apart ([`CpuBusy::long_cycles`]): one datagram's
/// work on any host this runs on takes tens of µs, and a 5 ms cycle among 2 000 of 25 µs
/// (seen in the demo: a preemption) would make the cycles' variance 20 times their mean².
pub const LONG_CYCLE_NS: u64 = 1_000_000;

/// Bytes of a [`CpuBusy`].
pub const CPU_BUSY_SIZE: usize = 120;
const _: () = assert!(core::mem::size_of::<CpuBusy>() == CPU_BUSY_SIZE);

impl CpuBusy {
    /// A switch on this CPU at `ts_ns` from task `prev` to task `next` (pid 0 is the idle
    /// task), when the CPU's interrupt time total is `irq_total_ns`.
    #[inline(always)]
    pub fn switched(&mut self, ts_ns: u64, prev: u32, next: u32, irq_total_ns: u64) {
        if self.first_ns == 0 {
            self.first_ns = ts_ns;
        }
        self.last_ns = ts_ns;
        if prev == 0 {
            // A wake-up: the idle period ends, the cycle begins. Without a known start (the
            // first switch seen), neither is counted.
            if self.idle_since_ns != 0 {
                let period = ts_ns.saturating_sub(self.idle_since_ns);
                let irq = irq_total_ns.saturating_sub(self.irq_at_idle_ns).min(period);
                self.idle_ns += period - irq;
                self.idle_irq_ns += irq;
                self.cycle_irq_ns = irq;
                self.cycle_since_ns = ts_ns;
            } else {
                self.cycle_since_ns = 0;
            }
            self.idle_since_ns = 0;
        }
        if next == 0 {
            if self.cycle_since_ns != 0 {
                let cycle = ts_ns.saturating_sub(self.cycle_since_ns) + self.cycle_irq_ns;
                if cycle <= LONG_CYCLE_NS {
                    self.cycles.add(cycle);
                } else {
                    self.long_cycles += 1;
                    self.long_cycles_ns = self.long_cycles_ns.saturating_add(cycle);
                }
            }
            self.cycle_since_ns = 0;
            self.idle_since_ns = ts_ns;
            self.irq_at_idle_ns = irq_total_ns;
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]`, `Copy`, all u64 fields (so no padding), every bit pattern valid.
unsafe impl aya::Pod for CpuBusy {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_makes_one_cycle_with_the_softirq_before_it() {
        let mut b = CpuBusy::default();
        // Busy from the first switch (task 7 to idle), idle from 1 000 ns.
        b.switched(1_000, 7, 0, 50);
        assert_eq!(
            (b.first_ns, b.idle_since_ns, b.cycles.count),
            (1_000, 1_000, 0)
        );
        // A softirq of 300 ns over the idle task, then it wakes task 9 at 5 000.
        b.switched(5_000, 0, 9, 350);
        assert_eq!(b.idle_ns, 4_000 - 300);
        assert_eq!(b.idle_irq_ns, 300);
        // Task 9 hands over to task 10, which sleeps at 7 000.
        b.switched(6_000, 9, 10, 350);
        b.switched(7_000, 10, 0, 400);
        assert_eq!(b.cycles.count, 1);
        assert_eq!(
            b.cycles.sum_ns,
            2_000 + 300,
            "task time plus the softirq before it"
        );
        // Window 1 000..7 000, idle 3 700 of it.
        assert_eq!(b.last_ns - b.first_ns - b.idle_ns, 6_000 - 3_700);
    }

    #[test]
    fn a_cycle_begun_before_the_window_is_not_counted() {
        let mut b = CpuBusy::default();
        // The first switch seen is a wake-up: its idle period's start is unknown.
        b.switched(2_000, 0, 9, 0);
        assert_eq!((b.idle_ns, b.cycle_since_ns), (0, 0));
        b.switched(3_000, 9, 0, 0);
        assert_eq!(b.cycles.count, 0);
        // The next one is whole.
        b.switched(4_000, 0, 9, 0);
        b.switched(4_500, 9, 0, 0);
        assert_eq!((b.cycles.count, b.cycles.sum_ns), (1, 500));
        assert_eq!(b.last_ns - b.first_ns - b.idle_ns, 2_500 - 1_000);
        // A cycle longer than LONG_CYCLE_NS is counted apart.
        b.switched(5_000, 0, 9, 0);
        b.switched(5_000 + LONG_CYCLE_NS + 1, 9, 0, 0);
        assert_eq!(b.cycles.count, 1);
        assert_eq!((b.long_cycles, b.long_cycles_ns), (1, LONG_CYCLE_NS + 1));
    }
}
