//! What kpath's three binaries (`kpath-probe`, `kpath`, `kpath-stand`) share at their edges,
//! in the manner of ripgrep's `grep-cli`:
//!
//! - [`output`]: output files and directories created without following symbolic links,
//!   never replacing a file without `--force`, never replacing an input, and owned by the
//!   user who ran `sudo`;
//! - [`invoker`]: who that user is;
//! - [`value`]: durations, rates, sizes and counts parsed with their bounds, so that nothing
//!   out of range gets past the command line;
//! - [`console`]: printing that never panics on a closed pipe ([`say!`], [`out!`]).
#![deny(missing_docs)]

pub mod console;
pub mod invoker;
pub mod output;
pub mod value;

pub use invoker::{is_root, Invoker};
pub use output::{Output, OutputError};
