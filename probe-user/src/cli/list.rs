//! `kpath-probe list`: what a selection resolves to on this kernel, without attaching.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use kpath_probe::functions::{self};
use kpath_probe::kernel;
use kpath_probe::recorder::MechanismChoice;
use probe_common::stage::TpStage;

use super::select::SelectArgs;

pub(crate) fn run_list(args: SelectArgs) -> Result<ExitCode> {
    let request = args.request()?;
    let kallsyms = kernel::Kallsyms::load()?;
    let driver = match &request.interface {
        Some(i) => Some(
            functions::interface_driver(i)
                .with_context(|| format!("failed to find the driver of {i}"))?,
        ),
        None => None,
    };
    let (targets, skipped) = functions::resolve(&request, &kallsyms, driver.as_deref());
    if let Some(d) = &driver {
        kpath_cli::out!(
            "interface {}: driver {d}",
            request.interface.as_deref().unwrap_or_default()
        );
    }
    let show_stages = args.stages
        || !args.stage_filter.is_empty()
        || args.mechanism == MechanismChoice::Tracepoint;
    if targets.is_empty() && skipped.is_empty() && !show_stages {
        // Listing nothing would look like an answer: say what a selection is instead.
        bail!(
            "nothing selected: name functions (--function, --glob, --functions-file, --preset \
             udp-echo) or tracepoint stages (--stages, --stage NAME)"
        );
    }
    let fentry_ok = kernel::has_btf() && args.mechanism != MechanismChoice::Kprobe;
    for t in &targets {
        let mech = match (args.mechanism, t.module.is_some()) {
            (MechanismChoice::Tracepoint, _) => "not probed (--mechanism tracepoint)",
            (_, true) if kernel::has_kprobes() => "kprobe (module function)",
            (_, false) if fentry_ok && kernel::has_kprobes() => {
                "fentry, or kprobe if the kernel refuses fentry"
            }
            (_, false) if fentry_ok => "fentry, if the kernel allows trampolines",
            (_, _) if kernel::has_kprobes() => "kprobe",
            _ => "none available (no kprobes, no fentry on this kernel)",
        };
        let layer = t.layer.map(|l| l.name()).unwrap_or("-");
        let module = t
            .module
            .as_deref()
            .map(|m| format!(" [{m}]"))
            .unwrap_or_default();
        kpath_cli::out!("{:<28} {:<7} {mech}{module}", t.name, layer);
    }
    // One paragraph per reason, within 100 columns.
    for (reason, names) in kpath_probe::functions::group_skipped(&skipped) {
        kpath_cli::out!("skipped, {reason}:");
        for line in super::wrap(&names.join(", "), 96) {
            kpath_cli::out!("    {line}");
        }
    }
    if show_stages {
        let selected = TpStage::ALL
            .into_iter()
            .filter(|s| args.stage_filter.is_empty() || args.stage_filter.contains(s));
        for stage in selected {
            let (c, e, x) = stage.tracepoints();
            let ok = kernel::has_tracepoint(c, e) && kernel::has_tracepoint(c, x);
            kpath_cli::out!(
                "{:<28} {:<7} tracepoint {c}:{e} -> {x}{}",
                stage.name(),
                "stage",
                if ok { "" } else { " (absent)" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
