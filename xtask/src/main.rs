//! `cargo xtask`: kpath's build, test, VM and demo tasks. Every command sets up what is
//! missing first, so a fresh machine needs nothing by hand.

mod bench;
mod build;
mod demo;
mod fuzz;
mod setup;
mod test;
mod treecheck;
mod util;
mod vm;
mod vmstand;

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
        /// Also run the kernel matrix (6.1, 6.12, 6.12-rt and the host).
        #[arg(long)]
        full: bool,
    },
    /// kpath against its peers, side by side: probe effect (bpftrace, bare mechanism),
    /// recorder capacity, analysis speed (awk), the stand (sockperf). Writes
    /// target/bench/results.json.
    Bench {
        /// Smaller workloads: a smoke run whose figures are not the documented ones.
        #[arg(long)]
        quick: bool,
        /// Rounds per condition (each round runs every condition once, in turn). Five: on this
        /// shared 2-CPU host one round in five can collapse for every condition at once, and
        /// the median of five shrugs it off where the median of three may not (576 s in all).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=20))]
        rounds: u16,
        /// Run only this section (repeatable; default: all). The document then goes to
        /// target/bench/partial.json, not results.json.
        #[arg(long, value_enum)]
        section: Vec<bench::SectionName>,
    },
    /// The libFuzzer targets of `fuzz/` (trace, results, points and sojourn CSV readers), one
    /// after another (cargo-fuzz, nightly). Writes target/fuzz/results.json; fails on a crash.
    Fuzz {
        /// Seconds each target runs.
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
        /// Run only this target (default: all).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(fuzz::TARGETS))]
        target: Option<String>,
    },
    /// The main job on a built-in default: stand, probes, analysis, validation, report.
    Demo(demo::DemoOptions),
    /// The two-host stand on emulated NICs (generic kernel): trace, report and call trees.
    VmStand {
        /// Emulated card model.
        #[arg(long, value_enum)]
        nic: vmstand::Nic,
        /// Kernel: 6.1, 6.12 or 6.12-rt.
        #[arg(long, default_value = vmstand::DEFAULT_KERNEL)]
        kernel: String,
        /// Datagrams relayed while recording.
        #[arg(long, default_value_t = vmstand::CI_COUNT)]
        count: usize,
        /// Output directory (default target/vm-stand/<nic>-<kernel>/).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Also run `kpath-probe discover` over the network code and record what it finds.
        #[arg(long)]
        discover: bool,
    },
    /// The stand and the mechanism checks on every kernel offered, and the host's kernel.
    Matrix {
        /// Emulated card model.
        #[arg(long, value_enum, default_value = "rtl8139")]
        nic: vmstand::Nic,
        /// Datagrams relayed per kernel.
        #[arg(long, default_value_t = vmstand::CI_COUNT)]
        count: usize,
    },
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
        Cmd::Test {
            skip_vm,
            kernel,
            full,
        } => test::test(&test::TestOptions {
            skip_vm,
            kernel,
            full,
        }),
        Cmd::VmStand {
            nic,
            kernel,
            count,
            out,
            discover,
        } => {
            setup::setup()?;
            build::build()?;
            let opts = vmstand::StandOptions {
                nic,
                kernel: vmstand::KernelChoice::parse(&kernel)?,
                count,
                out,
                mechanisms: false,
                discover,
            };
            let run = vmstand::vm_stand(&opts)?;
            vmstand::check_stand(&run.summary, count)
        }
        Cmd::Matrix { nic, count } => {
            setup::setup()?;
            build::build()?;
            vmstand::matrix(nic, count)
        }
        Cmd::Bench {
            quick,
            rounds,
            section,
        } => {
            setup::setup()?;
            build::build()?;
            bench::bench(&bench::options(quick, usize::from(rounds), section))
        }
        // Only cargo-fuzz and nightly are needed (`fuzz::fuzz` installs them), not the
        // Debian packages or the eBPF object.
        Cmd::Fuzz { seconds, target } => fuzz::fuzz(&match target {
            Some(t) => fuzz::FuzzOptions {
                seconds,
                targets: vec![t],
            },
            None => fuzz::FuzzOptions::all(seconds),
        }),
        Cmd::Demo(opts) => {
            setup::setup()?;
            build::build()?;
            demo::demo(&opts)
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
