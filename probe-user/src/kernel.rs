//! Facts about the running kernel: release, symbols, which probe facilities exist.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::ProbeError;

/// `uname -r`.
pub fn release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Host name.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Whether we run with euid 0 (BPF needs CAP_BPF + CAP_PERFMON, which root has).
pub use kpath_cli::is_root;

/// Number of possible CPUs (per-CPU maps have one slot each).
pub fn possible_cpus() -> Result<u32, ProbeError> {
    aya::util::nr_cpus()
        .map(|n| n as u32)
        .map_err(|(what, source)| ProbeError::Kernel {
            what: what.into(),
            source,
        })
}

/// Whether the kernel can attach kprobes (`CONFIG_KPROBES` with the perf kprobe PMU).
pub fn has_kprobes() -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}

/// Whether the kernel exposes its BTF (needed by fentry/fexit).
pub fn has_btf() -> bool {
    Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Mounts tracefs at /sys/kernel/tracing if it is not there yet (minimal systems and VMs).
pub fn ensure_tracefs() -> Result<(), ProbeError> {
    if Path::new("/sys/kernel/tracing/events").exists()
        || Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return Ok(());
    }
    mount("tracefs", "/sys/kernel/tracing", "tracefs")
}

fn mount(source: &str, target: &str, fstype: &str) -> Result<(), ProbeError> {
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let (src, tgt, ty) = (c(source), c(target), c(fstype));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(ProbeError::Kernel {
            what: format!("{target} (mounting {fstype})"),
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Mounts bpffs at /sys/fs/bpf if it is not there yet (needed to pin shared maps).
pub fn ensure_bpffs() -> Result<(), ProbeError> {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    {
        return Ok(());
    }
    mount("bpf", "/sys/fs/bpf", "bpf")
}

/// The `irq_vectors` events with both `_entry` and `_exit` (x86 local APIC vectors: timer,
/// reschedule, call-function, irq-work, ...), by base name.
pub fn irq_vectors() -> Vec<String> {
    let mut out = Vec::new();
    for root in [
        "/sys/kernel/tracing/events/irq_vectors",
        "/sys/kernel/debug/tracing/events/irq_vectors",
    ] {
        let Ok(dir) = fs::read_dir(root) else {
            continue;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(base) = name.strip_suffix("_entry") {
                if Path::new(root).join(format!("{base}_exit")).exists() {
                    out.push(base.to_owned());
                }
            }
        }
        break;
    }
    out.sort();
    out
}

/// Whether a tracepoint exists (tracefs must be mounted).
pub fn has_tracepoint(category: &str, name: &str) -> bool {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .any(|root| {
        Path::new(root)
            .join(category)
            .join(name)
            .join("id")
            .exists()
    })
}

/// The byte offset of `field` in a tracepoint's record, from its `format` file; `None` when
/// the tracepoint or the field is missing.
pub fn tracepoint_field_offset(category: &str, name: &str, field: &str) -> Option<usize> {
    [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .find_map(|root| {
        let path = Path::new(root).join(category).join(name).join("format");
        field_offset(&fs::read_to_string(path).ok()?, field)
    })
}

/// The offset of `field` in the text of a tracepoint `format` file, whose lines read
/// `field:pid_t prev_pid;<TAB>offset:24;<TAB>size:4;<TAB>signed:1;` (fields apart by tabs).
fn field_offset(format: &str, field: &str) -> Option<usize> {
    format.lines().find_map(|line| {
        let mut parts = line.trim().split(';');
        let decl = parts.next()?.strip_prefix("field:")?;
        let name = decl.rsplit([' ', '*']).next()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        parts
            .find_map(|p| p.trim().strip_prefix("offset:"))?
            .parse()
            .ok()
    })
}

/// A kernel symbol from /proc/kallsyms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Address (0 when kptr_restrict hides it: not root).
    pub address: u64,
    /// Module name, `None` for the core kernel.
    pub module: Option<String>,
}

/// Text symbols of the running kernel, by name (first occurrence kept; static functions can
/// share a name, and kprobes attach to the first one too).
pub struct Kallsyms {
    symbols: HashMap<String, Symbol>,
}

impl Kallsyms {
    /// Reads /proc/kallsyms.
    pub fn load() -> Result<Self, ProbeError> {
        let text = fs::read_to_string("/proc/kallsyms").map_err(|source| ProbeError::Kernel {
            what: "/proc/kallsyms".into(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    /// Parses kallsyms text: `ADDRESS TYPE NAME [MODULE]`, keeping text (`t`/`T`) symbols.
    pub fn parse(text: &str) -> Self {
        let mut symbols = HashMap::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !kind.eq_ignore_ascii_case("t") {
                continue;
            }
            let module = parts
                .next()
                .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_owned());
            let address = u64::from_str_radix(addr, 16).unwrap_or(0);
            symbols
                .entry(name.to_owned())
                .or_insert(Symbol { address, module });
        }
        Self { symbols }
    }

    /// Looks a function up.
    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }

    /// Looks a function up, or says it does not exist.
    pub fn require(&self, name: &str) -> Result<&Symbol, ProbeError> {
        self.get(name)
            .ok_or_else(|| ProbeError::NoSuchFunction(name.to_owned()))
    }

    /// Names of all text symbols.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.symbols.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_offsets_come_from_the_format_file() {
        let format = "name: sched_switch\nID: 372\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
            \tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
            \tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\
            \tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\n";
        assert_eq!(field_offset(format, "prev_pid"), Some(24));
        assert_eq!(field_offset(format, "next_pid"), Some(56));
        assert_eq!(field_offset(format, "prev_comm"), Some(8));
        assert_eq!(field_offset(format, "pid"), None);
    }

    #[test]
    fn kallsyms_keeps_text_symbols_with_modules() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _text\n\
             ffffffff81a0b1c0 T udp_sendmsg\n\
             ffffffff82000000 D some_data\n\
             ffffffffc0001000 t veth_xmit\t[veth]\n\
             ffffffffc0002000 t veth_xmit\t[other]\n",
        );
        assert_eq!(
            k.get("udp_sendmsg"),
            Some(&Symbol {
                address: 0xffff_ffff_81a0_b1c0,
                module: None
            })
        );
        assert_eq!(
            k.get("veth_xmit").and_then(|s| s.module.as_deref()),
            Some("veth")
        );
        assert!(k.get("some_data").is_none());
        assert!(matches!(k.require("nope"), Err(ProbeError::NoSuchFunction(n)) if n == "nope"));
    }
}
