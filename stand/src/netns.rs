//! Two hosts on one machine: network namespaces joined by a veth pair, configured with `ip`
//! from iproute2.
//!
//! The default [`Stand`] is `kpath-gen` (veth `veth-gen`, 198.18.0.1/30) and `kpath-proxy`
//! (veth `veth-proxy`, 198.18.0.2/30), addresses from the benchmarking range 198.18.0.0/15
//! (RFC 2544). The veth pair is created inside the namespaces, so deleting them removes it.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::Path,
    process::{Command, ExitStatus},
};

use crate::error::{Error, Result};

/// The CPUs of each side of the stand (see [`Stand::isolate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSplit {
    /// The generator's CPUs.
    pub gen: Vec<usize>,
    /// The proxy's CPUs.
    pub proxy: Vec<usize>,
}

impl CpuSplit {
    /// The generator on CPU 0, the proxy on the last of `cpus` CPUs; `None` with fewer than 2.
    pub fn auto(cpus: usize) -> Option<Self> {
        (cpus >= 2).then(|| Self {
            gen: vec![0],
            proxy: vec![cpus - 1],
        })
    }
}

/// The RPS CPU mask of the first receive queue of `dev`, as its namespace's sysfs shows it.
fn rps_path(dev: &str) -> String {
    format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus")
}

/// The sysfs cpumask of `cpus`: hexadecimal, in comma-separated groups of 32 CPUs, highest
/// first (`0,00000001` is CPU 32). CPUs from 4096 on are refused.
pub fn cpu_mask(cpus: &[usize]) -> Result<String> {
    const MAX: usize = 4096;
    if cpus.is_empty() {
        return Err(Error::InvalidArgument {
            flag: "--gen-cpus/--proxy-cpus",
            reason: "empty: name at least one CPU".into(),
        });
    }
    let mut groups = vec![0u32; 1];
    for &c in cpus {
        if c >= MAX {
            return Err(Error::InvalidArgument {
                flag: "--gen-cpus/--proxy-cpus",
                reason: format!("CPU {c} is not below {MAX}"),
            });
        }
        if groups.len() <= c / 32 {
            groups.resize(c / 32 + 1, 0);
        }
        groups[c / 32] |= 1 << (c % 32);
    }
    Ok(groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == 0 {
                format!("{g:x}")
            } else {
                format!("{g:08x}")
            }
        })
        .collect::<Vec<_>>()
        .join(","))
}

/// Writes `value` to the sysfs file `path` as namespace `ns` sees it (its own `/sys/class/net`).
/// The value and the path are arguments of the script, not part of its text.
fn write_in_ns(ns: &str, path: &str, value: &str) -> Result<String> {
    ip(&[
        "netns",
        "exec",
        ns,
        "sh",
        "-c",
        "printf %s \"$1\" > \"$2\"",
        "sh",
        value,
        path,
    ])
}

/// The threaded-NAPI kernel threads of interface `dev` (named `napi/DEV-ID`, cut to the
/// 15 bytes of a task name), by pid.
pub fn napi_threads(dev: &str) -> Vec<i32> {
    let prefix: String = format!("napi/{dev}-").chars().take(15).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with(&prefix))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Restricts thread `pid` to `cpus`.
fn pin_thread(pid: i32, cpus: &[usize]) -> Result<()> {
    const CPU_SETSIZE: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if let Some(c) = cpus.iter().find(|&&c| c >= CPU_SETSIZE) {
        return Err(Error::InvalidArgument {
            flag: "--gen-cpus",
            reason: format!("CPU {c} is not below {CPU_SETSIZE}"),
        });
    }
    // SAFETY: a zeroed cpu_set_t is the empty set, and every CPU set is below its size.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::Command {
            command: format!("sched_setaffinity({pid}, {cpus:?})"),
            detail: std::io::Error::last_os_error().to_string(),
        })
    }
}

/// The CPUs thread `pid` may run on, as `/proc/PID/status` lists them (`0-1`, `0`).
pub fn thread_cpus(pid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// A pair of namespaces and the veth link between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stand {
    /// The generator's namespace.
    pub gen_ns: String,
    /// The proxy's namespace.
    pub proxy_ns: String,
    /// The veth end in the generator's namespace.
    pub gen_if: String,
    /// The veth end in the proxy's namespace.
    pub proxy_if: String,
    /// The generator's address.
    pub gen_addr: Ipv4Addr,
    /// The proxy's address.
    pub proxy_addr: Ipv4Addr,
    /// Prefix length of both addresses.
    pub prefix: u8,
}

impl Default for Stand {
    fn default() -> Self {
        Stand {
            gen_ns: "kpath-gen".into(),
            proxy_ns: "kpath-proxy".into(),
            gen_if: "veth-gen".into(),
            proxy_if: "veth-proxy".into(),
            gen_addr: Ipv4Addr::new(198, 18, 0, 1),
            proxy_addr: Ipv4Addr::new(198, 18, 0, 2),
            prefix: 30,
        }
    }
}

