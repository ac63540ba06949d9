//! `cargo xtask vm-stand` and `cargo xtask matrix`: the method's two-host stand on real NIC
//! driver code. One guest on a Debian **generic** kernel gets two emulated cards of one model
//! (rtl8139, driven by `8139cp`, or e1000) joined by a QEMU socket "cable" on 127.0.0.1; one
//! card goes into a "proxy" network namespace, the other into a "gen" namespace. The proxy
//! runs `kpath-stand echo`, `kpath-probe record` (kprobes, the `udp-echo` preset plus the
//! current list-receive equivalents) traces it while the generator plays ping-pong from the
//! other namespace, and the trace comes back on a disk image (sha256 checked) for `kpath`.
//!
//! The matrix boots the same stand on every kernel the package index offers among 6.1, 6.12
//! and 6.12-rt, adds `kpath-probe check` (kprobe, kretprobe, fentry, fexit, tracepoint on
//! `udp_sendmsg`) and a direct fentry attempt on the driver's transmit function, and runs
//! `check` on the host's own kernel too.
//!
//! The emulated-NIC stand and the kernel matrix share the boot and the checks; the guest
//! script is `xtask/scenarios/stand.sh`. This module boots one stand run; its submodules:
//!
//! - `nic`: the card models and the socket cable between the two cards;
//! - `kernel`: the kernel choice and the modules the guest loads from it;
//! - `summary`: the structure of the recorded trace and the stand's assertions on it;
//! - `matrix`: `cargo xtask matrix`, the stand and the mechanism checks on every kernel.

mod kernel;
mod matrix;
mod nic;
mod summary;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::util::{output, workspace_root};
use crate::vm::{self, Boot, Initramfs, Kernel};
pub use kernel::KernelChoice;
use kernel::{add_modules, DISK_MODULES};
pub use matrix::matrix;
pub use nic::Nic;
use nic::{free_port, nic_args, GEN_MAC, PROXY_MAC};
pub use summary::check_stand;
use summary::{summarise, StandSummary};

/// Functions recorded besides the preset: the current equivalents of the 2.6.29 receive path
/// (GRO, list receive) and a few send-path steps. Absent ones are skipped by the recorder.
/// `__napi_poll` is left out on purpose so that the poll function sits directly below
/// `net_rx_action`.
const EXTRA_FUNCTIONS: &[&str] = &[
    "napi_gro_receive",
    "napi_complete_done",
    "netif_receive_skb_list_internal",
    "__netif_receive_skb_list_core",
    "ip_list_rcv",
    "ip_sublist_rcv",
    "ip_sublist_rcv_finish",
    "ip_protocol_deliver_rcu",
    "ip_route_input_noref",
    "__udp_queue_rcv_skb",
    "ip_make_skb",
    "ip_route_output_flow",
    "ip_finish_output",
    "sch_direct_xmit",
    "validate_xmit_skb",
];

/// Options of one stand run.
pub struct StandOptions {
    /// Card model.
    pub nic: Nic,
    /// Kernel.
    pub kernel: KernelChoice,
    /// Datagrams relayed while recording.
    pub count: usize,
    /// Where the trace, console and `kpath` outputs go.
    pub out: Option<PathBuf>,
    /// Also run `kpath-probe check` and the module fentry attempt (the matrix).
    pub mechanisms: bool,
    /// Also run `kpath-probe discover` (when the binary has it) and record the discovered set.
    pub discover: bool,
}

/// What one stand run produced.
pub struct StandRun {
    /// The kernel that ran.
    pub kernel: Kernel,
    /// Output directory.
    pub out: PathBuf,
    /// The guest console.
    pub console: String,
    /// The structure of the recorded trace.
    pub summary: StandSummary,
    /// Wall time of the boot.
    pub took: Duration,
}

fn default_out(nic: Nic, kernel: &KernelChoice) -> PathBuf {
    workspace_root()
        .join("target/vm-stand")
        .join(format!("{}-{}", nic.name(), kernel.label()))
}

