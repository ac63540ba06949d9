//! Section (f), the stand against sockperf: `kpath-stand gen/echo` beside `sockperf
//! ping-pong/server` (round-trip time) and `sockperf throughput` (maximum send rate), on
//! loopback and across the two network namespaces of the stand.
//!
//! The measurement itself is `stand/benches/stand.rs` (`cargo bench -p kpath-stand --bench
//! stand`), which already runs both tools with the same payload and datagram count and writes
//! a JSON document; this section runs it up to `BenchOptions::rounds` times and folds the
//! documents into a typed [`StandBench`]. Alternation is per run: within one run the bench
//! measures, per place, sockperf's ping-pong, ours, our maximum rate, then sockperf's, so each
//! round holds one measurement of every condition and the rounds take turns as in the other
//! sections.
//! The ratios (ours over sockperf) are computed per round and given as min / median / max.
//!
//! A run takes far longer than its measurement time: `kpath-stand gen --pattern open` stops
//! after its planned count (`rate × --duration`, capped by the bench's `--count 5000000`), not
//! after `--duration` of wall time, so the open-loop maximum-rate measurement sends 5 M
//! datagrams at the rate the machine allows. One run took about 80 s on the first machines
//! and takes 26-27 s on today's. Rounds therefore stop once another one would overrun the
//! section's budget ([`BUDGET`]): 3 rounds on today's machine, and
//! [`StandBench::rounds_note`] says so.
//!
//! The bench creates (and removes) its own namespaces as root; it sends only to loopback and
//! to them. Quick mode measures 1 s per tool instead of 2.
//!
//! The file is a little over 500 lines because an eighth of it is tests of reading the
//! stand bench's document and naming what it lacks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::analysis::measure;
use super::{BenchOptions, Spread};
use crate::util::{have, workspace_root};

/// Longest the first `cargo bench --no-run` (a release build of the stand) may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
/// Longest one run of the bench may take (about 80 s in full mode here).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Wall time the runs aim to stay within: a further round starts only if, at the mean time
/// of the runs so far, it ends within this. 100 s since section (d) runs in rounds (about
/// 40 s more), so that the whole bench stays within its 15 minutes.
const BUDGET: Duration = Duration::from_secs(100);

/// One place (loopback or the namespaces): ours against sockperf over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct StandPlace {
    /// Rounds that measured this place.
    pub rounds: usize,
    /// Ping-pong datagrams sockperf received in its time; ours then sends as many.
    pub pingpong_datagrams: Spread,
    /// Ping-pong datagrams our generator lost, summed over the rounds.
    pub kpath_lost: u64,
    /// Our ping-pong round-trip time, median, µs.
    pub kpath_rtt_p50_us: Spread,
    /// sockperf's ping-pong round-trip time, median, µs.
    pub sockperf_rtt_p50_us: Spread,
    /// Ours over sockperf's median round-trip time, per round (below 1: ours is faster).
    pub rtt_p50_ratio: Spread,
    /// Our ping-pong round-trip time, 99th percentile, µs.
    pub kpath_rtt_p99_us: Spread,
    /// sockperf's ping-pong round-trip time, 99th percentile, µs.
    pub sockperf_rtt_p99_us: Spread,
    /// Ours over sockperf's 99th-percentile round-trip time, per round.
    pub rtt_p99_ratio: Spread,
    /// Our ping-pong rate, round trips per second.
    pub kpath_pingpong_per_s: Spread,
    /// sockperf's ping-pong rate, round trips per second.
    pub sockperf_pingpong_per_s: Spread,
    /// Our open-loop maximum send rate (server drops everything), datagrams per second.
    pub kpath_max_rate_per_s: Spread,
    /// sockperf's `throughput` maximum send rate, datagrams per second.
    pub sockperf_max_rate_per_s: Spread,
    /// Ours over sockperf's maximum send rate, per round (above 1: ours sends faster).
    pub max_rate_ratio: Spread,
}

