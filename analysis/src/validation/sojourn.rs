//! Measured sojourn times: the `kpath-stand echo --timestamps` CSV, their statistics and
//! confidence intervals (batch means for raw values in arrival order, Student-t otherwise).

use std::path::Path;

use super::{SojournStats, Sojourns};
use crate::error::{Error, Result};
use crate::stats::{t_975, Welford};

/// Batches of the batch-means confidence interval.
pub const BATCHES: usize = 20;
/// Smallest batch size for batch means; below `BATCHES·MIN_BATCH` values the i.i.d. interval is
/// used.
pub const MIN_BATCH: usize = 10;

/// The 95 % confidence half-width of the mean of `values` by batch means: `BATCHES` batches of
/// `m = ⌊n/BATCHES⌋` consecutive values (the last `n mod BATCHES` values left out),
/// `t(0.975, BATCHES−1)·s_b/√BATCHES` with `s_b` the standard deviation of the batch means.
/// `None` with fewer than `BATCHES·MIN_BATCH` values.
pub fn batch_means_ci95(values: &[f64]) -> Option<f64> {
    let m = values.len() / BATCHES;
    if m < MIN_BATCH {
        return None;
    }
    let mut w = Welford::new();
    for batch in values.chunks_exact(m).take(BATCHES) {
        w.push(batch.iter().sum::<f64>() / m as f64);
    }
    Some(t_975(BATCHES as u64 - 1) * (w.variance() / BATCHES as f64).sqrt())
}

/// The i.i.d. Student-t 95 % half-width `t(0.975, n−1)·√(D/n)`; `None` for `n < 2`.
pub fn iid_ci95(samples: u64, variance: f64) -> Option<f64> {
    (samples >= 2).then(|| t_975(samples - 1) * (variance.max(0.0) / samples as f64).sqrt())
}

/// Reads the `sojourn_ns` column of a `kpath-stand echo --timestamps` CSV, skipping `skip`
/// data rows. Empty or negative cells are returned as NaN (discarded later).
pub fn read_sojourn_csv(path: &Path, skip: u64) -> Result<Vec<f64>> {
    // A points file names its CSV files, and anyone can write one: a device such as
    // /dev/zero or a FIFO would be read without end. Only regular files are read.
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        what: "read sojourn CSV",
        path: path.into(),
        source,
    })?;
    if !meta.is_file() {
        return Err(Error::ValidationInput {
            what: path.display().to_string(),
            reason: "a sojourn CSV must be a regular file".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "read sojourn CSV",
        path: path.into(),
        source,
    })?;
    parse_sojourn_csv(&text, skip, path)
}

/// [`read_sojourn_csv`] over the file's text; `path` only names it in errors.
pub fn parse_sojourn_csv(text: &str, skip: u64, path: &Path) -> Result<Vec<f64>> {
    let bad = |line: usize, reason: String| Error::SojournCsv {
        path: path.into(),
        line: line as u64 + 1,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let col = match lines.next() {
        Some((i, head)) => head
            .split(',')
            .position(|c| c.trim() == "sojourn_ns")
            .ok_or_else(|| bad(i, "no `sojourn_ns` column in the header".into()))?,
        None => return Err(bad(0, "empty file".into())),
    };
    let mut out = Vec::new();
    for (i, line) in lines
        .filter(|(_, l)| !l.trim().is_empty())
        .skip(skip as usize)
    {
        let cell = line
            .split(',')
            .nth(col)
            .ok_or_else(|| bad(i, format!("fewer than {} columns", col + 1)))?
            .trim();
        if cell.is_empty() {
            out.push(f64::NAN);
            continue;
        }
        let v: i64 = cell
            .parse()
            .map_err(|e| bad(i, format!("`{cell}` is not an integer: {e}")))?;
        out.push(v as f64);
    }
    Ok(out)
}

/// The statistics of `sojourns`; raw values are in a unit of `unit_ns` ns, CSV files in ns.
pub fn sojourn_stats(sojourns: &Sojourns, unit_ns: f64) -> Result<SojournStats> {
    match sojourns {
        Sojourns::Raw(v) => Ok(raw_stats(v)),
        Sojourns::Csv { csv, skip } => {
            let v: Vec<f64> = read_sojourn_csv(csv, *skip)?
                .into_iter()
                .map(|x| x / unit_ns)
                .collect();
            Ok(raw_stats(&v))
        }
        &Sojourns::Summary {
            samples,
            mean,
            variance,
        } => {
            if !(mean.is_finite() && mean >= 0.0 && variance.is_finite() && variance >= 0.0) {
                return Err(Error::ValidationInput {
                    what: "sojourn summary".into(),
                    reason: format!(
                        "mean {mean} and variance {variance} must be non-negative numbers"
                    ),
                });
            }
            Ok(SojournStats {
                samples,
                discarded: 0,
                mean,
                variance,
                ci95: iid_ci95(samples, variance),
                ci_method: "iid".into(),
            })
        }
    }
}

pub(super) fn raw_stats(values: &[f64]) -> SojournStats {
    let kept: Vec<f64> = values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .collect();
    let mut w = Welford::new();
    for &x in &kept {
        w.push(x);
    }
    let (ci95, ci_method) = match batch_means_ci95(&kept) {
        Some(ci) => (
            Some(ci),
            format!("batch means ({BATCHES} × {})", kept.len() / BATCHES),
        ),
        None => (iid_ci95(w.count(), w.variance()), "iid".into()),
    };
    SojournStats {
        samples: w.count(),
        discarded: (values.len() - kept.len()) as u64,
        mean: w.mean(),
        variance: w.variance(),
        ci95,
        ci_method,
    }
}
