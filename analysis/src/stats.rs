//! Streaming statistics: moments, percentiles, densities, confidence intervals, sample size.
//!
//! Memory is independent of the number of samples:
//!
//! * **Moments** of whole nanoseconds (every measured time, unless a probe cost is subtracted)
//!   are exact: `n`, `Σx` and `Σx²` are summed in integers (`Σx²` modulo 2¹²⁸), and `M2 =
//!   Σ(x − q)² − r²/n` with `q = ⌊Σx/n⌋`, `r = Σx mod n` is a whole number until its last
//!   step, so neither a large mean against a small spread nor the order of the samples loses a
//!   digit. It is also the cheapest update (an add and a widening multiply, no division).
//! * **Other moments** (times less a probe cost, durations beyond 2⁴⁰ ns) use Welford's online
//!   algorithm (B. P. Welford, "Note on a method for calculating corrected sums of squares and
//!   products", *Technometrics* 4(3), 1962; see also Knuth, TAOCP vol. 2, §4.2.2). For each
//!   sample `x`: `n += 1; δ = x − mean; mean += δ/n; M2 += δ·(x − mean)`, with the samples
//!   taken as deviations from the first one. Unlike the textbook `Σx² − (Σx)²/n` in floating
//!   point, this does not lose all digits when the mean is large against the spread.
//! * The sample variance is `D = M2/(n − 1)`. Two accumulators, and the two parts of one,
//!   merge with Chan, Golub and LeVeque's pairwise formula (`M2 = M2_a + M2_b +
//!   δ²·n_a·n_b/n`).
//! * **Percentiles and densities** use an HdrHistogram with 3 significant digits (relative
//!   error ≤ 0.1 %), whose size depends only on the value range.
//! * **Confidence interval** of the mean at 95 %: `mean ± t(0.975, n−1)·s/√n` (Student's t).
//! * **Sample size** (methodology step 8): to estimate the mean within `±ε` at 95 %, `n ≥
//!   (t·σ/ε)²`; reports use `ε = 1 %` of the mean.
//!
//! The file is long because a quarter of it is tests of the exact moments and of the
//! histogram layout against the hdrhistogram crate.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Whole-nanosecond samples below this go to [`WholeSums`]: with `x < 2⁴⁰` (18 minutes),
/// `Σ(x − q)² ≤ n·2⁸⁰` stays below 2¹²⁸ for any `n < 2⁴⁸` (a trace of 16 PiB), which keeps
/// [`WholeSums::moments`] exact. Longer samples take the floating-point path.
const WHOLE_LIMIT: u64 = 1 << 40;

/// Exact sums of whole-nanosecond samples: `n`, `Σx` and `Σx²` (the last modulo 2¹²⁸).
///
/// This is the analysis's innermost accumulator, run several times per call: an integer add
/// and a widening multiply, where Welford's update divides and chains two dependent float
/// operations. The sums are exact, so the moments are too, up to the final rounding to `f64`
/// (see [`WholeSums::moments`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct WholeSums {
    n: u64,
    sum: u128,
    /// `Σx²` modulo 2¹²⁸: it may wrap, [`WholeSums::moments`] only needs it modulo 2¹²⁸.
    sum_sq: u128,
}

impl WholeSums {
    #[inline(always)]
    fn push(&mut self, x: u64) {
        let x = u128::from(x);
        self.n += 1;
        self.sum += x;
        self.sum_sq = self.sum_sq.wrapping_add(x * x);
    }

    fn merge(&mut self, other: &WholeSums) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq = self.sum_sq.wrapping_add(other.sum_sq);
    }

    /// `(n, mean, M2)`, with `M2 = Σ(x − mean)²`.
    ///
    /// With `q = ⌊Σx/n⌋` and `r = Σx mod n` (so `mean = q + r/n`), `T = Σ(x − q)² = Σx² −
    /// 2q·Σx + n·q²` is a whole number below `n·WHOLE_LIMIT²`, hence exact when computed modulo
    /// 2¹²⁸, and `M2 = T − r²/n`. Only the last step rounds.
    fn moments(&self) -> (u64, f64, f64) {
        if self.n == 0 {
            return (0, 0.0, 0.0);
        }
        let n = u128::from(self.n);
        let (q, r) = (self.sum / n, self.sum % n);
        let mean = whole_mean(self.n, self.sum);
        let t = self
            .sum_sq
            .wrapping_sub((2 * q).wrapping_mul(self.sum))
            .wrapping_add(n.wrapping_mul(q).wrapping_mul(q));
        let (nf, rf) = (self.n as f64, r as f64);
        let m2 = (t as f64 - rf * (rf / nf)).max(0.0);
        (self.n, mean, m2)
    }
}

