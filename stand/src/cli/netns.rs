//! `kpath-stand netns up|down|status` and `run-in`: the two network namespaces of the stand.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use kpath_stand::netns;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Side {
    /// The generator's namespace, `kpath-gen` (198.18.0.1).
    Gen,
    /// The proxy's namespace, `kpath-proxy` (198.18.0.2).
    Proxy,
}

#[derive(Subcommand)]
pub(crate) enum NetnsAction {
    /// Create the namespaces, veth pair and addresses (idempotent).
    Up(NetnsUpArgs),
    /// Remove everything `up` made.
    Down,
    /// Show what exists.
    Status,
}

#[derive(Args)]
pub(crate) struct NetnsUpArgs {
    /// Give each side CPUs of its own (RPS on each veth end): the generator CPU 0, the proxy
    /// the last CPU. Pin the programs too: `echo --pin-cpu`, and `taskset` for `gen`.
    #[arg(long, conflicts_with_all = ["gen_cpus", "proxy_cpus"])]
    isolate: bool,
    /// The generator's CPUs, e.g. 0, 0,1 or 0-2 (with --proxy-cpus).
    #[arg(long, requires = "proxy_cpus", value_parser = kpath_cli::value::cpu_list)]
    gen_cpus: Option<kpath_cli::value::CpuList>,
    /// The proxy's CPUs, e.g. 1 (with --gen-cpus).
    #[arg(long, requires = "gen_cpus", value_parser = kpath_cli::value::cpu_list)]
    proxy_cpus: Option<kpath_cli::value::CpuList>,
}
pub(crate) fn run_netns(action: NetnsAction) -> Result<()> {
    let stand = netns::Stand::default();
    match action {
        NetnsAction::Up(a) => {
            let split = match (&a.gen_cpus, &a.proxy_cpus, a.isolate) {
                (Some(g), Some(p), _) => {
                    let cpus = |l: &kpath_cli::value::CpuList| {
                        l.0.iter().map(|&c| c as usize).collect::<Vec<_>>()
                    };
                    Some(netns::CpuSplit {
                        gen: cpus(g),
                        proxy: cpus(p),
                    })
                }
                (_, _, true) => {
                    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                    Some(netns::CpuSplit::auto(cpus).with_context(|| {
                        format!("--isolate needs at least 2 CPUs; this machine has {cpus}")
                    })?)
                }
                _ => None,
            };
            stand
                .up()
                .context("failed to bring the namespace stand up")?;
            kpath_cli::out!(
                "up: {} ({}) <-> {} ({})",
                stand.gen_ns,
                stand.gen_addr,
                stand.proxy_ns,
                stand.proxy_addr
            );
            if let Some(split) = split {
                let threads = stand
                    .isolate(&split)
                    .context("failed to give each side its own CPUs")?;
                kpath_cli::out!(
                    "isolated: {} receives on CPUs {:?} (RPS, NAPI threads {threads:?}), {} on \
                     CPUs {:?} (RPS); pin the programs there too",
                    stand.gen_ns,
                    split.gen,
                    stand.proxy_ns,
                    split.proxy
                );
            }
        }
        NetnsAction::Down => {
            stand
                .down()
                .context("failed to take the namespace stand down")?;
            kpath_cli::out!("down: removed {} and {}", stand.gen_ns, stand.proxy_ns);
        }
        NetnsAction::Status => {
            kpath_cli::out_part!(
                "{}",
                stand
                    .status()
                    .context("failed to read the stand's status")?
            );
        }
    }
    Ok(())
}

pub(crate) fn run_in(side: Side, command: &[String]) -> Result<ExitCode> {
    let stand = netns::Stand::default();
    let ns = match side {
        Side::Gen => &stand.gen_ns,
        Side::Proxy => &stand.proxy_ns,
    };
    let status =
        netns::run_in(ns, command).with_context(|| format!("failed to run {command:?} in {ns}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::from(1),
    })
}
