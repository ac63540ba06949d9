//! The awk peer (`mean_var.awk`) against `kpath report --json`: each side's per-function
//! figures read, and compared within a relative difference of 1e-6.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The awk program, kept beside this file.
pub(super) const MEAN_VAR_AWK: &str = include_str!("../mean_var.awk");
/// Relative difference within which awk and kpath agree.
const AGREEMENT: f64 = 1e-6;

/// Per-function figures of one side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Figures {
    pub(super) calls: u64,
    pub(super) samples: u64,
    pub(super) mean: f64,
    pub(super) variance: f64,
}

/// The part of `kpath report --json` compared.
#[derive(Deserialize)]
struct KpathResults {
    functions: Vec<KpathFunction>,
}

#[derive(Deserialize)]
struct KpathFunction {
    stage: String,
    function: String,
    calls: u64,
    stats: KpathStats,
}

#[derive(Deserialize)]
struct KpathStats {
    samples: u64,
    mean: f64,
    variance: f64,
}

pub(super) type ByFunction = BTreeMap<(String, String), Figures>;

pub(super) fn read_kpath_functions(path: &Path) -> Result<ByFunction> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let r: KpathResults = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse {} (kpath report --json)", path.display()))?;
    Ok(r.functions
        .into_iter()
        .map(|f| {
            (
                (f.stage, f.function),
                Figures {
                    calls: f.calls,
                    samples: f.stats.samples,
                    mean: f.stats.mean,
                    variance: f.stats.variance,
                },
            )
        })
        .collect())
}

/// Parses `stage,function,calls,samples,mean,variance` lines (the function may hold commas).
pub(super) fn read_awk_functions(path: &Path) -> Result<ByFunction> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let mut out = ByFunction::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            format!(
                "{}:{}: not stage,function,calls,samples,mean,variance: {line:?}",
                path.display(),
                i + 1
            )
        };
        let mut f = line.rsplitn(5, ',');
        let (Some(var), Some(mean), Some(samples), Some(calls), Some(key)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            bail!(bad());
        };
        let (stage, function) = key.split_once(',').with_context(bad)?;
        let figures = Figures {
            calls: calls.parse().with_context(bad)?,
            samples: samples.parse().with_context(bad)?,
            mean: mean.parse().with_context(bad)?,
            variance: var.parse().with_context(bad)?,
        };
        out.insert((stage.into(), function.into()), figures);
    }
    Ok(out)
}

/// The outcome of comparing awk's figures with kpath's.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    pub(super) compared: usize,
    pub(super) max_mean: f64,
    pub(super) max_variance: f64,
    pub(super) agrees: bool,
    pub(super) disagreements: Vec<String>,
}

fn rel_diff(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

pub(super) fn compare(awk: &ByFunction, kpath: &ByFunction) -> Comparison {
    let mut c = Comparison::default();
    let mut problems = Vec::new();
    for (key, k) in kpath {
        let name = format!("{}/{}", key.0, key.1);
        let Some(a) = awk.get(key) else {
            problems.push(format!("{name}: missing from awk's output"));
            continue;
        };
        c.compared += 1;
        let (dm, dv) = (rel_diff(a.mean, k.mean), rel_diff(a.variance, k.variance));
        c.max_mean = c.max_mean.max(dm);
        c.max_variance = c.max_variance.max(dv);
        if a.calls != k.calls || a.samples != k.samples {
            problems.push(format!(
                "{name}: calls/samples {}/{} (awk) against {}/{} (kpath)",
                a.calls, a.samples, k.calls, k.samples
            ));
        }
        if dm > AGREEMENT || dv > AGREEMENT || dm.is_nan() || dv.is_nan() {
            problems.push(format!(
                "{name}: mean {} against {}, variance {} against {} (awk against kpath)",
                a.mean, k.mean, a.variance, k.variance
            ));
        }
    }
    for key in awk.keys().filter(|k| !kpath.contains_key(*k)) {
        problems.push(format!("{}/{}: missing from kpath's report", key.0, key.1));
    }
    c.agrees = problems.is_empty() && c.compared > 0;
    if c.compared == 0 {
        problems.push("no function to compare".into());
    }
    problems.truncate(10);
    c.disagreements = problems;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_flags_differences() {
        let f = |mean| Figures {
            calls: 10,
            samples: 9,
            mean,
            variance: 4.0,
        };
        let key = ("rx".to_string(), "ip_rcv".to_string());
        let k: ByFunction = [(key.clone(), f(100.0))].into();
        assert!(compare(&[(key.clone(), f(100.0 + 1e-7))].into(), &k).agrees);
        let c = compare(&[(key, f(100.1))].into(), &k);
        assert!(!c.agrees);
        assert_eq!(c.disagreements.len(), 1);
        assert!(!compare(&ByFunction::new(), &k).agrees);
    }
}
