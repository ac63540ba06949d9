//! `kpath-probe calibrate`: the probe's own cost (methodology step 1).
//!
//! An almost empty interval is timed many times per mechanism: `sendto` on an invalid file
//! descriptor returns right after the descriptor lookup, so the entry-to-exit time of
//! `__sys_sendto` (kprobe, fentry) or of the `sendto` system-call tracepoints is the cost of
//! the probe pair plus a few tens of nanoseconds of real work; the figure slightly overstates
//! the probe cost, never understates it. Its mean and variance go into the trace metadata so
//! that analysis can subtract it (`kpath report --subtract-probe-cost`).

use kpath_trace::{Mechanism, ProbeCost};
use probe_common::{stage::TpStage, Event, EventKind, EVENT_SIZE};

use crate::{kernel, ProbeError, Probes, Settings};

/// The function whose near-empty calls are timed by kprobe and fentry.
pub const CALIBRATION_FUNCTION: &str = "__sys_sendto";

/// Times `count` near-empty intervals with `mechanism`; `None` with the reason when the
/// mechanism is not available on this kernel.
pub fn calibrate(
    mechanism: Mechanism,
    count: u32,
) -> Result<Result<ProbeCost, String>, ProbeError> {
    if !kernel::is_root() {
        return Err(ProbeError::NotRoot);
    }
    let mut probes = Probes::load(Settings {
        filter_pid: Some(std::process::id()),
        ..Settings::default()
    })?;
    const ID: u32 = 0;
    let attached = match mechanism {
        Mechanism::Tracepoint => probes.attach_stage(TpStage::SysSendto, ID),
        Mechanism::Kprobe | Mechanism::Fentry => (|| {
            let sym = kernel::Kallsyms::load()?
                .require(CALIBRATION_FUNCTION)?
                .clone();
            probes.register_function(ID, sym.address)?;
            if mechanism == Mechanism::Kprobe {
                probes.attach_kprobe_pair(CALIBRATION_FUNCTION)
            } else {
                probes.attach_fentry_pair(CALIBRATION_FUNCTION)
            }
        })(),
    };
    if let Err(e) = attached {
        return Ok(Err(e.to_string()));
    }
    let mut events = probes.take_events()?;
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
    let mut tally = |bytes: &[u8]| {
        let Ok(raw) = <&[u8; EVENT_SIZE]>::try_from(bytes) else {
            return;
        };
        let e = Event::from_le_bytes(raw);
        // Interrupted intervals are not the probe's cost.
        if e.tid == tid
            && e.kind == EventKind::Exit as u8
            && e.flags == 0
            && e.dur_ns > 0
            && !e.interrupted()
        {
            n += 1;
            let x = e.dur_ns as f64;
            let d = x - mean;
            mean += d / n as f64;
            m2 += d * (x - mean);
        }
    };
    let buf = [0u8; 1];
    for _ in 0..count {
        // SAFETY: sendto on fd -1 fails with EBADF without touching the buffer beyond its length.
        unsafe { libc::sendto(-1, buf.as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
        while let Some(item) = events.next() {
            tally(&item);
        }
    }
    if n < 2 {
        return Ok(Err(format!("only {n} clean intervals were recorded")));
    }
    Ok(Ok(ProbeCost {
        mechanism,
        mean_ns: mean,
        variance_ns2: m2 / (n - 1) as f64,
        samples: n,
    }))
}
