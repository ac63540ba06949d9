//! Stats-mode traces (`kpath-probe record --mode stats`): the kernel aggregates per function
//! instead of emitting records, and the trace carries the sums in the metadata field
//! `kernel_stats` (format in `docs/trace-format.md`, "Stats mode"). The record section is
//! empty, so there are no call trees, depths, levels, chains or stages: only per-function
//! figures.
//!
//! The trace reader reads the field into [`Metadata::kernel_stats`], checking every field
//! (errors name it, e.g. `kernel_stats.functions[2].clean.sum_ns`); [`summarize`] turns each
//! function into a [`KernelFunctionSummary`], the same figures `kpath report` prints per
//! function as far as sums and a log2 histogram allow.
//!
//! ## Variance from sums
//!
//! The kernel keeps `count = n`, `sum_ns = Σd` and `sum_sq_ns = Σd²` as exact `u64` integers.
//! The variance is `D = (Σd² − (Σd)²/n)/(n − 1) = (n·Σd² − (Σd)²)/(n·(n − 1))`. The numerator is
//! computed **exactly** in 128-bit integer arithmetic (both products are below 2^128), and
//! only the final division is done in `f64`: the relative error is a few ulps whatever the
//! ratio of mean to spread. This is what makes the textbook one-pass formula usable here: in
//! floating point, `Σd² − (Σd)²/n` cancels catastrophically when the mean is large against
//! the spread (relative error ≈ ε·(1 + t²/D)), which is why `stats.rs` uses Welford's
//! algorithm for records. The remaining caveat versus Welford is range, not rounding: `Σd²`
//! overflows a `u64` after about 1.8·10¹⁹ ns² (e.g. 7·10¹¹ samples of 5 µs, or a single
//! 4.3 s sample), and the kernel then saturates it at `u64::MAX`. A saturated `sum_sq_ns`
//! means the variance is unknown ([`VarianceStatus::Saturated`]); so does a saturated
//! `sum_ns` (which implies a saturated `sum_sq_ns`), and then the mean is unknown too. A true
//! sum of exactly `u64::MAX` is read as saturated. A numerator below 0 cannot come from real
//! samples (Cauchy–Schwarz) and is refused as an inconsistent `sum_sq_ns`; the `max(0)`
//! guard of the floating-point formula is therefore never needed.
//!
//! ## Percentiles from the log2 histogram
//!
//! `hist_clean[b]` counts clean durations `d` with `2^(b−1) ≤ d < 2^b` ns (bucket 0: `d = 0`;
//! the kernel puts anything longer than the last bucket into it). The `q`-quantile is taken
//! at rank `r = ⌈q·N⌉` (at least 1) of the `N` histogram samples, as HdrHistogram does: the
//! bucket `b` holding the `r`-th smallest sample is found exactly, and inside it the samples
//! are assumed to be spread **log-uniformly** (geometric interpolation):
//! `value = 2^(b−1) · 2^f` with `f = (r − samples below b) / samples in b`, capped at the
//! bucket's largest integer `2^b − 1`, then clamped to the clean `[min_ns, max_ns]`. The true
//! quantile lies in the same bucket, `[max(2^(b−1), min), min(2^b − 1, max)]`, which
//! [`ApproxPercentile`] reports as `lo` and `hi`: the approximation is bounded by a factor of
//! 2 at worst, and is exact when the bucket collapses to one value.

use kpath_trace::Metadata;
use serde::{Deserialize, Serialize};

use crate::stats::{samples_needed, t_975};

pub use kpath_trace::recording::{KernelFunctionStats, KernelMoments, KernelStats, HIST_BUCKETS};

/// The statistics of the kernel's exact sums (module docs): what analysis derives from a
/// [`KernelMoments`], which the trace crate defines and checks.
pub trait KernelMomentsExt {
    /// Mean `Σd/n`; `None` without samples or with a saturated sum.
    fn mean(&self) -> Option<f64>;
    /// Unbiased variance from the sums, and why it is missing if it is.
    fn variance(&self) -> (Option<f64>, VarianceStatus);
    /// Smallest sample; `None` without samples.
    fn min(&self) -> Option<f64>;
    /// Largest sample; `None` without samples.
    fn max(&self) -> Option<f64>;
}

