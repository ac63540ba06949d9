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
//! The file is long because the emulated-NIC stand and the kernel matrix share the boot
//! and the checks; the guest script is `xtask/scenarios/stand.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use kpath_trace::{EventKind, ExecContext, TraceReader};

use crate::util::{output, workspace_root};
use crate::vm::{self, Boot, Flavour, Initramfs, Kernel};

/// The emulated card model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Nic {
    /// QEMU's RTL8139C+: driven by `8139cp` (`8139too` declines it).
    Rtl8139,
    /// Intel 82540EM: driven by `e1000`.
    E1000,
}

impl Nic {
    /// Lower-case name, as on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rtl8139 => "rtl8139",
            Self::E1000 => "e1000",
        }
    }

    /// QEMU `-device` model.
    const fn qemu_device(self) -> &'static str {
        match self {
            Self::Rtl8139 => "rtl8139",
            Self::E1000 => "e1000",
        }
    }

    /// The driver as sysfs names it.
    pub const fn driver(self) -> &'static str {
        match self {
            Self::Rtl8139 => "8139cp",
            Self::E1000 => "e1000",
        }
    }

    /// The driver's NAPI poll function (the method's receive root).
    pub const fn poll(self) -> &'static str {
        match self {
            Self::Rtl8139 => "cp_rx_poll",
            Self::E1000 => "e1000_clean",
        }
    }

    /// The driver's transmit function.
    pub const fn xmit(self) -> &'static str {
        match self {
            Self::Rtl8139 => "cp_start_xmit",
            Self::E1000 => "e1000_xmit_frame",
        }
    }

    /// Driver modules with their config symbols, in load order.
    const fn modules(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Rtl8139 => &[("mii", "CONFIG_MII"), ("8139cp", "CONFIG_8139CP")],
            Self::E1000 => &[("e1000", "CONFIG_E1000")],
        }
    }
}

/// The result disk's stack (virtio_blk and what it needs), in load order; 6.1's generic
/// kernel has all of them as modules, 6.12's only `virtio_blk`.
const DISK_MODULES: &[(&str, &str)] = &[
    ("virtio_ring", "CONFIG_VIRTIO"),
    ("virtio", "CONFIG_VIRTIO"),
    ("virtio_pci_legacy_dev", "CONFIG_VIRTIO_PCI_LIB_LEGACY"),
    ("virtio_pci_modern_dev", "CONFIG_VIRTIO_PCI_LIB"),
    ("virtio_pci", "CONFIG_VIRTIO_PCI"),
    ("virtio_blk", "CONFIG_VIRTIO_BLK"),
];

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

/// A kernel choice: `6.1`, `6.12`, `6.12-rt` (any `<series>` or `<series>-rt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelChoice {
    /// Package flavour: generic, or PREEMPT_RT.
    pub flavour: Flavour,
    /// Version series.
    pub series: String,
}

impl KernelChoice {
    /// Parses `6.12` or `6.12-rt`.
    pub fn parse(s: &str) -> Result<Self> {
        let (series, flavour) = match s.strip_suffix("-rt") {
            Some(series) => (series, Flavour::Rt),
            None => (s, Flavour::Generic),
        };
        let valid = !series.is_empty()
            && series
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            bail!("--kernel {s:?}: want a series such as 6.1, 6.12 or 6.12-rt");
        }
        Ok(Self {
            flavour,
            series: series.to_owned(),
        })
    }

    /// `6.12` or `6.12-rt`.
    pub fn label(&self) -> String {
        match self.flavour {
            Flavour::Rt => format!("{}-rt", self.series),
            _ => self.series.clone(),
        }
    }
}

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

/// A free TCP port on 127.0.0.1 for the socket "cable" (closed again before QEMU binds it).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("failed to find a free loopback port")?;
    Ok(l.local_addr()
        .context("failed to read the bound loopback port")?
        .port())
}

/// `CONFIG_X`'s value in the package's `boot/config-*` (`y`, `m`), `None` if unset.
fn config_value(kernel: &Kernel, symbol: &str) -> Result<Option<String>> {
    let path = kernel
        .vmlinuz
        .with_file_name(format!("config-{}", kernel.release));
    let text =
        fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let prefix = format!("{symbol}=");
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned))
}

