//! kprobe and kretprobe: one program pair attached to any number of functions.

use aya::programs::KProbe;

use super::{hint_for_load, program, Probes};
use crate::{kernel, ProbeError};

impl Probes {
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
}
