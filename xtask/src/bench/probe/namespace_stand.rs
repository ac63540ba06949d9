//! Sections (a) and (b) on the namespace stand: `kpath-stand gen --pattern closed --clients
//! 16` (replies/s) and `--pattern pingpong` (round-trip times) against `kpath-stand echo`
//! across the two namespaces, under each condition in turn; and, once per round, kpath's
//! recorder started while the closed loop already runs (what it lost while its probes went
//! live).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kpath_stand::netns::{self, Stand};
use serde::Deserialize;

use super::attach::{detach, wait_for};
use super::figures::{figures, head_to_head, spread};
use super::{
    Condition, ConditionFigures, Ctx, HeadToHead, PingPongFigures, Sizes, StartedUnderLoad,
};

/// What sections (a) and (b) measured.
pub(super) struct StandSections {
    pub saturation: Vec<ConditionFigures>,
    pub head_to_head: Vec<HeadToHead>,
    pub pingpong: Vec<PingPongFigures>,
    pub started_under_load: StartedUnderLoad,
}

/// How long the closed loop runs before the recorder is started in the round's start under
/// load: a schedule of the experiment (the load is in full flow by then), not a wait for an
/// event.
const LOAD_BEFORE_START: Duration = Duration::from_secs(1);

/// How long kpath's recorder may take to attach its probes under load before the start under
/// load fails: 10 s on the AMD machine of 2026-12-04, where each exit program's verification
/// took 0.5-0.7 s under a stats-mode change since undone, 2 s on the Intel one.
const ATTACH_ALLOWANCE: Duration = Duration::from_secs(60);

