//! Loading the eBPF object and attaching its programs, one method per mechanism.
//!
//! kprobe, kretprobe and tracepoint programs attach to any number of targets. An fentry/fexit
//! program is verified against one target function, so each further fentry target loads the
//! object again; all loads share the maps through pins in bpffs, so every program writes the
//! same ring buffer and reads the same function table.

use std::path::PathBuf;

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{FEntry, FExit, KProbe, TracePoint},
    Btf, Ebpf, EbpfLoader,
};
use probe_common::{
    counters::{HIT_SLOTS, STAT_SLOTS},
    stage::{TpStage, TP_STAGE_COUNT, TP_STAGE_OFF},
};

use crate::{kernel, object::ebpf_object, ProbeError};

/// Program names in `probe-ebpf`.
pub mod program {
    /// kprobe at function entry.
    pub const KPROBE: &str = "kpath_kprobe_entry";
    /// kretprobe at function return.
    pub const KRETPROBE: &str = "kpath_kprobe_exit";
    /// fentry at function entry.
    pub const FENTRY: &str = "kpath_fentry_entry";
    /// fexit at function return.
    pub const FEXIT: &str = "kpath_fexit_exit";
    /// `irq:softirq_entry` (counts softirqs, opens the NET_RX stage).
    pub const SOFTIRQ_ENTRY: &str = "kpath_irq_softirq_entry";
    /// `irq:softirq_exit`.
    pub const SOFTIRQ_EXIT: &str = "kpath_irq_softirq_exit";
    /// Hard interrupt entries (`irq:irq_handler_entry`, `irq_vectors:*_entry`).
    pub const HARDIRQ_ENTRY: &str = "kpath_irq_hardirq_entry";
    /// Hard interrupt exits.
    pub const HARDIRQ_EXIT: &str = "kpath_irq_hardirq_exit";
    /// `sched:sched_switch`.
    pub const SCHED_SWITCH: &str = "kpath_sched_switch";
    /// The bare timing pair (calibration): kprobe entry.
    pub const BARE_KPROBE: &str = "kpath_bare_kprobe";
    /// The bare timing pair: kretprobe.
    pub const BARE_KRETPROBE: &str = "kpath_bare_kretprobe";
    /// The bare timing pair: fentry.
    pub const BARE_FENTRY: &str = "kpath_bare_fentry";
    /// The bare timing pair: fexit.
    pub const BARE_FEXIT: &str = "kpath_bare_fexit";
    /// The bare timing pair: entry tracepoint.
    pub const BARE_TP_ENTER: &str = "kpath_bare_tp_enter";
    /// The bare timing pair: exit tracepoint.
    pub const BARE_TP_EXIT: &str = "kpath_bare_tp_exit";
}

/// Maps every load of the object shares (pinned for fentry re-loads).
const SHARED_MAPS: [&str; 11] = [
    "AYA_LOGS",
    "FUNC_STATS",
    "EVENTS",
    "STATS",
    "HITS",
    "FUNC_IPS",
    "TP_FUNC_IDS",
    "CALL_COUNTS",
    "STACKS",
    "EMPTY_STACK",
    "IRQ_STATE",
];

/// What the programs should record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every enter/exit to the ring buffer.
    #[default]
    Trace,
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
    /// Record calls on this CPU only.
    pub filter_cpu: Option<u32>,
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
}

impl Settings {
    /// Unread ring bytes at which a record forces a wake-up (0: adaptive, see the field).
    pub fn wakeup_fill_bytes(&self) -> u64 {
        self.wakeup_fill_bytes
            .unwrap_or_else(|| probe_common::ring::wakeup_fill_bytes(self.ring_bytes()))
    }

    /// The event ring buffer's size in bytes.
    pub fn ring_bytes(&self) -> u32 {
        self.ring_buffer_bytes
            .unwrap_or(probe_common::ring::DEFAULT_RING_BYTES)
    }
}

