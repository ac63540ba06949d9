//! The stats-mode summary stored in the trace metadata (`kernel_stats`,
//! `docs/trace-format.md`).

use kpath_trace::recording::{KernelFunctionStats, KernelMoments, KernelStats, RecordMode};
use kpath_trace::Mechanism;

/// Metadata bytes to reserve for the `kernel_stats` of `n` functions (one entry, 64
/// histogram counts included, stays under 1.5 KiB even at the largest values).
pub(super) fn stats_reserve(n: usize) -> usize {
    1536 * n + 256
}

/// The `kernel_stats` metadata field of a stats-mode trace (`docs/trace-format.md`).
pub(super) fn kernel_stats(
    functions: &[(String, Mechanism)],
    stats: &[probe_common::stats::FuncStats],
) -> KernelStats {
    let moments = |m: &probe_common::stats::Moments| KernelMoments {
        count: m.count,
        sum_ns: m.sum_ns,
        sum_sq_ns: m.sum_sq_ns,
        min_ns: m.min_ns,
        max_ns: m.max_ns,
    };
    KernelStats {
        mode: RecordMode::Stats,
        histogram: KernelStats::HISTOGRAM.into(),
        functions: functions
            .iter()
            .zip(stats)
            .zip(0u32..)
            .map(|(((name, _), s), id)| KernelFunctionStats {
                id,
                name: name.clone(),
                clean: moments(&s.clean),
                interrupted: moments(&s.interrupted),
                hist_clean: s.hist_clean.iter().map(|&c| u64::from(c)).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_common::stats::{FuncStats, Moments, HIST_BUCKETS};

    /// The reserve must hold the largest `kernel_stats` a run can produce (found in the VM:
    /// 24 functions overflowed a reserve sized for trace mode).
    #[test]
    fn stats_reserve_holds_the_largest_summary() {
        let m = Moments {
            count: u64::MAX,
            sum_ns: u64::MAX,
            sum_sq_ns: u64::MAX,
            min_ns: u64::MAX,
            max_ns: u64::MAX,
        };
        let worst = FuncStats {
            clean: m,
            interrupted: m,
            hist_clean: [u32::MAX; HIST_BUCKETS],
        };
        for n in [1usize, 24, 500] {
            let functions: Vec<(String, Mechanism)> = (0..n)
                .map(|i| (format!("{:x<64}", i), Mechanism::Fentry))
                .collect();
            let stats = vec![worst; n];
            let json = serde_json::to_vec(&kernel_stats(&functions, &stats)).expect("json");
            assert!(
                json.len() <= stats_reserve(n),
                "{n} functions: {} > {}",
                json.len(),
                stats_reserve(n)
            );
        }
    }
}