/// `Σx / n` of `n > 0` whole numbers summing to `sum`, as `q + r/n` (`q = ⌊sum/n⌋`): exact
/// until the final rounding, whatever the size of the sum.
fn whole_mean(n: u64, sum: u128) -> f64 {
    let n128 = u128::from(n);
    (sum / n128) as f64 + (sum % n128) as f64 / n as f64
}

/// Welford's running mean and variance of the samples that are not whole nanoseconds below
/// [`WHOLE_LIMIT`]: times less a probe cost, and (hardly ever) durations beyond 18 minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct FloatMoments {
    n: u64,
    /// The first sample; the others are accumulated as deviations from it, which are exact
    /// for integer nanoseconds at any offset (the "shifted data" variant).
    shift: f64,
    mean: f64,
    m2: f64,
}

impl FloatMoments {
    /// No samples (`Default`, usable in `const fn`s).
    const EMPTY: Self = Self {
        n: 0,
        shift: 0.0,
        mean: 0.0,
        m2: 0.0,
    };

    #[inline(always)]
    fn push(&mut self, x: f64) {
        if self.n == 0 {
            self.shift = x;
        }
        self.n += 1;
        let y = x - self.shift;
        let delta = y - self.mean;
        // Through i64: one signed conversion instruction instead of the longer unsigned
        // sequence, and the same value for any count below 2⁶³.
        self.mean += delta / (self.n as i64) as f64;
        self.m2 += delta * (y - self.mean);
    }

    /// `(n, mean, M2)`.
    fn moments(&self) -> (u64, f64, f64) {
        (self.n, self.shift + self.mean, self.m2)
    }
}

/// Chan, Golub and LeVeque's pairwise combination of two `(n, mean, M2)`.
fn combine(a: (u64, f64, f64), b: (u64, f64, f64)) -> (u64, f64, f64) {
    match (a.0, b.0) {
        (0, _) => b,
        (_, 0) => a,
        _ => {
            let n = a.0 + b.0;
            let delta = b.1 - a.1;
            let mean = a.1 + delta * (b.0 as f64 / n as f64);
            let m2 = a.2 + b.2 + delta * delta * (a.0 as f64 * b.0 as f64 / n as f64);
            (n, mean, m2)
        }
    }
}

/// Running mean and variance, without the minimum and maximum of [`Welford`]: for
/// accumulators updated for every call whose extremes nobody reads (per level).
///
/// Whole nanoseconds ([`Moments::push_ns`]) are summed exactly in integers; other samples
/// ([`Moments::push`]) go through Welford's update. The two parts combine when read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    whole: WholeSums,
    float: FloatMoments,
}

