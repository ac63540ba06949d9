//! Loading the eBPF object and reading its maps; attaching programs is in one file per
//! mechanism (`kprobe.rs`, `fentry.rs`, `tracepoint.rs`, `irq.rs`), as aya keeps one file per
//! program type.
//!
//! kprobe, kretprobe and tracepoint programs attach to any number of targets. An fentry/fexit
//! program is verified against one target function, so each further fentry target loads the
//! object again; all loads share the maps through pins in bpffs, so every program writes the
//! same ring buffer and reads the same function table.

use std::path::PathBuf;

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray},
    programs::Program,
    Btf, Ebpf, EbpfLoader,
};
use probe_common::{
    counters::{HIT_SLOTS, STAT_SLOTS},
    ring::{EVENT_RINGS, EVENT_RING_NAMES},
    stage::{TP_STAGE_COUNT, TP_STAGE_OFF},
};

mod fentry;
pub use fentry::LoadedFentry;
mod irq;
mod kprobe;
mod tracepoint;

use crate::ring::{EventRing, EventRings};
use crate::{kernel, object::ebpf_object, ProbeError};

/// Program names in `probe-ebpf`, shared with the build's check of the object.
pub use probe_common::program;

/// What the programs should record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every exit to the ring buffer; the exit carries its entry's time and depth
    /// (`probe_common::mode::TRACE`).
    #[default]
    Trace,
    /// Every entry and every exit to the ring buffer (`probe_common::mode::TRACE_ENTRIES`).
    TraceWithEntries,
    /// Only per-function call counts (discovery).
    Count,
    /// Calls timed and aggregated in the kernel; no records.
    Stats,
}

/// Load-time settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// What to record.
    pub mode: Mode,
    /// Record process-context calls of this thread group only.
    pub filter_pid: Option<u32>,
    /// Record calls on these CPUs only (each below `probe_common::cpus::MAX_FILTER_CPUS`).
    pub filter_cpus: Option<Vec<u32>>,
    /// Record process-context calls of tasks with this comm only (at most 15 bytes).
    pub filter_comm: Option<String>,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_buffer_bytes: Option<u32>,
    /// Kernel-side log messages (aya-log) at this level and more severe; `None`: off.
    pub kernel_log: Option<aya_log::Level>,
    /// Unread ring bytes at which a record forces a reader wake-up; `None`: a quarter of the
    /// ring (`probe_common::ring`); `Some(0)`: the kernel's adaptive notification, which
    /// wakes the reader whenever it had caught up (kpath 0.1; for measurements only).
    pub wakeup_fill_bytes: Option<u64>,
    /// Slots of the direct-mapped task-stack array (`probe_common::task_slots`), a power of
    /// two; `None`: the default. Tests shrink it to make tasks share slots.
    pub task_slots: Option<u32>,
}

impl Settings {
    /// Unread ring bytes at which a record forces a wake-up (0: adaptive, see the field).
    pub fn wakeup_fill_bytes(&self) -> u64 {
        self.wakeup_fill_bytes
            .unwrap_or_else(|| probe_common::ring::wakeup_fill_bytes(self.ring_bytes()))
    }

    /// Slots of the task-stack array.
    pub fn task_slots(&self) -> u32 {
        self.task_slots
            .unwrap_or(probe_common::task_slots::DEFAULT_TASK_SLOTS)
    }

    /// The event ring buffer's size in bytes.
    pub fn ring_bytes(&self) -> u32 {
        self.ring_buffer_bytes
            .unwrap_or(probe_common::ring::DEFAULT_RING_BYTES)
    }
}

/// The sizes of the event ring maps (`probe_common::ring::EVENT_RINGS` of them): the rings
/// that a CPU of this machine writes to get the requested size, the others one page, the
/// least a ring can have, since nothing writes to them.
struct EventRingSizes {
    /// Rings `0..used` are written to.
    used: usize,
    ring_bytes: u32,
    page: u32,
}

