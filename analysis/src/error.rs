//! The library's error type: every variant names the file or field it is about.

use std::io;
use std::path::PathBuf;

/// What can go wrong in the analysis library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The trace could not be read.
    #[error("failed to read trace {}", path.display())]
    Trace {
        /// The trace file.
        path: PathBuf,
        /// The reader's error (names the record and offset).
        #[source]
        source: kpath_trace::TraceError,
    },
    /// A results file (JSON) was given where a trace is read.
    #[error("{} is a JSON document (a results file?), not a kpath trace: `report`, `tree`, `fold`, `flame`, `analyze` and `export` read traces (kpath-probe record -o FILE); `plot`, `html` and `model` read results", path.display())]
    NotATrace {
        /// The file given.
        path: PathBuf,
    },
    /// A trace was given where a results file is read.
    #[error("{p} is a kpath trace, not a results file: run `kpath analyze {p} -o results.json` first, then give it results.json", p = path.display())]
    NotResults {
        /// The file given.
        path: PathBuf,
    },
    /// An output file or directory could not be created (exists, a link, the input...).
    #[error(transparent)]
    Output(#[from] kpath_cli::OutputError),
    /// Reading or writing a file failed.
    #[error("failed to {what} {}", path.display())]
    Io {
        /// What was being done ("write", "create directory", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A results file is not valid results JSON.
    #[error("failed to parse results {}", path.display())]
    ResultsJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A results file parses but holds a value outside its field's domain.
    #[error("results {}: `{field}` = {value}: {reason}", path.display())]
    ResultsField {
        /// The file.
        path: PathBuf,
        /// The field's path, e.g. `validation.choices[1].points[3].rho`.
        field: String,
        /// The value found.
        value: f64,
        /// What the field must be.
        reason: &'static str,
    },
    /// Serialising output failed.
    #[error("failed to serialise {what}")]
    Serialise {
        /// What was being written.
        what: &'static str,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An input to the queueing model is out of its domain.
    #[error("invalid model input `{field}` = {value}: {reason}")]
    ModelInput {
        /// The field or flag (`mean`, `variance`, `rho`, `tick-ns`).
        field: &'static str,
        /// The offending value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An option has an invalid value.
    #[error("invalid option `{option}`: {reason}")]
    Option {
        /// The option name.
        option: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A figure could not be drawn (its files, the gnuplot crate, or gnuplot itself).
    #[error(transparent)]
    Plot(#[from] kpath_plot::Error),
    /// A validation points file is not valid points JSON (see `docs/model.md`, "Validation").
    #[error("failed to parse validation points {}", path.display())]
    PointsJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A sojourn CSV file (`kpath-stand echo --timestamps`) is malformed.
    #[error("failed to read sojourn CSV {} at line {line}: {reason}", path.display())]
    SojournCsv {
        /// The file.
        path: PathBuf,
        /// Line number, from 1.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A validation input is out of its domain.
    #[error("invalid validation input for {what}: {reason}")]
    ValidationInput {
        /// The choice or point ("choice `relay`", "choice `probes`, point ρ = 0.5").
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The command needs records, but the trace was recorded in stats mode (aggregated in the
    /// kernel, no records).
    #[error("{} is a stats-mode trace (kpath-probe record --mode stats: aggregated in the kernel, 0 records), so it has no {what}; `kpath report` prints its per-function statistics", path.display())]
    StatsModeTrace {
        /// The trace file.
        path: PathBuf,
        /// What it lacks ("call trees", "call stacks", "calls").
        what: &'static str,
    },
    /// A selection (`--pid`, `--cpu`, `--comm`, `--function`, `--from`, `--to`) cannot apply
    /// to the trace; the message names the flag.
    #[error(transparent)]
    Selection(#[from] crate::selection::SelectionError),
    /// Drawing the flame graph failed.
    #[error("failed to draw flame graph {}", path.display())]
    Flame {
        /// Output file.
        path: PathBuf,
        /// inferno's error.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