impl Moments {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Self {
            whole: WholeSums {
                n: 0,
                sum: 0,
                sum_sq: 0,
            },
            float: FloatMoments::EMPTY,
        }
    }

    /// Adds one sample.
    #[inline(always)]
    pub fn push(&mut self, x: f64) {
        self.float.push(x);
    }

    /// Adds a sample of `ns` whole nanoseconds.
    #[inline(always)]
    pub fn push_ns(&mut self, ns: u64) {
        if ns < WHOLE_LIMIT {
            self.whole.push(ns);
        } else {
            self.push_long(ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn push_long(&mut self, ns: u64) {
        self.float.push(ns as f64);
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &Moments) {
        self.whole.merge(&other.whole);
        let (n, mean, m2) = combine(self.float.moments(), other.float.moments());
        self.float = FloatMoments {
            n,
            shift: 0.0,
            mean,
            m2,
        };
    }

    /// `(n, mean, M2)` of all samples.
    fn moments(&self) -> (u64, f64, f64) {
        combine(self.whole.moments(), self.float.moments())
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.whole.n + self.float.n
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.moments().1
    }

    /// Unbiased sample variance `M2/(n−1)` (0 with fewer than two samples).
    pub fn variance(&self) -> f64 {
        let (n, _, m2) = self.moments();
        if n < 2 {
            0.0
        } else {
            (m2 / (n - 1) as f64).max(0.0)
        }
    }
}

/// A running mean without the variance: for an accumulator updated for every call whose
/// variance nobody reads. Whole nanoseconds are summed exactly, as in [`Moments`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningMean {
    whole_n: u64,
    whole_sum: u128,
    float: FloatMoments,
}

impl RunningMean {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Self {
            whole_n: 0,
            whole_sum: 0,
            float: FloatMoments::EMPTY,
        }
    }

    /// Adds a sample of `ns` whole nanoseconds.
    #[inline(always)]
    pub fn push_ns(&mut self, ns: u64) {
        if ns < WHOLE_LIMIT {
            self.whole_n += 1;
            self.whole_sum += u128::from(ns);
        } else {
            self.push_long(ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn push_long(&mut self, ns: u64) {
        self.float.push(ns as f64);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.whole_n + self.float.n
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        let whole = match self.whole_n {
            0 => 0.0,
            n => whole_mean(n, self.whole_sum),
        };
        combine((self.whole_n, whole, 0.0), self.float.moments()).1
    }
}

/// Welford's running mean and variance, plus min and max.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Welford {
    moments: Moments,
    min: f64,
    max: f64,
}

impl Welford {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Self {
            moments: Moments::new(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one sample.
    #[inline(always)]
    pub fn push(&mut self, x: f64) {
        self.moments.push(x);
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    /// Adds a sample of `ns` whole nanoseconds, given also as `x = ns as f64`.
    #[inline(always)]
    pub fn push_ns(&mut self, ns: u64, x: f64) {
        self.moments.push_ns(ns);
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    /// Folds `other` into `self` (Chan et al.'s pairwise update).
    pub fn merge(&mut self, other: &Welford) {
        if other.count() == 0 {
            return;
        }
        if self.count() == 0 {
            *self = *other;
            return;
        }
        self.moments.merge(&other.moments);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.moments.count()
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.moments.mean()
    }

    /// Unbiased sample variance `M2/(n−1)` (0 with fewer than two samples).
    pub fn variance(&self) -> f64 {
        self.moments.variance()
    }

    /// Smallest sample (0 when empty).
    pub fn min(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.min
        }
    }

    /// Largest sample (0 when empty).
    pub fn max(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.max
        }
    }
}

/// Two-sided 97.5 % quantile of Student's t with `df` degrees of freedom: the factor of a 95 %
/// confidence interval. Exact table values for `df ≤ 30`, the Cornish–Fisher expansion around
/// the normal quantile 1.959964 above (error < 10⁻⁴), and `f64::INFINITY` for `df = 0`.
pub fn t_975(df: u64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let v = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
        }
    }
}

/// Samples needed so that the 95 % confidence interval of the mean is `±precision`
/// (methodology step 8): `n ≥ (t·σ/ε)²`, using the large-sample `t ≈ 1.96`.
pub fn samples_needed(variance: f64, precision: f64) -> f64 {
    if precision <= 0.0 {
        return f64::INFINITY;
    }
    let t = t_975(u64::MAX);
    (t * variance.max(0.0).sqrt() / precision).powi(2).ceil()
}

/// A probability-density histogram: `density[i]` is the fraction of samples per unit in
/// `[start + i·width, start + (i+1)·width)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Density {
    /// Lower edge of the first bin.
    pub start: f64,
    /// Bin width.
    pub width: f64,
    /// Density per bin (integrates to the fraction of samples inside the range).
    pub density: Vec<f64>,
    /// Fraction of samples beyond the last bin (the tail above p99.5 is cut for readability).
    pub clipped_fraction: f64,
}

/// Summary of one set of samples, in the unit the samples were given in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub samples: u64,
    /// Mean `t`.
    pub mean: f64,
    /// Sample variance `D`.
    pub variance: f64,
    /// Standard deviation `√D`.
    pub std_dev: f64,
    /// Squared coefficient of variation `C² = D/t²`.
    pub cv2: f64,
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Half-width of the 95 % confidence interval of the mean.
    pub ci95: f64,
    /// Samples needed for a ±1 % confidence interval at 95 %; `None` when undefined (no
    /// samples, or a zero mean), so that the JSON stays readable (NaN would become `null`).
    pub samples_needed_1pct: Option<f64>,
    /// Whether `samples ≥ samples_needed_1pct`.
    pub precision_1pct_reached: bool,
    /// Probability density histogram.
    pub density: Density,
    /// Samples per power-of-two bucket, as bcc's `funclatency` counts them: bucket 0 holds the
    /// samples of 0, bucket `i ≥ 1` those in `[2^(i−1), 2^i − 1]`; no trailing empty buckets.
    /// Exact: every HdrHistogram range of equivalent values lies inside one such bucket.
    /// Empty in results of kpath before 0.2.
    #[serde(default)]
    pub log2: Vec<u64>,
    /// The value at each quantile of [`PERCENTILE_LADDER`], in order: the percentile plot's
    /// points (HdrHistogram's "latency by percentile"). Empty without samples, and in results
    /// of kpath before 0.2.
    #[serde(default)]
    pub ladder: Vec<f64>,
}

