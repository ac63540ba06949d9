//! Where a task's open calls live on the kernel side (`probe-ebpf/src/stacks.rs`): in slot
//! `tid & (slots - 1)` of a direct-mapped array when the task holds that slot, otherwise in a
//! shared hash map. The array look-up is an index the verifier inlines; the hash map's costs a
//! call, a hash and a key compare in every entry and exit (about 100 ns per `sendto` pair on
//! the bench host, `docs/performance-history.md`).

/// Slots of the task-stack array unless user space asks for another number: as many tasks
/// as this can make calls at once before any shares its slot's fallback.
pub const DEFAULT_TASK_SLOTS: u32 = 8192;

/// The most slots user space may ask for (each holds a whole call stack, about 1.6 KiB).
pub const MAX_TASK_SLOTS: u32 = 1 << 16;

/// Whether `slots` is a slot count the kernel side can mask with: a power of two from 1 to
/// [`MAX_TASK_SLOTS`].
pub const fn valid_slot_count(slots: u32) -> bool {
    slots.is_power_of_two() && slots <= MAX_TASK_SLOTS
}

/// The slot task `tid` may hold, given the mask `slots - 1`.
#[inline(always)]
pub const fn slot_of(tid: u32, mask: u32) -> u32 {
    tid & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_counts_are_powers_of_two_up_to_the_limit() {
        assert!(valid_slot_count(1));
        assert!(valid_slot_count(DEFAULT_TASK_SLOTS));
        assert!(valid_slot_count(MAX_TASK_SLOTS));
        assert!(!valid_slot_count(0));
        assert!(!valid_slot_count(3000));
        assert!(!valid_slot_count(MAX_TASK_SLOTS * 2));
    }

    #[test]
    fn tasks_whose_ids_differ_by_the_slot_count_share_a_slot() {
        let mask = DEFAULT_TASK_SLOTS - 1;
        assert_eq!(slot_of(7, mask), slot_of(7 + DEFAULT_TASK_SLOTS, mask));
        assert_ne!(slot_of(7, mask), slot_of(8, mask));
        assert_eq!(slot_of(12345, 0), 0);
    }
}
