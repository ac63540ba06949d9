//! Sections (a) and (b) on the namespace stand: `kpath-stand gen --pattern closed --clients
//! 16` (replies/s) and `--pattern pingpong` (round-trip times) against `kpath-stand echo`
//! across the two namespaces, under each condition in turn.

use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kpath_stand::netns::{self, Stand};
use serde::Deserialize;

use super::attach::{detach, wait_for};
use super::figures::{figures, spread};
use super::{Condition, ConditionFigures, Ctx, PingPongFigures, Sizes};

impl Ctx {
    pub(super) fn stand_sections(
        &self,
        sizes: &Sizes,
        rounds: usize,
    ) -> Result<(Vec<ConditionFigures>, Vec<PingPongFigures>)> {
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
        for round in 0..rounds {
            for (i, &c) in Condition::ALL.iter().enumerate() {
                eprintln!("  round {}/{rounds}: {}", round + 1, c.name());
                let attached = self.attach(c, &[])?;
                let sat = self.gen(
                    &stand,
                    &target,
                    &[
                        "--pattern",
                        "closed",
                        "--clients",
                        "16",
                        "--duration",
                        &secs,
                    ],
                );
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
        }
        let saturation = figures(&replies, &lost)?;
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
        Ok((saturation, pingpong))
    }

    fn gen(&self, stand: &Stand, target: &str, args: &[&str]) -> Result<GenSummary> {
        let json = self.dir.join("gen.json");
        let _ = std::fs::remove_file(&json);
        let status = netns::command_in(&stand.gen_ns, &self.kpath_stand)
            .args([
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
            .arg(&json)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
