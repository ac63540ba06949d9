//! Chains (methodology step 5): a chain root measured directly ("experimental") beside the
//! sum over its elements ("calculated"):
//!
//! ```text
//! t_calc = Σ_j k_j·t_j        D_calc = Σ_j k_j·D_j
//! ```
//!
//! where the elements j are the root's direct probed callees, `k_j` = calls of j directly
//! under the root per call of the root, and `t_j`, `D_j` are j's mean and variance in the
//! stage. The same sums over the descendants 2, 3, … levels below give the subtotal per
//! level. Every function of a stage that has probed callees is a chain root. The calculated
//! sum leaves out the root's own (self) time and probe overhead, so `ratio_mean =
//! t_calc/t_exp` is at most about 1; the gap is the root's own work.

use std::collections::BTreeMap;

use crate::results::{ChainElement, ChainResult, LevelSubtotal};
use crate::shapes::TreeCounts;
use crate::stage::Stage;
use crate::util::ratio;

/// The chains of one stage, ordered by root depth then name.
pub fn chains(
    stage: Stage,
    counts: &TreeCounts,
    stats: &dyn Fn(u32) -> (f64, f64),
    name: &dyn Fn(u32) -> String,
) -> Vec<ChainResult> {
    // root → level → [(desc, count)]
    let mut by_root: BTreeMap<u32, BTreeMap<u16, Vec<(u32, u64)>>> = BTreeMap::new();
    for (&(root, desc, level), &n) in &counts.under {
        by_root
            .entry(root)
            .or_default()
            .entry(level)
            .or_default()
            .push((desc, n));
    }
    let min_depth = |f: u32| {
        counts
            .by_depth
            .keys()
            .filter(|(g, _)| *g == f)
            .map(|&(_, d)| d)
            .min()
            .unwrap_or(0)
    };
    let mut out: Vec<(u16, ChainResult)> = by_root
        .into_iter()
        .map(|(root, levels)| {
            let calls = counts.calls.get(&root).copied().unwrap_or(0);
            let (exp_t, exp_d) = stats(root);
            let mut elements = Vec::new();
            let mut level_subtotals = Vec::new();
            for (level, mut descs) in levels {
                descs.sort_unstable();
                let (mut kt, mut kd) = (0.0, 0.0);
                for &(d, n) in &descs {
                    let k = ratio(n as f64, calls as f64);
                    let (t, v) = stats(d);
                    kt += k * t;
                    kd += k * v;
                    if level == 1 {
                        elements.push(ChainElement {
                            function: name(d),
                            k,
                            mean: t,
                            variance: v,
                        });
                    }
                }
                level_subtotals.push(LevelSubtotal {
                    level,
                    mean: kt,
                    variance: kd,
                });
            }
            let (calc_t, calc_d) = level_subtotals
                .first()
                .filter(|s| s.level == 1)
                .map_or((0.0, 0.0), |s| (s.mean, s.variance));
            let chain = ChainResult {
                stage,
                root: name(root),
                calls,
                experimental_mean: exp_t,
                experimental_variance: exp_d,
                calculated_mean: calc_t,
                calculated_variance: calc_d,
                ratio_mean: ratio(calc_t, exp_t),
                ratio_variance: ratio(calc_d, exp_d),
                elements,
                level_subtotals,
            };
            (min_depth(root), chain)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.root.cmp(&b.1.root)));
    out.into_iter().map(|(_, c)| c).collect()
}
