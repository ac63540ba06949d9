//! `kpath-stand`: command line and glue over the `kpath_stand` library.
//!
//! Subcommands: `echo` (the proxy), `gen` (the load generator), `netns up|down|status` and
//! `run-in` (two hosts as network namespaces), `sweep` (factorial experiments). Each
//! subcommand's flags and glue are in `cli/`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cli;

use cli::echo::{run_echo, EchoArgs};
use cli::gen::{run_gen, GenArgs};
use cli::netns::{run_in, run_netns, NetnsAction, Side};
use cli::sweep::{run_sweep, SweepArgs};

#[derive(Parser)]
#[command(
    name = "kpath-stand",
    version,
    about = "UDP echo/proxy server, load generator and two-host stand for kpath"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the UDP echo/reverse/forward server (the proxy).
    Echo(EchoArgs),
    /// Run the load generator against a server.
    Gen(GenArgs),
    /// Manage the two network namespaces `kpath-gen` and `kpath-proxy` (root).
    Netns {
        #[command(subcommand)]
        action: NetnsAction,
    },
    /// Run a command inside one of the stand's namespaces (root).
    RunIn {
        /// Which side.
        side: Side,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run a factorial sweep over clients × sizes [× busy-us] × repeat on loopback.
    Sweep(SweepArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(_) if kpath_cli::console::stdout_failed() => ExitCode::from(2),
        Ok(code) => code,
        Err(err) => {
            if kpath_cli::console::is_broken_pipe(err.as_ref()) {
                return ExitCode::SUCCESS;
            }
            kpath_cli::say!("kpath-stand: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Echo(a) => run_echo(a).map(|_| ExitCode::SUCCESS),
        Command::Gen(a) => run_gen(a).map(|_| ExitCode::SUCCESS),
        Command::Netns { action } => run_netns(action).map(|_| ExitCode::SUCCESS),
        Command::RunIn { side, command } => run_in(side, &command),
        Command::Sweep(a) => run_sweep(a).map(|_| ExitCode::SUCCESS),
    }
}