impl KernelMomentsExt for KernelMoments {
    fn mean(&self) -> Option<f64> {
        (self.count > 0 && !self.sum_saturated()).then(|| self.sum_ns as f64 / self.count as f64)
    }

    fn variance(&self) -> (Option<f64>, VarianceStatus) {
        if self.count < 2 {
            return (None, VarianceStatus::TooFewSamples);
        }
        if self.sum_sq_saturated() || self.sum_saturated() {
            return (None, VarianceStatus::Saturated);
        }
        match self.variance_numerator() {
            Some(num) => {
                let n = u128::from(self.count);
                (
                    Some(num as f64 / (n * (n - 1)) as f64),
                    VarianceStatus::Known,
                )
            }
            // Refused by the trace reader; reachable only for hand-built values.
            None => (None, VarianceStatus::Inconsistent),
        }
    }

    fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min_ns as f64)
    }

    fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max_ns as f64)
    }
}

/// Why a variance is or is not available.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceStatus {
    /// Computed from the sums.
    #[default]
    Known,
    /// Fewer than two clean samples.
    TooFewSamples,
    /// `sum_sq_ns` (or `sum_ns`) saturated at `u64::MAX` in the kernel: unknown.
    Saturated,
    /// `sum_sq_ns < sum_ns²/count`, impossible for real samples (the trace reader refuses
    /// it).
    Inconsistent,
}

impl VarianceStatus {
    /// A short phrase for reports.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Known => "known",
            Self::TooFewSamples => "fewer than 2 clean samples",
            Self::Saturated => "unknown: sum_sq_ns saturated in the kernel",
            Self::Inconsistent => "unknown: inconsistent sums",
        }
    }
}

/// A percentile approximated from the log2 histogram (module docs): `value` is the geometric
/// interpolation inside the bucket, `[lo, hi]` the bucket clamped to the clean `[min, max]`,
/// which holds the true percentile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApproxPercentile {
    /// The approximation.
    pub value: f64,
    /// Lower bound of the true value.
    pub lo: f64,
    /// Upper bound of the true value.
    pub hi: f64,
}

/// The `q`-quantile (`0 ≤ q ≤ 1`) of a log2 histogram, clamped to `[min, max]` when given:
/// `None` when the histogram is empty or `q` is not a number. See the module docs.
pub fn approx_quantile(
    hist: &[u64],
    q: f64,
    min: Option<f64>,
    max: Option<f64>,
) -> Option<ApproxPercentile> {
    if q.is_nan() {
        return None;
    }
    let total: u128 = hist.iter().map(|&c| u128::from(c)).sum();
    if total == 0 {
        return None;
    }
    // Rank of the wanted sample, 1-based: ⌈q·N⌉, at least 1.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u128).clamp(1, total);
    let mut below = 0u128;
    for (b, &c) in hist.iter().enumerate() {
        let c = u128::from(c);
        if c == 0 || below + c < rank {
            below += c;
            continue;
        }
        let (lo, hi) = bucket_range(b);
        let value = if b == 0 {
            0.0
        } else {
            let frac = (rank - below) as f64 / c as f64;
            (lo * frac.exp2()).min(hi)
        };
        let (cmin, cmax) = (
            min.unwrap_or(f64::NEG_INFINITY),
            max.unwrap_or(f64::INFINITY),
        );
        let clamp = |x: f64| if cmin <= cmax { x.clamp(cmin, cmax) } else { x };
        return Some(ApproxPercentile {
            value: clamp(value),
            lo: clamp(lo),
            hi: clamp(hi),
        });
    }
    None
}

/// Smallest and largest integer ns of bucket `b`: `[2^(b−1), 2^b − 1]`, bucket 0 is `[0, 0]`.
/// The last bucket also takes everything longer; its upper bound is `u64::MAX`.
pub fn bucket_range(b: usize) -> (f64, f64) {
    match b {
        0 => (0.0, 0.0),
        b if b + 1 >= HIST_BUCKETS => ((b as f64 - 1.0).exp2(), u64::MAX as f64),
        b => ((b as f64 - 1.0).exp2(), (b as f64).exp2() - 1.0),
    }
}

