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
}
