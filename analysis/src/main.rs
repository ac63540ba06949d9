//! `kpath`: offline analysis of kpath traces.
use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("kpath: not implemented yet");
    ExitCode::from(2)
}
