//! What can go wrong while probing, each with what the user should do.

/// Errors of loading, attaching and recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The binary was built without the eBPF object.
    #[error(
        "this kpath-probe was built without its eBPF object: build it with `cargo xtask build`"
    )]
    NoEbpfObject,
    /// Loading the object (maps, relocations) failed.
    #[error("failed to load the eBPF object{hint}")]
    Load {
        /// The loader's error.
        #[source]
        source: Box<aya::EbpfError>,
        /// A hint such as "run as root".
        hint: &'static str,
    },
    /// A program is missing from the object (a build mismatch).
    #[error("the eBPF object has no program `{0}`: rebuild with `cargo xtask build`")]
    NoProgram(&'static str),
    /// A task-stack slot count the kernel side cannot mask with.
    #[error("task-stack slots: {slots} is not a power of two from 1 to {max}")]
    TaskSlots {
        /// What was asked for.
        slots: u32,
        /// `probe_common::task_slots::MAX_TASK_SLOTS`.
        max: u32,
    },
    /// A map is missing from the object (a build mismatch).
    #[error("the eBPF object has no map `{0}`: rebuild with `cargo xtask build`")]
    NoMap(&'static str),
    /// The kernel verifier or the loader refused a program.
    #[error("failed to load program `{program}`{target}{hint}")]
    ProgramLoad {
        /// Program name.
        program: &'static str,
        /// " for FUNCTION" when the program is loaded per function (fentry/fexit).
        target: String,
        /// The error.
        #[source]
        source: Box<aya::programs::ProgramError>,
        /// What to do.
        hint: &'static str,
    },
    /// Attaching a program failed.
    #[error("failed to attach `{program}` to {target}{hint}")]
    Attach {
        /// Program name.
        program: &'static str,
        /// Function or tracepoint.
        target: String,
        /// The error.
        #[source]
        source: Box<aya::programs::ProgramError>,
        /// What to do.
        hint: &'static str,
    },
    /// A map operation failed.
    #[error("failed to {what}")]
    Map {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// Reading kernel information (kallsyms, BTF, sysfs) failed.
    #[error("failed to read {what}")]
    Kernel {
        /// What was being read.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel has no BTF, needed by fentry/fexit.
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux): fentry/fexit need CONFIG_DEBUG_INFO_BTF; use --mechanism kprobe or tracepoint")]
    NoBtf(#[source] Box<aya::BtfError>),
    /// A tracepoint's record layout differs from the one the eBPF programs read.
    #[error("tracepoint {tracepoint}: field `{field}` is at offset {found:?} in this kernel's format file, but kpath reads it at {expected}")]
    TracepointLayout {
        /// `category:name`.
        tracepoint: &'static str,
        /// The field.
        field: &'static str,
        /// Where the kernel has it (`None`: missing).
        found: Option<usize>,
        /// Where the programs read it.
        expected: usize,
    },
    /// Probing needs root.
    #[error("recording needs root (CAP_BPF and CAP_PERFMON): run with sudo")]
    NotRoot,
    /// No kprobes on this kernel.
    #[error("this kernel has no kprobes (CONFIG_KPROBES is off): use --mechanism tracepoint, or a kernel with kprobes")]
    NoKprobes,
    /// `--strict` and a function could not be probed.
    #[error("--strict: cannot probe `{function}`: {reason}")]
    Strict {
        /// The function.
        function: String,
        /// Why.
        reason: String,
    },
    /// An option's value is out of its allowed range.
    #[error("{0}")]
    BadOption(String),
    /// Nothing at all could be attached.
    #[error("nothing to record: no requested function or stage could be probed ({0})")]
    NothingToRecord(String),
    /// The output file cannot be created (exists, a link, no such directory, ...).
    #[error("{0}")]
    Output(#[from] kpath_cli::OutputError),
    /// Writing the trace failed (disk full, ...).
    #[error("failed to write the trace: {0}")]
    Trace(#[from] kpath_trace::TraceError),
    /// A function is not in kallsyms.
    #[error(
        "function `{0}` is not in /proc/kallsyms (absent, inlined, or renamed on this kernel)"
    )]
    NoSuchFunction(String),
}
