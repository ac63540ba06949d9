//! Hand-built traces.

use std::path::{Path, PathBuf};

use kpath_trace::{flags, Event, EventKind, ExecContext, Mechanism, Metadata, TraceWriter};

/// Builds a trace record by record.
pub struct TraceBuilder {
    pub meta: Metadata,
    pub events: Vec<Event>,
}

/// Where a call runs.
#[derive(Clone, Copy)]
pub enum Ctx {
    /// Softirq on a CPU.
    Soft(u32),
    /// Process context: (cpu, tid), the task leading its thread group (pid = tid).
    Proc(u32, u32),
    /// Softirq on a CPU, interrupting a task of thread group `pid`: (cpu, pid).
    SoftOver(u32, u32),
    /// Process context of a thread of another group: (cpu, pid, tid).
    Thread(u32, u32, u32),
}

impl TraceBuilder {
    pub fn new(functions: &[&str]) -> Self {
        let mut meta = Metadata::new("test", "6.1.0-test", 4);
        for f in functions {
            let mech = if f.starts_with("tp:") {
                Mechanism::Tracepoint
            } else {
                Mechanism::Kprobe
            };
            meta.add_function(*f, None, None, mech);
        }
        Self {
            meta,
            events: Vec::new(),
        }
    }

    fn id(&self, name: &str) -> u32 {
        self.meta
            .function_by_name(name)
            .unwrap_or_else(|| panic!("no function {name}"))
            .id
    }

    fn base(&self, ctx: Ctx, name: &str, depth: u16, ts: u64) -> Event {
        let (context, cpu, pid, tid) = match ctx {
            Ctx::Soft(cpu) => (ExecContext::SoftIrq, cpu, 0, 0),
            Ctx::Proc(cpu, tid) => (ExecContext::Process, cpu, tid, tid),
            Ctx::SoftOver(cpu, pid) => (ExecContext::SoftIrq, cpu, pid, pid),
            Ctx::Thread(cpu, pid, tid) => (ExecContext::Process, cpu, pid, tid),
        };
        Event {
            ts_ns: ts,
            func_id: self.id(name),
            cpu,
            pid,
            tid,
            depth,
            context: context as u8,
            ..Event::default()
        }
    }

    pub fn enter(&mut self, ctx: Ctx, name: &str, depth: u16, ts: u64) -> &mut Self {
        let e = Event {
            kind: EventKind::Enter as u8,
            ..self.base(ctx, name, depth, ts)
        };
        self.events.push(e);
        self
    }

    /// An exit with duration `dur`; `irq` > 0 marks one hard IRQ of that many ns inside.
    pub fn exit(
        &mut self,
        ctx: Ctx,
        name: &str,
        depth: u16,
        ts: u64,
        dur: u64,
        irq: u64,
    ) -> &mut Self {
        let e = Event {
            kind: EventKind::Exit as u8,
            dur_ns: dur,
            irq_ns: irq,
            hardirqs: u32::from(irq > 0),
            ..self.base(ctx, name, depth, ts)
        };
        self.events.push(e);
        self
    }

    /// An exit of a call whose task was switched out once, for `off_cpu` ns, inside it.
    pub fn exit_switched(
        &mut self,
        ctx: Ctx,
        name: &str,
        depth: u16,
        ts: u64,
        dur: u64,
        off_cpu: u32,
    ) -> &mut Self {
        self.exit(ctx, name, depth, ts, dur, 0);
        if let Some(e) = self.events.last_mut() {
            e.switches = 1;
            e.off_cpu_ns = off_cpu;
        }
        self
    }

    /// An exit flagged as migrated.
    pub fn exit_migrated(
        &mut self,
        ctx: Ctx,
        name: &str,
        depth: u16,
        ts: u64,
        dur: u64,
    ) -> &mut Self {
        self.exit(ctx, name, depth, ts, dur, 0);
        if let Some(e) = self.events.last_mut() {
            e.flags |= flags::MIGRATED;
        }
        self
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let mut w = TraceWriter::create(path, self.meta.clone()).expect("create trace");
        for e in &self.events {
            w.write_event(e).expect("write event");
        }
        w.finish(|_| {}).expect("finish trace");
        path.to_path_buf()
    }
}
