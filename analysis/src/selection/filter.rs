//! A [`Selection`] resolved against one trace (`--comm` to pids, `--function` to function
//! ids, `--cpu` checked against the trace's CPUs), as the call-tree builder applies it when
//! an invocation begins; and the warning of a selection that kept nothing.

use std::collections::BTreeSet;
use std::fmt;

use kpath_trace::{Event, Metadata};

use super::{AppliedSelection, InvocationSet, Selection, SelectionCounts, SelectionError};
use crate::stage::Stage;

/// `ns` to four significant figures or so, for people (`4.070us`, `1.234s`).
fn rounded_duration(ns: u64) -> String {
    let v = ns as f64;
    match ns {
        1_000_000_000.. => format!("{:.3}s", v / 1e9),
        1_000_000.. => format!("{:.3}ms", v / 1e6),
        1_000.. => format!("{:.3}us", v / 1e3),
        _ => format!("{ns}ns"),
    }
}

/// What the invocations that began looked like, for the warning of a selection that kept
/// nothing.
#[derive(Clone, Debug, Default)]
struct Seen {
    last_pid: Option<u32>,
    pids: BTreeSet<u32>,
    last_cpu: Option<u32>,
    cpus: BTreeSet<u32>,
    stages: [bool; 3],
    first_ns: Option<u64>,
    last_ns: u64,
}

/// Distinct pids kept for the warning.
const SEEN_PIDS: usize = 4096;

/// Items of a list a warning shows.
const LIST: usize = 12;

impl Seen {
    #[inline]
    fn note(&mut self, e: &Event, stage: Stage, offset_ns: u64) {
        if self.last_pid != Some(e.pid) {
            self.last_pid = Some(e.pid);
            if self.pids.len() < SEEN_PIDS {
                self.pids.insert(e.pid);
            }
        }
        if self.last_cpu != Some(e.cpu) {
            self.last_cpu = Some(e.cpu);
            self.cpus.insert(e.cpu);
        }
        self.stages[stage.index()] = true;
        self.first_ns = Some(self.first_ns.map_or(offset_ns, |f| f.min(offset_ns)));
        self.last_ns = self.last_ns.max(offset_ns);
    }
}

/// `items` as `a, b, c, … (N in all)`.
fn list<T: fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    let n = items.len();
    let mut s: Vec<String> = items.take(LIST).map(|i| i.to_string()).collect();
    if n > LIST {
        s.push(format!("… ({n} in all)"));
    }
    s.join(", ")
}

/// A [`Selection`] resolved against one trace, as the call-tree builder applies it when an
/// invocation begins ([`InvocationFilter::keeps`]).
#[derive(Clone, Debug)]
pub struct InvocationFilter {
    selection: Selection,
    pids: Option<Vec<u32>>,
    comm_pids: Option<Vec<u32>>,
    /// By CPU: kept?
    cpus: Option<Vec<bool>>,
    from_ns: u64,
    to_ns: u64,
    origin_ns: Option<u64>,
    /// By function id: named by `--function`? Empty without `--function`.
    functions: Vec<bool>,
    /// The invocations that call one of `functions` (the first pass's answer).
    matched: Option<InvocationSet>,
    /// The trace's tasks, for the warning.
    tasks: Vec<(u32, String)>,
    seen: Seen,
}

