//! `cargo xtask matrix`: the stand plus `kpath-probe check`, a direct fentry attempt on the
//! driver's transmit function and a stats-mode recording with each function mechanism, on
//! every kernel the package index offers, and `check` on the host; written to
//! `target/vm-stand/matrix.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use kpath_trace::{EventKind, TraceReader};

use super::{check_stand, vm_stand, KernelChoice, Nic, StandOptions};
use crate::util::{output, workspace_root};
use crate::vm;

/// The matrix's kernels, in order.
const MATRIX_KERNELS: &[&str] = &["6.1", "6.12", "6.12-rt"];

/// Ping-pong exchanges of each stats-mode recording (`stand.sh`): each makes two
/// `udp_sendmsg` calls, the request and the echo's reply.
pub(super) const STATS_PINGS: u64 = 20;

/// The function mechanisms recorded in stats mode on every kernel (`stand.sh`).
const STATS_MECHANISMS: &[&str] = &["kprobe", "fentry"];

/// The rows of a `kpath-probe check --json` report the guest wrote: mechanism pair → status
/// text, as `check` prints it. An absent or unreadable report is one row saying so.
fn check_rows(path: &Path) -> BTreeMap<String, String> {
    let report = fs::read_to_string(path)
        .map_err(anyhow::Error::from)
        .and_then(|t| {
            serde_json::from_str::<kpath_probe::check::CheckReport>(&t).map_err(Into::into)
        });
    match report {
        Ok(r) => r
            .mechanisms
            .iter()
            .map(|m| (m.pair(), format!("{} ({} entries)", m.status(), m.entries)))
            .collect(),
        Err(e) => BTreeMap::from([(
            "check".to_owned(),
            format!("no report at {}: {e:#}", path.display()),
        )]),
    }
}

/// Per function of a stats-mode trace: the calls its kernel aggregates counted, clean and
/// interrupted together.
fn aggregated_calls(path: &Path) -> Result<Vec<(String, u64)>> {
    let r =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let stats = r
        .metadata()
        .kernel_stats
        .as_ref()
        .ok_or_else(|| anyhow!("{} holds no kernel statistics", path.display()))?;
    Ok(stats
        .functions
        .iter()
        .map(|f| (f.name.clone(), f.clean.count + f.interrupted.count))
        .collect())
}

/// The matrix's lines for the stats-mode recordings of one kernel, and what failed: the
/// recording, or fewer `udp_sendmsg` calls than the exchanges made.
fn stats_rows(out: &Path) -> (Vec<String>, Vec<String>) {
    let (mut lines, mut failed) = (Vec::new(), Vec::new());
    for m in STATS_MECHANISMS {
        let path = out.join(format!("stats-{m}.trace"));
        match aggregated_calls(&path) {
            Ok(rows) => {
                let sendmsg = rows
                    .iter()
                    .find(|(f, _)| f == "udp_sendmsg")
                    .map_or(0, |&(_, n)| n);
                let counts: Vec<String> = rows.iter().map(|(f, n)| format!("{f} {n}")).collect();
                lines.push(format!(
                    "- record --mode stats --mechanism {m}: calls aggregated: {}",
                    counts.join(", ")
                ));
                if sendmsg < 2 * STATS_PINGS {
                    failed.push(format!(
                        "stats mode with {m} aggregated {sendmsg} udp_sendmsg calls of {}",
                        2 * STATS_PINGS
                    ));
                }
            }
            Err(e) => {
                lines.push(format!("- record --mode stats --mechanism {m}: {e:#}"));
                failed.push(format!("stats mode with {m}: {e:#}"));
            }
        }
    }
    (lines, failed)
}

/// Per function of a trace: the mechanism the recorder chose and the entries recorded.
pub fn mechanisms_used(path: &Path) -> Result<Vec<(String, String, u64)>> {
    let mut r =
        TraceReader::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let meta = r.metadata().clone();
    let mut entries = vec![0u64; meta.functions.len()];
    for e in r.events() {
        let e = e.with_context(|| format!("failed to read {}", path.display()))?;
        if EventKind::try_from(e.kind) == Ok(EventKind::Enter) {
            if let Some(n) = entries.get_mut(e.func_id as usize) {
                *n += 1;
            }
        }
    }
    Ok(meta
        .functions
        .iter()
        .zip(entries)
        .map(|(f, n)| (f.name.clone(), f.mechanism.to_string(), n))
        .collect())
}

