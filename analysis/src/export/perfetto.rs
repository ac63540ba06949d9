//! `kpath export --format perfetto`: Chrome trace-event JSON, the JSON object format
//! (`{"traceEvents": [...], "displayTimeUnit": "ns"}`), which Perfetto UI and
//! `chrome://tracing` open as a timeline.
//!
//! Each call is one complete event (`"ph":"X"`) with `ts` and `dur` in µs written with three
//! decimals (ns exact), `name` the function and `cat` the stage. Tracks follow the call
//! trees' context streams ([`crate::calltree`]), so calls nest within their callers on their
//! track: in process context one thread per task (`pid` the thread group, `tid` the task),
//! in softirq and hardirq context one thread per CPU and context in a pseudo-process
//! `interrupts` whose ids ([`IRQ_PID`] and up) no kernel pid reaches. Metadata events
//! (`"ph":"M"`, `process_name` and `thread_name`) name each track before its first call.
//! Events are written as calls return (callees before callers); the viewers sort them.

use std::collections::HashSet;
use std::io::{self, Write};

use kpath_trace::{flags, Event, ExecContext};

use super::Row;

/// Pseudo-process of the interrupt tracks. Kernel pids stop at 2²² (`PID_MAX_LIMIT`); this
/// is 2³⁰, and the tracks' thread ids follow it.
pub const IRQ_PID: u64 = 1 << 30;

/// Writes the events of a trace-event JSON file as calls come.
pub(super) struct Perfetto<W: Write> {
    out: W,
    events: u64,
    processes: HashSet<u64>,
    threads: HashSet<(u64, u64)>,
}

/// The track `(pid, tid)` of a call in `context` on `cpu` by task `tid` of process `pid`.
fn track(context: u8, cpu: u32, pid: u32, tid: u32) -> (u64, u64) {
    if context == ExecContext::Process as u8 {
        (u64::from(pid), u64::from(tid))
    } else {
        // The call trees key interrupt streams by CPU and the context's low two bits.
        (
            IRQ_PID,
            IRQ_PID + 1 + u64::from(cpu) * 4 + u64::from(context & 3),
        )
    }
}

/// Writes `ns` as µs with three decimals: a JSON number, exact to the ns.
fn write_us(out: &mut impl Write, ns: u64) -> io::Result<()> {
    write!(out, "{}.{:03}", ns / 1000, ns % 1000)
}

impl<W: Write> Perfetto<W> {
    /// Starts the JSON object.
    pub(super) fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\"traceEvents\":[")?;
        Ok(Self {
            out,
            events: 0,
            processes: HashSet::new(),
            threads: HashSet::new(),
        })
    }

    /// Starts an event: the separator, then `{"ph":"<ph>","name":<name>,"pid":P,"tid":T,`.
    fn begin(&mut self, ph: &str, name: &str, (pid, tid): (u64, u64)) -> io::Result<()> {
        let sep = if self.events == 0 { "\n" } else { ",\n" };
        self.events += 1;
        write!(self.out, "{sep}{{\"ph\":\"{ph}\",\"name\":")?;
        serde_json::to_writer(&mut self.out, name).map_err(crate::util::json_io)?;
        write!(self.out, ",\"pid\":{pid},\"tid\":{tid},")
    }

    /// A metadata event `name` (`process_name`, `thread_name`) with `args: {"name": value}`.
    fn metadata(&mut self, name: &str, track: (u64, u64), value: &str) -> io::Result<()> {
        self.begin("M", name, track)?;
        self.out.write_all(b"\"ts\":0,\"args\":{\"name\":")?;
        serde_json::to_writer(&mut self.out, value).map_err(crate::util::json_io)?;
        self.out.write_all(b"}}")
    }

    /// Names the track of `e` if it is new.
    fn name_track(&mut self, e: &Event, track: (u64, u64)) -> io::Result<()> {
        if self.threads.contains(&track) {
            return Ok(());
        }
        self.threads.insert(track);
        let process = e.context == ExecContext::Process as u8;
        if self.processes.insert(track.0) {
            let name = if process {
                format!("pid {}", e.pid)
            } else {
                "interrupts".to_string()
            };
            self.metadata("process_name", (track.0, track.0), &name)?;
        }
        let name = match ExecContext::try_from(e.context) {
            Ok(ExecContext::Process) => format!("tid {}", e.tid),
            Ok(c) => format!("CPU {} {}", e.cpu, c.name()),
            Err(c) => format!("CPU {} context {c}", e.cpu),
        };
        self.metadata("thread_name", track, &name)
    }

    /// One complete event for the call of `row`, whose exit record is `e`.
    pub(super) fn call(&mut self, row: &Row<'_>, e: &Event) -> io::Result<()> {
        let track = track(e.context, e.cpu, e.pid, e.tid);
        self.name_track(e, track)?;
        self.begin("X", row.function, track)?;
        // The timeline's bounds are the records' times, so callees fit in their callers.
        self.out.write_all(b"\"cat\":")?;
        serde_json::to_writer(&mut self.out, row.stage).map_err(crate::util::json_io)?;
        self.out.write_all(b",\"ts\":")?;
        write_us(&mut self.out, row.entry_ts_ns)?;
        self.out.write_all(b",\"dur\":")?;
        write_us(
            &mut self.out,
            row.exit_ts_ns.saturating_sub(row.entry_ts_ns),
        )?;
        write!(
            self.out,
            ",\"args\":{{\"depth\":{},\"height\":{},\"dur_ns\":{},\"self_ns\":{},",
            row.depth, row.height, row.dur_ns, row.self_ns
        )?;
        if e.flags & flags::OFF_CPU_SATURATED == 0 {
            let on_cpu = row.dur_ns.saturating_sub(u64::from(row.off_cpu_ns));
            write!(self.out, "\"on_cpu_ns\":{on_cpu},")?;
        }
        write!(
            self.out,
            "\"off_cpu_ns\":{},\"irq_ns\":{},\"hardirqs\":{},\"softirqs\":{},\"switches\":{},\
             \"interrupted\":{},\"flags\":{},\"cpu\":{},\"invocation\":{},\"call\":{}",
            row.off_cpu_ns,
            row.irq_ns,
            row.hardirqs,
            row.softirqs,
            row.switches,
            row.interrupted,
            row.flags,
            row.cpu,
            row.invocation,
            row.call
        )?;
        if let Some(p) = row.parent {
            write!(self.out, ",\"parent\":{p}")?;
        }
        self.out.write_all(b"}}")
    }

    /// Closes the JSON object and flushes.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.out.write_all(b"\n],\"displayTimeUnit\":\"ns\"}\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_keep_every_nanosecond() {
        let mut s = Vec::new();
        for ns in [0, 7, 1000, 1_234_567, u64::MAX] {
            write_us(&mut s, ns).expect("write");
            s.push(b' ');
        }
        assert_eq!(
            String::from_utf8(s).expect("utf8"),
            "0.000 0.007 1.000 1234.567 18446744073709551.615 "
        );
    }

    #[test]
    fn interrupt_tracks_are_apart_from_tasks_and_each_other() {
        let soft = ExecContext::SoftIrq as u8;
        let hard = ExecContext::HardIrq as u8;
        let proc = ExecContext::Process as u8;
        assert_eq!(track(proc, 3, 77, 78), (77, 78));
        let mut seen = HashSet::new();
        for cpu in 0..64 {
            for c in [soft, hard] {
                let (pid, tid) = track(c, cpu, 5, 6);
                assert_eq!(pid, IRQ_PID);
                assert!(tid > IRQ_PID && seen.insert(tid));
            }
        }
    }
}