impl InvocationFilter {
    /// `selection` resolved against the trace described by `meta`; `None` for an empty
    /// selection. A selection with `--function` keeps nothing until
    /// [`InvocationFilter::set_matched`] gives it the first pass's answer.
    pub fn new(selection: &Selection, meta: &Metadata) -> Result<Option<Self>, SelectionError> {
        if selection.is_empty() {
            return Ok(None);
        }
        selection.check()?;
        let sorted = |v: &[u32]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let cpus = if selection.cpus.is_empty() {
            None
        } else {
            let mut by_cpu = vec![false; meta.cpu_count as usize];
            for &c in &selection.cpus {
                match by_cpu.get_mut(c as usize) {
                    Some(k) => *k = true,
                    None => {
                        return Err(SelectionError::NoSuchCpu {
                            cpu: c,
                            last: meta.cpu_count.saturating_sub(1),
                        })
                    }
                }
            }
            Some(by_cpu)
        };
        let tasks: Vec<(u32, String)> = meta
            .tasks
            .iter()
            .flatten()
            .filter_map(|t| Some((t.pid, t.comm.clone()?)))
            .collect();
        let comm_pids = if selection.comms.is_empty() {
            None
        } else {
            if meta.tasks.is_none() {
                return Err(SelectionError::NoTasks);
            }
            let pids: Vec<u32> = tasks
                .iter()
                .filter(|(_, comm)| selection.comms.contains(comm))
                .map(|&(pid, _)| pid)
                .collect();
            Some(sorted(&pids))
        };
        let mut functions = Vec::new();
        if !selection.functions.is_empty() {
            functions = vec![false; meta.functions.len()];
            for name in &selection.functions {
                let mut found = false;
                for f in meta.functions.iter().filter(|f| &f.name == name) {
                    if let Some(k) = functions.get_mut(f.id as usize) {
                        *k = true;
                        found = true;
                    }
                }
                if !found {
                    return Err(SelectionError::NoSuchFunction {
                        name: name.clone(),
                        known: list(meta.functions.iter().map(|f| f.name.as_str())),
                    });
                }
            }
        }
        Ok(Some(Self {
            selection: selection.clone(),
            pids: (!selection.pids.is_empty()).then(|| sorted(&selection.pids)),
            comm_pids,
            cpus,
            from_ns: selection.from_ns.unwrap_or(0),
            to_ns: selection.to_ns.unwrap_or(u64::MAX),
            origin_ns: None,
            functions,
            matched: None,
            tasks,
            seen: Seen::default(),
        }))
    }

    /// Sets what the window counts from: `ts_ns` of the first record of the file. Without
    /// it, the first invocation to begin sets it.
    pub fn set_origin(&mut self, ts_ns: u64) {
        self.origin_ns.get_or_insert(ts_ns);
    }

    /// Whether `--function` needs the first pass's answer.
    pub fn needs_scan(&self) -> bool {
        !self.functions.is_empty()
    }

    /// By function id, whether `--function` names it (empty without `--function`): what the
    /// first pass looks for.
    pub fn functions(&self) -> &[bool] {
        &self.functions
    }

    /// The invocations that call a `--function` function, found by a first pass over the
    /// same records in the same order (invocations are numbered as they begin).
    pub fn set_matched(&mut self, matched: InvocationSet) {
        self.matched = Some(matched);
    }

    /// Whether the invocation numbered `invocation`, of `stage`, that begins with record
    /// `e`, is kept. Called once per invocation, when it begins.
    #[inline]
    pub fn keeps(&mut self, e: &Event, stage: Stage, invocation: u64) -> bool {
        let origin = *self.origin_ns.get_or_insert(e.ts_ns);
        let offset = e.ts_ns.saturating_sub(origin);
        self.seen.note(e, stage, offset);
        self.selection.stage.is_none_or(|s| s == stage)
            && self
                .pids
                .as_ref()
                .is_none_or(|p| p.binary_search(&e.pid).is_ok())
            && self
                .comm_pids
                .as_ref()
                .is_none_or(|p| p.binary_search(&e.pid).is_ok())
            && self
                .cpus
                .as_ref()
                .is_none_or(|c| c.get(e.cpu as usize).copied().unwrap_or(false))
            && offset >= self.from_ns
            && offset < self.to_ns
            && (self.functions.is_empty()
                || self
                    .matched
                    .as_ref()
                    .is_some_and(|m| m.contains(invocation)))
    }

    /// What was applied and kept, with a warning when nothing was.
    pub fn applied(&self, counts: SelectionCounts) -> AppliedSelection {
        AppliedSelection {
            selection: self.selection.clone(),
            comm_pids: self.comm_pids.clone().unwrap_or_default(),
            origin_ns: self.origin_ns,
            counts,
            warning: (counts.kept_invocations == 0).then(|| self.nothing_matched(counts)),
        }
    }

