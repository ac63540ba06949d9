//! What can go wrong while drawing a figure.

use std::io;
use std::path::PathBuf;

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A figure name that is not a plain file-name stem.
    #[error("invalid figure name {0:?}: only ASCII letters, digits, `_`, `-` and `.` (not first)")]
    Name(String),
    /// An output file or directory could not be created (exists, a link, ...).
    #[error(transparent)]
    Output(#[from] kpath_cli::OutputError),
    /// The output directory's path cannot be handed to the gnuplot crate.
    #[error("{}: the gnuplot crate needs a UTF-8 path for its data files", .0.display())]
    NotUtf8(PathBuf),
    /// The output directory's absolute path could not be found.
    #[error("cannot find the absolute path of {}", path.display())]
    Absolute {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The gnuplot crate panicked while writing the figure's data (it unwraps file creation).
    #[error("the gnuplot crate failed to write the data of {name} into {}: {message}", dir.display())]
    CratePanic {
        /// The figure.
        name: String,
        /// Its data directory.
        dir: PathBuf,
        /// The panic's message.
        message: String,
    },
    /// The script the crate wrote is not one kpath will run.
    #[error("{}: refused to write the script: {reason}", script.display())]
    Script {
        /// The script.
        script: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The figure has no plot element with data.
    #[error("{}: nothing to plot (no element has data)", script.display())]
    Empty {
        /// The script.
        script: PathBuf,
    },
    /// gnuplot could not be started.
    #[error("failed to run gnuplot on {}", script.display())]
    GnuplotSpawn {
        /// The script.
        script: PathBuf,
        /// The OS error (NotFound when gnuplot is not installed).
        #[source]
        source: io::Error,
    },
    /// gnuplot ran but failed.
    #[error("gnuplot failed on {} ({status}): {stderr}", script.display())]
    GnuplotFailed {
        /// The script.
        script: PathBuf,
        /// Exit status.
        status: String,
        /// What gnuplot printed on stderr.
        stderr: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
