//! Which functions to probe: names, files, globs and the curated `udp-echo` preset, resolved
//! against the running kernel. Names that cannot be probed are reported with the reason.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::kernel::Kallsyms;
use crate::ProbeError;

/// The protocol layer a preset function belongs to (the method's "chain").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// NIC driver: poll and transmit routines.
    Driver,
    /// Core networking: softirq, device queueing.
    Core,
    /// IPv4.
    Ip,
    /// UDP.
    Udp,
    /// Socket layer.
    Socket,
}

impl Layer {
    /// Lower-case name used in metadata.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Driver => "driver",
            Self::Core => "core",
            Self::Ip => "ip",
            Self::Udp => "udp",
            Self::Socket => "socket",
        }
    }
}

/// The non-driver part of `--preset udp-echo`.
pub const UDP_ECHO_CORE: &[(&str, Layer)] = &[
    ("net_rx_action", Layer::Core),
    ("process_backlog", Layer::Core),
    ("__netif_receive_skb_core", Layer::Core),
    ("__dev_queue_xmit", Layer::Core),
    ("dev_hard_start_xmit", Layer::Core),
    ("ip_rcv", Layer::Ip),
    ("ip_rcv_finish", Layer::Ip),
    ("ip_local_deliver", Layer::Ip),
    ("ip_local_deliver_finish", Layer::Ip),
    ("ip_output", Layer::Ip),
    ("ip_finish_output2", Layer::Ip),
    ("ip_send_skb", Layer::Ip),
    ("udp_rcv", Layer::Udp),
    ("__udp4_lib_rcv", Layer::Udp),
    ("udp_queue_rcv_skb", Layer::Udp),
    ("udp_sendmsg", Layer::Udp),
    ("udp_send_skb", Layer::Udp),
    ("udp_recvmsg", Layer::Udp),
    ("sock_sendmsg", Layer::Socket),
    ("inet_sendmsg", Layer::Socket),
    ("sock_recvmsg", Layer::Socket),
    ("__sys_sendto", Layer::Socket),
    ("__sys_recvfrom", Layer::Socket),
];

/// Driver functions by driver name (as `ethtool -i` reports it): poll, transmit, interrupt.
pub const DRIVERS: &[(&str, &[&str])] = &[
    ("veth", &["veth_xmit", "veth_poll"]),
    (
        "virtio_net",
        &["virtnet_poll", "start_xmit", "skb_recv_done"],
    ),
    ("8139cp", &["cp_rx_poll", "cp_start_xmit", "cp_interrupt"]),
    (
        "8139too",
        &["rtl8139_poll", "rtl8139_start_xmit", "rtl8139_interrupt"],
    ),
    ("e1000", &["e1000_clean", "e1000_xmit_frame", "e1000_intr"]),
    (
        "e1000e",
        &["e1000e_poll", "e1000_xmit_frame", "e1000_intr_msix_rx"],
    ),
    ("loopback", &["loopback_xmit"]),
];

/// The driver functions of `driver`, if kpath knows it.
pub fn driver_functions(driver: &str) -> Option<&'static [&'static str]> {
    DRIVERS.iter().find(|(d, _)| *d == driver).map(|(_, f)| *f)
}

/// The driver of a network interface, from the ethtool driver-info ioctl (works for virtual
/// devices such as veth that have no `device/driver` link in sysfs).
pub fn interface_driver(interface: &str) -> Result<String, ProbeError> {
    let link = Path::new("/sys/class/net")
        .join(interface)
        .join("device/driver");
    if let Ok(target) = fs::read_link(&link) {
        if let Some(name) = target.file_name() {
            return Ok(name.to_string_lossy().into_owned());
        }
    }
    match ethtool_driver(interface) {
        Ok(d) => Ok(d),
        // The loopback device answers no ethtool queries.
        Err(_) if is_loopback(interface) => Ok("loopback".into()),
        Err(e) => Err(e),
    }
}

/// `ARPHRD_LOOPBACK` in `/sys/class/net/IF/type`.
fn is_loopback(interface: &str) -> bool {
    fs::read_to_string(Path::new("/sys/class/net").join(interface).join("type"))
        .map(|t| t.trim() == "772")
        .unwrap_or(false)
}

fn ethtool_driver(interface: &str) -> Result<String, ProbeError> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        version: [u8; 32],
        fw_version: [u8; 32],
        bus_info: [u8; 32],
        erom_version: [u8; 32],
        reserved2: [u8; 12],
        n_priv_flags: u32,
        n_stats: u32,
        testinfo_len: u32,
        eedump_len: u32,
        regdump_len: u32,
    }
    let err = |source| ProbeError::Kernel {
        what: format!("the driver of interface `{interface}`"),
        source,
    };
    if interface.len() >= libc::IFNAMSIZ {
        return Err(err(std::io::Error::other("interface name too long")));
    }
    // SAFETY: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(interface.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: fd is a socket; ifr points at a valid ifreq whose data points at `info`.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut ifr) };
    let e = std::io::Error::last_os_error();
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err(e));
    }
    let end = info
        .driver
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(info.driver.len());
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// A function chosen for probing, resolved in kallsyms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Symbol name.
    pub name: String,
    /// kallsyms address.
    pub address: u64,
    /// Module, if not core kernel.
    pub module: Option<String>,
    /// Layer, when it came from a preset.
    pub layer: Option<Layer>,
}

/// A requested function that will not be probed, and why: the type the trace metadata
/// stores (`Metadata::skipped`).
pub use kpath_trace::recording::SkippedFunction as Skipped;

