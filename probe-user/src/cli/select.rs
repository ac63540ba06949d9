//! What to probe: the selection shared by `record` and `list`.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use kpath_probe::functions::{self, Request};
use kpath_probe::recorder::MechanismChoice;
use probe_common::stage::TpStage;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub(crate) enum Preset {
    /// Driver (from --interface), core, IP, UDP and socket functions of a UDP echo.
    UdpEcho,
}

#[derive(clap::Args)]
pub(crate) struct SelectArgs {
    /// Probe mechanism: auto picks fentry where allowed, else kprobes, else tracepoint stages.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) mechanism: MechanismChoice,
    /// A kernel function to probe (repeatable).
    #[arg(long = "function", value_name = "NAME")]
    pub(crate) functions: Vec<String>,
    /// A file of function names, one per line (# comments).
    #[arg(long, value_name = "FILE")]
    pub(crate) functions_file: Option<PathBuf>,
    /// Probe every kernel function matching this glob, e.g. 'udp_*' (repeatable).
    #[arg(long = "glob", value_name = "PATTERN")]
    pub(crate) globs: Vec<String>,
    /// A curated function set.
    #[arg(long, value_enum)]
    pub(crate) preset: Option<Preset>,
    /// The interface whose driver functions the preset adds (driver read via ethtool/sysfs).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Option<String>,
    /// Also record the tracepoint stages (receive, send, receive syscall).
    #[arg(long)]
    pub(crate) stages: bool,
    /// Record only this tracepoint stage (repeatable; names as `list --stages` prints them,
    /// with or without `tp:`). Implies --stages.
    #[arg(long = "stage", value_name = "NAME", value_parser = parse_stage)]
    pub(crate) stage_filter: Vec<TpStage>,
}

pub(crate) fn parse_stage(s: &str) -> Result<TpStage, String> {
    TpStage::from_name(s).ok_or_else(|| {
        format!(
            "`{s}` is not a tracepoint stage; the stages are: {}",
            TpStage::ALL
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl SelectArgs {
    pub(crate) fn request(&self) -> Result<Request> {
        let mut functions = self.functions.clone();
        if let Some(f) = &self.functions_file {
            functions.extend(functions::read_functions_file(f)?);
        }
        Ok(Request {
            functions,
            globs: self.globs.clone(),
            udp_echo: self.preset == Some(Preset::UdpEcho),
            interface: self.interface.clone(),
        })
    }

    pub(crate) fn mechanism(&self) -> MechanismChoice {
        self.mechanism
    }
}
