//! Types shared by the kernel side (`probe-ebpf`) and the user side (`probe-user`, the trace
//! reader and writer) of kpath.
//!
//! Everything here is `#[repr(C)]`, `Copy` and free of implicit padding, so the bytes one side
//! writes are the bytes the other side reads. The byte layout of [`event::Event`] is also the
//! layout of a record in a trace file (see `docs/trace-format.md`).
#![no_std]
#![deny(missing_docs)]

pub mod busy;
pub mod calibration;
pub mod counters;
pub mod cpus;
pub mod event;
pub mod mode;
pub mod program;
pub mod ring;
pub mod stage;
pub mod stats;
pub mod task_slots;

pub use event::{Event, EventKind, ExecContext, EVENT_SIZE};
