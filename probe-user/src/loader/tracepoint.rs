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

    fn tracepoint_program(&mut self, program: &'static str) -> Result<&mut TracePoint, ProbeError> {
        self.primary
            .program_mut(program)
            .ok_or(ProbeError::NoProgram(program))?
            .try_into()
            .map_err(|source| ProbeError::ProgramLoad {
                program,
                target: String::new(),
                source: Box::new(source),
                hint: "",
            })
    }

    /// Loads a tracepoint program through the verifier, unless it is loaded already.
    fn load_tracepoint(&mut self, program: &'static str) -> Result<(), ProbeError> {
        let prog = self.tracepoint_program(program)?;
        if prog.fd().is_err() {
            prog.load().map_err(|source| ProbeError::ProgramLoad {
                program,
                target: String::new(),
                source: Box::new(source),
                hint: hint_for_load(),
            })?;
        }
        Ok(())
    }

    /// Attaches a tracepoint program (loading it first if needed).
    pub fn attach_tracepoint(
        &mut self,
        program: &'static str,
        category: &str,
        name: &str,
    ) -> Result<(), ProbeError> {
        kernel::ensure_tracefs()?;
        self.load_tracepoint(program)?;
        self.tracepoint_program(program)?
            .attach(category, name)
            .map_err(|source| ProbeError::Attach {
                program,
                target: format!("tracepoint {category}:{name}"),
                source: Box::new(source),
                hint: "",
            })?;
        Ok(())
    }

    /// Loads the programs of a tracepoint stage through the verifier without attaching them.
    /// The recorder loads every stage it records first and then attaches them one after
    /// another: a verification takes about 0.1 s here, and probes attached in between would
    /// fill the event rings under load before the recorder starts reading them (at 1.5 M
    /// records/s, a 16 MiB ring is full in 0.17 s).
    pub fn load_stage(&mut self, stage: TpStage) -> Result<(), ProbeError> {
        if stage == TpStage::NetRxSoftirq {
            return Ok(());
        }
        let (penter, pexit) = program::stage_programs(stage);
        self.load_tracepoint(pexit)?;
        self.load_tracepoint(penter)
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
