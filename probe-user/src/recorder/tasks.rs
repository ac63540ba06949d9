//! The thread groups a recording's records name, with their command names: the trace's
//! `tasks` table (`kpath_trace::Metadata::tasks`), which `kpath --comm NAME` selects by.
//!
//! The drain calls [`Tasks::saw`] for every record, so it is lean: a record of the same
//! thread group as the one before costs one comparison (runs of one task's or one CPU's
//! records are the rule); another one a multiply and a look-up in a 64-slot direct-mapped
//! cache; only a pid missing there (a new one, or one evicted by a collision) reaches the
//! hash set. A pid seen for the first time is queued, and its name is read after the batch
//! is written ([`Tasks::name_new`]): `/proc/PID/comm` then, not at the end of the recording,
//! because a short-lived client may have exited by then. A pid reused by another process
//! during the recording keeps the first name.

use std::collections::HashSet;

use kpath_trace::recording::{Task, MAX_TASKS};

/// Slots of the direct-mapped cache in front of the set (a power of two).
const CACHE_SLOTS: usize = 64;

/// The distinct thread groups seen so far.
pub(super) struct Tasks {
    /// The pid of the previous record.
    last: u32,
    /// `pid + 1` by a multiplicative hash of the pid (0: empty).
    cache: [u32; CACHE_SLOTS],
    seen: HashSet<u32>,
    /// Seen since the last [`Tasks::name_new`], in order.
    new: Vec<u32>,
    table: Vec<Task>,
    left_out: u64,
}

impl Tasks {
    pub(super) fn new() -> Self {
        Self {
            last: u32::MAX,
            cache: [0; CACHE_SLOTS],
            seen: HashSet::new(),
            new: Vec::new(),
            table: Vec::new(),
            left_out: 0,
        }
    }

    /// Notes the thread group of one record.
    #[inline(always)]
    pub(super) fn saw(&mut self, pid: u32) {
        if pid == self.last {
            return;
        }
        self.last = pid;
        // Fibonacci hashing: the top 6 bits of pid·2³²/φ.
        let slot = (pid.wrapping_mul(0x9e37_79b9) >> (32 - CACHE_SLOTS.trailing_zeros())) as usize;
        let tag = pid.wrapping_add(1);
        if self.cache[slot] == tag {
            return;
        }
        self.cache[slot] = tag;
        self.insert(pid);
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, pid: u32) {
        if self.seen.insert(pid) {
            self.new.push(pid);
        }
    }

    /// Names the thread groups seen since the last call, with `comm` (the bytes of
    /// `/proc/PID/comm`, `None` if it cannot be read), up to [`MAX_TASKS`] entries.
    pub(super) fn name_new(&mut self, comm: impl Fn(u32) -> Option<Vec<u8>>) {
        for pid in self.new.drain(..) {
            if self.table.len() >= MAX_TASKS {
                self.left_out += 1;
                continue;
            }
            self.table.push(match comm(pid) {
                Some(bytes) => Task::named(pid, &bytes),
                None => Task { pid, comm: None },
            });
        }
    }

    /// The table, and how many thread groups did not fit it (after naming the last ones).
    pub(super) fn finish(
        mut self,
        comm: impl Fn(u32) -> Option<Vec<u8>>,
    ) -> (Vec<Task>, Option<u64>) {
        self.name_new(comm);
        (self.table, (self.left_out > 0).then_some(self.left_out))
    }
}

/// The command name of thread group `pid` as `/proc` gives it; `swapper` for pid 0, the idle
/// tasks (`swapper/N` in the kernel), whose softirq work records carry.
pub(super) fn proc_comm(pid: u32) -> Option<Vec<u8>> {
    if pid == 0 {
        return Some(b"swapper".to_vec());
    }
    std::fs::read(format!("/proc/{pid}/comm")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pid: u32) -> Option<Vec<u8>> {
        (pid % 2 == 1).then(|| format!("task-{pid}\n").into_bytes())
    }

    /// Interleaved, repeated and colliding pids give each thread group once, in the order
    /// first seen, named when the drain asks.
    #[test]
    fn each_thread_group_is_kept_once_in_first_seen_order() {
        let mut t = Tasks::new();
        // 0 and 64·k + … : 200 distinct pids, many of them sharing cache slots, each seen
        // in runs, interleaved with pid 0 (softirqs on idle CPUs) and revisited.
        let pids: Vec<u32> = (1..=200).map(|i| i * 64 + 1).collect();
        for round in 0..3 {
            for &p in &pids {
                t.saw(p);
                t.saw(p);
                t.saw(0);
                if round == 0 && p == pids[10] {
                    t.name_new(names);
                }
            }
        }
        t.saw(pids[5]);
        let (table, left_out) = t.finish(names);
        assert_eq!(left_out, None);
        let want: Vec<u32> = std::iter::once(pids[0])
            .chain(std::iter::once(0))
            .chain(pids[1..].iter().copied())
            .collect();
        assert_eq!(table.iter().map(|t| t.pid).collect::<Vec<_>>(), want);
        // Odd pids have names (the trailing newline dropped); even ones could not be read.
        let first = &table[0];
        assert_eq!(first.comm.as_deref(), Some("task-65"));
        assert_eq!(table[1].comm, None);
    }

    #[test]
    fn the_table_stops_at_its_limit_and_counts_the_rest() {
        let mut t = Tasks::new();
        for p in 1..=(MAX_TASKS as u32 + 7) {
            t.saw(p);
        }
        let (table, left_out) = t.finish(names);
        assert_eq!(table.len(), MAX_TASKS);
        assert_eq!(left_out, Some(7));
    }

    #[test]
    fn pid_0_is_the_idle_tasks_and_this_process_has_its_name() {
        assert_eq!(proc_comm(0).as_deref(), Some(&b"swapper"[..]));
        let mine = std::fs::read("/proc/self/comm").expect("own comm");
        assert_eq!(proc_comm(std::process::id()), Some(mine));
    }
}