/// The quantiles a [`Summary`] keeps for the percentile plot: from the minimum to the
/// 99.99th percentile, denser in the tail where latency plots look.
pub const PERCENTILE_LADDER: [f64; 12] = [
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
];

/// Moments plus a histogram: everything a [`Summary`] needs, in bounded memory.
#[derive(Clone, Debug)]
pub struct SampleStats {
    moments: Welford,
    buckets: Buckets,
}

impl Default for SampleStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Number of bins of [`Density`] histograms.
pub const DENSITY_BINS: usize = 40;

/// Significant decimal digits of the percentile histograms (relative error ≤ 0.1 %).
const SIGFIG: u8 = 3;

/// Bits kept of each value: an HdrHistogram with [`SIGFIG`] = 3 has 2¹¹ sub-buckets, so a
/// value `v` falls in the bucket of `v` with all but its 11 highest significant bits cleared.
const KEPT_BITS: u32 = 11;

/// Sample counts in the bucket layout of an HdrHistogram with 3 significant digits and a
/// lowest discernible value of 1.
///
/// This is the analysis's innermost loop: recording into `hdrhistogram::Histogram` costs
/// about 70 instructions per sample (bounds, resize and overflow checks, min/max updates
/// behind a call), this about 10. [`Buckets::histogram`] replays the counts into a real
/// `Histogram`, one `record_n` per non-empty bucket with the bucket's lowest value (and the
/// exact maximum for its bucket), which gives the histogram that recording every sample would
/// have given: the same counts, total, size and maximum, and a smallest value in the same
/// bucket, which is all a `Histogram` tells of it (`min()` is a bucket bound; `max()` is one
/// too, except in the topmost bucket, hence the exact maximum). Everything read from it
/// (percentiles, densities) is therefore unchanged. The maximum is not kept here: the
/// caller's moments have it.
///
/// Bucket `i` of a value `v`: with `s = max(0, bit_length(v) − 11)`, `i = s·2¹⁰ + (v >> s)`.
/// Values below 2¹¹ have a bucket each; above, each power of two `[2ᵖ, 2ᵖ⁺¹)` is split into
/// 2¹⁰ buckets of width `2ᵖ⁻¹⁰` — HdrHistogram's layout (`tests::buckets_match_hdrhistogram`
/// checks it against the crate).
///
/// The counts are kept in chunks of 2¹⁰ buckets, one per power of two (chunks 0 and 1 hold the
/// values below 2¹¹), each allocated at its first sample. A function whose durations span a
/// few powers of two holds a few 8 KiB chunks whatever its largest value: a single call of
/// 2⁶⁴ − 1 ns costs one chunk, where a dense array up to its bucket took 450 KiB (found by
/// fuzzing: 2 000 such functions took 900 MB).
#[derive(Clone, Debug, Default)]
struct Buckets {
    chunks: Vec<Option<Box<[u64; CHUNK]>>>,
}

/// Buckets per chunk: the sub-buckets of one power of two.
const CHUNK: usize = 1 << (KEPT_BITS - 1);

impl Buckets {
    #[inline]
    fn index(v: u64) -> usize {
        // `v | 2047` has at least 11 significant bits, so `s` is in 0..=53.
        let s = (64 - KEPT_BITS) - (v | ((1 << KEPT_BITS) - 1)).leading_zeros();
        ((s as usize) << (KEPT_BITS - 1)) + (v >> s) as usize
    }

