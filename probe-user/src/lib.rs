//! kpath's recorder: load the embedded eBPF object, attach probes by mechanism, drain events
//! into a trace.
//!
//! Data flow (retsnoop's, in Rust): [`loader::Probes`] loads and attaches the programs of
//! `probe-ebpf`; the programs write records to the `EVENTS` ring buffer; the recorder drains
//! them into a [`kpath_trace::TraceWriter`].
#![deny(missing_docs)]

pub mod bare_timing;
pub mod calibrate;
pub mod check;
pub mod discover;
pub mod error;
pub mod functions;
pub mod kernel;
pub mod loader;
pub mod object;
pub mod pinned;
pub mod recorder;
pub mod ring;

pub use error::ProbeError;
pub use loader::{Probes, Settings};