/// Section (f): the stand against sockperf.
#[derive(Debug, Clone, Serialize)]
pub struct StandBench {
    /// Runs of `stand/benches/stand.rs` made (one measurement of every condition each).
    pub rounds: usize,
    /// Runs asked for (`BenchOptions::rounds`).
    pub rounds_requested: usize,
    /// Why fewer runs were made than asked for, if they were (the time budget).
    pub rounds_note: Option<String>,
    /// Wall time of one run of the bench, s.
    pub run_s: Spread,
    /// Whether the shorter quick-mode measurements were used.
    pub quick: bool,
    /// UDP payload of every datagram, bytes.
    pub payload_bytes: u64,
    /// Duration of each sockperf measurement (ours sends as many datagrams), s.
    pub seconds_per_measurement: u64,
    /// `sockperf --version`, first line.
    pub sockperf_version: String,
    /// On loopback.
    pub loopback: StandPlace,
    /// Across the stand's two network namespaces (veth); `None` when skipped.
    pub netns: Option<StandPlace>,
    /// Why the namespaces were skipped (in some or all rounds), if they were.
    pub netns_skipped: Option<String>,
    /// The bench's JSON documents, one per round.
    pub raw_files: Vec<PathBuf>,
}

/// Runs the section.
pub fn run(opts: &BenchOptions) -> Result<StandBench> {
    if !have("sockperf") {
        bail!(
            "sockperf is not installed: `cargo xtask setup` installs it (Debian package sockperf)"
        );
    }
    let version = sockperf_version()?;
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("failed to create {}", opts.dir.display()))?;
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let bench = |cmd: &mut Command| {
        cmd.current_dir(&root)
            .args(["bench", "-p", "kpath-stand", "--bench", "stand"]);
    };
    eprintln!("bench stand: building the stand bench");
    let mut build = Command::new(&cargo);
    bench(&mut build);
    build.arg("--no-run").stdout(Stdio::null());
    measure(&mut build, true, BUILD_TIMEOUT)?;

    let mut runs = Vec::new();
    let mut raw_files = Vec::new();
    let mut run_s = Vec::new();
    let mut rounds_note = None;
    for round in 0..opts.rounds {
        let spent: f64 = run_s.iter().sum();
        if round > 0 && spent + spent / round as f64 > BUDGET.as_secs_f64() {
            let note = format!(
                "stopped early: a run takes {:.0} s and the section's budget is {} s",
                spent / round as f64,
                BUDGET.as_secs()
            );
            eprintln!(
                "bench stand: {round} of {} rounds made; {note}",
                opts.rounds
            );
            rounds_note = Some(note);
            break;
        }
        let out = opts.dir.join(format!("stand-{}.json", round + 1));
        if out.exists() {
            std::fs::remove_file(&out)
                .with_context(|| format!("failed to remove the old {}", out.display()))?;
        }
        eprintln!("bench stand: round {}/{}", round + 1, opts.rounds);
        let mut cmd = Command::new(&cargo);
        bench(&mut cmd);
        cmd.env("KPATH_BENCH_OUT", &out).stdout(Stdio::null());
        if opts.quick {
            cmd.env("KPATH_BENCH_SECONDS", "1");
        }
        let t = Instant::now();
        measure(&mut cmd, true, RUN_TIMEOUT)?;
        run_s.push(t.elapsed().as_secs_f64());
        runs.push(parse_run(&out)?);
        raw_files.push(out);
    }
    let first = runs
        .first()
        .context("the stand bench needs at least one round")?;
    let (payload_bytes, seconds) = (first.size, first.seconds);
    let loopback: Vec<&PlaceRun> = runs.iter().map(|r| &r.loopback).collect();
    let netns: Vec<&PlaceRun> = runs.iter().filter_map(|r| r.netns.as_ref()).collect();
    let netns_skipped = runs.iter().find_map(|r| r.netns_skipped.clone());
    Ok(StandBench {
        rounds: runs.len(),
        rounds_requested: opts.rounds,
        rounds_note,
        run_s: spread("all", "run time", &run_s)?,
        quick: opts.quick,
        payload_bytes,
        seconds_per_measurement: seconds,
        sockperf_version: version,
        loopback: place("loopback", &loopback)?,
        netns: if netns.is_empty() {
            None
        } else {
            Some(place("netns", &netns)?)
        },
        netns_skipped,
        raw_files,
    })
}

