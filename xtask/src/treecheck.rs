//! Structural checks on traces recorded in the VM: which function roots the receive and the
//! send trees, how deep they go, and whether interrupts were counted. Reads the trace with
//! `kpath-trace` directly so that the VM scenarios check the recorder on their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use kpath_trace::{EventKind, TraceReader};

/// One root invocation: its root function, the functions below it, its deepest level.
struct Tree {
    root: String,
    functions: BTreeSet<String>,
    max_depth: u16,
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
    /// Exits during which a hard IRQ or softirq ran.
    pub interrupted_exits: u64,
    /// All exits.
    pub exits: u64,
    /// Events lost.
    pub lost: u64,
    /// Mechanisms used.
    pub mechanisms: BTreeSet<String>,
}

/// Rebuilds the root invocations of a trace.
pub fn summarise(path: &Path) -> Result<Summary> {
    let mut r =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let meta = r.metadata().clone();
    let names: Vec<String> = meta.functions.iter().map(|f| f.name.clone()).collect();
    let mut open: HashMap<u64, Tree> = HashMap::new();
    let mut trees = Vec::new();
    let (mut interrupted_exits, mut exits) = (0, 0);
    for e in r.events() {
        let e = e.with_context(|| format!("failed to read {}", path.display()))?;
        let key = e.stack_key();
        let name = &names[e.func_id as usize];
        match EventKind::try_from(e.kind) {
            Ok(EventKind::Enter) if e.depth == 0 => {
                open.insert(
                    key,
                    Tree {
                        root: name.clone(),
                        functions: BTreeSet::new(),
                        max_depth: 0,
                    },
                );
            }
            Ok(EventKind::Enter) => {
                if let Some(t) = open.get_mut(&key) {
                    t.functions.insert(name.clone());
                    t.max_depth = t.max_depth.max(e.depth);
                }
            }
            Ok(EventKind::Exit) => {
                exits += 1;
                if e.hardirqs > 0 || e.softirqs > 0 {
                    interrupted_exits += 1;
                }
                if e.depth == 0 {
                    if let Some(t) = open.remove(&key) {
                        trees.push(t);
                    }
                }
            }
            Err(_) => {}
        }
    }
    let mut s = Summary {
        rx_roots: BTreeMap::new(),
        tx_roots: BTreeMap::new(),
        rx_depth: 0,
        tx_depth: 0,
        rx_functions: BTreeSet::new(),
        tx_functions: BTreeSet::new(),
        interrupted_exits,
        exits,
        lost: meta.lost_events(),
        mechanisms: meta
            .functions
            .iter()
            .map(|f| f.mechanism.to_string())
            .collect(),
    };
    for t in trees {
        if t.functions.contains("ip_rcv") {
            *s.rx_roots.entry(t.root.clone()).or_default() += 1;
            s.rx_depth = s.rx_depth.max(t.max_depth);
            s.rx_functions.extend(t.functions);
            s.rx_functions.insert(t.root);
        } else if t.functions.contains("udp_sendmsg") {
            *s.tx_roots.entry(t.root.clone()).or_default() += 1;
            s.tx_depth = s.tx_depth.max(t.max_depth);
            s.tx_functions.extend(t.functions);
            s.tx_functions.insert(t.root);
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
        "{}: mechanisms {:?}; receive trees {:?} (depth {}), send trees {:?} (depth {}); {} of {} exits interrupted; {} lost",
        path.display(),
        s.mechanisms,
        s.rx_roots,
        s.rx_depth,
        s.tx_roots,
        s.tx_depth,
        s.interrupted_exits,
        s.exits,
        s.lost
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
