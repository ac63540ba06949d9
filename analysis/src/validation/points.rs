//! The validation's inputs: the points document (`kpath analyze --validation FILE`, format in
//! `docs/model.md`) and the in-memory types [`super::build`] takes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Mean and variance of a service time, in the caller's unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceTime {
    /// Mean T.
    pub mean: f64,
    /// Variance D.
    pub variance: f64,
}

/// Measured sojourn times of one load point. In JSON: a list of numbers (raw values), an object
/// `{samples, mean, variance}` (a summary) or `{csv, skip}` (a `kpath-stand echo --timestamps`
/// file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sojourns {
    /// Raw sojourn times in arrival order, in the caller's unit. Negative or non-finite values
    /// (a stepped clock) are discarded and counted.
    Raw(Vec<f64>),
    /// A summary of the sojourn times, in the caller's unit.
    Summary {
        /// Number of datagrams.
        samples: u64,
        /// Mean sojourn time.
        mean: f64,
        /// Sample variance of the sojourn time.
        variance: f64,
    },
    /// The `sojourn_ns` column of a CSV file `worker,index,seq,len,rx_ns,tx_ns,sojourn_ns`, in
    /// ns whatever the caller's unit. Rows are taken in file order.
    Csv {
        /// The file (relative paths in a points file are relative to that file).
        csv: PathBuf,
        /// Data rows to skip at the start (the warm-up).
        #[serde(default)]
        skip: u64,
    },
}

/// How a service-time choice gives its service time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceSpec {
    /// From the sojourns measured at low load (ρ → 0): their mean and variance.
    Sojourns {
        /// The low-load sojourns.
        sojourns: Sojourns,
    },
    /// Given directly.
    Moments(ServiceTime),
}

/// One measured load point, as the demo produces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPoint {
    /// Target load ρ, in (0, 1).
    pub rho: f64,
    /// Target arrival rate, per second (default `ρ/T`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_target_per_s: Option<f64>,
    /// Rate the generator achieved (its JSON `send_rate_per_s`), per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_achieved_per_s: Option<f64>,
    /// The measured sojourn times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sojourns: Option<Sojourns>,
    /// Why the point could not be measured, when the caller knows (e.g. the generator failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// The proxy CPU's busy time per datagram measured during the point (kpath's busy
    /// accounting; the utilisation law at this load), in the file's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_per_datagram: Option<f64>,
}

/// One service-time choice and its measured points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceInput {
    /// Name: [`PROBES`], [`RELAY`] or any other.
    pub name: String,
    /// What the choice is; a default is supplied for [`PROBES`] and [`RELAY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The service time. May be absent for [`PROBES`], which then uses the results' service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// A setup time (mean and variance, in the file's unit) that an arrival to an empty
    /// system waits before its service: with it, the rows also give the M/G/1-with-setup
    /// prediction (`queueing.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<ServiceTime>,
    /// Measured load points.
    pub points: Vec<MeasuredPoint>,
}

/// The points file of `kpath analyze --validation` (format in `docs/model.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointsFile {
    /// Nanoseconds per unit of every time in the file (CSV files are always ns). Default 1.
    #[serde(default = "one")]
    pub unit_ns: f64,
    /// Relative tolerance of the achieved rate (default [`DEFAULT_RATE_TOLERANCE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_tolerance: Option<f64>,
    /// The service-time choices.
    pub choices: Vec<ChoiceInput>,
}

fn one() -> f64 {
    1.0
}

/// Reads a points file; relative CSV paths are made relative to the file's directory.
pub fn load_points(path: &Path) -> Result<PointsFile> {
    let text = std::fs::read(path).map_err(|source| Error::Io {
        what: "read validation points",
        path: path.into(),
        source,
    })?;
    parse_points(&text, path)
}

/// [`load_points`] over the file's bytes; `path` names the file in errors and its directory is
/// the base of relative CSV paths. Reads no other file.
pub fn parse_points(text: &[u8], path: &Path) -> Result<PointsFile> {
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Error::ValidationInput {
            what: path.display().to_string(),
            reason: "a list of points is the old format; give an object {\"choices\": [...]} \
                     (docs/model.md, \"Points file\")"
                .into(),
        });
    }
    let mut f: PointsFile = serde_json::from_slice(text).map_err(|source| Error::PointsJson {
        path: path.into(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let rebase = |s: &mut Sojourns| {
        if let Sojourns::Csv { csv, .. } = s {
            if csv.is_relative() {
                *csv = base.join(&*csv);
            }
        }
    };
    for c in &mut f.choices {
        if let Some(ServiceSpec::Sojourns { sojourns }) = &mut c.service {
            rebase(sojourns);
        }
        for s in c.points.iter_mut().filter_map(|p| p.sojourns.as_mut()) {
            rebase(s);
        }
    }
    Ok(f)
}

pub(super) fn scale_sojourns(s: &mut Sojourns, f: f64) {
    match s {
        Sojourns::Raw(v) => v.iter_mut().for_each(|x| *x *= f),
        Sojourns::Summary { mean, variance, .. } => {
            *mean *= f;
            *variance *= f * f;
        }
        Sojourns::Csv { .. } => {}
    }
}
