//! Running gnuplot on a script, the way a user would rerun it.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// The gnuplot executable: `$KPATH_GNUPLOT` or `gnuplot`.
pub fn gnuplot_program() -> String {
    std::env::var("KPATH_GNUPLOT").unwrap_or_else(|_| "gnuplot".into())
}

/// Whether gnuplot can be run.
pub fn gnuplot_available() -> bool {
    Command::new(gnuplot_program())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `gnuplot SCRIPT` (no shell) with `dir` as the working directory, `script` being a file
/// in `dir`: the paths in kpath's scripts (image, data) are relative to it, as when a user
/// reruns `gnuplot NAME.gp` there.
pub fn run_gnuplot(dir: &Path, script: &Path) -> Result<()> {
    let out = Command::new(gnuplot_program())
        .arg(script.file_name().unwrap_or(script.as_os_str()))
        .current_dir(dir)
        .output()
        .map_err(|source| Error::GnuplotSpawn {
            script: script.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::GnuplotFailed {
            script: script.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
