//! Structural checks on traces recorded in the VM: which function roots the receive and the
//! send trees, how deep they go, and whether interrupts were counted. The trees come from the
//! analysis's `TreeBuilder` (a small `CallVisitor` collects them), the same reconstruction
//! every report uses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use kpath_analysis::analyze::{visit_reader, Visit};
use kpath_analysis::calltree::{Call, CallVisitor, Frame, TreeAnomalies};
use kpath_analysis::StageClassifier;
use kpath_trace::{ExecContext, TraceReader};

/// One root invocation, as the VM checks look at it.
#[derive(Default)]
pub(crate) struct Tree {
    /// The root function.
    pub root: String,
    /// The first function called at depth 1 (by entry time), if any.
    pub child: Option<String>,
    /// Execution context of the root call.
    pub ctx: Option<ExecContext>,
    /// Thread of the root call.
    pub tid: u32,
    /// Every function of the tree, the root included.
    pub functions: BTreeSet<String>,
    /// Deepest level (root = 0).
    pub max_depth: u16,
    /// Calls in the tree.
    pub exits: u64,
    /// Calls interrupted as the analysis' filter decides (IRQs, softirqs, switches,
    /// migration).
    pub interrupted: u64,
    /// Calls during which a hard IRQ or softirq ran.
    pub irq_exits: u64,
    /// Entry time of `child`.
    child_entry_ns: u64,
}

/// What a trace says about its trees.
pub struct Summary {
    /// Root function → invocations, for trees containing `ip_rcv` (receive).
    pub rx_roots: BTreeMap<String, usize>,
    /// Root function → invocations, for trees containing `udp_sendmsg` (send).
    pub tx_roots: BTreeMap<String, usize>,
    /// Deepest receive level (root = 0).
    pub rx_depth: u16,
    /// Deepest send level.
    pub tx_depth: u16,
    /// Functions in receive trees.
    pub rx_functions: BTreeSet<String>,
    /// Functions in send trees.
    pub tx_functions: BTreeSet<String>,
    /// Calls in root trees during which a hard IRQ or softirq ran.
    pub interrupted_exits: u64,
    /// Calls in root trees.
    pub exits: u64,
    /// Events lost.
    pub lost: u64,
    /// Mechanisms used.
    pub mechanisms: BTreeSet<String>,
    /// What the call-tree builder could not match.
    pub anomalies: TreeAnomalies,
}

/// Collects the root invocations from the calls `TreeBuilder` reconstructs: the calls below a
/// root are gathered per execution context until the root returns.
struct TreeCollector<'a> {
    names: &'a [String],
    open: HashMap<u64, Tree>,
    trees: Vec<Tree>,
}

impl CallVisitor for TreeCollector<'_> {
    fn call(&mut self, call: &Call<'_>, _ancestors: &[Frame]) {
        let e = call.exit;
        let name = self
            .names
            .get(call.func_id as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{}", call.func_id));
        let key = e.stack_key();
        let tree = self.open.entry(key).or_default();
        tree.exits += 1;
        tree.interrupted += u64::from(e.interrupted());
        tree.irq_exits += u64::from(e.hardirqs > 0 || e.softirqs > 0);
        tree.max_depth = tree.max_depth.max(call.depth);
        tree.functions.insert(name.clone());
        if call.depth == 1 && (tree.child.is_none() || call.entry_ts_ns < tree.child_entry_ns) {
            tree.child = Some(name.clone());
            tree.child_entry_ns = call.entry_ts_ns;
        }
        if call.depth == 0 {
            let mut tree = self.open.remove(&key).unwrap_or_default();
            tree.root = name;
            tree.ctx = ExecContext::try_from(e.context).ok();
            tree.tid = e.tid;
            self.trees.push(tree);
        }
    }
}

/// The root invocations of a trace, rebuilt by the analysis's `TreeBuilder`, and what the
/// builder says of the trace.
pub(crate) fn root_trees(path: &Path) -> Result<(Vec<Tree>, Visit)> {
    let reader =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let names: Vec<String> = reader
        .metadata()
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let mut collector = TreeCollector {
        names: &names,
        open: HashMap::new(),
        trees: Vec::new(),
    };
    let visit = visit_reader(
        reader,
        path,
        &StageClassifier::default(),
        kpath_analysis::results::Clock::Wall,
        &mut collector,
    )
    .with_context(|| format!("failed to read {}", path.display()))?;
    Ok((collector.trees, visit))
}

