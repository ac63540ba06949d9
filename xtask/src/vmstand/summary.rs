//! The structure of a stand trace (receive and send trees, their roots, depths, functions,
//! contexts and interrupted exits) and the stand's structural assertions on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Result};
use kpath_trace::ExecContext;

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
