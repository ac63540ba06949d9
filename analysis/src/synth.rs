//! Synthetic traces with known distributions: the analysis's `MockExecutor`. Tests use them
//! for exact answers, the benchmark for volume.
//!
//! A [`SynthConfig`] describes the call tree of each stage ([`SynthNode`]: a function, the
//! distribution of its own (self) time, its callees and how often each is called); every
//! datagram produces one receive invocation (softirq context, CPU 0) and one send invocation
//! (process context, CPU 1). A call's duration is its self time plus its callees' durations;
//! with probability `irq_probability` a leaf call is hit by a hard IRQ of `irq_ns`, which is
//! added to its duration and to every enclosing call's, and flagged on all of them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use kpath_trace::{format, Event, EventKind, ExecContext, Mechanism, Metadata, TraceWriter};

/// Distribution of a self time, in ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Always this value.
    Const(u64),
    /// `min` plus an exponential variable of mean `mean`: mean `min + mean`, variance `mean²`.
    ShiftedExp {
        /// Shift.
        min: u64,
        /// Mean of the exponential part.
        mean: f64,
    },
}

impl Dist {
    /// Expected value.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Const(c) => c as f64,
            Dist::ShiftedExp { min, mean } => min as f64 + mean,
        }
    }

    /// Variance.
    pub fn variance(&self) -> f64 {
        match *self {
            Dist::Const(_) => 0.0,
            Dist::ShiftedExp { mean, .. } => mean * mean,
        }
    }

    fn sample(&self, rng: &mut SplitMix64) -> u64 {
        match *self {
            Dist::Const(c) => c,
            Dist::ShiftedExp { min, mean } => {
                let u = rng.unit();
                min + (-mean * (1.0 - u).ln()).round() as u64
            }
        }
    }
}

/// One function of a synthetic tree.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthNode {
    /// Function name.
    pub name: String,
    /// Self time.
    pub self_ns: Dist,
    /// Callees, each called `count` times in order.
    pub children: Vec<(u32, SynthNode)>,
}

impl SynthNode {
    /// A leaf.
    pub fn leaf(name: &str, self_ns: Dist) -> Self {
        Self {
            name: name.into(),
            self_ns,
            children: Vec::new(),
        }
    }

    /// A node with callees called once each.
    pub fn node(name: &str, self_ns: Dist, children: Vec<SynthNode>) -> Self {
        Self {
            name: name.into(),
            self_ns,
            children: children.into_iter().map(|c| (1, c)).collect(),
        }
    }

    /// Expected duration (self plus callees).
    pub fn mean(&self) -> f64 {
        self.self_ns.mean()
            + self
                .children
                .iter()
                .map(|(k, c)| f64::from(*k) * c.mean())
                .sum::<f64>()
    }

    /// Variance of the duration (independent self times).
    pub fn variance(&self) -> f64 {
        self.self_ns.variance()
            + self
                .children
                .iter()
                .map(|(k, c)| f64::from(*k) * c.variance())
                .sum::<f64>()
    }

    fn names<'a>(&'a self, out: &mut Vec<&'a str>) {
        if !out.contains(&self.name.as_str()) {
            out.push(&self.name);
        }
        for (_, c) in &self.children {
            c.names(out);
        }
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    /// Datagrams (each gives one receive and one send invocation).
    pub datagrams: u64,
    /// Receive tree.
    pub rx: SynthNode,
    /// Send tree.
    pub tx: SynthNode,
    /// Probability that a leaf call is hit by a hard IRQ.
    pub irq_probability: f64,
    /// Time such an IRQ takes.
    pub irq_ns: u64,
    /// Random seed.
    pub seed: u64,
    /// Whether [`write_trace`] writes entry records; without them it writes what kpath's
    /// recorder writes by default, exits only (metadata `entry_records: false`).
    pub entry_records: bool,
}