/// Whether we run as root (effective uid 0).
pub use kpath_cli::is_root;

fn require_root(what: &'static str) -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot { what })
    }
}

fn ip(args: &[&str]) -> Result<String> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            detail: format!("{e} (is iproute2 installed?)"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Whether the named namespace exists (`/run/netns/NAME`).
pub fn ns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn link_exists(ns: &str, link: &str) -> bool {
    ip(&["-n", ns, "link", "show", "dev", link]).is_ok()
}

impl Stand {
    /// A stand with namespace names suffixed by `suffix` (for tests that must not collide).
    pub fn with_suffix(suffix: &str) -> Self {
        let d = Stand::default();
        Stand {
            gen_ns: format!("{}-{suffix}", d.gen_ns),
            proxy_ns: format!("{}-{suffix}", d.proxy_ns),
            ..d
        }
    }

    /// Creates whatever is missing: namespaces, loopbacks up, veth pair, addresses, links up.
    pub fn up(&self) -> Result<()> {
        require_root("netns up")?;
        for ns in [&self.gen_ns, &self.proxy_ns] {
            if !ns_exists(ns) {
                ip(&["netns", "add", ns])?;
            }
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let have_gen = link_exists(&self.gen_ns, &self.gen_if);
        let have_proxy = link_exists(&self.proxy_ns, &self.proxy_if);
        if !(have_gen && have_proxy) {
            // A half-made pair cannot be completed: remove the leftover end and start again.
            if have_gen {
                ip(&["-n", &self.gen_ns, "link", "del", &self.gen_if])?;
            }
            if have_proxy {
                ip(&["-n", &self.proxy_ns, "link", "del", &self.proxy_if])?;
            }
            ip(&[
                "-n",
                &self.gen_ns,
                "link",
                "add",
                &self.gen_if,
                "type",
                "veth",
                "peer",
                "name",
                &self.proxy_if,
                "netns",
                &self.proxy_ns,
            ])?;
        }
        for (ns, dev, addr) in [
            (&self.gen_ns, &self.gen_if, self.gen_addr),
            (&self.proxy_ns, &self.proxy_if, self.proxy_addr),
        ] {
            let cidr = format!("{addr}/{}", self.prefix);
            ip(&["-n", ns, "addr", "replace", &cidr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Gives each side CPUs of its own, so that what runs on the proxy's CPUs is the proxy's
    /// work only (`docs/model.md`, "Isolation"):
    ///
    /// 1. RPS on each veth end: the softirq that receives a datagram sent through veth runs
    ///    on the receiver's CPUs, not on the sender's.
    /// 2. The generator's end receives in a NAPI thread of its own, pinned to its CPUs (GRO
    ///    and UDP GRO forwarding on, so that veth hands it the proxy's replies; threaded
    ///    NAPI). Without it each reply the proxy sends raised a NET_RX softirq on the proxy's
    ///    CPU to pass the datagram on with an RPS IPI: measured here (2 CPUs, generator on 0,
    ///    proxy on 1, 3 100 datagrams), 6 200 receive invocations and every `sendto`
    ///    interrupted, against 3 100 and 3 088 clean with it.
    ///
    /// The generator and the echo must be pinned to the same CPUs (`taskset`, `echo
    /// --pin-cpu`) for their system calls to stay there too. Needs `ethtool`. Returns the
    /// generator's NAPI threads, pinned.
    pub fn isolate(&self, split: &CpuSplit) -> Result<Vec<i32>> {
        require_root("netns isolation")?;
        for (ns, dev, cpus) in [
            (&self.gen_ns, &self.gen_if, &split.gen),
            (&self.proxy_ns, &self.proxy_if, &split.proxy),
        ] {
            write_in_ns(ns, &rps_path(dev), &cpu_mask(cpus)?)?;
        }
        let (ns, dev) = (self.gen_ns.as_str(), self.gen_if.as_str());
        ip(&[
            "netns",
            "exec",
            ns,
            "ethtool",
            "-K",
            dev,
            "gro",
            "on",
            "rx-udp-gro-forwarding",
            "on",
        ])
        .map_err(|e| match e {
            Error::Command { command, detail } => Error::Command {
                command,
                detail: format!("{detail} (is ethtool installed? apt install ethtool)"),
            },
            other => other,
        })?;
        // Off, then on: the threads that appear are this interface's, not those of a
        // same-named interface in another stand's namespace.
        let threaded = format!("/sys/class/net/{dev}/threaded");
        let set_threaded = |value: &str| write_in_ns(ns, &threaded, value);
        set_threaded("0")?;
        let before = napi_threads(dev);
        set_threaded("1")?;
        let threads: Vec<i32> = napi_threads(dev)
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        if threads.is_empty() {
            return Err(Error::Command {
                command: format!("echo 1 > {threaded} (in {ns})"),
                detail: "no NAPI thread appeared for it: this kernel lacks threaded NAPI for veth"
                    .into(),
            });
        }
        for &pid in &threads {
            pin_thread(pid, &split.gen)?;
        }
        Ok(threads)
    }

    /// The RPS masks of the generator's and the proxy's veth ends, as sysfs shows them.
    pub fn rps_masks(&self) -> Result<(String, String)> {
        let read = |ns: &str, dev: &str| -> Result<String> {
            Ok(ip(&["netns", "exec", ns, "cat", &rps_path(dev)])?
                .trim()
                .to_string())
        };
        Ok((
            read(&self.gen_ns, &self.gen_if)?,
            read(&self.proxy_ns, &self.proxy_if)?,
        ))
    }

    /// Deletes both namespaces (and with them the veth pair); missing ones are skipped.
    pub fn down(&self) -> Result<()> {
        require_root("netns down")?;
        for ns in [&self.gen_ns, &self.proxy_ns] {
            if ns_exists(ns) {
                ip(&["netns", "del", ns])?;
            }
        }
        Ok(())
    }

    /// A few lines describing what exists.
    pub fn status(&self) -> Result<String> {
        let mut s = String::new();
        for (ns, addr) in [
            (&self.gen_ns, self.gen_addr),
            (&self.proxy_ns, self.proxy_addr),
        ] {
            if !ns_exists(ns) {
                let _ = writeln!(s, "{ns}: absent");
                continue;
            }
            let _ = writeln!(s, "{ns}: present (expected address {addr}/{})", self.prefix);
            if is_root() {
                for line in ip(&["-n", ns, "-brief", "addr", "show"])?.lines() {
                    let _ = writeln!(s, "  {line}");
                }
                if let Ok((gen, proxy)) = self.rps_masks() {
                    let mask = if *ns == self.gen_ns { gen } else { proxy };
                    let _ = writeln!(s, "  receive CPUs (RPS mask): {mask}");
                }
                if *ns == self.gen_ns {
                    for pid in napi_threads(&self.gen_if) {
                        let cpus = thread_cpus(pid).unwrap_or_else(|| "?".into());
                        let _ = writeln!(s, "  receive thread (NAPI) {pid} on CPUs {cpus}");
                    }
                }
            } else {
                let _ = writeln!(s, "  (links and addresses are shown to root only)");
            }
        }
        Ok(s)
    }

    /// Brings the stand up and returns a guard that takes it down when dropped.
    pub fn up_guarded(self) -> Result<StandGuard> {
        let guard = StandGuard(self);
        guard.0.up()?;
        Ok(guard)
    }
}

/// Takes its [`Stand`] down when dropped, even when a test fails.
#[derive(Debug)]
pub struct StandGuard(pub Stand);

impl Drop for StandGuard {
    fn drop(&mut self) {
        let _ = self.0.down();
    }
}

/// A `Command` that runs `program` inside namespace `ns` (`ip netns exec NS PROGRAM`).
pub fn command_in(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Runs `command` (program and arguments) inside `ns` and waits for it.
pub fn run_in(ns: &str, command: &[String]) -> Result<ExitStatus> {
    require_root("run-in")?;
    let Some((program, args)) = command.split_first() else {
        return Err(Error::InvalidArgument {
            flag: "run-in",
            reason: "no command given after --".into(),
        });
    };
    if !ns_exists(ns) {
        return Err(Error::Command {
            command: format!("ip netns exec {ns} {program}"),
            detail: format!("namespace {ns} does not exist: run `kpath-stand netns up` first"),
        });
    }
    command_in(ns, program)
        .args(args)
        .status()
        .map_err(|e| Error::Command {
            command: format!("ip netns exec {ns} {program}"),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixed_names() {
        let s = Stand::with_suffix("42");
        assert_eq!(s.gen_ns, "kpath-gen-42");
        assert_eq!(s.proxy_ns, "kpath-proxy-42");
        assert_eq!(s.gen_addr, Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn cpu_masks_as_sysfs_writes_them() {
        assert_eq!(cpu_mask(&[0]).expect("mask"), "1");
        assert_eq!(cpu_mask(&[1]).expect("mask"), "2");
        assert_eq!(cpu_mask(&[0, 3, 4]).expect("mask"), "19");
        assert_eq!(cpu_mask(&[32]).expect("mask"), "1,00000000");
        assert_eq!(cpu_mask(&[1, 33]).expect("mask"), "2,00000002");
        assert!(cpu_mask(&[]).is_err());
        assert!(cpu_mask(&[4096]).is_err());
        assert_eq!(CpuSplit::auto(1), None);
        assert_eq!(
            CpuSplit::auto(4),
            Some(CpuSplit {
                gen: vec![0],
                proxy: vec![3]
            })
        );
    }
}
