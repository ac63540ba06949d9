//! `kpath-probe discover`: which network functions a session actually calls.
//!
//! Method step 2: attach cheap counting kprobes (entry only, in-kernel counters, no events)
//! to every traceable function of the network code, relay a session, and keep the functions
//! that were called, with their calls per root invocation. Inlined functions and macros have
//! no symbol to probe; functions the kernel refuses to probe are counted and named.

use std::collections::BTreeSet;
use std::fs;

use serde::Serialize;

use crate::functions::glob_match;
use crate::kernel::Kallsyms;
use crate::loader::Mode;
use crate::{kernel, ProbeError, Probes, Settings};

/// Name patterns of the network code (`net/`, `drivers/net/`): kallsyms has no source file,
/// so the set is chosen by the subsystems' naming conventions, plus every function of a
/// module whose name marks it as a network driver.
pub const NET_GLOBS: &[&str] = &[
    "net_*",
    "__net_*",
    "netif_*",
    "__netif_*",
    "napi_*",
    "__napi_*",
    "gro_*",
    // `dev_*` alone would take in the driver core (dev_pm_*, dev_attr_*): only netdev ones.
    "dev_queue_*",
    "__dev_queue_*",
    "dev_hard_*",
    "dev_xmit_*",
    "__dev_xmit_*",
    "dev_gro_*",
    "dev_qdisc_*",
    "dev_core_stats_*",
    "dev_get_by_*",
    "dev_forward_skb*",
    "__dev_forward_skb*",
    "dev_loopback_xmit",
    "__dev_direct_xmit",
    "dev_kfree_skb*",
    "skb_*",
    "__skb_*",
    "kfree_skb*",
    "consume_skb*",
    "alloc_skb*",
    "__alloc_skb*",
    "sock_*",
    "__sock_*",
    "sk_*",
    "__sk_*",
    "sockfd_*",
    "ip_*",
    "__ip_*",
    "ipv4_*",
    "inet_*",
    "__inet_*",
    "udp_*",
    "__udp*",
    "udp4_*",
    "icmp_*",
    "fib_*",
    "__fib_*",
    "rt_*",
    "__rt_*",
    "dst_*",
    "neigh_*",
    "__neigh_*",
    "arp_*",
    "eth_*",
    "qdisc_*",
    "__qdisc_*",
    "sch_*",
    "pfifo_*",
    "validate_xmit_*",
    "rps_*",
    "__sys_sendto",
    "__sys_recvfrom",
    "__sys_sendmsg",
    "__sys_recvmsg",
    "___sys_sendmsg",
    "___sys_recvmsg",
    "__x64_sys_sendto",
    "__x64_sys_recvfrom",
    "__x64_sys_sendmsg",
    "__x64_sys_recvmsg",
    "nf_*",
    "__nf_*",
    "raw_v4_*",
    "raw_local_deliver",
    "raw_rcv*",
    "raw_sendmsg",
    "raw_recvmsg",
    "process_backlog",
    "enqueue_to_backlog",
    "loopback_*",
    "veth_*",
];

/// Module names of network drivers whose functions are all candidates.
pub const NET_MODULE_GLOBS: &[&str] = &[
    "veth",
    "virtio_net",
    "8139*",
    "e1000*",
    "mii",
    "tun",
    "bridge",
];

/// The candidate set: `net` (the network code) or explicit globs.
pub fn candidates(kallsyms: &Kallsyms, globs: &[String], net: bool) -> Vec<String> {
    let traceable = traceable_functions();
    let mut out = BTreeSet::new();
    for name in kallsyms.names() {
        // Compiler-generated clones (`.cold`, `.isra.0`, `.constprop.0`) are not entry points.
        if name.contains('.') {
            continue;
        }
        let by_glob = globs.iter().any(|g| glob_match(g, name));
        let by_net = net
            && (NET_GLOBS.iter().any(|g| glob_match(g, name))
                || kallsyms
                    .get(name)
                    .and_then(|s| s.module.as_deref())
                    .is_some_and(|m| NET_MODULE_GLOBS.iter().any(|g| glob_match(g, m))));
        if (by_glob || by_net) && traceable.as_ref().is_none_or(|t| t.contains(name)) {
            out.insert(name.to_owned());
        }
    }
    out.into_iter().collect()
}