impl SynthConfig {
    /// A veth-like proxy: 8 receive functions, 9 send functions, `consume_skb` in both.
    pub fn veth(datagrams: u64) -> Self {
        use Dist::*;
        let e = |min, mean| ShiftedExp { min, mean };
        let rx = SynthNode::node(
            "net_rx_action",
            e(150, 50.0),
            vec![SynthNode::node(
                "__napi_poll",
                Const(40),
                vec![SynthNode::node(
                    "veth_poll",
                    e(80, 20.0),
                    vec![SynthNode::node(
                        "__netif_receive_skb_core",
                        e(60, 20.0),
                        vec![SynthNode::node(
                            "ip_rcv",
                            e(50, 10.0),
                            vec![SynthNode::node(
                                "udp_rcv",
                                e(100, 50.0),
                                vec![
                                    SynthNode::leaf("sock_queue_rcv_skb", e(90, 30.0)),
                                    SynthNode::leaf("consume_skb", e(30, 10.0)),
                                ],
                            )],
                        )],
                    )],
                )],
            )],
        );
        let tx = SynthNode::node(
            "tp:sys_sendto",
            e(250, 50.0),
            vec![SynthNode::node(
                "udp_sendmsg",
                e(300, 100.0),
                vec![
                    SynthNode::leaf("ip_route_output_flow", e(120, 30.0)),
                    SynthNode::leaf("ip_make_skb", e(150, 50.0)),
                    SynthNode::node(
                        "udp_send_skb",
                        Const(50),
                        vec![SynthNode::node(
                            "ip_output",
                            e(80, 20.0),
                            vec![SynthNode::node(
                                "__dev_queue_xmit",
                                e(60, 20.0),
                                vec![SynthNode::node(
                                    "veth_xmit",
                                    e(100, 20.0),
                                    vec![SynthNode::leaf("consume_skb", e(30, 10.0))],
                                )],
                            )],
                        )],
                    ),
                ],
            )],
        );
        Self {
            datagrams,
            rx,
            tx,
            irq_probability: 0.01,
            irq_ns: 2000,
            seed: 1,
            entry_records: true,
        }
    }