/// The section as a plain-text table.
pub fn table(b: &StandBench) -> String {
    let mut out = format!(
        "(f) the stand against {}{}\n  {} of {} rounds of {:.0} s, {} B payload, {} s per \
         measurement\n",
        b.sockperf_version,
        if b.quick { ", quick" } else { "" },
        b.rounds,
        b.rounds_requested,
        b.run_s.median,
        b.payload_bytes,
        b.seconds_per_measurement,
    );
    if let Some(note) = &b.rounds_note {
        out += &format!("  {note}\n");
    }
    let places = [("loopback", Some(&b.loopback)), ("netns", b.netns.as_ref())];
    for (name, p) in places {
        let Some(p) = p else {
            out += &format!(
                "  {name}: skipped ({})\n",
                b.netns_skipped.as_deref().unwrap_or("no measurement")
            );
            continue;
        };
        out += &format!(
            "  {:<44}{:>12}{:>12}{:>12}\n",
            format!("{name} ({} rounds)", p.rounds),
            "min",
            "median",
            "max"
        );
        let mut row = |label: &str, s: &Spread, digits: usize| {
            out += &format!(
                "    {label:<42}{:>12.digits$}{:>12.digits$}{:>12.digits$}\n",
                s.min, s.median, s.max
            );
        };
        row("RTT p50, µs: kpath-stand", &p.kpath_rtt_p50_us, 1);
        row("             sockperf", &p.sockperf_rtt_p50_us, 1);
        row("             ratio kpath/sockperf", &p.rtt_p50_ratio, 3);
        row("RTT p99, µs: kpath-stand", &p.kpath_rtt_p99_us, 1);
        row("             sockperf", &p.sockperf_rtt_p99_us, 1);
        row("             ratio kpath/sockperf", &p.rtt_p99_ratio, 3);
        let k = |s: &Spread| Spread {
            min: s.min / 1e3,
            median: s.median / 1e3,
            max: s.max / 1e3,
        };
        row(
            "ping-pong, k/s: kpath-stand",
            &k(&p.kpath_pingpong_per_s),
            1,
        );
        row(
            "                sockperf",
            &k(&p.sockperf_pingpong_per_s),
            1,
        );
        row(
            "max send rate, k/s: kpath-stand",
            &k(&p.kpath_max_rate_per_s),
            1,
        );
        row(
            "                    sockperf",
            &k(&p.sockperf_max_rate_per_s),
            1,
        );
        row(
            "                    ratio kpath/sockperf",
            &p.max_rate_ratio,
            3,
        );
        if p.kpath_lost > 0 {
            out += &format!(
                "    kpath-stand lost {} ping-pong datagrams\n",
                p.kpath_lost
            );
        }
    }
    out
}

fn sockperf_version() -> Result<String> {
    let out = Command::new("sockperf")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .context("failed to run \"sockperf --version\"")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(text
        .lines()
        .next()
        .map_or_else(|| "sockperf".into(), |l| l.trim().replace(", version", "")))
}

/// The bench's document (`stand/benches/stand.rs`, `main`).
#[derive(Deserialize)]
struct RawRun {
    size: u64,
    seconds: u64,
    loopback: Value,
    netns: Value,
}

/// `bench_place`'s object.
#[derive(Deserialize)]
struct RawPlace {
    pingpong: RawPair,
    open_loop_max_rate_per_s: RawPair,
}

