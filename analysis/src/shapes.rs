//! Counting tree shapes, and the structural counts per stage derived from them: calls per
//! function and per level, callee counts under each chain root, maximum depth.
//!
//! Most root invocations of a stage have one of a few shapes, so the shapes are counted in a
//! table (bounded by [`ShapeTable::new`]'s capacity) and the structure of each distinct shape
//! is computed once, at the end. Invocations whose shape does not fit the table any more are
//! walked at once and added to the counts directly, so memory stays bounded.

use std::collections::HashMap;

use crate::calltree::{walk_shape, Shape, ShapeToken};

/// Structural counts of a stage, summed over complete invocations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TreeCounts {
    /// Complete invocations.
    pub invocations: u64,
    /// Calls per function.
    pub calls: HashMap<u32, u64>,
    /// Calls per (function, depth from root).
    pub by_depth: HashMap<(u32, u16), u64>,
    /// Calls per (function, height from leaves).
    pub by_height: HashMap<(u32, u16), u64>,
    /// Calls of `desc` exactly `level` levels under a call of `root`: key (root, desc, level).
    pub under: HashMap<(u32, u32, u16), u64>,
    /// Deepest call.
    pub max_depth: u16,
}

impl TreeCounts {
    /// Adds `count` invocations of `shape`.
    pub fn add_shape(&mut self, shape: &Shape, count: u64) {
        self.invocations += count;
        walk_shape(shape, |c, ancestors| {
            *self.calls.entry(c.func_id).or_default() += count;
            *self.by_depth.entry((c.func_id, c.depth)).or_default() += count;
            *self.by_height.entry((c.func_id, c.height)).or_default() += count;
            let n = ancestors.len();
            for (i, &a) in ancestors.iter().enumerate() {
                let level = u16::try_from(n - i).unwrap_or(u16::MAX);
                *self.under.entry((a, c.func_id, level)).or_default() += count;
            }
            self.max_depth = self.max_depth.max(c.depth);
        });
    }

    /// Total calls.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Distinct shapes of one stage with their counts.
#[derive(Clone, Debug)]
pub struct ShapeTable {
    shapes: HashMap<Vec<ShapeToken>, u64>,
    capacity: usize,
    overflow: TreeCounts,
    overflow_shapes: u64,
}

impl ShapeTable {
    /// A table keeping at most `capacity` distinct shapes.
    pub fn new(capacity: usize) -> Self {
        Self {
            shapes: HashMap::new(),
            capacity,
            overflow: TreeCounts::default(),
            overflow_shapes: 0,
        }
    }

    /// Counts one complete invocation.
    pub fn add(&mut self, shape: &Shape) {
        if let Some(c) = self.shapes.get_mut(shape) {
            *c += 1;
        } else if self.shapes.len() < self.capacity {
            self.shapes.insert(shape.to_vec(), 1);
        } else {
            self.overflow_shapes += 1;
            self.overflow.add_shape(shape, 1);
        }
    }

    /// Distinct shapes kept, most frequent first (ties by shape, for stable output).
    pub fn sorted(&self) -> Vec<(&[ShapeToken], u64)> {
        let mut v: Vec<(&[ShapeToken], u64)> = self
            .shapes
            .iter()
            .map(|(k, &c)| (k.as_slice(), c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v
    }

    /// Distinct shapes (kept ones, plus invocations that did not fit, each counted once).
    pub fn distinct(&self) -> u64 {
        self.shapes.len() as u64 + self.overflow_shapes
    }

    /// Structural counts over all invocations.
    pub fn counts(&self) -> TreeCounts {
        let mut t = self.overflow.clone();
        for (shape, &count) in &self.shapes {
            t.add_shape(shape, count);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calltree::{enter_token as e, ret_token as r};

    #[test]
    fn overflow_counts_equal_table_counts() {
        let a = [e(0), e(1), r(1), r(0)];
        let b = [e(0), e(1), r(1), e(1), r(1), r(0)];
        let mut big = ShapeTable::new(10);
        let mut tiny = ShapeTable::new(1);
        for s in [&a[..], &b[..], &b[..], &a[..], &b[..]] {
            big.add(s);
            tiny.add(s);
        }
        assert_eq!(big.counts(), tiny.counts());
        assert_eq!(big.distinct(), 2);
        let c = big.counts();
        assert_eq!(c.invocations, 5);
        assert_eq!(c.calls[&1], 2 + 3 * 2);
        assert_eq!(c.under[&(0, 1, 1)], 8);
        assert_eq!(big.sorted()[0].1, 3);
    }
}