/// Rebuilds the root invocations of a trace and sorts them into receive (containing
/// `ip_rcv`) and send (containing `udp_sendmsg`) trees.
pub fn summarise(path: &Path) -> Result<Summary> {
    let (trees, visit) = root_trees(path)?;
    let meta = &visit.metadata;
    let mut s = Summary {
        rx_roots: BTreeMap::new(),
        tx_roots: BTreeMap::new(),
        rx_depth: 0,
        tx_depth: 0,
        rx_functions: BTreeSet::new(),
        tx_functions: BTreeSet::new(),
        interrupted_exits: trees.iter().map(|t| t.irq_exits).sum(),
        exits: trees.iter().map(|t| t.exits).sum(),
        lost: meta.lost_events(),
        mechanisms: meta
            .functions
            .iter()
            .map(|f| f.mechanism.to_string())
            .collect(),
        anomalies: visit.anomalies,
    };
    for t in trees {
        if t.functions.contains("ip_rcv") {
            *s.rx_roots.entry(t.root).or_default() += 1;
            s.rx_depth = s.rx_depth.max(t.max_depth);
            s.rx_functions.extend(t.functions);
        } else if t.functions.contains("udp_sendmsg") {
            *s.tx_roots.entry(t.root).or_default() += 1;
            s.tx_depth = s.tx_depth.max(t.max_depth);
            s.tx_functions.extend(t.functions);
        }
    }
    Ok(s)
}

fn most_frequent(m: &BTreeMap<String, usize>) -> Option<&str> {
    m.iter().max_by_key(|(_, n)| **n).map(|(k, _)| k.as_str())
}

/// Receive trees rooted at the NAPI/driver poll level, send trees at the send system call,
/// with the IP and UDP layers inside, plausible depths, interrupts counted, nothing lost.
pub fn check_udp_echo(path: &Path, datagrams: usize) -> Result<Summary> {
    let s = summarise(path)?;
    let rx_root = most_frequent(&s.rx_roots).unwrap_or("none");
    let tx_root = most_frequent(&s.tx_roots).unwrap_or("none");
    eprintln!(
        "{}: mechanisms {:?}; receive trees {:?} (depth {}), send trees {:?} (depth {}); {} of {} exits interrupted; {} lost; tree anomalies {:?}",
        path.display(),
        s.mechanisms,
        s.rx_roots,
        s.rx_depth,
        s.tx_roots,
        s.tx_depth,
        s.interrupted_exits,
        s.exits,
        s.lost,
        s.anomalies
    );
    let rx_ok = [
        "net_rx_action",
        "process_backlog",
        "veth_poll",
        "virtnet_poll",
        "cp_rx_poll",
        "e1000_clean",
    ];
    if !rx_ok.contains(&rx_root) {
        bail!("receive trees are rooted at `{rx_root}`, not at the NAPI/driver poll level ({rx_ok:?})");
    }
    if !["__sys_sendto", "sock_sendmsg", "inet_sendmsg"].contains(&tx_root) {
        bail!("send trees are rooted at `{tx_root}`, not at the send system call path");
    }
    // Both sides of the echo receive and send each datagram: at least 2 per datagram.
    let (rx_n, tx_n): (usize, usize) = (s.rx_roots.values().sum(), s.tx_roots.values().sum());
    if rx_n < 2 * datagrams || tx_n < 2 * datagrams {
        bail!("{rx_n} receive and {tx_n} send trees for {datagrams} echoed datagrams (want ≥ {} each)", 2 * datagrams);
    }
    for f in ["ip_rcv", "ip_local_deliver", "udp_rcv"] {
        if !s.rx_functions.contains(f) {
            bail!(
                "`{f}` is missing from the receive trees: {:?}",
                s.rx_functions
            );
        }
    }
    for f in ["udp_sendmsg", "ip_send_skb", "dev_hard_start_xmit"] {
        if !s.tx_functions.contains(f) {
            bail!("`{f}` is missing from the send trees: {:?}", s.tx_functions);
        }
    }
    if s.rx_depth < 3 || s.tx_depth < 5 {
        bail!(
            "implausible depths: receive {} (want ≥ 3), send {} (want ≥ 5)",
            s.rx_depth,
            s.tx_depth
        );
    }
    if s.interrupted_exits == 0 {
        bail!("no exit counted an interrupt: the interrupt accounting is not working");
    }
    if s.lost > 0 {
        bail!("{} events lost", s.lost);
    }
    Ok(s)
}

