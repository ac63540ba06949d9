//! `kpath-probe check`: which probe mechanisms work on this kernel, proven by use.
//!
//! For each mechanism, attach it to a function on the UDP send path (or the `sendto`
//! tracepoints), send N datagrams on loopback from this thread, and count the records this
//! thread produced: a mechanism works when it gives exactly N entries and N exits, each exit
//! timed and at depth 0. This is the first VM scenario and the column source of the kernel
//! matrix.

use std::net::UdpSocket;

use kpath_trace::Mechanism;
use probe_common::{stage::TpStage, Event, EventKind};
use serde::{Deserialize, Serialize};

use crate::ring::EventRings;
use crate::{
    kernel,
    loader::{Probes, Settings},
    pinned::PinnedToThisCpu,
    ProbeError,
};

/// The (entry, exit) programs `check` attaches for a mechanism, as reported: kprobe +
/// kretprobe, fentry + fexit, or the `syscalls:sys_enter_sendto` + `sys_exit_sendto`
/// tracepoints.
pub const fn program_names(m: Mechanism) -> (&'static str, &'static str) {
    match m {
        Mechanism::Kprobe => ("kprobe", "kretprobe"),
        Mechanism::Fentry => ("fentry", "fexit"),
        Mechanism::Tracepoint => ("tracepoint-enter", "tracepoint-exit"),
    }
}

/// What one mechanism did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MechanismResult {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Whether the kernel verifier accepted the programs (kprobe programs load even on
    /// kernels that cannot attach them).
    pub verified: bool,
    /// `Err(reason)` when the programs could not be loaded or attached.
    pub attached: Result<(), String>,
    /// Entry records from this thread.
    pub entries: u64,
    /// Exit records from this thread that matched an entry at depth 0 with a duration > 0.
    pub timed_exits: u64,
    /// Events the kernel failed to deliver during the round.
    pub lost: u64,
}

impl MechanismResult {
    /// Whether this mechanism gave exactly `n` entries and `n` timed exits, nothing lost.
    pub fn works(&self, n: u64) -> bool {
        self.attached.is_ok() && self.entries == n && self.timed_exits == n && self.lost == 0
    }
}

/// Runs one round per mechanism: `count` datagrams through `function`.
pub fn run(
    function: &str,
    count: u32,
    mechanisms: &[Mechanism],
) -> Result<Vec<MechanismResult>, ProbeError> {
    // A function the kernel lacks is an error for every mechanism: the tracepoint round
    // (which times the sendto tracepoints whatever the function) must not make it "work".
    kernel::Kallsyms::load()?.require(function)?;
    // A send that moved this thread to another CPU would give an exit flagged migrated,
    // which `tally` does not count as timed: the scheduler's doing, not the mechanism's. (The
    // matrix's PREEMPT_RT kernel once gave 999 timed exits of 1000 before the thread was
    // pinned; the check does not say which flag the odd exit had.)
    let _pinned = PinnedToThisCpu::new("the checking thread")?;
    let sockets = Loopback::new()?;
    mechanisms
        .iter()
        .map(|&m| round(m, function, count, &sockets))
        .collect()
}

fn round(
    mechanism: Mechanism,
    function: &str,
    count: u32,
    sockets: &Loopback,
) -> Result<MechanismResult, ProbeError> {
    let mut result = MechanismResult {
        mechanism,
        verified: false,
        attached: Ok(()),
        entries: 0,
        timed_exits: 0,
        lost: 0,
    };
    let settings = Settings {
        filter_pid: Some(std::process::id()),
        // Entry records too: the check counts the entry programs' runs apart from the exits'.
        mode: crate::loader::Mode::TraceWithEntries,
        ..Settings::default()
    };
    let mut probes = Probes::load(settings)?;
    const ID: u32 = 0;
    let attached = match mechanism {
        Mechanism::Kprobe => {
            let loaded = probes.load_kprobe_programs();
            result.verified = loaded.is_ok();
            loaded.and_then(|()| {
                let sym = kernel::Kallsyms::load()?.require(function)?.clone();
                probes.register_function(ID, sym.address)?;
                probes.attach_kprobe_pair(function)
            })
        }
        Mechanism::Fentry => (|| {
            let sym = kernel::Kallsyms::load()?.require(function)?.clone();
            probes.register_function(ID, sym.address)?;
            probes.attach_fentry_pair(function)
        })(),
        Mechanism::Tracepoint => probes.attach_stage(TpStage::SysSendto, ID),
    };
    if mechanism == Mechanism::Fentry || mechanism == Mechanism::Tracepoint {
        result.verified = attached.is_ok();
    }
    if let Err(e) = attached {
        result.attached = Err(with_sources(&e));
        return Ok(result);
    }
    // The tracepoint stage needs the irq accounting for contexts only; skipped for speed.
    let mut events = probes.take_events()?;
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    for i in 0..count {
        sockets.ping(i)?;
        // Drain as we go so a small ring buffer cannot overflow.
        tally_ring(&mut events, &mut result, tid);
    }
    tally_ring(&mut events, &mut result, tid);
    result.lost = kpath_trace::saturating_sum(&probes.lost_per_cpu()?);
    Ok(result)
}