impl EventRingSizes {
    fn for_this_machine(ring_bytes: u32) -> Result<Self, ProbeError> {
        let cpus = kernel::possible_cpus()?;
        // SAFETY: `sysconf` has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Ok(Self {
            // CPU `c` writes to ring `c % EVENT_RINGS` (`ring_of_cpu`): rings below the count.
            used: (cpus as usize).clamp(1, EVENT_RINGS as usize),
            ring_bytes,
            page,
        })
    }

    /// Each ring map's name and size.
    fn maps(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        EVENT_RING_NAMES.iter().enumerate().map(|(i, &name)| {
            (
                name,
                if i < self.used {
                    self.ring_bytes
                } else {
                    self.page
                },
            )
        })
    }
}

/// The values of `probe-ebpf/src/settings.rs`, as the loader writes them.
struct Globals {
    mode: u32,
    pid: u32,
    cpus: probe_common::cpus::CpuSet,
    /// The comm bytes as two little-endian words, as the kernel side compares them.
    comm: [u64; 2],
    /// aya-log's `AYA_LOG_LEVEL`: 0 turns every kernel-side log statement off.
    log_level: u8,
    /// Unread ring bytes at which a record forces a reader wake-up (`probe_common::ring`).
    wakeup_fill: u64,
    /// Task-stack slots minus one (`probe_common::task_slots`); the slots are this plus one.
    task_slot_mask: u32,
}

impl From<&Settings> for Globals {
    fn from(s: &Settings) -> Self {
        let mut comm = [0u8; 16];
        if let Some(c) = &s.filter_comm {
            // The kernel's comm is 15 bytes and a NUL.
            let n = c.len().min(15);
            comm[..n].copy_from_slice(&c.as_bytes()[..n]);
        }
        Self {
            mode: match s.mode {
                Mode::Trace => probe_common::mode::TRACE,
                Mode::TraceWithEntries => probe_common::mode::TRACE_ENTRIES,
                Mode::Count => probe_common::mode::COUNT,
                Mode::Stats => probe_common::mode::STATS,
            },
            log_level: s.kernel_log.map(|l| l as u8).unwrap_or(0),
            wakeup_fill: s.wakeup_fill_bytes(),
            task_slot_mask: s.task_slots() - 1,
            pid: s.filter_pid.unwrap_or(0),
            // CPUs out of range were refused when the flag was parsed (`cli::record`).
            cpus: s
                .filter_cpus
                .as_deref()
                .and_then(probe_common::cpus::set_of)
                .unwrap_or(probe_common::cpus::ANY_CPU),
            comm: [
                u64::from_le_bytes(comm[..8].try_into().unwrap_or_default()),
                u64::from_le_bytes(comm[8..].try_into().unwrap_or_default()),
            ],
        }
    }
}

/// The loaded object and everything attached to it. Dropping it detaches all programs.
pub struct Probes {
    settings: Settings,
    primary: Ebpf,
    /// The event rings' sizes, as every load of the object sets them.
    event_rings: EventRingSizes,
    /// Extra loads for fentry/fexit targets beyond the first, with their pins.
    per_target: Vec<Ebpf>,
    pin_dir: Option<PathBuf>,
    /// The maps pinned under `pin_dir`, which re-loads share.
    shared_maps: Vec<String>,
    btf: Option<Btf>,
    fentry_used: bool,
    fexit_used: bool,
    kprobes_loaded: bool,
    kretprobes_loaded: bool,
}

/// `bpf_prog_info.recursion_misses` of one program (`BPF_OBJ_GET_INFO_BY_FD`): aya 0.14's
/// `ProgramInfo` does not expose it.
fn recursion_misses_of(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    use std::os::fd::AsRawFd;
    /// The `info` member of `union bpf_attr`.
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // SAFETY: a plain C struct of integers; all zeroes is a valid value.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    let attr = InfoAttr {
        bpf_fd: u32::try_from(fd.as_raw_fd()).ok()?,
        info_len: u32::try_from(std::mem::size_of_val(&info)).ok()?,
        info: std::ptr::addr_of_mut!(info) as u64,
    };
    // SAFETY: `attr` points at `info_len` writable bytes of `info`, which outlives the call;
    // the kernel reads `size_of::<InfoAttr>()` bytes of `attr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            aya_obj::generated::bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            std::ptr::addr_of!(attr),
            std::mem::size_of::<InfoAttr>(),
        )
    };
    (rc == 0).then_some(info.recursion_misses)
}

fn hint_for_load() -> &'static str {
    if kernel::is_root() {
        ""
    } else {
        " (loading BPF programs needs root: run with sudo)"
    }
}

