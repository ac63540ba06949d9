//! Interrupt and context-switch accounting: the tracepoints that let every sample say whether
//! a hard IRQ, a softirq, a switch or a migration happened inside it.

use super::{program, Probes};
use crate::{kernel, ProbeError};

impl Probes {
    /// Attaches interrupt and context-switch accounting; returns the tracepoints used.
    /// Without it every sample looks clean and contexts are all "process".
    pub fn attach_irq_accounting(&mut self) -> Result<Vec<String>, ProbeError> {
        kernel::ensure_tracefs()?;
        let mut used = Vec::new();
        let mut pairs: Vec<(&'static str, &'static str, String, String)> = vec![
            (
                program::SOFTIRQ_ENTRY,
                program::SOFTIRQ_EXIT,
                "irq".into(),
                "softirq".into(),
            ),
            (
                program::HARDIRQ_ENTRY,
                program::HARDIRQ_EXIT,
                "irq".into(),
                "irq_handler".into(),
            ),
        ];
        for vector in kernel::irq_vectors() {
            pairs.push((
                program::HARDIRQ_ENTRY,
                program::HARDIRQ_EXIT,
                "irq_vectors".into(),
                vector,
            ));
        }
        for (enter, exit, category, base) in pairs {
            let (e, x) = (format!("{base}_entry"), format!("{base}_exit"));
            if kernel::has_tracepoint(&category, &e) && kernel::has_tracepoint(&category, &x) {
                // Exit first, so that no entry is seen without its exit.
                self.attach_tracepoint(exit, &category, &x)?;
                self.attach_tracepoint(enter, &category, &e)?;
                used.push(format!("{category}:{base}"));
            }
        }
        // The switch program reads the two pids at fixed offsets: check them first.
        for (field, expected) in [
            ("prev_pid", program::SCHED_SWITCH_PREV_PID_OFFSET),
            ("next_pid", program::SCHED_SWITCH_NEXT_PID_OFFSET),
        ] {
            let found = kernel::tracepoint_field_offset("sched", "sched_switch", field);
            if found != Some(expected) {
                return Err(ProbeError::TracepointLayout {
                    tracepoint: "sched:sched_switch",
                    field,
                    found,
                    expected,
                });
            }
        }
        self.attach_tracepoint(program::SCHED_SWITCH, "sched", "sched_switch")?;
        used.push("sched:sched_switch".into());
        // Gives an exiting task's call-stack slot back (`probe-ebpf/src/stacks.rs`); without
        // it the slots of exited tasks stay taken and later tasks use the slower shared map.
        self.attach_tracepoint(program::TASK_EXIT, "sched", "sched_process_exit")?;
        used.push("sched:sched_process_exit".into());
        Ok(used)
    }
}
