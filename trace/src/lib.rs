//! The kpath trace file: a preamble, JSON metadata, then fixed-size little-endian records.
//!
//! `docs/trace-format.md` is the specification; this crate is its reference implementation.
//! [`TraceWriter`] is used by `kpath-probe` while recording, [`TraceReader`] by `kpath` (and
//! anyone else) to stream records back with validation and precise error offsets.
//!
//! ```no_run
//! use kpath_trace::TraceReader;
//! let mut reader = TraceReader::open("kpath.trace")?;
//! println!("{} functions", reader.metadata().functions.len());
//! while let Some(event) = reader.next_event()? {
//!     let _ = event.dur_ns;
//! }
//! # Ok::<(), kpath_trace::TraceError>(())
//! ```
#![deny(missing_docs)]

mod direct;
mod error;
pub mod format;
mod mapped;
mod meta;
mod prefetch;
mod reader;
pub mod rebuild;
pub mod recording;
mod writer;

pub use error::TraceError;
pub use meta::{
    saturating_sum, CallerCost, CpuBusyInfo, FunctionInfo, Mechanism, Metadata, PairTiming,
    ProbeCost, RecorderUsage,
};
pub use prefetch::prefetch_following;
pub use probe_common::event::{flags, Event, EventKind, ExecContext, EVENT_SIZE};
pub use reader::{CutTail, Events, TraceReader};
pub use writer::{DirectWrites, TraceWriter};