impl Probes {
    /// Loads the embedded object with `settings` (maps created, no program loaded yet).
    pub fn load(settings: Settings) -> Result<Self, ProbeError> {
        let slots = settings.task_slots();
        if !probe_common::task_slots::valid_slot_count(slots) {
            return Err(ProbeError::TaskSlots {
                slots,
                max: probe_common::task_slots::MAX_TASK_SLOTS,
            });
        }
        let globals = Globals::from(&settings);
        let event_rings = EventRingSizes::for_this_machine(settings.ring_bytes())?;
        let primary = Self::loader_for(&globals, &event_rings, None)
            .load(ebpf_object()?)
            .map_err(|source| ProbeError::Load {
                source: Box::new(source),
                hint: hint_for_load(),
            })?;
        let mut probes = Self {
            settings,
            primary,
            event_rings,
            per_target: Vec::new(),
            pin_dir: None,
            shared_maps: Vec::new(),
            btf: None,
            fentry_used: false,
            fexit_used: false,
            kprobes_loaded: false,
            kretprobes_loaded: false,
        };
        let mut ids: Array<_, u32> = probes.map_array("TP_FUNC_IDS")?;
        for i in 0..TP_STAGE_COUNT {
            ids.set(i, TP_STAGE_OFF, 0)
                .map_err(|source| ProbeError::Map {
                    what: "clear the tracepoint stage table".into(),
                    source: Box::new(source),
                })?;
        }
        Ok(probes)
    }