/// The skipped functions grouped by reason, in the order each reason first occurs: one line
/// per reason for the user, not one per function.
pub fn group_skipped(skipped: &[Skipped]) -> Vec<(&str, Vec<&str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for s in skipped {
        match groups.iter_mut().find(|(r, _)| *r == s.reason) {
            Some((_, names)) => names.push(&s.name),
            None => groups.push((&s.reason, vec![&s.name])),
        }
    }
    groups
}

/// What the user asked for, before resolution.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `--function` names.
    pub functions: Vec<String>,
    /// `--glob` patterns (`*` and `?`).
    pub globs: Vec<String>,
    /// `--preset udp-echo`.
    pub udp_echo: bool,
    /// `--interface`: the driver whose functions the preset adds.
    pub interface: Option<String>,
}

/// Reads `--functions-file`: one name per line, `#` comments.
pub fn read_functions_file(path: &Path) -> Result<Vec<String>, ProbeError> {
    let text = fs::read_to_string(path).map_err(|source| ProbeError::Kernel {
        what: format!("functions file {}", path.display()),
        source,
    })?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Resolves a request: targets in a stable order, and what was skipped with reasons.
/// `driver` is the interface's driver when the preset asked for one.
pub fn resolve(
    request: &Request,
    kallsyms: &Kallsyms,
    driver: Option<&str>,
) -> (Vec<Target>, Vec<Skipped>) {
    let mut wanted: Vec<(String, Option<Layer>)> = Vec::new();
    let mut skipped = Vec::new();
    if request.udp_echo {
        if let Some(d) = driver {
            match driver_functions(d) {
                Some(fs) => wanted.extend(fs.iter().map(|f| (f.to_string(), Some(Layer::Driver)))),
                None => skipped.push(Skipped {
                    name: format!("driver {d}"),
                    reason: format!(
                        "kpath has no function list for driver `{d}`; add its poll/xmit functions with --function (known: {})",
                        DRIVERS.iter().map(|(d, _)| *d).collect::<Vec<_>>().join(", ")
                    ),
                }),
            }
        }
        wanted.extend(UDP_ECHO_CORE.iter().map(|(f, l)| (f.to_string(), Some(*l))));
    }
    wanted.extend(request.functions.iter().map(|f| (f.clone(), None)));
    for pattern in &request.globs {
        let mut matches: Vec<&str> = kallsyms
            .names()
            .filter(|n| glob_match(pattern, n))
            .collect();
        matches.sort_unstable();
        if matches.is_empty() {
            skipped.push(Skipped {
                name: pattern.clone(),
                reason: "the glob matches no kernel function".into(),
            });
        }
        wanted.extend(matches.into_iter().map(|m| (m.to_owned(), None)));
    }
    let mut seen = BTreeSet::new();
    let mut targets = Vec::new();
    for (name, layer) in wanted {
        if !seen.insert(name.clone()) {
            continue;
        }
        match kallsyms.get(&name) {
            Some(sym) => targets.push(Target {
                name,
                address: sym.address,
                module: sym.module.clone(),
                layer,
            }),
            None => skipped.push(Skipped {
                name,
                reason: "not in /proc/kallsyms: absent on this kernel, or inlined into its callers"
                    .into(),
            }),
        }
    }
    (targets, skipped)
}

/// Shell-style match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_functions_group_by_reason_in_first_seen_order() {
        let s = |name: &str, reason: &str| Skipped {
            name: name.into(),
            reason: reason.into(),
        };
        let skipped = [
            s("a", "no kprobes"),
            s("b", "inlined"),
            s("c", "no kprobes"),
        ];
        assert_eq!(
            group_skipped(&skipped),
            vec![("no kprobes", vec!["a", "c"]), ("inlined", vec!["b"])]
        );
    }

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("udp_*", "udp_sendmsg"));
        assert!(glob_match("*_rcv", "ip_rcv"));
        assert!(glob_match("ip_?cv", "ip_rcv"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("udp_*", "__udp4_lib_rcv"));
        assert!(!glob_match("ip_rcv", "ip_rcv_finish"));
    }

    #[test]
    fn resolve_reports_missing_functions_and_keeps_order() {
        let k = Kallsyms::parse(
            "ffffffff81000010 T ip_rcv\n\
             ffffffff81000020 T udp_rcv\n\
             ffffffff81000030 T udp_sendmsg\n\
             ffffffffc0000010 t veth_xmit\t[veth]\n",
        );
        let req = Request {
            functions: vec!["ip_rcv".into(), "nope".into()],
            globs: vec!["udp_*".into(), "zz*".into()],
            ..Request::default()
        };
        let (targets, skipped) = resolve(&req, &k, None);
        let names: Vec<_> = targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ip_rcv", "udp_rcv", "udp_sendmsg"]);
        let skipped: Vec<_> = skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(skipped, ["zz*", "nope"]);
    }

    #[test]
    fn preset_adds_the_interface_driver() {
        let k =
            Kallsyms::parse("ffffffffc0000010 t veth_xmit\t[veth]\nffffffff81000010 T ip_rcv\n");
        let req = Request {
            udp_echo: true,
            ..Request::default()
        };
        let (targets, skipped) = resolve(&req, &k, Some("veth"));
        assert_eq!(targets[0].name, "veth_xmit");
        assert_eq!(targets[0].module.as_deref(), Some("veth"));
        assert_eq!(targets[0].layer, Some(Layer::Driver));
        assert!(skipped.iter().any(|s| s.name == "veth_poll"));
        let (_, skipped) = resolve(&req, &k, Some("mystery"));
        assert!(skipped
            .iter()
            .any(|s| s.name == "driver mystery" && s.reason.contains("--function")));
    }
}