/// Discovery must find more than `min` functions called, with per-root figures.
pub fn check_discovery(path: &Path, min: usize) -> Result<usize> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    let called = v["called"].as_array().map(Vec::len).unwrap_or(0);
    let root_calls = v["root_calls"].as_u64().unwrap_or(0);
    eprintln!(
        "{}: {} candidates, {} attached, {} refused, {called} called, {root_calls} root calls",
        path.display(),
        v["candidates"],
        v["attached"],
        v["refused_count"]
    );
    if called <= min {
        bail!("discovery found {called} called functions, want more than {min}");
    }
    if root_calls == 0 {
        bail!("discovery saw no call of the root function {}", v["root"]);
    }
    Ok(called)
}

/// A stats-mode trace: no records, and `udp_sendmsg` aggregated once per datagram sent by
/// either side (the echo and the generator), its histogram holding every clean sample.
pub fn check_stats_mode(path: &Path, datagrams: usize) -> Result<()> {
    let r =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    if r.expected_records() != Some(0) {
        bail!(
            "{}: a stats-mode trace must hold no records, it has {:?}",
            path.display(),
            r.expected_records()
        );
    }
    let f = r
        .metadata()
        .kernel_stats
        .as_ref()
        .and_then(|ks| ks.functions.iter().find(|f| f.name == "udp_sendmsg"))
        .ok_or_else(|| anyhow::anyhow!("{}: no kernel_stats for udp_sendmsg", path.display()))?;
    let clean = f.clean.count;
    let calls = clean.saturating_add(f.interrupted.count);
    let hist = kpath_trace::saturating_sum(&f.hist_clean);
    eprintln!(
        "{}: udp_sendmsg aggregated {calls} calls ({clean} clean) in the kernel",
        path.display()
    );
    if calls < 2 * datagrams as u64 || hist != clean {
        bail!("{}: udp_sendmsg has {calls} calls (want ≥ {}) and a histogram of {hist} for {clean} clean samples", path.display(), 2 * datagrams);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kpath_analysis::synth::{write_trace, SynthConfig};

    use super::*;

    /// The collector finds every synthetic datagram's receive and send tree, with their
    /// roots, first children, depths and calls.
    #[test]
    fn synthetic_trees_are_collected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("synth.trace");
        let mut cfg = SynthConfig::veth(50);
        cfg.irq_probability = 0.0;
        write_trace(&cfg, &path, &kpath_cli::Output::new(false)).expect("synth");
        let (trees, visit) = root_trees(&path).expect("trees");
        assert_eq!(
            trees.len(),
            100,
            "one receive and one send tree per datagram"
        );
        assert_eq!(visit.anomalies, TreeAnomalies::default());
        let rx: Vec<&Tree> = trees.iter().filter(|t| t.root == "net_rx_action").collect();
        assert_eq!(rx.len(), 50);
        assert!(rx.iter().all(|t| t.child.as_deref() == Some("__napi_poll")
            && t.max_depth == 6
            && t.exits == 8
            && t.functions.contains("ip_rcv")));
        let s = summarise(&path).expect("summary");
        assert_eq!(s.rx_roots.get("net_rx_action"), Some(&50));
        assert_eq!(s.tx_roots.get("tp:sys_sendto"), Some(&50));
        assert_eq!((s.rx_depth, s.tx_depth), (6, 6));
        assert_eq!(s.exits, 50 * 17);
        assert_eq!(s.interrupted_exits, 0);
    }
}