    fn loader_for<'a>(
        globals: &'a Globals,
        event_rings: &EventRingSizes,
        pins: Option<(&'a std::path::Path, &'a [String])>,
    ) -> EbpfLoader<'a> {
        let mut loader = EbpfLoader::new();
        // KPATH_VERIFIER_LOG=verbose asks the kernel for the whole verifier log, for a
        // refusal whose last line does not say why (seen on 6.1).
        if std::env::var_os("KPATH_VERIFIER_LOG").is_some_and(|v| v == "verbose") {
            loader
                .verifier_log_level(aya::VerifierLogLevel::VERBOSE | aya::VerifierLogLevel::STATS);
        }
        loader
            .override_global("MODE", &globals.mode, true)
            .override_global("FILTER_PID", &globals.pid, true)
            .override_global("FILTER_CPUS", &globals.cpus, true)
            .override_global("FILTER_COMM", &globals.comm, true)
            .override_global("WAKEUP_FILL_BYTES", &globals.wakeup_fill, true)
            .override_global("TASK_SLOT_MASK", &globals.task_slot_mask, true)
            .override_global(aya_log::LEVEL, &globals.log_level, false);
        for (name, bytes) in event_rings.maps() {
            loader.map_max_entries(name, bytes);
        }
        loader.map_max_entries("TASK_STACKS", globals.task_slot_mask + 1);
        if let Some((dir, names)) = pins {
            for name in names {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        loader
    }

    fn map_array<V: aya::Pod>(
        &mut self,
        name: &'static str,
    ) -> Result<Array<&mut MapData, V>, ProbeError> {
        let map = self.primary.map_mut(name).ok_or(ProbeError::NoMap(name))?;
        Array::try_from(map).map_err(|source| ProbeError::Map {
            what: format!("open map {name}"),
            source: Box::new(source),
        })
    }

    /// Tells the programs which function id an address belongs to. Both the symbol address
    /// and the address past a 4-byte ENDBR64 are entered, since `bpf_get_func_ip` reports
    /// either depending on the kernel's IBT setting.
    pub fn register_function(&mut self, id: u32, address: u64) -> Result<(), ProbeError> {
        let map = self
            .primary
            .map_mut("FUNC_IPS")
            .ok_or(ProbeError::NoMap("FUNC_IPS"))?;
        let mut ips: HashMap<_, u64, u32> =
            HashMap::try_from(map).map_err(|source| ProbeError::Map {
                what: "open map FUNC_IPS".into(),
                source: Box::new(source),
            })?;
        for ip in [address, address + 4] {
            ips.insert(ip, id, 0).map_err(|source| ProbeError::Map {
                what: format!("register function id {id} at {ip:#x}"),
                source: Box::new(source),
            })?;
        }
        Ok(())
    }

    /// The bare timing pair's intervals (calibration), oldest slot first; slots never written
    /// are 0 and left out.
    pub fn bare_samples(&self) -> Result<Vec<u64>, ProbeError> {
        let name = "BARE_SAMPLES";
        let map = self.primary.map(name).ok_or(ProbeError::NoMap(name))?;
        let arr: Array<&MapData, u64> = Array::try_from(map).map_err(|source| ProbeError::Map {
            what: format!("open map {name}"),
            source: Box::new(source),
        })?;
        let mut out = Vec::new();
        for v in arr.iter() {
            let v = v.map_err(|source| ProbeError::Map {
                what: format!("read {name}"),
                source: Box::new(source),
            })?;
            if v != 0 {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The bare timing pair's completed intervals and their sum in ns, over every CPU.
    pub fn bare_totals(&self) -> Result<(u64, u64), ProbeError> {
        let count = self.per_cpu_sums("BARE_COUNT", 1)?;
        let total = self.per_cpu_sums("BARE_TOTAL_NS", 1)?;
        Ok((count[0], total[0]))
    }

    /// Runs of each program kind, summed over CPUs, indexed by `counters::Hit`.
    pub fn hits(&self) -> Result<Vec<u64>, ProbeError> {
        self.per_cpu_sums("HITS", HIT_SLOTS)
    }

    /// Problem counters summed over CPUs, indexed by `counters::Stat`.
    pub fn stats(&self) -> Result<Vec<u64>, ProbeError> {
        self.per_cpu_sums("STATS", STAT_SLOTS)
    }

    /// Events lost per CPU (ring buffer full).
    pub fn lost_per_cpu(&self) -> Result<Vec<u64>, ProbeError> {
        let arr = self.per_cpu_array::<u64>("STATS")?;
        let v = arr
            .get(&(probe_common::counters::Stat::LostEvents as u32), 0)
            .map_err(|source| ProbeError::Map {
                what: "read lost-event counts".into(),
                source: Box::new(source),
            })?;
        Ok(v.iter().copied().collect())
    }

    /// Busy time per CPU (`probe_common::busy`), indexed by CPU id (every possible CPU).
    pub fn cpu_busy(&self) -> Result<Vec<probe_common::busy::CpuBusy>, ProbeError> {
        let v = self
            .per_cpu_array::<probe_common::busy::CpuBusy>("CPU_BUSY")?
            .get(&0, 0)
            .map_err(|source| ProbeError::Map {
                what: "read CPU_BUSY[0]".into(),
                source: Box::new(source),
            })?;
        Ok(v.iter().copied().collect())
    }

    /// Calls per function id summed over CPUs (count mode), for ids `0..n`.
    pub fn call_counts(&self, n: u32) -> Result<Vec<u64>, ProbeError> {
        self.per_cpu_sums("CALL_COUNTS", n)
    }

    /// The per-CPU array map `name` of the primary object, with values of type `T`.
    fn per_cpu_array<T: aya::Pod>(
        &self,
        name: &'static str,
    ) -> Result<PerCpuArray<&MapData, T>, ProbeError> {
        let map = self.primary.map(name).ok_or(ProbeError::NoMap(name))?;
        PerCpuArray::try_from(map).map_err(|source| ProbeError::Map {
            what: format!("open map {name}"),
            source: Box::new(source),
        })
    }

    fn per_cpu_sums(&self, name: &'static str, n: u32) -> Result<Vec<u64>, ProbeError> {
        let arr = self.per_cpu_array::<u64>(name)?;
        (0..n)
            .map(|i| {
                arr.get(&i, 0)
                    .map(|v| v.iter().sum())
                    .map_err(|source| ProbeError::Map {
                        what: format!("read {name}[{i}]"),
                        source: Box::new(source),
                    })
            })
            .collect()
    }

    /// In-kernel aggregates (stats mode) for function ids `0..n`, merged over CPUs.
    pub fn func_stats(&self, n: u32) -> Result<Vec<probe_common::stats::FuncStats>, ProbeError> {
        use probe_common::stats::FuncStats;
        let arr = self.per_cpu_array::<FuncStats>("FUNC_STATS")?;
        (0..n.min(probe_common::stats::STATS_MAX_FUNCS))
            .map(|i| {
                let per_cpu = arr.get(&i, 0).map_err(|source| ProbeError::Map {
                    what: format!("read FUNC_STATS[{i}]"),
                    source: Box::new(source),
                })?;
                let mut total = FuncStats::default();
                for s in per_cpu.iter() {
                    total.clean.merge(&s.clean);
                    total.interrupted.merge(&s.interrupted);
                    for (t, v) in total.hist_clean.iter_mut().zip(s.hist_clean.iter()) {
                        *t = t.wrapping_add(*v);
                    }
                }
                Ok(total)
            })
            .collect()
    }

    /// The reader of kernel-side log messages (aya-log), when `Settings::kernel_log` is on.
    pub fn kernel_logger(
        &mut self,
    ) -> Result<Option<aya_log::EbpfLogger<&'static dyn log::Log>>, ProbeError> {
        if self.settings.kernel_log.is_none() {
            return Ok(None);
        }
        aya_log::EbpfLogger::init(&mut self.primary)
            .map(Some)
            .map_err(|e| ProbeError::Kernel {
                what: "the kernel log buffer (AYA_LOGS)".into(),
                source: std::io::Error::other(e.to_string()),
            })
    }

    /// Runs of kpath's programs that the kernel skipped because another BPF program was
    /// running on that CPU (its recursion guard; e.g. a softirq that began inside one of
    /// kpath's probes): calls, and interrupts, that are missing from the trace without a
    /// lost event. Summed over every loaded program; `None` when a count cannot be read.
    /// Kernels before 5.12 do not count them and give 0.
    pub fn recursion_misses(&self) -> Option<u64> {
        let mut total = 0;
        for ebpf in std::iter::once(&self.primary).chain(&self.per_target) {
            for (_, program) in ebpf.programs() {
                // A program of the object that was never loaded has no fd, and no runs.
                if let Ok(fd) = program.fd() {
                    total += recursion_misses_of(std::os::fd::AsFd::as_fd(fd))?;
                }
            }
        }
        Some(total)
    }

    /// Takes the event rings that this machine's CPUs write to out of the object, for the
    /// drain loop.
    pub fn take_events(&mut self) -> Result<EventRings, ProbeError> {
        let mut rings = Vec::new();
        for name in &EVENT_RING_NAMES[..self.event_rings.used] {
            match self.primary.take_map(name) {
                Some(aya::maps::Map::RingBuf(map)) => rings.push(EventRing::new(map)?),
                _ => return Err(ProbeError::NoMap(name)),
            }
        }
        EventRings::new(rings)
    }

    /// How many event rings this machine's CPUs write to (each of `Settings::ring_bytes`).
    pub fn event_ring_count(&self) -> usize {
        self.event_rings.used
    }

    /// Detaches and unloads every program, one thread per program. Each link's `close`
    /// waits in the kernel (48-84 ms each on the AMD machine of 2026-12-04): one after
    /// another, the 40 links of a tracepoint recording held the recorder's exit 3 s after
    /// the trace was complete. In parallel the waits partly overlap: `record --duration 1s`
    /// exits in 4.8-5.0 s instead of 5.8-5.9 (5 rounds alternated). A program unloaded here
    /// is skipped when `Ebpf` drops it, which unloads any other.
    fn detach_all(&mut self) {
        let objects = std::iter::once(&mut self.primary).chain(self.per_target.iter_mut());
        std::thread::scope(|scope| {
            for object in objects {
                for (_, program) in object.programs_mut() {
                    // Without a thread, the program is unloaded when `Ebpf` drops it.
                    let _ = std::thread::Builder::new()
                        .name("kpath-detach".into())
                        .spawn_scoped(scope, move || unload(program));
                }
            }
        });
    }
}

/// Detaches `program`'s links and unloads it; other kinds of programs are left for
/// `Ebpf`'s own drop. Errors are ignored: the process is letting go of the program, and a
/// program not loaded has nothing to detach.
fn unload(program: &mut Program) {
    let _ = match program {
        Program::TracePoint(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::FEntry(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        _ => Ok(()),
    };
}

impl Drop for Probes {
    fn drop(&mut self) {
        self.detach_all();
        if let Some(dir) = &self.pin_dir {
            // Pins keep maps alive after we exit; remove them (links die with our fds).
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