    fn nothing_matched(&self, counts: SelectionCounts) -> String {
        let s = &self.selection;
        let flags = s.flags();
        if counts.invocations == 0 {
            return format!("nothing matched {flags}: the trace has no complete invocation");
        }
        let seen = &self.seen;
        let mut why = Vec::new();
        if !s.pids.is_empty() || !s.comms.is_empty() {
            let named = |pid: &u32| match self.tasks.iter().find(|(p, _)| p == pid) {
                Some((_, comm)) => format!("{pid} ({comm})"),
                None => pid.to_string(),
            };
            let flag = if s.pids.is_empty() { "--comm" } else { "--pid" };
            why.push(format!(
                "wrong {flag}? the invocations' pids are {}",
                list(seen.pids.iter().map(named))
            ));
            if self.comm_pids.as_ref().is_some_and(|p| p.is_empty()) {
                let mut comms: Vec<&str> = self.tasks.iter().map(|(_, c)| c.as_str()).collect();
                comms.sort_unstable();
                comms.dedup();
                why.push(format!(
                    "no task of the trace is named {} (its tasks are {})",
                    s.comms.join(" or "),
                    list(comms.iter())
                ));
            }
        }
        if !s.cpus.is_empty() {
            why.push(format!(
                "wrong --cpu? invocations began on CPUs {}",
                list(seen.cpus.iter())
            ));
        }
        if s.from_ns.is_some() || s.to_ns.is_some() {
            why.push(format!(
                "wrong --from/--to? invocations began {} to {} after the first record",
                rounded_duration(seen.first_ns.unwrap_or(0)),
                rounded_duration(seen.last_ns)
            ));
        }
        if let Some(stage) = s.stage {
            let present: Vec<&str> = Stage::ALL
                .iter()
                .filter(|st| seen.stages[st.index()])
                .map(|st| st.name())
                .collect();
            why.push(format!(
                "no {stage} invocation; the trace's are {}",
                present.join(", ")
            ));
        }
        if !s.functions.is_empty() && self.matched.as_ref().is_none_or(|m| m.is_empty()) {
            why.push(format!("no invocation calls {}", s.functions.join(" or ")));
        }
        format!("nothing matched {flags}: {}", why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use kpath_trace::recording::Task;
    use kpath_trace::{ExecContext, Mechanism};

    use super::*;
    use crate::selection::MAX_CPU;

    fn meta() -> Metadata {
        let mut m = Metadata::new("test", "6.1", 4);
        for f in ["net_rx_action", "udp_sendmsg"] {
            m.add_function(f, None, None, Mechanism::Kprobe);
        }
        m
    }

    fn root(ts_ns: u64, cpu: u32, pid: u32) -> Event {
        Event {
            ts_ns,
            cpu,
            pid,
            tid: pid,
            context: ExecContext::Process as u8,
            ..Event::default()
        }
    }

    #[test]
    fn flags_intersect_and_values_of_one_flag_add_up() {
        let sel = Selection {
            pids: vec![7, 8],
            cpus: vec![1],
            from_ns: Some(100),
            to_ns: Some(200),
            ..Selection::default()
        };
        let mut f = InvocationFilter::new(&sel, &meta())
            .expect("valid")
            .expect("not empty");
        f.set_origin(1000);
        assert!(f.keeps(&root(1100, 1, 7), Stage::Tx, 0));
        assert!(f.keeps(&root(1199, 1, 8), Stage::Rx, 1));
        assert!(!f.keeps(&root(1200, 1, 8), Stage::Rx, 2), "to is excluded");
        assert!(!f.keeps(&root(1099, 1, 8), Stage::Rx, 3), "before from");
        assert!(!f.keeps(&root(1150, 2, 8), Stage::Rx, 4), "other CPU");
        assert!(!f.keeps(&root(1150, 1, 9), Stage::Rx, 5), "other pid");
        assert_eq!(
            sel.flags(),
            "--pid 7 --pid 8 --cpu 1 --from 100ns --to 200ns"
        );
    }

    #[test]
    fn bad_selections_name_their_flag() {
        let m = meta();
        let err = |s: Selection| {
            InvocationFilter::new(&s, &m)
                .expect_err("refused")
                .to_string()
        };
        let e = err(Selection {
            from_ns: Some(2_000_000_000),
            to_ns: Some(1_000_000_000),
            ..Selection::default()
        });
        assert_eq!(
            e,
            "--to 1s is not after --from 2s: the window [from, to) would be empty"
        );
        let e = err(Selection {
            cpus: vec![4],
            ..Selection::default()
        });
        assert_eq!(e, "--cpu 4: the trace's CPUs are 0 to 3");
        let e = err(Selection {
            cpus: vec![MAX_CPU + 1],
            ..Selection::default()
        });
        assert_eq!(e, "--cpu 8192 is out of range (allowed: 0 to 8191)");
        let e = err(Selection {
            comms: vec!["echo".into()],
            ..Selection::default()
        });
        assert!(
            e.starts_with("--comm needs the trace's table of tasks"),
            "{e}"
        );
        let e = err(Selection {
            functions: vec!["udp_rcv".into()],
            ..Selection::default()
        });
        assert_eq!(
            e,
            "--function udp_rcv: the trace probed no function of that name (it probed \
             net_rx_action, udp_sendmsg)"
        );
        assert!(e.lines().count() == 1);
    }

    #[test]
    fn comm_resolves_through_the_tasks_table_and_says_what_it_has() {
        let mut m = meta();
        m.tasks = Some(vec![
            Task::named(0, b"swapper"),
            Task::named(77, b"echo"),
            Task::named(78, b"echo"),
            Task { pid: 9, comm: None },
        ]);
        let sel = Selection {
            comms: vec!["echo".into()],
            ..Selection::default()
        };
        let mut f = InvocationFilter::new(&sel, &m).expect("ok").expect("some");
        assert!(f.keeps(&root(0, 0, 78), Stage::Tx, 0));
        assert!(!f.keeps(&root(0, 0, 0), Stage::Rx, 1));
        let a = f.applied(SelectionCounts {
            invocations: 2,
            kept_invocations: 1,
            calls: 5,
            kept_calls: 2,
        });
        assert_eq!(a.comm_pids, [77, 78]);
        assert_eq!(a.warning, None);
        assert_eq!(
            a.to_string(),
            "selection --comm echo: kept 1 of 2 invocations (2 of 5 calls)"
        );

        let sel = Selection {
            comms: vec!["nginx".into()],
            ..Selection::default()
        };
        let mut f = InvocationFilter::new(&sel, &m).expect("ok").expect("some");
        assert!(!f.keeps(&root(0, 0, 77), Stage::Tx, 0));
        let a = f.applied(SelectionCounts {
            invocations: 1,
            ..SelectionCounts::default()
        });
        assert_eq!(
            a.warning.as_deref(),
            Some(
                "nothing matched --comm nginx: wrong --comm? the invocations' pids are 77 \
                 (echo); no task of the trace is named nginx (its tasks are echo, swapper)"
            )
        );
    }

    #[test]
    fn functions_keep_only_what_the_first_pass_matched() {
        let sel = Selection {
            functions: vec!["udp_sendmsg".into()],
            ..Selection::default()
        };
        let mut f = InvocationFilter::new(&sel, &meta())
            .expect("ok")
            .expect("some");
        assert_eq!(f.functions(), [false, true]);
        assert!(!f.keeps(&root(0, 0, 1), Stage::Tx, 3), "no answer yet");
        let mut m = InvocationSet::default();
        m.insert(3);
        m.insert(130);
        f.set_matched(m);
        assert!(f.keeps(&root(0, 0, 1), Stage::Tx, 3));
        assert!(f.keeps(&root(0, 0, 1), Stage::Tx, 130));
        assert!(!f.keeps(&root(0, 0, 1), Stage::Tx, 4));
        assert!(!f.keeps(&root(0, 0, 1), Stage::Tx, 100_000));
    }
}