/// `cargo xtask matrix`: the stand plus the mechanism checks on every kernel offered, and
/// `check` on the host. Writes `target/vm-stand/matrix.md`.
pub fn matrix(nic: Nic, count: usize) -> Result<()> {
    let mut md = String::new();
    let today = output(Command::new("date").args(["-u", "+%Y-%m-%d"]))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let _ = writeln!(
        md,
        "# kernel matrix, {today} ({} stand, {count} datagrams)\n",
        nic.name()
    );
    let mut failures = Vec::new();
    for k in MATRIX_KERNELS {
        let choice = KernelChoice::parse(k)?;
        if let Err(e) = vm::find_kernel_package(choice.flavour, Some(&choice.series)) {
            let _ = writeln!(md, "## {k}: not offered by the package index ({e:#})\n");
            continue;
        }
        let result = vm_stand(&StandOptions {
            nic,
            kernel: choice.clone(),
            count,
            out: None,
            mechanisms: true,
            discover: false,
        });
        match result {
            Ok(run) => {
                let check = check_stand(&run.summary, count);
                let _ = writeln!(md, "## {k}: {}\n", run.kernel.release);
                let _ = writeln!(md, "udp_sendmsg (`kpath-probe check`):");
                for (pair, status) in check_rows(&run.out.join("check-udp_sendmsg.json")) {
                    let _ = writeln!(md, "- {pair}: {status}");
                }
                let _ = writeln!(md, "\n{} (module function):", nic.xmit());
                for (pair, status) in check_rows(&run.out.join("check-module.json")) {
                    let _ = writeln!(md, "- {pair}: {status}");
                }
                for line in run
                    .console
                    .lines()
                    .filter(|l| l.starts_with("vm-stand: fentry-module"))
                {
                    let _ = writeln!(md, "- {line}");
                }
                let fm = run.out.join("fentry-module.trace");
                if fm.exists() {
                    match mechanisms_used(&fm) {
                        Ok(rows) => {
                            for (f, m, n) in rows {
                                let _ = writeln!(
                                    md,
                                    "- record --mechanism fentry: {f} got {m}, {n} entries"
                                );
                            }
                        }
                        Err(e) => {
                            let _ = writeln!(md, "- fentry-module trace unreadable: {e:#}");
                        }
                    }
                }
                let (lines, failed) = stats_rows(&run.out);
                for line in lines {
                    let _ = writeln!(md, "{line}");
                }
                failures.extend(failed.into_iter().map(|f| format!("{k}: {f}")));
                let _ = writeln!(
                    md,
                    "\nstand: {}; check {}; {:.0} s\n\n```\n{}\n```\n",
                    run.out.display(),
                    match &check {
                        Ok(()) => "passed".to_owned(),
                        Err(e) => format!("FAILED: {e:#}"),
                    },
                    run.took.as_secs_f64(),
                    run.summary
                );
                if let Err(e) = check {
                    failures.push(format!("{k}: {e:#}"));
                }
            }
            Err(e) => {
                let _ = writeln!(md, "## {k}: FAILED: {e:#}\n");
                failures.push(format!("{k}: {e:#}"));
            }
        }
    }
    // The host's own kernel: no modules, no kprobes, no fentry here; tracepoints.
    let host = output(Command::new("uname").arg("-r"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let probe = vm::release_binary("kpath-probe");
    let text = Command::new(&probe)
        .args(["check", "--count", "1000"])
        .output()
        .with_context(|| format!("failed to run {}", probe.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    let _ = writeln!(md, "## host: {host}\n\n```\n{}\n```", text.trim_end());
    let path = workspace_root().join("target/vm-stand/matrix.md");
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    fs::write(&path, &md).with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("{md}\nmatrix: written to {}", path.display());
    if !failures.is_empty() {
        return Err(anyhow!("the stand failed on {}", failures.join("; ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rows_read_the_json_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("check.json");
        let report = kpath_probe::check::CheckReport {
            datagrams: 1000,
            function: "udp_sendmsg".into(),
            kernel_release: "6.1".into(),
            mechanisms: vec![
                kpath_probe::check::MechanismCheck {
                    attached: true,
                    entries: 1000,
                    entry: "kprobe".into(),
                    error: None,
                    exit: "kretprobe".into(),
                    lost: 0,
                    timed_exits: 1000,
                    verified: true,
                    works: true,
                },
                kpath_probe::check::MechanismCheck {
                    attached: false,
                    entries: 0,
                    entry: "fentry".into(),
                    error: Some("no BTF".into()),
                    exit: "fexit".into(),
                    lost: 0,
                    timed_exits: 0,
                    verified: false,
                    works: false,
                },
            ],
        };
        fs::write(&path, serde_json::to_string(&report).expect("json")).expect("write");
        let rows = check_rows(&path);
        assert_eq!(rows["kprobe/kretprobe"], "works (1000 entries)");
        assert_eq!(rows["fentry/fexit"], "unavailable: no BTF (0 entries)");
        let missing = check_rows(&dir.path().join("absent.json"));
        assert!(missing["check"].starts_with("no report at"), "{missing:?}");
    }
}