/// Adds each module that the kernel builds as a module; built-in ones are skipped.
fn add_modules(fs: &mut Initramfs, kernel: &Kernel, modules: &[(&str, &str)]) -> Result<()> {
    for (module, symbol) in modules {
        match config_value(kernel, symbol)?.as_deref() {
            Some("m") => fs.add_module(kernel, module)?,
            Some("y") => eprintln!("vm-stand: {module} is built into {}", kernel.release),
            _ => bail!("{} lacks {symbol} (needed for {module})", kernel.release),
        }
    }
    Ok(())
}

/// The QEMU arguments of the two cards and the cable between them.
fn nic_args(nic: Nic, port: u16) -> Vec<String> {
    let dev = nic.qemu_device();
    [
        "-netdev".to_owned(),
        format!("socket,id=n0,listen=127.0.0.1:{port}"),
        "-device".to_owned(),
        format!("{dev},netdev=n0,mac={PROXY_MAC}"),
        "-netdev".to_owned(),
        format!("socket,id=n1,connect=127.0.0.1:{port}"),
        "-device".to_owned(),
        format!("{dev},netdev=n1,mac={GEN_MAC}"),
    ]
    .into()
}

const PROXY_MAC: &str = "52:54:00:4b:50:01";
const GEN_MAC: &str = "52:54:00:4b:50:02";

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

/// The structure of a stand trace, rebuilt from the raw events.
pub struct StandSummary {
    /// The driver's poll function.
    pub poll: String,
    /// Receive trees (those containing the poll function): root → count.
    pub rx_roots: BTreeMap<String, usize>,
    /// Receive trees: the function at depth 1 → count.
    pub rx_children: BTreeMap<String, usize>,
    /// Receive trees by execution context (`softirq`, `process`, `hardirq`).
    pub rx_contexts: BTreeMap<String, usize>,
    /// Distinct tasks running process-context receive trees.
    pub rx_tasks: BTreeSet<u32>,
    /// Receive trees by the task they ran on, in any context (tid 0: the idle task; on
    /// PREEMPT_RT the IRQ threads).
    pub rx_tids: BTreeMap<u32, usize>,
    /// Deepest receive level (root = 0).
    pub rx_depth: u16,
    /// Functions in receive trees.
    pub rx_functions: BTreeSet<String>,
    /// Send trees (containing `udp_sendmsg`): root → count.
    pub tx_roots: BTreeMap<String, usize>,
    /// Deepest send level.
    pub tx_depth: u16,
    /// Functions in send trees.
    pub tx_functions: BTreeSet<String>,
    /// Exits in receive trees, and how many of them were interrupted (hard IRQ, softirq,
    /// context switch or migration, as `kpath`'s filter decides).
    pub rx_exits: (u64, u64),
    /// Exits in send trees, and how many of them were interrupted.
    pub tx_exits: (u64, u64),
    /// Events lost.
    pub lost: u64,
}

fn context_name(c: ExecContext) -> &'static str {
    match c {
        ExecContext::Process => "process",
        ExecContext::SoftIrq => "softirq",
        ExecContext::HardIrq => "hardirq",
    }
}

/// Rebuilds root invocations and sorts them into receive (containing `poll`) and send
/// (containing `udp_sendmsg`) trees.
pub fn summarise(path: &Path, poll: &str) -> Result<StandSummary> {
    let (trees, visit) = crate::treecheck::root_trees(path)?;
    let mut s = StandSummary {
        poll: poll.to_owned(),
        rx_roots: BTreeMap::new(),
        rx_children: BTreeMap::new(),
        rx_contexts: BTreeMap::new(),
        rx_tasks: BTreeSet::new(),
        rx_tids: BTreeMap::new(),
        rx_depth: 0,
        rx_functions: BTreeSet::new(),
        tx_roots: BTreeMap::new(),
        tx_depth: 0,
        tx_functions: BTreeSet::new(),
        rx_exits: (0, 0),
        tx_exits: (0, 0),
        lost: visit.metadata.lost_events(),
    };
    for t in trees {
        s.add(t);
    }
    Ok(s)
}