/// The values of `probe-ebpf/src/settings.rs`, as the loader writes them.
struct Globals {
    mode: u32,
    pid: u32,
    cpu: u32,
    /// The comm bytes as two little-endian words, as the kernel side compares them.
    comm: [u64; 2],
    /// aya-log's `AYA_LOG_LEVEL`: 0 turns every kernel-side log statement off.
    log_level: u8,
    /// Unread ring bytes at which a record forces a reader wake-up (`probe_common::ring`).
    wakeup_fill: u64,
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
                Mode::Trace => 0,
                Mode::Count => 1,
                Mode::Stats => 2,
            },
            log_level: s.kernel_log.map(|l| l as u8).unwrap_or(0),
            wakeup_fill: s.wakeup_fill_bytes(),
            pid: s.filter_pid.unwrap_or(0),
            cpu: s.filter_cpu.unwrap_or(u32::MAX),
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
    /// Extra loads for fentry/fexit targets beyond the first, with their pins.
    per_target: Vec<Ebpf>,
    pin_dir: Option<PathBuf>,
    btf: Option<Btf>,
    fentry_used: bool,
    fexit_used: bool,
    kprobes_loaded: bool,
    kretprobes_loaded: bool,
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
        let globals = Globals::from(&settings);
        let primary = Self::loader_for(&globals, settings.ring_buffer_bytes, None)
            .load(ebpf_object()?)
            .map_err(|source| ProbeError::Load {
                source: Box::new(source),
                hint: hint_for_load(),
            })?;
        let mut probes = Self {
            settings,
            primary,
            per_target: Vec::new(),
            pin_dir: None,
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
        ring_bytes: Option<u32>,
        pins: Option<&'a std::path::Path>,
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
            .override_global("FILTER_CPU", &globals.cpu, true)
            .override_global("FILTER_COMM", &globals.comm, true)
            .override_global("WAKEUP_FILL_BYTES", &globals.wakeup_fill, true)
            .override_global(aya_log::LEVEL, &globals.log_level, false);
        if let Some(bytes) = ring_bytes {
            loader.map_max_entries("EVENTS", bytes);
        }
        if let Some(dir) = pins {
            for name in SHARED_MAPS {
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

    /// Enables a tracepoint stage under function id `id` (its programs must also be attached).
    pub fn register_stage(&mut self, stage: TpStage, id: u32) -> Result<(), ProbeError> {
        let mut ids: Array<_, u32> = self.map_array("TP_FUNC_IDS")?;
        ids.set(stage as u32, id, 0)
            .map_err(|source| ProbeError::Map {
                what: format!("enable stage {}", stage.name()),
                source: Box::new(source),
            })
    }

    fn kprobe(&mut self, name: &'static str) -> Result<&mut KProbe, ProbeError> {
        let prog = self
            .primary
            .program_mut(name)
            .ok_or(ProbeError::NoProgram(name))?;
        prog.try_into().map_err(|source| ProbeError::ProgramLoad {
            program: name,
            target: String::new(),
            source: Box::new(source),
            hint: "",
        })
    }

    /// Loads the kprobe and kretprobe programs through the verifier without attaching them.
    pub fn load_kprobe_programs(&mut self) -> Result<(), ProbeError> {
        for (name, loaded) in [
            (program::KPROBE, self.kprobes_loaded),
            (program::KRETPROBE, self.kretprobes_loaded),
        ] {
            if !loaded {
                self.load_kprobe(name)?;
            }
        }
        self.kprobes_loaded = true;
        self.kretprobes_loaded = true;
        Ok(())
    }

    fn load_kprobe(&mut self, name: &'static str) -> Result<(), ProbeError> {
        self.kprobe(name)?
            .load()
            .map_err(|source| ProbeError::ProgramLoad {
                program: name,
                target: String::new(),
                source: Box::new(source),
                hint: hint_for_load(),
            })
    }

    /// Attaches the kprobe (entry) and kretprobe (return) programs to `function`.
    pub fn attach_kprobe_pair(&mut self, function: &str) -> Result<(), ProbeError> {
        self.load_kprobe_programs()?;
        self.attach_kprobe_programs(function, program::KPROBE, program::KRETPROBE)
    }

    /// Attaches the bare timing pair (calibration) to `function` with kprobes.
    pub fn attach_bare_kprobe_pair(&mut self, function: &str) -> Result<(), ProbeError> {
        self.load_kprobe(program::BARE_KPROBE)?;
        self.load_kprobe(program::BARE_KRETPROBE)?;
        self.attach_kprobe_programs(function, program::BARE_KPROBE, program::BARE_KRETPROBE)
    }

    fn attach_kprobe_programs(
        &mut self,
        function: &str,
        entry: &'static str,
        exit: &'static str,
    ) -> Result<(), ProbeError> {
        let hint = if kernel::has_kprobes() {
            ""
        } else {
            " (this kernel has no kprobes: CONFIG_KPROBES is off; use --mechanism tracepoint)"
        };
        // Exit first: an exit without an entry is harmless (flagged unmatched), an entry whose
        // exit is not attached yet would leave a frame open.
        for name in [exit, entry] {
            self.kprobe(name)?
                .attach(function, 0)
                .map_err(|source| ProbeError::Attach {
                    program: name,
                    target: function.to_owned(),
                    source: Box::new(source),
                    hint,
                })?;
        }
        Ok(())
    }

    /// Attaches only the kprobe (entry) program to `function`: enough for counting.
    pub fn attach_kprobe_entry(&mut self, function: &str) -> Result<(), ProbeError> {
        self.load_kprobe_programs()?;
        self.kprobe(program::KPROBE)?
            .attach(function, 0)
            .map_err(|source| ProbeError::Attach {
                program: program::KPROBE,
                target: function.to_owned(),
                source: Box::new(source),
                hint: "",
            })?;
        Ok(())
    }

    fn btf(&mut self) -> Result<&Btf, ProbeError> {
        if self.btf.is_none() {
            self.btf = Some(Btf::from_sys_fs().map_err(|e| ProbeError::NoBtf(Box::new(e)))?);
        }
        self.btf
            .as_ref()
            .ok_or(ProbeError::NoProgram(program::FENTRY))
    }

    /// Attaches fentry and fexit programs to `function`.
    pub fn attach_fentry_pair(&mut self, function: &str) -> Result<(), ProbeError> {
        self.attach_fentry_programs(function, program::FENTRY, program::FEXIT)
    }

    /// Attaches the bare timing pair (calibration) to `function` with fentry/fexit. Only on a
    /// fresh load: the bare programs are not part of the multi-target pinning.
    pub fn attach_bare_fentry_pair(&mut self, function: &str) -> Result<(), ProbeError> {
        self.attach_fentry_programs(function, program::BARE_FENTRY, program::BARE_FEXIT)
    }

    /// Attaches the bare timing pair (calibration) to the tracepoints of `stage`.
    pub fn attach_bare_stage(&mut self, stage: TpStage) -> Result<(), ProbeError> {
        let (category, enter, exit) = stage.tracepoints();
        self.attach_tracepoint(program::BARE_TP_EXIT, category, exit)?;
        self.attach_tracepoint(program::BARE_TP_ENTER, category, enter)
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

    fn attach_fentry_programs(
        &mut self,
        function: &str,
        entry: &'static str,
        exit: &'static str,
    ) -> Result<(), ProbeError> {
        let btf = self.btf()?.clone();
        let reuse = self.fentry_used || self.fexit_used;
        if reuse && self.pin_dir.is_none() {
            return Err(ProbeError::Kernel {
                what: "bpffs pins for a second fentry target".into(),
                source: std::io::Error::other(
                    "maps were not pinned at load; call enable_multi_fentry first",
                ),
            });
        }
        let ebpf = if reuse {
            let dir = self.pin_dir.clone().unwrap_or_default();
            let globals = Globals::from(&self.settings);
            let loaded = Self::loader_for(&globals, self.settings.ring_buffer_bytes, Some(&dir))
                .load(ebpf_object()?)
                .map_err(|source| ProbeError::Load {
                    source: Box::new(source),
                    hint: hint_for_load(),
                })?;
            self.per_target.push(loaded);
            self.per_target
                .last_mut()
                .ok_or(ProbeError::NoProgram(program::FENTRY))?
        } else {
            &mut self.primary
        };
        let fentry_hint = " (fentry/fexit need BPF trampolines: CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, and a kernel that allows them; use --mechanism kprobe)";
        let load_err = |program, source| ProbeError::ProgramLoad {
            program,
            target: format!(" for {function}"),
            source: Box::new(source),
            hint: fentry_hint,
        };
        let attach_err = |program, source| ProbeError::Attach {
            program,
            target: function.to_owned(),
            source: Box::new(source),
            hint: fentry_hint,
        };
        let fexit: &mut FExit = ebpf
            .program_mut(exit)
            .ok_or(ProbeError::NoProgram(exit))?
            .try_into()
            .map_err(|e| load_err(exit, e))?;
        fexit.load(function, &btf).map_err(|e| load_err(exit, e))?;
        // Exit first: an exit without an entry is harmless (flagged unmatched).
        fexit.attach().map_err(|e| attach_err(exit, e))?;
        let fentry: &mut FEntry = ebpf
            .program_mut(entry)
            .ok_or(ProbeError::NoProgram(entry))?
            .try_into()
            .map_err(|e| load_err(entry, e))?;
        fentry
            .load(function, &btf)
            .map_err(|e| load_err(entry, e))?;
        fentry.attach().map_err(|e| attach_err(entry, e))?;
        self.fentry_used = true;
        self.fexit_used = true;
        Ok(())
    }

    /// Pins the shared maps under a bpffs directory so that further fentry targets can load
    /// the object again and share them. Needs bpffs at /sys/fs/bpf (mounted if missing).
    pub fn enable_multi_fentry(&mut self) -> Result<(), ProbeError> {
        if self.pin_dir.is_some() {
            return Ok(());
        }
        kernel::ensure_bpffs()?;
        let dir = PathBuf::from(format!("/sys/fs/bpf/kpath-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| ProbeError::Kernel {
            what: format!("{} (creating the pin directory)", dir.display()),
            source,
        })?;
        for name in SHARED_MAPS {
            let map = self.primary.map_mut(name).ok_or(ProbeError::NoMap(name))?;
            let data: &mut MapData = match map {
                aya::maps::Map::Array(m)
                | aya::maps::Map::PerCpuArray(m)
                | aya::maps::Map::HashMap(m)
                | aya::maps::Map::LruHashMap(m)
                | aya::maps::Map::RingBuf(m) => m,
                _ => return Err(ProbeError::NoMap(name)),
            };
            data.pin(dir.join(name)).map_err(|e| ProbeError::Kernel {
                what: format!("pin of map {name}"),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        self.pin_dir = Some(dir);
        Ok(())
    }

    /// Attaches a tracepoint program.
    pub fn attach_tracepoint(
        &mut self,
        program: &'static str,
        category: &str,
        name: &str,
    ) -> Result<(), ProbeError> {
        kernel::ensure_tracefs()?;
        let prog: &mut TracePoint = self
            .primary
            .program_mut(program)
            .ok_or(ProbeError::NoProgram(program))?
            .try_into()
            .map_err(|source| ProbeError::ProgramLoad {
                program,
                target: String::new(),
                source: Box::new(source),
                hint: "",
            })?;
        if prog.fd().is_err() {
            prog.load().map_err(|source| ProbeError::ProgramLoad {
                program,
                target: String::new(),
                source: Box::new(source),
                hint: hint_for_load(),
            })?;
        }
        prog.attach(category, name)
            .map_err(|source| ProbeError::Attach {
                program,
                target: format!("tracepoint {category}:{name}"),
                source: Box::new(source),
                hint: "",
            })?;
        Ok(())
    }

    /// Attaches the programs of a tracepoint stage and enables it under `id`.
    pub fn attach_stage(&mut self, stage: TpStage, id: u32) -> Result<(), ProbeError> {
        let (category, enter, exit) = stage.tracepoints();
        self.register_stage(stage, id)?;
        if stage == TpStage::NetRxSoftirq {
            // The softirq programs are the interrupt-accounting ones; attached there.
            return Ok(());
        }
        let (penter, pexit) = stage_programs(stage);
        // Exit first, as for kprobes.
        self.attach_tracepoint(pexit, category, exit)?;
        self.attach_tracepoint(penter, category, enter)
    }

    /// Attaches interrupt and context-switch accounting; returns the tracepoints used.
    /// Without it every sample looks clean and contexts are all "process".
    pub fn attach_irq_accounting(&mut self) -> Result<Vec<String>, ProbeError> {
        kernel::ensure_tracefs()?;
        let mut used = Vec::new();
        let mut pairs: Vec<(&'static str, &'static str, String, String)> = vec![
            (
                program::SOFTIRQ_ENTRY,
                program::SOFTIRQ_EXIT,
                "irq".into(),
                "softirq".into(),
            ),
            (
                program::HARDIRQ_ENTRY,
                program::HARDIRQ_EXIT,
                "irq".into(),
                "irq_handler".into(),
            ),
        ];
        for vector in kernel::irq_vectors() {
            pairs.push((
                program::HARDIRQ_ENTRY,
                program::HARDIRQ_EXIT,
                "irq_vectors".into(),
                vector,
            ));
        }
        for (enter, exit, category, base) in pairs {
            let (e, x) = (format!("{base}_entry"), format!("{base}_exit"));
            if kernel::has_tracepoint(&category, &e) && kernel::has_tracepoint(&category, &x) {
                // Exit first, so that no entry is seen without its exit.
                self.attach_tracepoint(exit, &category, &x)?;
                self.attach_tracepoint(enter, &category, &e)?;
                used.push(format!("{category}:{base}"));
            }
        }
        self.attach_tracepoint(program::SCHED_SWITCH, "sched", "sched_switch")?;
        used.push("sched:sched_switch".into());
        Ok(used)
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
        let arr = self.per_cpu_array("STATS")?;
        let v = arr
            .get(&(probe_common::counters::Stat::LostEvents as u32), 0)
            .map_err(|source| ProbeError::Map {
                what: "read lost-event counts".into(),
                source: Box::new(source),
            })?;
        Ok(v.iter().copied().collect())
    }

    /// Calls per function id summed over CPUs (count mode), for ids `0..n`.
    pub fn call_counts(&self, n: u32) -> Result<Vec<u64>, ProbeError> {
        self.per_cpu_sums("CALL_COUNTS", n)
    }

    fn per_cpu_array(&self, name: &'static str) -> Result<PerCpuArray<&MapData, u64>, ProbeError> {
        let map = self.primary.map(name).ok_or(ProbeError::NoMap(name))?;
        PerCpuArray::try_from(map).map_err(|source| ProbeError::Map {
            what: format!("open map {name}"),
            source: Box::new(source),
        })
    }

    fn per_cpu_sums(&self, name: &'static str, n: u32) -> Result<Vec<u64>, ProbeError> {
        let arr = self.per_cpu_array(name)?;
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
        let map = self
            .primary
            .map("FUNC_STATS")
            .ok_or(ProbeError::NoMap("FUNC_STATS"))?;
        let arr: PerCpuArray<&MapData, FuncStats> =
            PerCpuArray::try_from(map).map_err(|source| ProbeError::Map {
                what: "open map FUNC_STATS".into(),
                source: Box::new(source),
            })?;
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

    /// Takes the event ring buffer out of the object, for the drain loop.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let map = self
            .primary
            .take_map("EVENTS")
            .ok_or(ProbeError::NoMap("EVENTS"))?;
        RingBuf::try_from(map).map_err(|source| ProbeError::Map {
            what: "open map EVENTS".into(),
            source: Box::new(source),
        })
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        if let Some(dir) = &self.pin_dir {
            // Pins keep maps alive after we exit; remove them (links die with our fds).
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn stage_programs(stage: TpStage) -> (&'static str, &'static str) {
    match stage {
        TpStage::NetifReceiveSkb => (
            "kpath_tp_netif_receive_skb_entry",
            "kpath_tp_netif_receive_skb_exit",
        ),
        TpStage::NetifRx => ("kpath_tp_netif_rx_entry", "kpath_tp_netif_rx_exit"),
        TpStage::NapiGroReceive => (
            "kpath_tp_napi_gro_receive_entry",
            "kpath_tp_napi_gro_receive_exit",
        ),
        TpStage::NetRxSoftirq => (program::SOFTIRQ_ENTRY, program::SOFTIRQ_EXIT),
        TpStage::SysSendto => ("kpath_tp_sys_sendto_entry", "kpath_tp_sys_sendto_exit"),
        TpStage::SysSendmsg => ("kpath_tp_sys_sendmsg_entry", "kpath_tp_sys_sendmsg_exit"),
        TpStage::DevXmit => ("kpath_tp_net_dev_xmit_entry", "kpath_tp_net_dev_xmit_exit"),
        TpStage::SysRecvfrom => ("kpath_tp_sys_recvfrom_entry", "kpath_tp_sys_recvfrom_exit"),
        TpStage::SysRecvmsg => ("kpath_tp_sys_recvmsg_entry", "kpath_tp_sys_recvmsg_exit"),
    }
}
