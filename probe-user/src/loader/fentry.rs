//! fentry and fexit: BPF trampolines, verified against one target each, so each further
//! target loads the object again and shares the maps through pins in bpffs.

use std::path::PathBuf;

use aya::{
    maps::MapData,
    programs::{FEntry, FExit},
    Btf,
};

use super::{hint_for_load, program, Globals, Probes};
use crate::{kernel, object::ebpf_object, ProbeError};

/// Whether the object's map `name` is shared by every load (pinned for fentry re-loads):
/// all maps the programs declare, not the sections aya makes for global variables (`.rodata`,
/// `.bss`, `.data`), which each load sets from its own `override_global`s. Taken by iterating
/// over the object's maps, so that a new map cannot be forgotten and silently become private
/// to each re-load.
fn is_shared_map(name: &str) -> bool {
    !name.starts_with('.')
}

const FENTRY_HINT: &str = " (fentry/fexit need BPF trampolines: CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, and a kernel that allows them; use --mechanism kprobe)";

/// An fentry/fexit pair verified for one function and not yet attached
/// ([`Probes::load_fentry_pair`]).
#[derive(Debug)]
pub struct LoadedFentry {
    /// The object its programs belong to: `None` for the first load, else an index into the
    /// re-loads made for further targets.
    object: Option<usize>,
    function: String,
    entry: &'static str,
    exit: &'static str,
}

impl Probes {
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
        let loaded = self.load_fentry_pair(function)?;
        self.attach_loaded_fentry(&loaded)
    }

    /// Verifies fentry and fexit programs for `function` without attaching them
    /// ([`Probes::attach_loaded_fentry`] does). The recorder verifies every target first and
    /// then attaches them together: each verification takes a tenth of a second or more, and
    /// targets attached in between would fill the event rings under load before the recorder
    /// reads them (as `Probes::load_stage` says for tracepoint stages).
    pub fn load_fentry_pair(&mut self, function: &str) -> Result<LoadedFentry, ProbeError> {
        self.load_fentry_programs(function, program::FENTRY, program::FEXIT)
    }

    /// Attaches the bare timing pair (calibration) to `function` with fentry/fexit. Only on a
    /// fresh load: the bare programs are not part of the multi-target pinning.
    pub fn attach_bare_fentry_pair(&mut self, function: &str) -> Result<(), ProbeError> {
        let loaded =
            self.load_fentry_programs(function, program::BARE_FENTRY, program::BARE_FEXIT)?;
        self.attach_loaded_fentry(&loaded)
    }

    fn load_fentry_programs(
        &mut self,
        function: &str,
        entry: &'static str,
        exit: &'static str,
    ) -> Result<LoadedFentry, ProbeError> {
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
        let object = if reuse {
            let dir = self.pin_dir.clone().unwrap_or_default();
            let globals = Globals::from(&self.settings);
            let loaded =
                Self::loader_for(&globals, &self.event_rings, Some((&dir, &self.shared_maps)))
                    .load(ebpf_object()?)
                    .map_err(|source| ProbeError::Load {
                        source: Box::new(source),
                        hint: hint_for_load(),
                    })?;
            self.per_target.push(loaded);
            Some(self.per_target.len() - 1)
        } else {
            None
        };
        let ebpf = match object {
            Some(i) => &mut self.per_target[i],
            None => &mut self.primary,
        };
        let load_err = |program, source| ProbeError::ProgramLoad {
            program,
            target: format!(" for {function}"),
            source: Box::new(source),
            hint: FENTRY_HINT,
        };
        let fexit: &mut FExit = ebpf
            .program_mut(exit)
            .ok_or(ProbeError::NoProgram(exit))?
            .try_into()
            .map_err(|e| load_err(exit, e))?;
        fexit.load(function, &btf).map_err(|e| load_err(exit, e))?;
        let fentry: &mut FEntry = ebpf
            .program_mut(entry)
            .ok_or(ProbeError::NoProgram(entry))?
            .try_into()
            .map_err(|e| load_err(entry, e))?;
        fentry
            .load(function, &btf)
            .map_err(|e| load_err(entry, e))?;
        self.fentry_used = true;
        self.fexit_used = true;
        Ok(LoadedFentry {
            object,
            function: function.to_owned(),
            entry,
            exit,
        })
    }

    /// Attaches a pair that [`Probes::load_fentry_pair`] verified: the exit first, since an
    /// exit without an entry is harmless (flagged unmatched).
    pub fn attach_loaded_fentry(&mut self, loaded: &LoadedFentry) -> Result<(), ProbeError> {
        let ebpf = match loaded.object {
            Some(i) => self
                .per_target
                .get_mut(i)
                .ok_or(ProbeError::NoProgram(loaded.entry))?,
            None => &mut self.primary,
        };
        let function = loaded.function.as_str();
        let attach_err = |program, source| ProbeError::Attach {
            program,
            target: function.to_owned(),
            source: Box::new(source),
            hint: FENTRY_HINT,
        };
        let as_load_err = |program, source| ProbeError::ProgramLoad {
            program,
            target: format!(" for {function}"),
            source: Box::new(source),
            hint: FENTRY_HINT,
        };
        let fexit: &mut FExit = ebpf
            .program_mut(loaded.exit)
            .ok_or(ProbeError::NoProgram(loaded.exit))?
            .try_into()
            .map_err(|e| as_load_err(loaded.exit, e))?;
        fexit.attach().map_err(|e| attach_err(loaded.exit, e))?;
        let fentry: &mut FEntry = ebpf
            .program_mut(loaded.entry)
            .ok_or(ProbeError::NoProgram(loaded.entry))?
            .try_into()
            .map_err(|e| as_load_err(loaded.entry, e))?;
        fentry.attach().map_err(|e| attach_err(loaded.entry, e))?;
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
        let mut shared = Vec::new();
        for (name, map) in self.primary.maps_mut() {
            if !is_shared_map(name) {
                continue;
            }
            let data: &mut MapData = match map {
                aya::maps::Map::Array(m)
                | aya::maps::Map::PerCpuArray(m)
                | aya::maps::Map::HashMap(m)
                | aya::maps::Map::PerCpuHashMap(m)
                | aya::maps::Map::LruHashMap(m)
                | aya::maps::Map::PerCpuLruHashMap(m)
                | aya::maps::Map::RingBuf(m) => m,
                _ => {
                    return Err(ProbeError::Kernel {
                        what: format!("pin of map {name}"),
                        source: std::io::Error::other(
                            "a map type the pinning does not know: add it here",
                        ),
                    })
                }
            };
            data.pin(dir.join(name)).map_err(|e| ProbeError::Kernel {
                what: format!("pin of map {name}"),
                source: std::io::Error::other(e.to_string()),
            })?;
            shared.push(name.to_owned());
        }
        self.shared_maps = shared;
        self.pin_dir = Some(dir);
        Ok(())
    }
}
