//! What to probe and how: resolves the request, picks a mechanism per function (fentry where
//! the kernel allows it, else kprobes, else tracepoint stages), attaches, and says what was
//! skipped and why.

use kpath_trace::recording::Filters;
use kpath_trace::{Mechanism, Metadata};
use probe_common::stage::TpStage;

use super::{MechanismChoice, RecordOptions};
use crate::functions::{self, Request, Skipped};
use crate::loader::LoadedFentry;
use crate::{kernel, ProbeError, Probes};

/// Attaches what `opts` asks for. Returns the probes, the metadata's function table and the
/// skipped list.
pub fn attach(opts: &RecordOptions) -> Result<(Probes, Metadata, Vec<Skipped>), ProbeError> {
    if !kernel::is_root() {
        return Err(ProbeError::NotRoot);
    }
    // Before attaching anything: a recording that cannot be written is refused up front.
    opts.output_policy.check(&opts.output)?;
    kernel::ensure_tracefs()?;
    let mut meta = Metadata::new(
        format!("kpath-probe {}", env!("CARGO_PKG_VERSION")),
        kernel::release(),
        kernel::possible_cpus()?,
    );
    meta.hostname = kernel::hostname();
    meta.command_line = opts.command_line.clone();
    let mut probes = Probes::load(opts.settings.clone())?;
    let mut skipped = Vec::new();
    // First: a call probed before the interrupt and switch accounting exists would look
    // clean and on the CPU whatever happened inside it (seen as 56 ms "on-CPU" receives of
    // a server that was already running when the recording began).
    meta.irq_tracepoints = Some(probes.attach_irq_accounting()?);

    let mut want_stages = opts.stages
        || !opts.stage_filter.is_empty()
        || opts.mechanism == MechanismChoice::Tracepoint;
    if opts.mechanism == MechanismChoice::Tracepoint && has_functions(&opts.request) {
        // Functions were named, but tracepoints cannot probe them: never silently ignored
        // (skipped with the reason, an error under --strict).
        let not_probed = ProbeError::BadOption(
            "--mechanism tracepoint records tracepoint stages only, not kernel functions \
             (use --mechanism kprobe, fentry or auto)"
                .into(),
        );
        let r = &opts.request;
        let preset = r.udp_echo.then(|| "--preset udp-echo".to_string());
        for name in r.functions.iter().chain(&r.globs).cloned().chain(preset) {
            note_skip(&mut skipped, &name, &not_probed, opts.strict)?;
        }
    }
    if opts.mechanism != MechanismChoice::Tracepoint && has_functions(&opts.request) {
        let kallsyms = kernel::Kallsyms::load()?;
        let driver = match &opts.request.interface {
            Some(i) => Some(functions::interface_driver(i)?),
            None => None,
        };
        let (targets, mut unresolved) =
            functions::resolve(&opts.request, &kallsyms, driver.as_deref());
        if let Some(d) = &driver {
            meta.driver = Some(d.clone());
        }
        if opts.strict {
            if let Some(u) = unresolved.first() {
                return Err(ProbeError::Strict {
                    function: u.name.clone(),
                    reason: u.reason.clone(),
                });
            }
        }
        skipped.append(&mut unresolved);
        let mut fentry_refused: Option<String> = match opts.mechanism {
            MechanismChoice::Kprobe => Some("--mechanism kprobe".into()),
            _ if !kernel::has_btf() => Some("the kernel has no BTF".into()),
            _ => None,
        };
        let kprobes = kernel::has_kprobes();
        // Every verification first, then the attaching in one go, as for the stages below:
        // an fentry pair is verified per target, a tenth of a second or more each, and
        // targets attached in between would write into the rings before they are read.
        let mut verified = Vec::new();
        for t in targets {
            // fentry on module functions needs module BTF handling aya lacks: kprobes there.
            let try_fentry = fentry_refused.is_none() && t.module.is_none();
            let mut how = None;
            if try_fentry {
                if verified
                    .iter()
                    .any(|(_, h)| matches!(h, Verified::Fentry(_)))
                {
                    probes.enable_multi_fentry()?;
                }
                match probes.load_fentry_pair(&t.name) {
                    Ok(loaded) => how = Some(Verified::Fentry(loaded)),
                    Err(e) if opts.mechanism == MechanismChoice::Auto && is_fentry_refused(&e) => {
                        log::warn!("fentry refused on this kernel ({e}); using kprobes");
                        fentry_refused = Some(e.to_string());
                    }
                    Err(e) => {
                        note_skip(&mut skipped, &t.name, &e, opts.strict)?;
                        continue;
                    }
                }
            }
            if how.is_none() {
                if !kprobes {
                    note_skip(&mut skipped, &t.name, &ProbeError::NoKprobes, opts.strict)?;
                    continue;
                }
                match probes.load_kprobe_programs() {
                    Ok(()) => how = Some(Verified::Kprobe),
                    Err(e) => {
                        note_skip(&mut skipped, &t.name, &e, opts.strict)?;
                        continue;
                    }
                }
            }
            if let Some(how) = how {
                verified.push((t, how));
            }
        }
        let mut layers = std::collections::BTreeMap::new();
        for (t, how) in verified {
            let id = u32::try_from(meta.functions.len()).unwrap_or(u32::MAX);
            probes.register_function(id, t.address)?;
            let attached = match &how {
                Verified::Fentry(loaded) => probes
                    .attach_loaded_fentry(loaded)
                    .map(|()| Mechanism::Fentry),
                Verified::Kprobe => probes
                    .attach_kprobe_pair(&t.name)
                    .map(|()| Mechanism::Kprobe),
            };
            match attached {
                Ok(m) => {
                    meta.add_function(t.name.clone(), Some(t.address), t.module.clone(), m);
                    if let Some(l) = t.layer {
                        layers.insert(t.name.clone(), l.name().to_string());
                    }
                }
                Err(e) => note_skip(&mut skipped, &t.name, &e, opts.strict)?,
            }
        }
        if !layers.is_empty() {
            meta.layers = Some(layers);
        }
        if meta.functions.is_empty() && opts.mechanism == MechanismChoice::Auto {
            log::warn!("no function could be probed on this kernel; recording tracepoint stages");
            want_stages = true;
            meta.fallback = Some(
                "no function probe mechanism works on this kernel (kprobes and fentry \
                 unavailable): tracepoint stages only"
                    .into(),
            );
        }
    }
    if want_stages {
        // Only what was asked for: every attached pair nests inside the others' intervals.
        let mut selected = Vec::new();
        for stage in TpStage::ALL
            .into_iter()
            .filter(|s| opts.stage_filter.is_empty() || opts.stage_filter.contains(s))
        {
            let (category, enter, exit) = stage.tracepoints();
            if !(kernel::has_tracepoint(category, enter) && kernel::has_tracepoint(category, exit))
            {
                skipped.push(Skipped {
                    name: stage.name().into(),
                    reason: format!(
                        "tracepoints {category}:{enter}/{exit} do not exist on this kernel"
                    ),
                });
                continue;
            }
            selected.push(stage);
        }
        // Every verification first, then the attaching in one go: the probes go live within
        // milliseconds of each other, not over the second the verifications take, during
        // which nothing reads the rings yet (`Probes::load_stage`).
        for &stage in &selected {
            probes.load_stage(stage)?;
        }
        for stage in selected {
            let id = meta.add_function(stage.name(), None, None, Mechanism::Tracepoint);
            probes.attach_stage(stage, id)?;
        }
    }
    if meta.functions.is_empty() {
        return Err(ProbeError::NothingToRecord(
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason))
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    meta.probe_cost = opts.probe_cost.clone();
    if let Some(note) = &opts.note {
        meta.note = Some(note.clone());
    }
    meta.skipped = Some(skipped.clone());
    meta.filters = Some(Filters {
        comm: opts.settings.filter_comm.clone(),
        cpus: opts.settings.filter_cpus.clone(),
        pid: opts.settings.filter_pid,
    });
    Ok((probes, meta, skipped))
}

/// A target whose programs passed the verifier, waiting to be attached.
enum Verified {
    Fentry(LoadedFentry),
    /// The kprobe pair, verified once for every target.
    Kprobe,
}

fn has_functions(r: &Request) -> bool {
    r.udp_echo || !r.functions.is_empty() || !r.globs.is_empty()
}

fn is_fentry_refused(e: &ProbeError) -> bool {
    matches!(e, ProbeError::ProgramLoad { .. } | ProbeError::NoBtf(_))
}

fn note_skip(
    skipped: &mut Vec<Skipped>,
    name: &str,
    e: &ProbeError,
    strict: bool,
) -> Result<(), ProbeError> {
    if strict {
        return Err(ProbeError::Strict {
            function: name.to_owned(),
            reason: e.to_string(),
        });
    }
    // Said once per reason at the end (`Skipped::grouped`), not once per function here.
    log::debug!("skipping {name}: {e}");
    skipped.push(Skipped {
        name: name.to_owned(),
        reason: e.to_string(),
    });
    Ok(())
}
