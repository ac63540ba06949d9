//! The calibration: `kpath-probe calibrate --mechanism tracepoint`, kpath's pair against the
//! bare pair on the same tracepoints.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use kpath_trace::ProbeCost;

use super::Ctx;

impl Ctx {
    pub(super) fn calibrate(&self, count: u32) -> Result<Vec<ProbeCost>> {
        let out = self.dir.join("calibration.json");
        let _ = std::fs::remove_file(&out);
        let status = Command::new(&self.kpath_probe)
            .args([
                "calibrate",
                "--force",
                "--mechanism",
                "tracepoint",
                "--count",
            ])
            .arg(count.to_string())
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::inherit())
            .status()
            .context("failed to run kpath-probe calibrate")?;
        if !status.success() {
            bail!("kpath-probe calibrate failed with {status}");
        }
        let text = std::fs::read_to_string(&out)
            .with_context(|| format!("failed to read {}", out.display()))?;
        serde_json::from_str(&text).with_context(|| format!("failed to parse {}", out.display()))
    }
}