/// `{ "kpath": ..., "sockperf": ... }`, each a measurement or `{ "error": ... }`.
#[derive(Deserialize)]
struct RawPair {
    kpath: Value,
    sockperf: Value,
}

/// `kpath_pingpong`'s object.
#[derive(Clone, Copy, Deserialize)]
struct KpathPingPong {
    lost: u64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
    rate_per_s: f64,
}

/// `sockperf_pingpong`'s object.
#[derive(Clone, Copy, Deserialize)]
struct SockperfPingPong {
    count: u64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
    rate_per_s: f64,
}

/// One place of one run.
struct PlaceRun {
    kpath: KpathPingPong,
    sockperf: SockperfPingPong,
    kpath_max_rate: f64,
    sockperf_max_rate: f64,
}

/// One run.
struct Run {
    size: u64,
    seconds: u64,
    loopback: PlaceRun,
    netns: Option<PlaceRun>,
    netns_skipped: Option<String>,
}

/// Deserialises `v` (at `what` in `file`), or fails naming the measurement's own error or the
/// missing field.
fn typed<T: DeserializeOwned>(file: &Path, what: &str, v: &Value) -> Result<T> {
    if let Some(e) = v.get("error") {
        bail!("{}: {what} failed in the stand bench: {e}", file.display());
    }
    serde_json::from_value(v.clone()).with_context(|| {
        format!(
            "{}: unexpected {what} in the stand bench's JSON",
            file.display()
        )
    })
}

fn parse_place(file: &Path, name: &str, v: &Value) -> Result<PlaceRun> {
    let p: RawPlace = typed(file, name, v)?;
    Ok(PlaceRun {
        kpath: typed(file, &format!("{name}.pingpong.kpath"), &p.pingpong.kpath)?,
        sockperf: typed(
            file,
            &format!("{name}.pingpong.sockperf"),
            &p.pingpong.sockperf,
        )?,
        kpath_max_rate: typed(
            file,
            &format!("{name}.open_loop_max_rate_per_s.kpath"),
            &p.open_loop_max_rate_per_s.kpath,
        )?,
        sockperf_max_rate: typed(
            file,
            &format!("{name}.open_loop_max_rate_per_s.sockperf"),
            &p.open_loop_max_rate_per_s.sockperf,
        )?,
    })
}

