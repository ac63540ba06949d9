//! Tracepoint stages: pairs of kernel tracepoints that bracket a stage of the path.

use aya::{maps::Array, programs::TracePoint};
use probe_common::stage::TpStage;

use super::{hint_for_load, program, Probes};
use crate::{kernel, ProbeError};

impl Probes {
    /// Enables a tracepoint stage under function id `id` (its programs must also be attached).
    pub fn register_stage(&mut self, stage: TpStage, id: u32) -> Result<(), ProbeError> {
        let mut ids: Array<_, u32> = self.map_array("TP_FUNC_IDS")?;
        ids.set(stage as u32, id, 0)
            .map_err(|source| ProbeError::Map {
                what: format!("enable stage {}", stage.name()),
                source: Box::new(source),
            })
    }

    /// Attaches the bare timing pair (calibration) to the tracepoints of `stage`.
    pub fn attach_bare_stage(&mut self, stage: TpStage) -> Result<(), ProbeError> {
        let (category, enter, exit) = stage.tracepoints();
        self.attach_tracepoint(program::BARE_TP_EXIT, category, exit)?;
        self.attach_tracepoint(program::BARE_TP_ENTER, category, enter)
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
        let (penter, pexit) = program::stage_programs(stage);
        // Exit first, as for kprobes.
        self.attach_tracepoint(pexit, category, exit)?;
        self.attach_tracepoint(penter, category, enter)
    }
}