    /// The function table: every name of both trees, receive first, each once.
    pub fn metadata(&self) -> Metadata {
        let mut names = Vec::new();
        self.rx.names(&mut names);
        self.tx.names(&mut names);
        let mut meta = Metadata::new("kpath-synth", "synthetic", 2);
        for n in names {
            let mech = if n.starts_with("tp:") {
                Mechanism::Tracepoint
            } else {
                Mechanism::Fentry
            };
            meta.add_function(n, None, None, mech);
        }
        meta.entry_records = (!self.entry_records).then_some(false);
        meta
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, good enough for synthetic timings.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Generates the records of a [`SynthConfig`], one datagram at a time.
pub struct SynthGenerator {
    cfg: SynthConfig,
    ids: Vec<String>,
    rng: SplitMix64,
    ts: u64,
    done: u64,
}

struct Emitted {
    irq_ns: u64,
    hardirqs: u32,
}

impl SynthGenerator {
    /// A generator starting at timestamp 10¹².
    pub fn new(cfg: SynthConfig) -> Self {
        let ids = cfg
            .metadata()
            .functions
            .into_iter()
            .map(|f| f.name)
            .collect();
        let rng = SplitMix64(cfg.seed);
        Self {
            cfg,
            ids,
            rng,
            ts: 1_000_000_000_000,
            done: 0,
        }
    }

    /// Appends the records of the next datagram to `out`; false when all were generated.
    pub fn next_datagram(&mut self, out: &mut Vec<Event>) -> bool {
        if self.done >= self.cfg.datagrams {
            return false;
        }
        self.done += 1;
        let rx = self.cfg.rx.clone();
        let tx = self.cfg.tx.clone();
        self.emit(&rx, 0, ExecContext::SoftIrq, 0, 0, out);
        self.ts += 1000;
        self.emit(&tx, 0, ExecContext::Process, 1, 1000, out);
        self.ts += 1000;
        true
    }

    fn id(&self, name: &str) -> u32 {
        self.ids.iter().position(|n| n == name).unwrap_or(0) as u32
    }

    fn emit(
        &mut self,
        node: &SynthNode,
        depth: u16,
        ctx: ExecContext,
        cpu: u32,
        tid: u32,
        out: &mut Vec<Event>,
    ) -> Emitted {
        let func_id = self.id(&node.name);
        let base = Event {
            func_id,
            cpu,
            pid: tid,
            tid,
            depth,
            context: ctx as u8,
            ..Event::default()
        };
        let start = self.ts;
        out.push(Event {
            ts_ns: start,
            kind: EventKind::Enter as u8,
            ..base
        });
        self.ts += node.self_ns.sample(&mut self.rng);
        let (mut irq_ns, mut hardirqs) = (0, 0);
        if node.children.is_empty() {
            if self.cfg.irq_probability > 0.0 && self.rng.unit() < self.cfg.irq_probability {
                irq_ns = self.cfg.irq_ns;
                hardirqs = 1;
                self.ts += irq_ns;
            }
        } else {
            for (k, child) in &node.children {
                for _ in 0..*k {
                    let c = self.emit(child, depth + 1, ctx, cpu, tid, out);
                    irq_ns += c.irq_ns;
                    hardirqs += c.hardirqs;
                }
            }
        }
        let dur = self.ts - start;
        out.push(Event {
            ts_ns: self.ts,
            dur_ns: dur,
            irq_ns,
            hardirqs,
            kind: EventKind::Exit as u8,
            ..base
        });
        Emitted { irq_ns, hardirqs }
    }
}

/// Writes the synthetic trace of `cfg` to `path` (finalised).
pub fn write_trace(
    cfg: &SynthConfig,
    path: &Path,
    out: &kpath_cli::Output,
) -> Result<u64, crate::Error> {
    let file = out.create(path)?;
    let trace_error = |source| crate::Error::Trace {
        path: path.into(),
        source,
    };
    let mut w = TraceWriter::new(file, cfg.metadata()).map_err(trace_error)?;
    let mut g = SynthGenerator::new(cfg.clone());
    let mut buf = Vec::new();
    while g.next_datagram(&mut buf) {
        for e in buf.drain(..) {
            if cfg.entry_records || e.kind == EventKind::Exit as u8 {
                w.write_event(&e).map_err(trace_error)?;
            }
        }
    }
    let n = w.records();
    w.finish(|_| {}).map_err(trace_error)?;
    Ok(n)
}

/// The preamble and metadata of an *unfinished* trace (record count unknown): followed by
/// any number of records, it reads to the end. The benchmark repeats a block of records
/// after it.
pub fn unfinished_header(meta: &Metadata) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(meta)?;
    let len = json.len().next_multiple_of(8);
    let mut out = Vec::with_capacity(format::PREAMBLE_SIZE + len);
    out.extend_from_slice(&format::MAGIC);
    out.extend_from_slice(&format::VERSION.to_le_bytes());
    out.extend_from_slice(&(kpath_trace::EVENT_SIZE as u32).to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&format::COUNT_UNKNOWN.to_le_bytes());
    out.extend_from_slice(&json);
    out.resize(format::PREAMBLE_SIZE + len, b' ');
    Ok(out)
}

/// Writes records to `path` with a plain buffered writer (an unfinished trace), for large
/// benchmark inputs. Returns the record count.
pub fn write_unfinished(cfg: &SynthConfig, path: &Path) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    w.write_all(&unfinished_header(&cfg.metadata()).map_err(std::io::Error::other)?)?;
    let mut g = SynthGenerator::new(cfg.clone());
    let mut buf = Vec::new();
    let mut n = 0;
    while g.next_datagram(&mut buf) {
        for e in buf.drain(..) {
            w.write_all(&e.to_le_bytes())?;
            n += 1;
        }
    }
    w.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_tree_means_add_up() {
        let c = SynthConfig::veth(1);
        assert_eq!(
            c.rx.mean(),
            200.0 + 40.0 + 100.0 + 80.0 + 60.0 + 150.0 + 120.0 + 40.0
        );
        let m = c.metadata();
        assert_eq!(
            m.functions
                .iter()
                .filter(|f| f.name == "consume_skb")
                .count(),
            1
        );
        let mut g = SynthGenerator::new(c);
        let mut v = Vec::new();
        assert!(g.next_datagram(&mut v));
        assert_eq!(v.len(), 2 * (8 + 9));
        assert!(!g.next_datagram(&mut v));
    }
}