fn parse_run(file: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "failed to read {} (the stand bench's output)",
            file.display()
        )
    })?;
    let raw: RawRun = serde_json::from_str(&text).with_context(|| {
        format!(
            "failed to parse {} (the stand bench's output)",
            file.display()
        )
    })?;
    let skipped = raw.netns.get("skipped").map(|s| match s {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let netns = match skipped {
        Some(_) => None,
        None => Some(parse_place(file, "netns", &raw.netns)?),
    };
    Ok(Run {
        size: raw.size,
        seconds: raw.seconds,
        loopback: parse_place(file, "loopback", &raw.loopback)?,
        netns,
        netns_skipped: skipped,
    })
}

fn spread(place: &str, what: &str, values: &[f64]) -> Result<Spread> {
    Spread::of(values)
        .with_context(|| format!("stand bench, {place}: no finite figures for {what}: {values:?}"))
}

fn place(name: &str, runs: &[&PlaceRun]) -> Result<StandPlace> {
    let col = |f: &dyn Fn(&PlaceRun) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<f64>>();
    let s = |what: &str, f: &dyn Fn(&PlaceRun) -> f64| spread(name, what, &col(f));
    Ok(StandPlace {
        rounds: runs.len(),
        pingpong_datagrams: s("ping-pong datagrams", &|r| r.sockperf.count as f64)?,
        kpath_lost: runs.iter().map(|r| r.kpath.lost).sum(),
        kpath_rtt_p50_us: s("kpath RTT p50", &|r| r.kpath.rtt_p50_us)?,
        sockperf_rtt_p50_us: s("sockperf RTT p50", &|r| r.sockperf.rtt_p50_us)?,
        rtt_p50_ratio: s("RTT p50 ratio", &|r| {
            r.kpath.rtt_p50_us / r.sockperf.rtt_p50_us
        })?,
        kpath_rtt_p99_us: s("kpath RTT p99", &|r| r.kpath.rtt_p99_us)?,
        sockperf_rtt_p99_us: s("sockperf RTT p99", &|r| r.sockperf.rtt_p99_us)?,
        rtt_p99_ratio: s("RTT p99 ratio", &|r| {
            r.kpath.rtt_p99_us / r.sockperf.rtt_p99_us
        })?,
        kpath_pingpong_per_s: s("kpath ping-pong rate", &|r| r.kpath.rate_per_s)?,
        sockperf_pingpong_per_s: s("sockperf ping-pong rate", &|r| r.sockperf.rate_per_s)?,
        kpath_max_rate_per_s: s("kpath max rate", &|r| r.kpath_max_rate)?,
        sockperf_max_rate_per_s: s("sockperf max rate", &|r| r.sockperf_max_rate)?,
        max_rate_ratio: s("max rate ratio", &|r| {
            r.kpath_max_rate / r.sockperf_max_rate
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_document_and_names_what_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("stand.json");
        let pp = |n: u64| {
            serde_json::json!({
                "count": n, "lost": 0, "rtt_p50_us": 20.0, "rtt_p99_us": 40.0,
                "rtt_mean_us": 21.0, "rate_per_s": 45000.0
            })
        };
        let mut doc = serde_json::json!({
            "size": 64, "seconds": 2, "sockperf": "sockperf 3.x",
            "loopback": {
                "pingpong": { "kpath": pp(1000), "sockperf": pp(1000) },
                "open_loop_max_rate_per_s": { "kpath": 500000.0, "sockperf": 400000.0 },
            },
            "netns": { "skipped": "needs root" },
        });
        std::fs::write(&file, doc.to_string()).expect("write");
        let r = parse_run(&file).expect("parse");
        assert!(r.netns.is_none());
        assert_eq!(r.netns_skipped.as_deref(), Some("needs root"));
        let p = place("loopback", &[&r.loopback]).expect("place");
        assert_eq!(p.max_rate_ratio.median, 1.25);

        doc["loopback"]["pingpong"]["sockperf"]
            .as_object_mut()
            .expect("object")
            .remove("rtt_p99_us");
        std::fs::write(&file, doc.to_string()).expect("write");
        let e = format!("{:#}", parse_run(&file).err().expect("an error"));
        assert!(
            e.contains("loopback.pingpong.sockperf") && e.contains("rtt_p99_us"),
            "{e}"
        );

        doc["loopback"]["pingpong"]["sockperf"] = pp(1000);
        doc["loopback"]["open_loop_max_rate_per_s"]["sockperf"] =
            serde_json::json!({ "error": "sockperf not installed" });
        std::fs::write(&file, doc.to_string()).expect("write");
        let e = format!("{:#}", parse_run(&file).err().expect("an error"));
        assert!(e.contains("sockperf not installed"), "{e}");
    }

    /// Section (f) in quick mode: `cargo test -p xtask -- --ignored --nocapture bench`.
    #[test]
    #[ignore = "runs the stand bench (sockperf, namespaces as root) for about half a minute"]
    fn bench_stand_quick() {
        let root = workspace_root();
        let opts = BenchOptions {
            rounds: 1,
            quick: true,
            dir: root.join("target/bench"),
            bin_dir: root.join("target/release"),
            sections: Vec::new(),
        };
        let t = std::time::Instant::now();
        let b = run(&opts).expect("stand bench");
        println!("{}", table(&b));
        println!("section (f) took {:.1} s", t.elapsed().as_secs_f64());
        println!("{}", serde_json::to_string_pretty(&b).expect("json"));
    }
}