    /// The smallest value of bucket `i` (the inverse of [`Buckets::index`]).
    fn lowest(i: usize) -> u64 {
        let half = 1usize << (KEPT_BITS - 1);
        if i < 2 * half {
            i as u64
        } else {
            let s = (i >> (KEPT_BITS - 1)) - 1;
            ((i - (s << (KEPT_BITS - 1))) as u64) << s
        }
    }

    #[inline(always)]
    fn record(&mut self, v: u64) {
        let i = Self::index(v);
        match self.chunks.get_mut(i / CHUNK) {
            // `i % CHUNK < CHUNK`: no bounds check.
            Some(Some(chunk)) => chunk[i % CHUNK] += 1,
            _ => self.record_in_new_chunk(i),
        }
    }

    #[cold]
    #[inline(never)]
    fn record_in_new_chunk(&mut self, i: usize) {
        self.chunk_mut(i / CHUNK)[i % CHUNK] += 1;
    }

    /// Chunk `c`, allocated if needed.
    fn chunk_mut(&mut self, c: usize) -> &mut [u64; CHUNK] {
        if c >= self.chunks.len() {
            self.chunks.resize_with(c + 1, || None);
        }
        self.chunks[c].get_or_insert_with(|| Box::new([0; CHUNK]))
    }

    /// Every non-empty bucket, as (index, count), in index order.
    fn counts(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().flat_map(move |chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(move |(j, &n)| (c * CHUNK + j, n))
            })
        })
    }

    fn merge(&mut self, other: &Buckets) {
        for (c, chunk) in other.chunks.iter().enumerate() {
            if let Some(chunk) = chunk {
                for (a, b) in self.chunk_mut(c).iter_mut().zip(chunk.iter()) {
                    *a += b;
                }
            }
        }
    }

    /// The HdrHistogram these samples make, given the largest; `None` only if it cannot be
    /// created.
    fn histogram(&self, max: u64) -> Option<Histogram<u64>> {
        // 3 significant digits, auto-resizing; `new` only fails for sigfig > 5.
        let mut h = Histogram::new(SIGFIG).ok()?;
        h.auto(true);
        let max_i = Self::index(max);
        for (i, n) in self.counts() {
            // With auto-resize, recording fails only for values beyond u64 range.
            if i == max_i {
                if n > 1 {
                    let _ = h.record_n(Self::lowest(i), n - 1);
                }
                let _ = h.record(max);
            } else {
                let _ = h.record_n(Self::lowest(i), n);
            }
        }
        Some(h)
    }
}

/// The histogram's value of a sample: rounded to whole nanoseconds, negative ones to 0.
fn hist_value(x: f64) -> u64 {
    x.max(0.0).round() as u64
}

/// `x as u64`, out of line: inlined, the compiler computes it before knowing whether it is
/// needed, which it hardly ever is.
#[cold]
#[inline(never)]
fn whole_to_u64(x: f64) -> u64 {
    x as u64
}