/// `cargo xtask vm-stand`: boot, relay, record, bring the trace back, run `kpath` on it.
pub fn vm_stand(opts: &StandOptions) -> Result<StandRun> {
    let kernel = vm::fetch_kernel(opts.kernel.flavour, Some(&opts.kernel.series))
        .with_context(|| format!("failed to fetch a {} kernel", opts.kernel.label()))?;
    eprintln!(
        "vm-stand: {} on {} ({})",
        opts.nic.name(),
        kernel.release,
        kernel.package
    );
    // No dots: `Initramfs::pack` names its archive with `with_extension`.
    let name = format!("stand-{}-{}", opts.nic.name(), opts.kernel.label()).replace('.', "_");
    let mut fs = Initramfs::new(&name)?;
    for bin in ["kpath-probe", "kpath-stand"] {
        fs.add_binary(&vm::release_binary(bin))?;
    }
    add_modules(&mut fs, &kernel, DISK_MODULES)?;
    add_modules(&mut fs, &kernel, opts.nic.modules())?;
    let extra: String = EXTRA_FUNCTIONS
        .iter()
        .map(|f| format!(" --function {f}"))
        .collect();
    let scenario = SCENARIO
        .replace("@PROXY_MAC@", PROXY_MAC)
        .replace("@GEN_MAC@", GEN_MAC)
        .replace("@DRIVER@", opts.nic.driver())
        .replace("@POLL@", opts.nic.poll())
        .replace("@XMIT@", opts.nic.xmit())
        .replace("@COUNT@", &opts.count.to_string())
        .replace("@STATS_COUNT@", &matrix::STATS_PINGS.to_string())
        .replace("@EXTRA@", &extra)
        .replace("@CHECK@", if opts.mechanisms { "1" } else { "0" })
        .replace("@DISCOVER@", if opts.discover { "1" } else { "0" });
    let initrd = fs.pack(&scenario)?;
    let disk = vm::out_disk(&name, 512)?;
    let port = free_port()?;
    // Boot and setup take ~30 s under TCG; each recorded datagram a few ms; discovery more.
    let timeout =
        Duration::from_secs(240 + opts.count as u64 / 4 + if opts.discover { 900 } else { 0 });
    let start = Instant::now();
    let console = vm::boot(&Boot {
        kernel: &kernel,
        initrd: &initrd,
        extra_args: nic_args(opts.nic, port),
        timeout,
        memory_mib: 1024,
        out_disk: Some(disk.clone()),
    })
    .with_context(|| {
        format!(
            "failed to run the {} stand on {}",
            opts.nic.name(),
            kernel.release
        )
    })?;
    let took = start.elapsed();
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out(opts.nic, &opts.kernel));
    let _ = fs::remove_dir_all(&out);
    vm::collect_out(&disk, &console, &out)?;
    fs::write(out.join("console.txt"), &console)
        .with_context(|| format!("failed to write {}", out.join("console.txt").display()))?;
    let trace = out.join("stand.trace");
    analyse(&trace, &out, "")?;
    let discovered = out.join("stand-discovered.trace");
    if discovered.exists() {
        analyse(&discovered, &out, "-discovered")?;
    }
    let summary = summarise(&trace, opts.nic.poll())?;
    fs::write(out.join("summary.txt"), summary.to_string())
        .with_context(|| format!("failed to write {}", out.join("summary.txt").display()))?;
    eprintln!("{summary}");
    eprintln!("vm-stand: results in {}", out.display());
    Ok(StandRun {
        kernel,
        out,
        console,
        summary,
        took,
    })
}

/// Runs `kpath` on the host: report, both trees (and the pair with common functions), analyze;
/// output files carry `suffix` before their extension.
fn analyse(trace: &Path, out: &Path, suffix: &str) -> Result<()> {
    let kpath = vm::release_binary("kpath");
    let save = |args: &[&str], file: &str| -> Result<()> {
        let file = &file.replace('.', &format!("{suffix}."));
        let text = output(Command::new(&kpath).args(args).arg(trace))
            .with_context(|| format!("failed to run kpath {}", args.join(" ")))?;
        fs::write(out.join(file), text)
            .with_context(|| format!("failed to write {}", out.join(file).display()))
    };
    save(&["report"], "report.txt")?;
    save(&["tree", "--stage", "rx"], "tree-rx.txt")?;
    save(&["tree", "--stage", "tx"], "tree-tx.txt")?;
    save(&["tree"], "trees.txt")?;
    let results = out.join(format!("results{suffix}.json"));
    crate::util::run(
        Command::new(&kpath)
            .args(["analyze", "--force"])
            .arg(trace)
            .arg("-o")
            .arg(&results),
    )
    .context("failed to run kpath analyze")?;
    Ok(())
}

/// Datagrams of the CI run: small enough for ~3 minutes under TCG on 2 cores.
pub const CI_COUNT: usize = 200;

/// The CI check: the rtl8139 stand on one kernel (default 6.12 generic), `count` datagrams,
/// with the structural assertions of [`check_stand`]. Needs the release binaries
/// (`cargo xtask build`).
// Called from `cargo xtask test`'s VM stage (xtask/src/test.rs) once wired there.
pub fn vm_stand_check(nic: Nic, kernel: Option<&str>, count: usize) -> Result<()> {
    let kernel = KernelChoice::parse(kernel.unwrap_or(DEFAULT_KERNEL))?;
    let run = vm_stand(&StandOptions {
        nic,
        kernel,
        count,
        out: None,
        mechanisms: false,
        discover: false,
    })?;
    check_stand(&run.summary, count)
        .with_context(|| format!("the {} stand on {}", nic.name(), run.kernel.release))?;
    eprintln!(
        "vm-stand: {} receive trees rooted at {} (then {}), depth {}, on {} in {:.0} s",
        nic.name(),
        run.summary.rx_root(),
        run.summary.rx_child(),
        run.summary.rx_depth,
        run.kernel.release,
        run.took.as_secs_f64()
    );
    Ok(())
}

/// The default kernel of `vm-stand`.
pub const DEFAULT_KERNEL: &str = "6.12";

/// The guest side. Two cards, told apart by MAC; the proxy card goes into the "proxy"
/// namespace, the generator card into "gen"; the trace records the proxy's process-context
/// calls (`--pid` of the echo server) and every softirq/hardirq call of the driver path.
pub(crate) const SCENARIO: &str = include_str!("../../scenarios/stand.sh");
