//! `cargo xtask`: kpath's build, test, VM and demo tasks. Every command sets up what is
//! missing first, so a fresh machine needs nothing by hand.

mod build;
mod setup;
mod test;
mod treecheck;
mod util;
mod vm;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kpath's build, test, VM and demo tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing (Debian packages, bpf-linker); idempotent.
    Setup,
    /// Build the eBPF object (BPF target, BTF).
    BuildEbpf,
    /// Build the eBPF object and the release binaries that embed it.
    Build,
    /// Boot a stock Debian kernel under QEMU and run the kprobe/fentry scenarios.
    VmTest {
        /// Kernel series, e.g. 6.1 or 6.12 (default: the newest apt offers).
        #[arg(long)]
        kernel: Option<String>,
        /// Kernel package flavour.
        #[arg(long, value_enum, default_value = "cloud")]
        flavour: vm::Flavour,
    },
    /// fmt, clippy (user space and eBPF), unit tests, host eBPF tests, VM tests.
    Test {
        /// Skip the VM stage (quick local runs only).
        #[arg(long)]
        skip_vm: bool,
        /// Kernel series for the VM stage.
        #[arg(long)]
        kernel: Option<String>,
    },
    /// The main job on a built-in default.
    Demo,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Setup => setup::setup(),
        Cmd::BuildEbpf => {
            setup::setup()?;
            build::build_ebpf().map(|p| eprintln!("eBPF object: {}", p.display()))
        }
        Cmd::Build => {
            setup::setup()?;
            build::build()
        }
        Cmd::VmTest { kernel, flavour } => {
            setup::setup()?;
            build::build()?;
            vm::vm_test(flavour, kernel.as_deref())
        }
        Cmd::Test { skip_vm, kernel } => test::test(&test::TestOptions { skip_vm, kernel }),
        Cmd::Demo => {
            setup::setup()?;
            build::build()?;
            eprintln!(
                "demo: the end-to-end demo (stand + probes + analysis + plots) is not built yet;"
            );
            eprintln!("demo: running the VM scenario that proves the probes instead.");
            vm::vm_test(vm::Flavour::Cloud, None)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