/// Functions ftrace can hook (`available_filter_functions`): excludes `notrace` code and the
/// kprobe blacklist's usual suspects. `None` when the list is unreadable or empty (kernels
/// without the function tracer), in which case every text symbol is tried.
fn traceable_functions() -> Option<BTreeSet<String>> {
    let text = [
        "/sys/kernel/tracing/available_filter_functions",
        "/sys/kernel/debug/tracing/available_filter_functions",
    ]
    .iter()
    .find_map(|p| fs::read_to_string(p).ok().filter(|t| !t.is_empty()))?;
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
    )
}

/// One function that was called during the session.
#[derive(Clone, Debug, Serialize)]
pub struct Called {
    /// Symbol.
    pub name: String,
    /// Module, if any.
    pub module: Option<String>,
    /// Calls counted.
    pub calls: u64,
    /// Calls per root invocation (calls of the root function), if the root was called.
    pub per_root: Option<f64>,
}

/// The outcome of a discovery run.
#[derive(Clone, Debug, Serialize)]
pub struct Discovery {
    /// Kernel release.
    pub kernel_release: String,
    /// Functions tried.
    pub candidates: usize,
    /// Functions a counting probe was attached to.
    pub attached: usize,
    /// Functions the kernel refused (name, reason), at most 50 listed.
    pub refused: Vec<(String, String)>,
    /// How many were refused in all.
    pub refused_count: usize,
    /// The root function the per-root figures divide by.
    pub root: String,
    /// Calls of the root function.
    pub root_calls: u64,
    /// Called functions, most called first.
    pub called: Vec<Called>,
}

/// Attached counting probes; read them with [`Counting::finish`] after the session.
pub struct Counting {
    probes: Probes,
    names: Vec<(String, Option<String>)>,
    candidates: usize,
    refused: Vec<(String, String)>,
    refused_count: usize,
}

/// Attaches counting kprobes to `functions`, calling `progress(done, total)` as it goes.
pub fn attach(
    functions: &[String],
    kallsyms: &Kallsyms,
    mut progress: impl FnMut(usize, usize),
) -> Result<Counting, ProbeError> {
    if !kernel::is_root() {
        return Err(ProbeError::NotRoot);
    }
    if !kernel::has_kprobes() {
        return Err(ProbeError::NoKprobes);
    }
    raise_fd_limit();
    let mut probes = Probes::load(Settings {
        mode: Mode::Count,
        ..Settings::default()
    })?;
    let mut names = Vec::new();
    let mut refused = Vec::new();
    let mut refused_count = 0;
    for (i, f) in functions.iter().enumerate() {
        progress(i, functions.len());
        let Some(sym) = kallsyms.get(f) else { continue };
        let id = names.len() as u32;
        probes.register_function(id, sym.address)?;
        match probes.attach_kprobe_entry(f) {
            Ok(()) => names.push((f.clone(), sym.module.clone())),
            Err(e) => {
                refused_count += 1;
                if refused.len() < 50 {
                    refused.push((f.clone(), e.to_string()));
                }
            }
        }
    }
    progress(functions.len(), functions.len());
    Ok(Counting {
        probes,
        names,
        candidates: functions.len(),
        refused,
        refused_count,
    })
}

impl Counting {
    /// Functions being counted.
    pub fn attached(&self) -> usize {
        self.names.len()
    }

    /// Reads the counters; `root` names the function whose calls are one root invocation.
    pub fn finish(self, root: &str) -> Result<Discovery, ProbeError> {
        let attached = self.names.len();
        let counts = self.probes.call_counts(attached as u32)?;
        let root_calls = self
            .names
            .iter()
            .zip(&counts)
            .find(|((n, _), _)| n == root)
            .map(|(_, c)| *c)
            .unwrap_or(0);
        let mut called: Vec<Called> = self
            .names
            .into_iter()
            .zip(counts)
            .filter(|(_, c)| *c > 0)
            .map(|((name, module), calls)| Called {
                name,
                module,
                calls,
                per_root: (root_calls > 0).then(|| calls as f64 / root_calls as f64),
            })
            .collect();
        called.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
        Ok(Discovery {
            kernel_release: kernel::release(),
            candidates: self.candidates,
            attached,
            refused: self.refused,
            refused_count: self.refused_count,
            root: root.to_owned(),
            root_calls,
            called,
        })
    }
}

/// Each kprobe is a perf event file descriptor: thousands need more than the default 1024.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        let want = lim.rlim_max.max(65536);
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: valid pointer; failure leaves the old limit, and attaching reports EMFILE.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
            let fallback = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &fallback) };
        }
    }
}
