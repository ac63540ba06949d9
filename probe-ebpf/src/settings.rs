//! Load-time settings, written by user space with `EbpfLoader::override_global`.

use aya_ebpf::Global;

/// What the entry/exit programs do: one of `probe_common::mode`.
#[unsafe(no_mangle)]
pub static MODE: Global<u32> = Global::new(probe_common::mode::TRACE);

/// Only process-context calls of this thread group are recorded (0: any).
#[unsafe(no_mangle)]
pub static FILTER_PID: Global<u32> = Global::new(0);

/// Only calls on these CPUs are recorded (`probe_common::cpus`; all ones: any).
#[unsafe(no_mangle)]
pub static FILTER_CPUS: Global<probe_common::cpus::CpuSet> =
    Global::new(probe_common::cpus::ANY_CPU);

/// Only process-context calls of tasks with this comm are recorded (all zero: any). The 16
/// comm bytes as two little-endian words, compared word by word.
#[unsafe(no_mangle)]
pub static FILTER_COMM: Global<[u64; 2]> = Global::new([0; 2]);

/// Unread bytes in a CPU's event ring at which a submit forces a reader wake-up (`wakeup.rs`);
/// below it records wait for the recorder's timer. User space sets it from the ring's size.
/// 0 selects the kernel's adaptive notification (a wake-up whenever the reader had caught
/// up), the behaviour of kpath 0.1, for measurements only.
#[unsafe(no_mangle)]
pub static WAKEUP_FILL_BYTES: Global<u64> = Global::new(probe_common::ring::wakeup_fill_bytes(
    probe_common::ring::DEFAULT_RING_BYTES,
));

/// `slots - 1` for the task-stack array's size (`stacks.rs`, a power of two set by user space
/// with the map's size).
#[unsafe(no_mangle)]
pub static TASK_SLOT_MASK: Global<u32> =
    Global::new(probe_common::task_slots::DEFAULT_TASK_SLOTS - 1);
