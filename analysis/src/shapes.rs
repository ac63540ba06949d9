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
///
/// Invocations of a stage mostly repeat the shape of the one before, so the table keeps a copy
/// of the last shape it counted: an invocation with the same shape costs one comparison
/// instead of hashing its whole shape.
#[derive(Clone, Debug)]
pub struct ShapeTable {
    /// Shape → slot in `counts`.
    shapes: HashMap<Vec<ShapeToken>, usize>,
    counts: Vec<u64>,
    /// The last shape counted in the table and its slot (`None` before the first, or when
    /// the last one did not fit).
    last: Vec<ShapeToken>,
    last_slot: Option<usize>,
    capacity: usize,
    overflow: TreeCounts,
    overflow_shapes: u64,
}

impl ShapeTable {
    /// A table keeping at most `capacity` distinct shapes.
    pub fn new(capacity: usize) -> Self {
        Self {
            shapes: HashMap::new(),
            counts: Vec::new(),
            last: Vec::new(),
            last_slot: None,
            capacity,
            overflow: TreeCounts::default(),
            overflow_shapes: 0,
        }
    }

    /// Counts one complete invocation.
    #[inline]
    pub fn add(&mut self, shape: &Shape) {
        if let Some(slot) = self.last_slot {
            if self.last[..] == *shape {
                self.counts[slot] += 1;
                return;
            }
        }
        self.add_new(shape);
    }

    /// [`ShapeTable::add`] of a shape that is not the last one.
    fn add_new(&mut self, shape: &Shape) {
        let slot = if let Some(&slot) = self.shapes.get(shape) {
            self.counts[slot] += 1;
            slot
        } else if self.shapes.len() < self.capacity {
            let slot = self.counts.len();
            self.shapes.insert(shape.to_vec(), slot);
            self.counts.push(1);
            slot
        } else {
            self.overflow_shapes += 1;
            self.overflow.add_shape(shape, 1);
            self.last_slot = None;
            return;
        };
        self.last.clear();
        self.last.extend_from_slice(shape);
        self.last_slot = Some(slot);
    }

    /// Distinct shapes kept, most frequent first (ties by shape, for stable output).
    pub fn sorted(&self) -> Vec<(&[ShapeToken], u64)> {
        let mut v: Vec<(&[ShapeToken], u64)> = self
            .shapes
            .iter()
            .map(|(k, &slot)| (k.as_slice(), self.counts[slot]))
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
        for (shape, &slot) in &self.shapes {
            t.add_shape(shape, self.counts[slot]);
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