/// One function of a stats-mode trace, in the figures of the report's per-function table.
/// Times are in the results' unit (ns unless converted); `clean`, `interrupted` and
/// `hist_clean` stay the kernel's raw ns sums. Figures that cannot be computed are `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelFunctionSummary {
    /// Function name.
    pub function: String,
    /// Function id in the trace.
    pub func_id: u32,
    /// Probe mechanism, from the function table.
    pub mechanism: String,
    /// All calls: clean + interrupted.
    pub calls: u64,
    /// Clean samples (kept, as by `--filter interrupted`).
    pub samples: u64,
    /// Samples dropped as interrupted.
    pub dropped: u64,
    /// Mean of the clean samples.
    pub mean: Option<f64>,
    /// Their unbiased variance (from the sums; see the module docs).
    pub variance: Option<f64>,
    /// Why `variance` is or is not known.
    pub variance_status: VarianceStatus,
    /// √variance.
    pub std_dev: Option<f64>,
    /// variance / mean².
    pub cv2: Option<f64>,
    /// Smallest clean sample.
    pub min: Option<f64>,
    /// Largest clean sample.
    pub max: Option<f64>,
    /// Half-width of the 95 % confidence interval of the mean (Student's t).
    pub ci95: Option<f64>,
    /// Samples needed for a ±1 % confidence interval at 95 %.
    pub samples_needed_1pct: Option<f64>,
    /// Whether `samples ≥ samples_needed_1pct`.
    pub precision_1pct_reached: bool,
    /// Median, approximated from the log2 histogram.
    pub p50: Option<ApproxPercentile>,
    /// 90th percentile, approximated.
    pub p90: Option<ApproxPercentile>,
    /// 99th percentile, approximated.
    pub p99: Option<ApproxPercentile>,
    /// Mean of the interrupted samples (what the filter dropped).
    pub interrupted_mean: Option<f64>,
    /// Whether the histogram's total differs from `clean.count` (percentiles then use the
    /// histogram's total).
    pub histogram_mismatch: bool,
    /// The kernel's clean sums, ns.
    pub clean: KernelMoments,
    /// The kernel's interrupted sums, ns.
    pub interrupted: KernelMoments,
    /// The kernel's log2 histogram of the clean samples.
    pub hist_clean: Vec<u64>,
}

impl KernelFunctionSummary {
    /// Summarises one function; `mechanism` comes from the function table.
    pub fn new(f: &KernelFunctionStats, mechanism: &str) -> Self {
        let c = &f.clean;
        let n = c.count;
        let mean = c.mean();
        let (variance, variance_status) = c.variance();
        let std_dev = variance.map(f64::sqrt);
        let cv2 = match (mean, variance) {
            (Some(m), Some(v)) if m != 0.0 => Some(v / (m * m)),
            _ => None,
        };
        let ci95 = std_dev
            .filter(|_| n >= 2)
            .map(|s| t_975(n - 1) * s / (n as f64).sqrt());
        let needed = match (mean, variance) {
            (Some(m), Some(v)) => Some(samples_needed(v, 0.01 * m.abs())).filter(|x| x.is_finite()),
            _ => None,
        };
        let (min, max) = (c.min(), c.max());
        let q = |p: f64| approx_quantile(&f.hist_clean, p, min, max);
        let hist_total: u128 = f.hist_clean.iter().map(|&x| u128::from(x)).sum();
        Self {
            function: f.name.clone(),
            func_id: f.id,
            mechanism: mechanism.to_string(),
            calls: c.count.saturating_add(f.interrupted.count),
            samples: n,
            dropped: f.interrupted.count,
            mean,
            variance,
            variance_status,
            std_dev,
            cv2,
            min,
            max,
            ci95,
            samples_needed_1pct: needed,
            precision_1pct_reached: needed.is_some_and(|x| n >= 2 && n as f64 >= x),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            interrupted_mean: f.interrupted.mean(),
            histogram_mismatch: hist_total != u128::from(n),
            clean: f.clean,
            interrupted: f.interrupted,
            hist_clean: f.hist_clean.clone(),
        }
    }
}

/// What `Results::kernel_stats` holds for a stats-mode trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelStatsResult {
    /// The recorder's mode (`"stats"`).
    pub mode: String,
    /// The recorder's description of the histogram.
    pub histogram: String,
    /// How the percentiles were approximated.
    pub percentile_method: String,
    /// Caveats for the reader (options that do not apply, histogram mismatches, ...).
    pub notes: Vec<String>,
    /// Per function, in the function table's order.
    pub functions: Vec<KernelFunctionSummary>,
}

