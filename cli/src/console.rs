//! Printing that never panics. `println!` and `eprintln!` panic when their stream is closed
//! (`kpath-probe list | head`, `kpath report T 2>&1 | head`), and a panic would end a
//! recorder before it finalised its trace.
//!
//! - [`say!`](crate::say) writes a line to standard error and drops what cannot be written.
//! - [`out!`](crate::out) writes a line to standard output. Once the reader has gone (a broken
//!   pipe) the rest of the output is dropped quietly, as `head` expects, and the program goes
//!   on: a command that also writes a file (`calibrate -o`) still writes it. Any other write
//!   error (a full disk under `> FILE`) is said once on standard error, and
//!   [`stdout_failed`] lets the binary end with a failure.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output could not be written: later output is dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Set when that was not a broken pipe: output was lost, and the exit status must say so.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes a line to standard error, dropping it if standard error is closed.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

/// Writes to standard error without a newline (a progress line), as `eprint!`.
#[macro_export]
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::write!(::std::io::stderr().lock(), $($arg)*);
    }};
}

/// Writes a line to standard output (see the module's documentation for a closed one).
#[macro_export]
macro_rules! out {
    () => { $crate::console::write_stdout(::std::format_args!(""), true) };
    ($($arg:tt)*) => { $crate::console::write_stdout(::std::format_args!($($arg)*), true) };
}

/// Writes to standard output without a newline, as `print!`.
#[macro_export]
macro_rules! out_part {
    ($($arg:tt)*) => { $crate::console::write_stdout(::std::format_args!($($arg)*), false) };
}

/// What [`out!`](crate::out) and [`out_part!`](crate::out_part) call.
pub fn write_stdout(args: fmt::Arguments<'_>, newline: bool) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut o = io::stdout().lock();
    let written = o
        .write_fmt(args)
        .and_then(|()| if newline { o.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            let program = std::env::args_os()
                .next()
                .map(std::path::PathBuf::from)
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "kpath".into());
            crate::say!("{program}: cannot write standard output ({e}): the rest of it is lost");
        }
    }
}

/// Whether `e`, or any error under it, is a broken pipe: the reader has gone, which ends a
/// command quietly (exit 0), not with an error.
pub fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Whether output to standard output was lost for another reason than its reader leaving:
/// the binary then ends with a failure, whatever else it did.
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broken pipe is found under layers of other errors; another kind is not one.
    #[test]
    fn a_broken_pipe_is_found_under_other_errors() {
        #[derive(Debug)]
        struct Wrapped(io::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("writing the report")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let pipe = Wrapped(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&pipe));
        let full = Wrapped(io::Error::from(io::ErrorKind::StorageFull));
        assert!(!is_broken_pipe(&full));
        assert!(is_broken_pipe(&io::Error::from(io::ErrorKind::BrokenPipe)));
    }
}
