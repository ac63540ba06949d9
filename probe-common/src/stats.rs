//! In-kernel aggregation (`kpath-probe record --mode stats`): per function, moments and a log2
//! histogram of durations, clean and interrupted samples kept apart, instead of one record
//! per call. For long runs with minimal overhead.

/// Histogram buckets: bucket `b` counts durations `d` with `2^(b-1) <= d < 2^b` ns (bucket 0
/// counts `d = 0`); the last bucket also takes everything longer.
pub const HIST_BUCKETS: usize = 64;

/// Function ids the `FUNC_STATS` map has room for.
pub const STATS_MAX_FUNCS: u32 = 4096;

/// Sums of one class of samples. `sum_sq_ns` saturates at `u64::MAX` (a run whose squares
/// overflow has no variance); `min_ns`/`max_ns` mean nothing while `count` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    /// Samples.
    pub count: u64,
    /// Σ d.
    pub sum_ns: u64,
    /// Σ d², saturating.
    pub sum_sq_ns: u64,
    /// Smallest d.
    pub min_ns: u64,
    /// Largest d.
    pub max_ns: u64,
}

impl Moments {
    /// Adds one duration.
    #[inline(always)]
    pub fn add(&mut self, d: u64) {
        if self.count == 0 || d < self.min_ns {
            self.min_ns = d;
        }
        if d > self.max_ns {
            self.max_ns = d;
        }
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(d);
        // d < 2^32 squares without overflow; `saturating_mul` would need a 128-bit multiply,
        // which the BPF target does not have.
        let sq = if d > u32::MAX as u64 { u64::MAX } else { d * d };
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(sq);
    }

    /// Combines another CPU's sums into these.
    pub fn merge(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 || o.min_ns < self.min_ns {
            self.min_ns = o.min_ns;
        }
        self.max_ns = self.max_ns.max(o.max_ns);
        self.count += o.count;
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(o.sum_sq_ns);
    }
}

/// One function's aggregate on one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncStats {
    /// Samples with no interrupt, softirq, switch or migration in the interval.
    pub clean: Moments,
    /// The others.
    pub interrupted: Moments,
    /// Log2 histogram of the clean samples.
    pub hist_clean: [u32; HIST_BUCKETS],
}

impl Default for FuncStats {
    fn default() -> Self {
        Self {
            clean: Moments::default(),
            interrupted: Moments::default(),
            hist_clean: [0; HIST_BUCKETS],
        }
    }
}

/// The histogram bucket of a duration.
///
/// Written with shifts rather than `leading_zeros`, which the BPF backend would turn into a
/// call to a compiler-builtins function (a subprogram older verifiers refuse).
#[inline(always)]
pub const fn bucket(d: u64) -> usize {
    let (mut v, mut b) = (d, 0usize);
    if v >= 1 << 32 {
        v >>= 32;
        b += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        b += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        b += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        b += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        b += 2;
    }
    if v >= 1 << 1 {
        v >>= 1;
        b += 1;
    }
    if v >= 1 {
        b += 1;
    }
    // b is at most 64; the mask keeps the index provably in range for the verifier.
    if b >= HIST_BUCKETS {
        HIST_BUCKETS - 1
    } else {
        b & (HIST_BUCKETS - 1)
    }
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]`, `Copy`, no padding (u64 fields then u32 array of even length), every
// bit pattern valid.
unsafe impl aya::Pod for FuncStats {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(2), 2);
        assert_eq!(bucket(3), 2);
        assert_eq!(bucket(1023), 10);
        assert_eq!(bucket(1024), 11);
        assert_eq!(bucket(u64::MAX), HIST_BUCKETS - 1);
    }

    #[test]
    fn moments_add_and_merge() {
        let mut a = Moments::default();
        for d in [5, 3, 9] {
            a.add(d);
        }
        assert_eq!(
            a,
            Moments {
                count: 3,
                sum_ns: 17,
                sum_sq_ns: 115,
                min_ns: 3,
                max_ns: 9
            }
        );
        let mut b = Moments::default();
        b.add(1);
        a.merge(&b);
        assert_eq!((a.count, a.min_ns, a.max_ns, a.sum_ns), (4, 1, 9, 18));
        let mut big = Moments::default();
        big.add(u64::MAX);
        assert_eq!(big.sum_sq_ns, u64::MAX, "squares saturate");
    }
}