/// How [`approx_quantile`] works, in one sentence for reports.
pub const PERCENTILE_METHOD: &str = "approximated from the kernel's log2 histogram: geometric \
interpolation inside the power-of-two bucket, clamped to [min, max]; the true value lies in \
the same bucket (JSON lo..hi), at worst a factor of 2 away";

/// Summarises every function of `ks`, in id order; mechanisms come from `meta`.
pub fn summarize(ks: &KernelStats, meta: &Metadata) -> KernelStatsResult {
    let mut fs: Vec<&KernelFunctionStats> = ks.functions.iter().collect();
    fs.sort_by_key(|f| f.id);
    let functions: Vec<KernelFunctionSummary> = fs
        .into_iter()
        .map(|f| {
            let mech = meta
                .functions
                .get(f.id as usize)
                .map_or("", |e| e.mechanism.name());
            KernelFunctionSummary::new(f, mech)
        })
        .collect();
    let mut notes = Vec::new();
    for f in &functions {
        if f.variance_status == VarianceStatus::Saturated {
            notes.push(format!(
                "{}: the kernel's sum of squares saturated at 2^64−1, so its variance, std, C² \
                 and CI are unknown{}",
                f.function,
                if f.mean.is_none() && f.samples > 0 {
                    " (the sum saturated too: the mean is unknown)"
                } else {
                    ""
                }
            ));
        }
        if f.histogram_mismatch {
            notes.push(format!(
                "{}: the histogram holds {} samples but clean.count is {}; percentiles use the \
                 histogram",
                f.function,
                f.hist_clean.iter().map(|&x| u128::from(x)).sum::<u128>(),
                f.samples
            ));
        }
    }
    KernelStatsResult {
        mode: "stats".into(),
        histogram: ks.histogram.clone(),
        percentile_method: PERCENTILE_METHOD.into(),
        notes,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(count: u64, sum: u64, sum_sq: u64, min: u64, max: u64) -> KernelMoments {
        KernelMoments {
            count,
            sum_ns: sum,
            sum_sq_ns: sum_sq,
            min_ns: min,
            max_ns: max,
        }
    }

    #[test]
    fn variance_is_exact_with_a_huge_mean() {
        // 3·10⁷ + {0, 1, 2}, 3000 samples each: Σd² ≈ 8.1·10¹⁸, whose f64 ulp (1024) is
        // not far below the true Σ(d − mean)² = 6000: the f64 formula is off by ~2 % here.
        let k = 3000u64;
        let base = 30_000_000u64;
        let n = 3 * k;
        let sum = k * (3 * base + 3);
        let sum_sq = k * (base * base + (base + 1) * (base + 1) + (base + 2) * (base + 2));
        let mo = m(n, sum, sum_sq, base, base + 2);
        // Σ(x−mean)² = 2k, variance 2k/(n−1).
        let (v, st) = mo.variance();
        assert_eq!(st, VarianceStatus::Known);
        let (nf, sf, ssf) = (n as f64, sum as f64, sum_sq as f64);
        let naive = (ssf - sf * sf / nf) / (nf - 1.0);
        let want0 = 2.0 * k as f64 / (n - 1) as f64;
        assert!(
            (naive - want0).abs() > 1e-3 * want0,
            "naive {naive} should be off"
        );
        let want = 2.0 * k as f64 / (n - 1) as f64;
        let got = v.expect("variance");
        assert!((got - want).abs() <= 1e-15 * want, "{got} vs {want}");
    }

    #[test]
    fn bucket_ranges() {
        assert_eq!(bucket_range(0), (0.0, 0.0));
        assert_eq!(bucket_range(1), (1.0, 1.0));
        assert_eq!(bucket_range(11), (1024.0, 2047.0));
        assert_eq!(bucket_range(63).1, u64::MAX as f64);
    }

    #[test]
    fn quantile_of_zero_bucket_and_nan() {
        let mut h = vec![0u64; HIST_BUCKETS];
        h[0] = 5;
        let p = approx_quantile(&h, 0.99, Some(0.0), Some(0.0)).expect("p");
        assert_eq!(p.value, 0.0);
        assert!(approx_quantile(&h, f64::NAN, None, None).is_none());
        assert!(approx_quantile(&[0; HIST_BUCKETS], 0.5, None, None).is_none());
    }
}