impl Ctx {
    pub(super) fn stand_sections(&self, sizes: &Sizes, rounds: usize) -> Result<StandSections> {
        let stand = Stand::with_suffix("bench");
        let _guard = stand
            .clone()
            .up_guarded()
            .context("failed to set up the stand")?;
        let target = format!("{}:9000", stand.proxy_addr);
        let mut echo = Killed(
            netns::command_in(&stand.proxy_ns, &self.kpath_stand)
                .args(["echo", "--listen", &target, "--duration", "1800s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("failed to start kpath-stand echo")?,
        );
        // Ready when a ping-pong gets its answers.
        wait_for(Duration::from_secs(20), || {
            if let Some(status) = echo.0.try_wait()? {
                bail!("kpath-stand echo exited ({status})");
            }
            Ok(self
                .gen(&stand, &target, &["--pattern", "pingpong", "--count", "10"])
                .is_ok())
        })
        .context("the echo server did not answer")?;
        let secs = format!("{}s", sizes.saturation.as_secs());
        let count = sizes.pingpong_count.to_string();
        let mut replies: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut p50: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut p99: Vec<Vec<f64>> = vec![Vec::new(); Condition::ALL.len()];
        let mut lost = vec![0u64; Condition::ALL.len()];
        let mut started = StartedUnderLoad::default();
        for round in 0..rounds {
            for (i, c) in Condition::in_round(round) {
                eprintln!("  round {}/{rounds}: {}", round + 1, c.name());
                let attached = self.attach(c, &[])?;
                let sat = self.gen(&stand, &target, &closed_loop(&secs));
                let pp = self.gen(
                    &stand,
                    &target,
                    &["--pattern", "pingpong", "--count", &count],
                );
                let detached = detach(attached)?;
                lost[i] += detached.lost;
                let sat = sat?;
                let pp = pp?;
                replies[i].push(sat.recv_rate_per_s);
                p50[i].push(pp.rtt_ns.p50 / 1e3);
                p99[i].push(pp.rtt_ns.p99 / 1e3);
            }
            eprintln!(
                "  round {}/{rounds}: kpath trace started under load",
                round + 1
            );
            let (attach_s, lost, records) = self.start_under_load(&stand, &target, sizes)?;
            started.attach_s.push(attach_s);
            started.lost.push(lost);
            started.records.push(records);
        }
        let saturation = figures(&replies, &lost)?;
        let head_to_head = head_to_head(&replies)?;
        let pingpong = Condition::ALL
            .iter()
            .enumerate()
            .map(|(i, &condition)| {
                Ok(PingPongFigures {
                    condition,
                    rtt_p50_us: spread(&p50[i])?,
                    rtt_p99_us: spread(&p99[i])?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(StandSections {
            saturation,
            head_to_head,
            pingpong,
            started_under_load: started,
        })
    }

    /// Starts the closed loop, then kpath's recorder (trace mode) once the loop has run for
    /// [`LOAD_BEFORE_START`]; once its probes are attached, records for as long as a round's
    /// closed loop runs, stops it (the load still running), and returns the seconds the
    /// attaching took, the events lost and the records kept.
    fn start_under_load(
        &self,
        stand: &Stand,
        target: &str,
        sizes: &Sizes,
    ) -> Result<(f64, u64, u64)> {
        let json = self.dir.join("gen-under-load.json");
        let _ = std::fs::remove_file(&json);
        // The load outlasts the attaching and the recording; it is stopped once the recorder
        // has stopped, and its bound only matters if the benchmark dies meanwhile.
        let bound = LOAD_BEFORE_START + ATTACH_ALLOWANCE + sizes.saturation;
        let secs = format!("{}s", bound.as_secs());
        let mut load = Killed(
            self.gen_command(stand, target, &closed_loop(&secs), &json)
                .spawn()
                .context("failed to start kpath-stand gen")?,
        );
        std::thread::sleep(LOAD_BEFORE_START);
        let started = Instant::now();
        let attached = self.attach(Condition::KpathTrace, &[])?;
        let attach_s = started.elapsed().as_secs_f64();
        if let Some(status) = load.exited()? {
            detach(attached)?;
            bail!(
                "the closed loop ended ({status}) before kpath-probe record had attached its \
                 probes ({attach_s:.1} s after its start): the start was not under load"
            );
        }
        // A schedule of the experiment: the recording runs under load as long as a round's
        // closed loop does.
        std::thread::sleep(sizes.saturation);
        let ended = load.exited()?;
        let detached = detach(attached)?;
        if let Some(status) = ended {
            bail!("the closed loop ended ({status}) while kpath-probe record recorded under it");
        }
        drop(load);
        let records = detached.usage.map_or(0, |u| u.records);
        if records == 0 {
            bail!("kpath-probe record started under load recorded nothing");
        }
        Ok((attach_s, detached.lost, records))
    }

    fn gen(&self, stand: &Stand, target: &str, args: &[&str]) -> Result<GenSummary> {
        let json = self.dir.join("gen.json");
        let _ = std::fs::remove_file(&json);
        let status = self
            .gen_command(stand, target, args, &json)
            .status()
            .context("failed to run kpath-stand gen")?;
        if !status.success() {
            bail!("kpath-stand gen {} failed with {status}", args.join(" "));
        }
        let text = std::fs::read_to_string(&json)
            .with_context(|| format!("failed to read {}", json.display()))?;
        let summary: GenSummary = serde_json::from_str(&text)
            .with_context(|| format!("failed to parse {}", json.display()))?;
        if summary.received == 0 {
            bail!("kpath-stand gen {}: no reply received", args.join(" "));
        }
        Ok(summary)
    }

    /// `kpath-stand gen` in the generator's namespace, 64-byte datagrams, its summary to `json`.
    fn gen_command(
        &self,
        stand: &Stand,
        target: &str,
        args: &[&str],
        json: &std::path::Path,
    ) -> std::process::Command {
        let mut cmd = netns::command_in(&stand.gen_ns, &self.kpath_stand);
        cmd.args([
            "gen",
            "--force",
            "--target",
            target,
            "--allow-remote",
            "-q",
            "--size",
            "64",
        ])
        .args(["--timeout", "100ms"])
        .args(args)
        .arg("--json")
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        cmd
    }
}

/// `kpath-stand gen` options of the closed loop of section (a), for `secs` (e.g. `3s`).
fn closed_loop(secs: &str) -> [&str; 6] {
    ["--pattern", "closed", "--clients", "16", "--duration", secs]
}

/// What the benchmark reads of `kpath-stand gen --json` (its `GenReport`, whose counts are
/// flattened into the top level).
#[derive(Deserialize)]
struct GenSummary {
    received: u64,
    recv_rate_per_s: f64,
    rtt_ns: GenLatency,
}

#[derive(Deserialize)]
struct GenLatency {
    p50: f64,
    p99: f64,
}

/// A child process killed when dropped.
struct Killed(Child);

impl Killed {
    /// The child's exit status if it has ended, without waiting.
    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        self.0.try_wait().context("failed to poll a child process")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