impl SampleStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self {
            moments: Welford::new(),
            buckets: Buckets::default(),
        }
    }

    /// Adds one sample (a non-negative duration; the histogram records it rounded).
    #[inline(always)]
    pub fn push(&mut self, x: f64) {
        self.moments.push(x);
        // Durations in whole nanoseconds are the usual case: `round` (a library call without
        // SSE4.1) is then the identity, and two conversions prove it.
        let i = x as i64;
        let v = if i >= 0 && i as f64 == x {
            i as u64
        } else {
            hist_value(x)
        };
        self.buckets.record(v);
    }

    /// Adds a sample of `ns` whole nanoseconds, given also as `x = ns as f64`: the same as
    /// `push(x)` without finding out again whether `x` is whole.
    #[inline(always)]
    pub fn push_ns(&mut self, ns: u64, x: f64) {
        self.moments.push_ns(ns, x);
        // `x` is `ns` when `ns < 2⁵³`; above, `x` is `ns` rounded to a whole number, which
        // `push` would record.
        self.buckets.record(if ns < 1 << f64::MANTISSA_DIGITS {
            ns
        } else {
            whole_to_u64(x)
        });
    }

    /// Folds `other` in.
    pub fn merge(&mut self, other: &SampleStats) {
        self.moments.merge(&other.moments);
        self.buckets.merge(&other.buckets);
    }

    /// The moments.
    pub fn moments(&self) -> &Welford {
        &self.moments
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.moments.count()
    }

    /// Value at quantile `q` in `[0, 1]` (from the histogram; 0 when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        quantile(self.histogram().as_ref(), q)
    }

    /// Mean, variance, percentiles, CI, sample size and density.
    pub fn summary(&self) -> Summary {
        let w = &self.moments;
        let n = w.count();
        let mean = w.mean();
        let variance = w.variance();
        let std_dev = variance.sqrt();
        let needed = samples_needed(variance, 0.01 * mean.abs());
        let h = self.histogram();
        let h = h.as_ref();
        Summary {
            samples: n,
            mean,
            variance,
            std_dev,
            cv2: if mean != 0.0 {
                variance / (mean * mean)
            } else {
                0.0
            },
            min: w.min(),
            p50: quantile(h, 0.5),
            p90: quantile(h, 0.9),
            p99: quantile(h, 0.99),
            max: w.max(),
            ci95: if n >= 2 {
                t_975(n - 1) * std_dev / (n as f64).sqrt()
            } else {
                0.0
            },
            samples_needed_1pct: needed.is_finite().then_some(needed),
            precision_1pct_reached: n >= 2 && needed.is_finite() && (n as f64) >= needed,
            density: density(h, DENSITY_BINS),
            log2: log2_counts(h),
            ladder: if n > 0 {
                PERCENTILE_LADDER.iter().map(|&q| quantile(h, q)).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// A density histogram of `bins` bins from the minimum to the 99.5th percentile.
    pub fn density(&self, bins: usize) -> Density {
        density(self.histogram().as_ref(), bins)
    }

    /// The HdrHistogram of the samples. Each sample `x` was recorded as `hist_value(x)`, which
    /// never decreases with `x`, so the largest recorded value is that of the largest sample.
    fn histogram(&self) -> Option<Histogram<u64>> {
        self.buckets.histogram(hist_value(self.moments.max()))
    }
}

/// Value at quantile `q` of `h` (0 when empty).
fn quantile(h: Option<&Histogram<u64>>, q: f64) -> f64 {
    match h {
        Some(h) if !h.is_empty() => h.value_at_quantile(q) as f64,
        _ => 0.0,
    }
}

/// The samples of `h` per power-of-two bucket ([`Summary::log2`]). HdrHistogram's ranges of
/// equivalent values are aligned to their width, a power of two no larger than the range's
/// lowest value's power of two, so a range never straddles two buckets and its lowest value
/// places it.
fn log2_counts(h: Option<&Histogram<u64>>) -> Vec<u64> {
    let Some(h) = h.filter(|h| !h.is_empty()) else {
        return Vec::new();
    };
    let mut counts: Vec<u64> = Vec::new();
    for v in h.iter_recorded() {
        let low = h.lowest_equivalent(v.value_iterated_to());
        let bucket = (u64::BITS - low.leading_zeros()) as usize;
        if counts.len() <= bucket {
            counts.resize(bucket + 1, 0);
        }
        counts[bucket] += v.count_at_value();
    }
    counts
}

/// A density histogram of `bins` bins from the minimum to the 99.5th percentile of `h`.
fn density(h: Option<&Histogram<u64>>, bins: usize) -> Density {
    let Some(h) = h.filter(|h| !h.is_empty()) else {
        return Density::default();
    };
    let lo = h.min() as f64;
    let hi = (h.value_at_quantile(0.995) as f64).max(lo + 1.0);
    let bins = bins.max(1);
    let width = ((hi - lo) / bins as f64).max(1.0);
    let total = h.len() as f64;
    let mut counts = vec![0u64; bins];
    let mut clipped = 0u64;
    for v in h.iter_recorded() {
        let x = h.median_equivalent(v.value_iterated_to()) as f64;
        let idx = ((x - lo) / width).floor();
        if idx >= 0.0 && (idx as usize) < bins {
            counts[idx as usize] += v.count_at_value();
        } else {
            clipped += v.count_at_value();
        }
    }
    Density {
        start: lo,
        width,
        density: counts.iter().map(|&c| c as f64 / (total * width)).collect(),
        clipped_fraction: clipped as f64 / total,
    }
}

#[cfg(test)]
mod tests {

    /// A function whose every sample was dropped must still round-trip through JSON
    /// (found by the demo: NaN became `null` and `kpath html` could not read the results).
    #[test]
    fn empty_summary_round_trips_through_json() {
        for samples in [&[][..], &[5.0][..], &[0.0, 0.0][..]] {
            let mut st = SampleStats::new();
            for &x in samples {
                st.push(x);
            }
            let summary = st.summary();
            let text = serde_json::to_string(&summary).expect("serialise");
            let back: Summary =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{samples:?}: {e}: {text}"));
            assert_eq!(back.samples, summary.samples);
        }
    }
    use super::*;

    /// Powers of two and their neighbours land in bcc's log2 buckets, including values past
    /// 2048 where HdrHistogram groups several values into one range.
    #[test]
    fn log2_buckets_are_exact() {
        let mut s = SampleStats::new();
        for x in [
            0u64,
            1,
            2,
            3,
            4,
            1000,
            1023,
            1024,
            3000,
            4095,
            4096,
            5000,
            1 << 20,
        ] {
            s.push_ns(x, x as f64);
        }
        let mut want = vec![0u64; 22];
        for (bucket, n) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 1),
            (10, 2),
            (11, 1),
            (12, 2),
            (13, 2),
            (21, 1),
        ] {
            want[bucket] = n;
        }
        assert_eq!(s.summary().log2, want);
        assert!(SampleStats::new().summary().log2.is_empty());
    }

    #[test]
    fn welford_matches_hand_values() {
        let mut w = Welford::new();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            w.push(x);
        }
        assert_eq!(w.count(), 8);
        assert_eq!(w.mean(), 5.0);
        // Σ(x−5)² = 32, sample variance 32/7.
        assert!((w.variance() - 32.0 / 7.0).abs() < 1e-12);
        assert_eq!((w.min(), w.max()), (2.0, 9.0));
    }

    #[test]
    fn merge_equals_sequential() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f64 * 0.5)
            .collect();
        let mut all = Welford::new();
        let (mut a, mut b) = (Welford::new(), Welford::new());
        for (i, &x) in xs.iter().enumerate() {
            all.push(x);
            if i < 300 {
                a.push(x)
            } else {
                b.push(x)
            }
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        assert!((a.mean() - all.mean()).abs() < 1e-9);
        assert!((a.variance() - all.variance()).abs() / all.variance() < 1e-12);
    }

    /// Whole nanoseconds far from zero with a spread of 1: the integer sums give the exact
    /// moments, mixed with float samples and merged in any order.
    #[test]
    fn whole_sums_are_exact_and_combine_with_floats() {
        let base = (1u64 << 40) - 10;
        let mut whole = Moments::new();
        let mut float = Moments::new();
        for i in 0..9u64 {
            // 0, 1, 2, 0, 1, 2, …: mean base + 1, Σ(x − mean)² = 6.
            whole.push_ns(base + i % 3);
            float.push((base + i % 3) as f64);
        }
        assert_eq!(whole.count(), 9);
        assert_eq!(whole.mean(), (base + 1) as f64);
        assert_eq!(whole.variance(), 6.0 / 8.0);
        // Half whole, half float, then merged: the same moments.
        let (mut a, mut b) = (Moments::new(), Moments::new());
        for i in 0..9u64 {
            if i % 2 == 0 {
                a.push_ns(base + i % 3);
            } else {
                b.push((base + i % 3) as f64);
            }
        }
        a.merge(&b);
        assert_eq!(a.count(), 9);
        assert!((a.mean() - (base + 1) as f64).abs() < 1e-3);
        assert!((a.variance() - 0.75).abs() < 1e-9, "{}", a.variance());
        // Beyond the whole-number limit, samples take the float path and still count.
        let mut long = Moments::new();
        long.push_ns(1 << 50);
        long.push_ns((1 << 50) + 2);
        assert_eq!((long.count(), long.mean()), (2, ((1u64 << 50) + 1) as f64));
        assert_eq!(long.variance(), 2.0);
    }

    /// `Σx²` wraps modulo 2¹²⁸ long before the moments stop being exact: 2⁵¹ samples of
    /// 2⁴⁰ − 1 and 2⁴⁰ − 3 (built by merging, as no test can push that many).
    #[test]
    fn whole_sums_stay_exact_when_the_sum_of_squares_wraps() {
        let mut m = Moments::new();
        m.push_ns((1 << 40) - 1);
        m.push_ns((1 << 40) - 3);
        for _ in 0..50 {
            let copy = m;
            m.merge(&copy);
        }
        let n = 1u64 << 51;
        assert_eq!(m.count(), n);
        // Σx² ≥ Σx · min x, which is beyond u128.
        assert!(m.whole.sum.checked_mul((1 << 40) - 3).is_none());
        assert_eq!(m.mean(), ((1u64 << 40) - 2) as f64);
        // Σ(x − mean)² = n: variance n/(n − 1).
        assert_eq!(m.variance(), n as f64 / (n - 1) as f64);
    }

    /// The exact sums agree with Welford's update on irregular data to rounding.
    #[test]
    fn whole_sums_agree_with_welford() {
        let (mut exact, mut welford) = (Welford::new(), Welford::new());
        for i in 0..100_000u64 {
            let ns = 1_000 + (i * 7919) % 100_003 + (i % 17) * 1_000_000;
            exact.push_ns(ns, ns as f64);
            welford.push(ns as f64);
        }
        assert_eq!(exact.count(), welford.count());
        assert!((exact.mean() - welford.mean()).abs() / welford.mean() < 1e-12);
        assert!((exact.variance() - welford.variance()).abs() / welford.variance() < 1e-12);
        assert_eq!((exact.min(), exact.max()), (welford.min(), welford.max()));
    }

    #[test]
    fn t_quantile_is_continuous_at_table_edge() {
        assert_eq!(t_975(30), 2.042);
        assert!((t_975(31) - 2.0395).abs() < 1e-3, "{}", t_975(31));
        assert!((t_975(1_000_000) - 1.96).abs() < 1e-3);
    }

    #[test]
    fn sample_size_formula() {
        // σ = 10, ε = 1: n = (1.96·10)² = 384.15 → 385.
        assert_eq!(samples_needed(100.0, 1.0), 385.0);
    }

    /// [`Buckets`] must split values exactly as the HdrHistogram it stands for, and replay
    /// into the histogram that recording every sample gives.
    #[test]
    fn a_huge_value_costs_one_chunk() {
        let mut b = Buckets::default();
        b.record(u64::MAX);
        b.record(5);
        assert_eq!(b.chunks.iter().flatten().count(), 2);
        assert_eq!(
            b.counts().collect::<Vec<_>>(),
            vec![(5, 1), (Buckets::index(u64::MAX), 1)]
        );
    }

    #[test]
    fn buckets_match_hdrhistogram() {
        let mut values: Vec<u64> = (0..5000).collect();
        for p in 10..64 {
            let b = 1u64 << p;
            values.extend([b - 1, b, b + 1, b + b / 3, b + b / 2 + 7]);
        }
        values.push(u64::MAX);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            // xorshift, spread over every magnitude
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        let mut direct = Histogram::<u64>::new(SIGFIG).expect("histogram");
        direct.auto(true);
        let mut buckets = Buckets::default();
        for &v in &values {
            let i = Buckets::index(v);
            assert_eq!(Buckets::lowest(i), direct.lowest_equivalent(v), "{v}");
            assert_eq!(Buckets::index(direct.highest_equivalent(v)), i, "{v}");
            direct.record(v).expect("record");
            buckets.record(v);
        }
        let max = values.iter().copied().max().unwrap_or(0);
        let replayed = buckets.histogram(max).expect("histogram");
        assert_eq!(replayed, direct);
        assert_eq!(replayed.distinct_values(), direct.distinct_values());
        assert_eq!(
            (replayed.min(), replayed.max()),
            (direct.min(), direct.max())
        );
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.995, 1.0] {
            assert_eq!(replayed.value_at_quantile(q), direct.value_at_quantile(q));
        }

        // Small values only, with zeros, in one bucket range.
        let mut direct = Histogram::<u64>::new(SIGFIG).expect("histogram");
        direct.auto(true);
        let mut buckets = Buckets::default();
        for v in [0, 0, 7, 3, 1500, 3] {
            direct.record(v).expect("record");
            buckets.record(v);
        }
        assert_eq!(buckets.histogram(1500).expect("histogram"), direct);
    }

    #[test]
    fn density_integrates_to_one_without_clipping() {
        let mut s = SampleStats::new();
        for i in 0..1000 {
            s.push(100.0 + (i % 10) as f64);
        }
        let d = s.density(10);
        let integral: f64 = d.density.iter().sum::<f64>() * d.width;
        assert!((integral + d.clipped_fraction - 1.0).abs() < 1e-9);
    }
}
