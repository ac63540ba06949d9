//! `kpath-stand`: the UDP echo/proxy server and load generator kpath measures.
use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("kpath-stand: not implemented yet");
    ExitCode::from(2)
}