/// Tallies every record the ring holds.
fn tally_ring(events: &mut EventRings, result: &mut MechanismResult, tid: u32) {
    events.read(|item| {
        tally(result, item, tid);
        true
    });
}

fn tally(result: &mut MechanismResult, bytes: &[u8], tid: u32) {
    let Ok(raw) = <&[u8; probe_common::EVENT_SIZE]>::try_from(bytes) else {
        return;
    };
    let e = Event::from_le_bytes(raw);
    if e.tid != tid || e.func_id != 0 {
        return;
    }
    match EventKind::try_from(e.kind) {
        Ok(EventKind::Enter) => result.entries += 1,
        Ok(EventKind::Exit) if e.depth == 0 && e.dur_ns > 0 && e.flags == 0 => {
            result.timed_exits += 1
        }
        _ => {}
    }
}

/// The error and its sources, "a: b: c", as anyhow's `{:#}` prints them.
fn with_sources(e: &ProbeError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Two UDP sockets on loopback: one sends with `sendto`, the other reads each datagram back
/// so that the exchange is bounded and nothing queues up.
struct Loopback {
    tx: UdpSocket,
    rx: UdpSocket,
}

impl Loopback {
    fn new() -> Result<Self, ProbeError> {
        let io = |what: &str, source| ProbeError::Kernel {
            what: what.into(),
            source,
        };
        let rx = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("a loopback UDP socket", e))?;
        let tx = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("a loopback UDP socket", e))?;
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .map_err(|e| io("socket timeout", e))?;
        Ok(Self { tx, rx })
    }

    fn ping(&self, i: u32) -> Result<(), ProbeError> {
        let io = |source| ProbeError::Kernel {
            what: "loopback datagram".into(),
            source,
        };
        let to = self.rx.local_addr().map_err(io)?;
        self.tx.send_to(&i.to_le_bytes(), to).map_err(io)?;
        let mut buf = [0u8; 16];
        self.rx.recv_from(&mut buf).map_err(io)?;
        Ok(())
    }
}

/// The document of `kpath-probe check --json`: what each mechanism did on this kernel.
/// Fields are in name order, as earlier versions wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Datagrams sent per mechanism.
    pub datagrams: u32,
    /// The function probed.
    pub function: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// One entry per mechanism tried, in the order tried.
    pub mechanisms: Vec<MechanismCheck>,
}

/// One mechanism's row of a [`CheckReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MechanismCheck {
    /// Whether the programs were loaded and attached.
    pub attached: bool,
    /// Entry records from the checking thread.
    pub entries: u64,
    /// The entry program ([`program_names`]): `kprobe`, `fentry` or `tracepoint-enter`.
    pub entry: String,
    /// Why the programs could not be loaded or attached.
    pub error: Option<String>,
    /// The exit program: `kretprobe`, `fexit` or `tracepoint-exit`.
    pub exit: String,
    /// Events the kernel failed to deliver during the round.
    pub lost: u64,
    /// Exits that matched an entry at depth 0 with a duration above 0.
    pub timed_exits: u64,
    /// Whether the kernel verifier accepted the programs.
    pub verified: bool,
    /// Exactly `datagrams` entries and timed exits, nothing lost.
    pub works: bool,
}

impl MechanismCheck {
    /// `entry/exit`, the row's name in the table.
    pub fn pair(&self) -> String {
        format!("{}/{}", self.entry, self.exit)
    }

    /// The row's status as `check` prints it: works, counts differ, or why unavailable.
    pub fn status(&self) -> String {
        match (&self.error, self.works) {
            (None, true) => "works".to_owned(),
            (None, false) => "attached, but counts differ".to_owned(),
            (Some(e), _) => format!("unavailable: {e}"),
        }
    }
}

impl CheckReport {
    /// The report of `results` (`count` datagrams through `function`) on this kernel.
    pub fn new(function: &str, count: u32, results: &[MechanismResult]) -> Self {
        Self {
            datagrams: count,
            function: function.into(),
            kernel_release: kernel::release(),
            mechanisms: results
                .iter()
                .map(|r| {
                    let (entry, exit) = program_names(r.mechanism);
                    MechanismCheck {
                        attached: r.attached.is_ok(),
                        entries: r.entries,
                        entry: entry.into(),
                        error: r.attached.as_ref().err().cloned(),
                        exit: exit.into(),
                        lost: r.lost,
                        timed_exits: r.timed_exits,
                        verified: r.verified,
                        works: r.works(u64::from(count)),
                    }
                })
                .collect(),
        }
    }

    /// The row of the mechanism whose entry program is `entry`.
    pub fn mechanism(&self, entry: &str) -> Option<&MechanismCheck> {
        self.mechanisms.iter().find(|m| m.entry == entry)
    }
}