impl StandSummary {
    fn add(&mut self, t: crate::treecheck::Tree) {
        if t.functions.contains(&self.poll) {
            *self.rx_roots.entry(t.root).or_default() += 1;
            if let Some(c) = t.child {
                *self.rx_children.entry(c).or_default() += 1;
            }
            *self
                .rx_contexts
                .entry(t.ctx.map_or("unknown", context_name).to_owned())
                .or_default() += 1;
            if t.ctx == Some(ExecContext::Process) {
                self.rx_tasks.insert(t.tid);
            }
            *self.rx_tids.entry(t.tid).or_default() += 1;
            self.rx_depth = self.rx_depth.max(t.max_depth);
            self.rx_functions.extend(t.functions);
            self.rx_exits.0 += t.exits;
            self.rx_exits.1 += t.interrupted;
        } else if t.functions.contains("udp_sendmsg") {
            *self.tx_roots.entry(t.root).or_default() += 1;
            self.tx_depth = self.tx_depth.max(t.max_depth);
            self.tx_functions.extend(t.functions);
            self.tx_exits.0 += t.exits;
            self.tx_exits.1 += t.interrupted;
        }
    }

    fn most_frequent(m: &BTreeMap<String, usize>) -> &str {
        m.iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| k.as_str())
            .unwrap_or("none")
    }

    /// The most frequent receive root.
    pub fn rx_root(&self) -> &str {
        Self::most_frequent(&self.rx_roots)
    }

    /// The most frequent function directly below the receive root.
    pub fn rx_child(&self) -> &str {
        Self::most_frequent(&self.rx_children)
    }

    /// The receive and send functions both.
    pub fn common(&self) -> BTreeSet<&String> {
        self.rx_functions.intersection(&self.tx_functions).collect()
    }
}

impl std::fmt::Display for StandSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |(n, k): (u64, u64)| {
            if n == 0 {
                0.0
            } else {
                100.0 * k as f64 / n as f64
            }
        };
        writeln!(
            f,
            "receive trees (with {}): roots {:?}, below the root {:?}, contexts {:?}, {} process-context tasks; max depth {}; {} functions",
            self.poll,
            self.rx_roots,
            self.rx_children,
            self.rx_contexts,
            self.rx_tasks.len(),
            self.rx_depth,
            self.rx_functions.len()
        )?;
        writeln!(f, "receive trees by task id: {:?}", self.rx_tids)?;
        writeln!(f, "receive functions: {:?}", self.rx_functions)?;
        writeln!(
            f,
            "send trees (with udp_sendmsg): roots {:?}; max depth {}; {} functions",
            self.tx_roots,
            self.tx_depth,
            self.tx_functions.len()
        )?;
        writeln!(f, "send functions: {:?}", self.tx_functions)?;
        writeln!(f, "common to both: {:?}", self.common())?;
        write!(
            f,
            "interrupted exits: receive {} of {} ({:.1}%), send {} of {} ({:.1}%); {} events lost",
            self.rx_exits.1,
            self.rx_exits.0,
            pct(self.rx_exits),
            self.tx_exits.1,
            self.tx_exits.0,
            pct(self.tx_exits),
            self.lost
        )
    }
}

/// NAPI-level functions that may sit directly above the driver's poll function.
const NAPI_LEVEL: &[&str] = &["net_rx_action", "__napi_poll", "napi_poll"];

