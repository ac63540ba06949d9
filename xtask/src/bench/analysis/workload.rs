//! The workload of section (e): synthetic traces written by the release binary's hidden
//! `kpath synth`, sized to the free disk, and the file helpers around them.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::measure::measure;
use crate::bench::BenchOptions;
use crate::util::show;

/// Records per synthetic datagram (8 receive and 9 send calls, an entry and an exit each).
pub(super) const RECORDS_PER_DATAGRAM: u64 = 34;
/// Bytes per trace record (`kpath_trace::EVENT_SIZE`).
const RECORD_BYTES: u64 = 64;
/// Bytes per CSV row of `kpath export`, generously (about 90 measured).
const CSV_ROW_BYTES: u64 = 160;
/// Longest writing a synthetic trace may take.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(1800);

/// The record counts of the large trace (the quarter-size one has a quarter of them) and of
/// the awk trace, and why they are smaller than planned, if they are.
pub(super) struct TraceSizes {
    /// Records of the large trace.
    pub(super) big: u64,
    /// Records of the trace exported to CSV for awk.
    pub(super) small: u64,
    /// Why the traces were scaled down (too little free disk), if they were.
    pub(super) scaled_down: Option<String>,
}

/// The planned sizes (quick or not), scaled down when the disk of `opts.dir` is short: the
/// traces and the CSV must fit three times in its free space.
pub(super) fn trace_sizes(opts: &BenchOptions) -> Result<TraceSizes> {
    let (mut big, mut small) = if opts.quick {
        (2_000_000u64, 500_000u64)
    } else {
        (40_000_000u64, 4_000_000u64)
    };
    let need =
        |big: u64, small: u64| (big + big / 4 + small) * RECORD_BYTES + small / 2 * CSV_ROW_BYTES;
    let free = free_bytes(&opts.dir)?;
    let mut scaled_down = None;
    if free < 3 * need(big, small) {
        let f = free as f64 / (3 * need(big, small)) as f64;
        let reason = format!(
            "only {:.1} GB free in {}, less than 3 × the {:.1} GB of traces and CSV: traces \
             scaled down to {:.0} %",
            free as f64 / 1e9,
            opts.dir.display(),
            need(big, small) as f64 / 1e9,
            100.0 * f
        );
        eprintln!("bench analysis: {reason}");
        big = (big as f64 * f) as u64;
        small = (small as f64 * f) as u64;
        if big < 100 * RECORDS_PER_DATAGRAM {
            bail!(
                "too little free disk in {} for the analysis bench: {reason}",
                opts.dir.display()
            );
        }
        scaled_down = Some(reason);
    }
    Ok(TraceSizes {
        big,
        small,
        scaled_down,
    })
}

/// Writes a synthetic trace of `datagrams` datagrams with `kpath synth`, with entry records
/// or without (`exits_only`, what `kpath-probe record` writes by default); returns its record
/// count.
pub(super) fn synth(
    kpath: &Path,
    path: &Path,
    datagrams: u64,
    exits_only: bool,
    dir: &Path,
) -> Result<u64> {
    let datagrams = datagrams.max(1);
    let per_datagram = if exits_only {
        RECORDS_PER_DATAGRAM / 2
    } else {
        RECORDS_PER_DATAGRAM
    };
    eprintln!(
        "bench analysis: writing {} ({} records{})",
        path.display(),
        datagrams * per_datagram,
        if exits_only { ", exits only" } else { "" }
    );
    let log = dir.join("synth.log");
    let mut cmd = Command::new(kpath);
    cmd.arg("synth")
        .arg(path)
        .args(["--datagrams", &datagrams.to_string()])
        .args(exits_only.then_some("--exits-only"))
        .stdout(Stdio::null())
        .stderr(create(&log)?);
    let shown = show(&cmd);
    measure(&mut cmd, false, SYNTH_TIMEOUT)?;
    let text = std::fs::read_to_string(&log)
        .with_context(|| format!("failed to read {}", log.display()))?;
    // "wrote N records to PATH"
    text.lines()
        .find_map(|l| {
            l.strip_prefix("wrote ")?
                .split_once(" records")?
                .0
                .parse()
                .ok()
        })
        .with_context(|| format!("{shown:?} did not say how many records it wrote: {text:?}"))
}

pub(super) fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("failed to create {}", path.display()))
}

pub(super) fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("failed to stat {}", path.display()))?
        .len())
}

/// Bytes available to an unprivileged user on the file system of `dir`.
fn free_bytes(dir: &Path) -> Result<u64> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .with_context(|| format!("{} contains a NUL byte", dir.display()))?;
    // SAFETY: `statvfs` is plain old data; an all-zero value is valid and the call fills it.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", dir.display()));
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}
