//! The library's error type.

use std::{io, net::SocketAddr, path::PathBuf};

/// Everything that can go wrong in the stand library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error("failed to {op} on a UDP socket for {addr}")]
    Socket {
        /// What was being done: "bind", "connect", "set SO_TIMESTAMPING", ...
        op: &'static str,
        /// The address involved.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An output file or directory could not be created (exists, a link...).
    #[error(transparent)]
    Output(#[from] kpath_cli::OutputError),
    /// Reading or writing a file failed.
    #[error("failed to {op} {}", path.display())]
    File {
        /// "create", "write", "read".
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other I/O error, with what was being done.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The generator was asked to send to an address off this machine.
    #[error(
        "refusing to send to {addr}: it is not a loopback address, and a load generator pointed \
         at someone else's host is an attack; pass --allow-remote for a real two-host stand \
         (or the namespace stand at 198.18.0.2)"
    )]
    RemoteTarget {
        /// The refused target.
        addr: SocketAddr,
    },
    /// A flag has an unusable value.
    #[error("invalid value for {flag}: {reason}")]
    InvalidArgument {
        /// The flag, e.g. `--rate`.
        flag: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// The operation needs root.
    #[error(
        "{what} requires root (CAP_SYS_ADMIN and CAP_NET_ADMIN to create network namespaces and \
         veth links); run it with sudo"
    )]
    NotRoot {
        /// The operation, e.g. "netns up".
        what: &'static str,
    },
    /// An external command could not be run or failed.
    #[error("failed to run `{command}`: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and standard error, or the spawn error.
        detail: String,
    },
    /// Output from an external program or /proc could not be parsed.
    #[error("failed to parse {what}: {detail}")]
    Parse {
        /// What was being parsed.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// Drawing a plot failed (its files, the gnuplot crate, or gnuplot itself).
    #[error(transparent)]
    Plot(#[from] kpath_plot::Error),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps a file error.
    pub fn file(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::File {
            op,
            path: path.into(),
            source,
        }
    }
}
