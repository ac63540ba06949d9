//! The CPU filter (`kpath-probe record --cpu LIST`): a bit set of CPUs that user space writes
//! into the `FILTER_CPUS` global and every entry and exit program tests. One layout for both
//! sides.

/// CPUs the filter can name: bits of [`CpuSet`]. CPUs at or above it are recorded only when
/// the filter is off.
pub const MAX_FILTER_CPUS: u32 = 256;

/// Words of the bit set.
pub const CPU_WORDS: usize = (MAX_FILTER_CPUS / 64) as usize;

/// Bit `c % 64` of word `c / 64` is CPU `c`. All ones: no filter.
pub type CpuSet = [u64; CPU_WORDS];

/// The set of every CPU: the filter is off.
pub const ANY_CPU: CpuSet = [u64::MAX; CPU_WORDS];

/// Whether `cpu` passes the filter `set`. Constant word indices: a variable index into the
/// global is a pointer walk that older verifiers refuse to bound.
#[inline(always)]
pub fn allows(set: &CpuSet, cpu: u32) -> bool {
    let word = match cpu >> 6 {
        0 => set[0],
        1 => set[1],
        2 => set[2],
        3 => set[3],
        _ => return *set == ANY_CPU,
    };
    (word >> (cpu & 63)) & 1 != 0
}

/// The set holding exactly `cpus`, or `None` if one is at or above [`MAX_FILTER_CPUS`].
pub fn set_of(cpus: &[u32]) -> Option<CpuSet> {
    let mut set = [0u64; CPU_WORDS];
    for &c in cpus {
        if c >= MAX_FILTER_CPUS {
            return None;
        }
        set[(c / 64) as usize] |= 1 << (c % 64);
    }
    Some(set)
}

const _: () = assert!(CPU_WORDS == 4, "`allows` lists the word indices 0..4");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_allows_its_cpus_only() {
        let set = set_of(&[0, 3, 64, 255]).expect("in range");
        for c in [0, 3, 64, 255] {
            assert!(allows(&set, c), "{c}");
        }
        for c in [1, 2, 63, 65, 254, 256, 1000] {
            assert!(!allows(&set, c), "{c}");
        }
        assert!(allows(&ANY_CPU, 1000));
        assert_eq!(set_of(&[256]), None);
    }
}