/// The structural assertions of the stand: receive tree rooted at the poll function (or at
/// the NAPI level with the poll function directly below), depth ≥ 5, IP and UDP receive
/// inside, at least one receive tree per datagram, nothing lost.
pub fn check_stand(s: &StandSummary, datagrams: usize) -> Result<()> {
    let root = s.rx_root();
    let rooted = root == s.poll || (NAPI_LEVEL.contains(&root) && s.rx_child() == s.poll);
    if !rooted {
        bail!(
            "receive trees are rooted at `{root}` with `{}` below, not at `{}` (or the NAPI level directly above it)",
            s.rx_child(),
            s.poll
        );
    }
    if s.rx_depth < 5 {
        bail!("receive trees are {} deep (want ≥ 5)", s.rx_depth);
    }
    // 2.6.29's ip_rcv became ip_list_rcv (list receive, 4.19) on the GRO path.
    if !["ip_rcv", "ip_list_rcv"]
        .iter()
        .any(|f| s.rx_functions.contains(*f))
    {
        bail!(
            "neither ip_rcv nor ip_list_rcv is in the receive trees: {:?}",
            s.rx_functions
        );
    }
    if !s.rx_functions.contains("udp_rcv") {
        bail!(
            "udp_rcv is missing from the receive trees: {:?}",
            s.rx_functions
        );
    }
    let rx_n: usize = s.rx_roots.values().sum();
    if rx_n < datagrams {
        bail!("{rx_n} receive trees for {datagrams} echoed datagrams (want ≥ {datagrams})");
    }
    if !s.tx_functions.contains("dev_hard_start_xmit") {
        bail!(
            "the send trees never reach dev_hard_start_xmit: {:?}",
            s.tx_functions
        );
    }
    if s.lost > 0 {
        bail!("{} events lost", s.lost);
    }
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

/// The matrix's kernels, in order.
const MATRIX_KERNELS: &[&str] = &["6.1", "6.12", "6.12-rt"];

/// The rows of a `kpath-probe check --json` report the guest wrote: mechanism pair → status
/// text, as `check` prints it. An absent or unreadable report is one row saying so.
fn check_rows(path: &Path) -> BTreeMap<String, String> {
    let report = fs::read_to_string(path)
        .map_err(anyhow::Error::from)
        .and_then(|t| {
            serde_json::from_str::<kpath_probe::check::CheckReport>(&t).map_err(Into::into)
        });
    match report {
        Ok(r) => r
            .mechanisms
            .iter()
            .map(|m| (m.pair(), format!("{} ({} entries)", m.status(), m.entries)))
            .collect(),
        Err(e) => BTreeMap::from([(
            "check".to_owned(),
            format!("no report at {}: {e:#}", path.display()),
        )]),
    }
}

/// Per function of a trace: the mechanism the recorder chose and the entries recorded.
pub fn mechanisms_used(path: &Path) -> Result<Vec<(String, String, u64)>> {
    let mut r =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let meta = r.metadata().clone();
    let mut entries = vec![0u64; meta.functions.len()];
    for e in r.events() {
        let e = e.with_context(|| format!("failed to read {}", path.display()))?;
        if EventKind::try_from(e.kind) == Ok(EventKind::Enter) {
            if let Some(n) = entries.get_mut(e.func_id as usize) {
                *n += 1;
            }
        }
    }
    Ok(meta
        .functions
        .iter()
        .zip(entries)
        .map(|(f, n)| (f.name.clone(), f.mechanism.to_string(), n))
        .collect())
}

/// `cargo xtask matrix`: the stand plus the mechanism checks on every kernel offered, and
/// `check` on the host. Writes `target/vm-stand/matrix.md`.
pub fn matrix(nic: Nic, count: usize) -> Result<()> {
    let mut md = String::new();
    let today = output(Command::new("date").args(["-u", "+%Y-%m-%d"]))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let _ = writeln!(
        md,
        "# kernel matrix, {today} ({} stand, {count} datagrams)\n",
        nic.name()
    );
    let mut failures = Vec::new();
    for k in MATRIX_KERNELS {
        let choice = KernelChoice::parse(k)?;
        if let Err(e) = vm::find_kernel_package(choice.flavour, Some(&choice.series)) {
            let _ = writeln!(md, "## {k}: not offered by the package index ({e:#})\n");
            continue;
        }
        let result = vm_stand(&StandOptions {
            nic,
            kernel: choice.clone(),
            count,
            out: None,
            mechanisms: true,
            discover: false,
        });
        match result {
            Ok(run) => {
                let check = check_stand(&run.summary, count);
                let _ = writeln!(md, "## {k}: {}\n", run.kernel.release);
                let _ = writeln!(md, "udp_sendmsg (`kpath-probe check`):");
                for (pair, status) in check_rows(&run.out.join("check-udp_sendmsg.json")) {
                    let _ = writeln!(md, "- {pair}: {status}");
                }
                let _ = writeln!(md, "\n{} (module function):", nic.xmit());
                for (pair, status) in check_rows(&run.out.join("check-module.json")) {
                    let _ = writeln!(md, "- {pair}: {status}");
                }
                for line in run
                    .console
                    .lines()
                    .filter(|l| l.starts_with("vm-stand: fentry-module"))
                {
                    let _ = writeln!(md, "- {line}");
                }
                let fm = run.out.join("fentry-module.trace");
                if fm.exists() {
                    match mechanisms_used(&fm) {
                        Ok(rows) => {
                            for (f, m, n) in rows {
                                let _ = writeln!(
                                    md,
                                    "- record --mechanism fentry: {f} got {m}, {n} entries"
                                );
                            }
                        }
                        Err(e) => {
                            let _ = writeln!(md, "- fentry-module trace unreadable: {e:#}");
                        }
                    }
                }
                let _ = writeln!(
                    md,
                    "\nstand: {}; check {}; {:.0} s\n\n```\n{}\n```\n",
                    run.out.display(),
                    match &check {
                        Ok(()) => "passed".to_owned(),
                        Err(e) => format!("FAILED: {e:#}"),
                    },
                    run.took.as_secs_f64(),
                    run.summary
                );
                if let Err(e) = check {
                    failures.push(format!("{k}: {e:#}"));
                }
            }
            Err(e) => {
                let _ = writeln!(md, "## {k}: FAILED: {e:#}\n");
                failures.push(format!("{k}: {e:#}"));
            }
        }
    }
    // The host's own kernel: no modules, no kprobes, no fentry here; tracepoints.
    let host = output(Command::new("uname").arg("-r"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let probe = vm::release_binary("kpath-probe");
    let text = Command::new(&probe)
        .args(["check", "--count", "1000"])
        .output()
        .with_context(|| format!("failed to run {}", probe.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    let _ = writeln!(md, "## host: {host}\n\n```\n{}\n```", text.trim_end());
    let path = workspace_root().join("target/vm-stand/matrix.md");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    fs::write(&path, &md).with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("{md}\nmatrix: written to {}", path.display());
    if !failures.is_empty() {
        return Err(anyhow!("the stand failed on {}", failures.join("; ")));
    }
    Ok(())
}

/// The guest side. Two cards, told apart by MAC; the proxy card goes into the "proxy"
/// namespace, the generator card into "gen"; the trace records the proxy's process-context
/// calls (`--pid` of the echo server) and every softirq/hardirq call of the driver path.
pub(crate) const SCENARIO: &str = include_str!("../scenarios/stand.sh");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_choices_parse() {
        let k = KernelChoice::parse("6.12-rt").expect("6.12-rt parses");
        assert_eq!((k.flavour, k.series.as_str()), (Flavour::Rt, "6.12"));
        assert_eq!(k.label(), "6.12-rt");
        let k = KernelChoice::parse("6.1").expect("6.1 parses");
        assert_eq!((k.flavour, k.label().as_str()), (Flavour::Generic, "6.1"));
        assert!(KernelChoice::parse("rt").is_err());
        assert!(KernelChoice::parse("6..1").is_err());
    }

    #[test]
    fn check_rows_read_the_json_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("check.json");
        let report = kpath_probe::check::CheckReport {
            datagrams: 1000,
            function: "udp_sendmsg".into(),
            kernel_release: "6.1".into(),
            mechanisms: vec![
                kpath_probe::check::MechanismCheck {
                    attached: true,
                    entries: 1000,
                    entry: "kprobe".into(),
                    error: None,
                    exit: "kretprobe".into(),
                    lost: 0,
                    timed_exits: 1000,
                    verified: true,
                    works: true,
                },
                kpath_probe::check::MechanismCheck {
                    attached: false,
                    entries: 0,
                    entry: "fentry".into(),
                    error: Some("no BTF".into()),
                    exit: "fexit".into(),
                    lost: 0,
                    timed_exits: 0,
                    verified: false,
                    works: false,
                },
            ],
        };
        fs::write(&path, serde_json::to_string(&report).expect("json")).expect("write");
        let rows = check_rows(&path);
        assert_eq!(rows["kprobe/kretprobe"], "works (1000 entries)");
        assert_eq!(rows["fentry/fexit"], "unavailable: no BTF (0 entries)");
        let missing = check_rows(&dir.path().join("absent.json"));
        assert!(missing["check"].starts_with("no report at"), "{missing:?}");
    }
}
