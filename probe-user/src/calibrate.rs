//! `kpath-probe calibrate`: the probe's own cost (methodology step 1), and how much of it is
//! kpath's rather than the mechanism's.
//!
//! A near-empty interval is timed many times per mechanism: `sendto` on an invalid file
//! descriptor returns right after the descriptor lookup, so the entry-to-exit time of
//! `__sys_sendto` (kprobe, fentry) or of the `sendto` system-call tracepoints is the cost of
//! the probe pair plus a few tens of nanoseconds of real work; the figure slightly overstates
//! the probe cost, never understates it.
//!
//! Two pairs time the same interval on the same hook, in alternated rounds:
//! - kpath's pair, as `record` attaches it;
//! - the bare pair (`probe-ebpf/src/bare.rs`): a timestamp at entry, one at exit, nothing
//!   else. Any tool that times an interval on this hook pays at least that.
//!
//! kpath's mean minus the bare mean is kpath's own share. The caller's wall time per call
//! is measured too, with nothing attached, with the bare pair and with kpath's pair. The
//! calibrating thread is pinned to one CPU, so that per-CPU state and the timestamps of a pair
//! stay on one CPU.

use std::time::Instant;

use kpath_trace::{CallerCost, Mechanism, PairTiming, ProbeCost};
use probe_common::{calibration::BARE_SAMPLE_SLOTS, stage::TpStage, Event, EventKind, EVENT_SIZE};

use crate::{kernel, pinned::PinnedToThisCpu, ProbeError, Probes, Settings};

/// The function whose near-empty calls are timed by kprobe and fentry.
pub const CALIBRATION_FUNCTION: &str = "__sys_sendto";

/// Rounds per mechanism: each round runs every condition once, in turn.
pub const ROUNDS: u32 = 4;

/// The most intervals one round may time: the bare pair keeps the last `BARE_SAMPLE_SLOTS`.
pub const MAX_PER_ROUND: u32 = BARE_SAMPLE_SLOTS;

/// What is attached while the calls are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pair {
    None,
    Bare,
    Kpath,
}

/// Times `count` near-empty intervals per pair with `mechanism`, in [`ROUNDS`] alternated
/// rounds; `Ok(Err(reason))` when the mechanism is not available on this kernel.
pub fn calibrate(
    mechanism: Mechanism,
    count: u32,
) -> Result<Result<ProbeCost, String>, ProbeError> {
    if !kernel::is_root() {
        return Err(ProbeError::NotRoot);
    }
    let per_round = count.div_ceil(ROUNDS);
    if per_round == 0 || per_round > MAX_PER_ROUND {
        return Err(ProbeError::BadOption(format!(
            "--count {count}: must be between 1 and {} ({ROUNDS} rounds of at most {MAX_PER_ROUND})",
            u64::from(MAX_PER_ROUND) * u64::from(ROUNDS)
        )));
    }
    let _pinned = PinnedToThisCpu::new("the calibrating thread")?;
    let mut kpath = Vec::with_capacity(count as usize);
    let mut bare = Vec::with_capacity(count as usize);
    let mut caller: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, pair) in [Pair::None, Pair::Bare, Pair::Kpath]
            .into_iter()
            .enumerate()
        {
            let round = match run_round(mechanism, pair, per_round)? {
                Ok(r) => r,
                Err(reason) => return Ok(Err(reason)),
            };
            caller[i].push(round.caller_ns_per_call);
            match pair {
                Pair::None => {}
                Pair::Bare => bare.extend(round.intervals),
                Pair::Kpath => kpath.extend(round.intervals),
            }
        }
    }
    let (Some(k), Some(b)) = (timing(&mut kpath), timing(&mut bare)) else {
        return Ok(Err(format!(
            "too few intervals were recorded ({} by kpath's pair, {} by the bare pair)",
            kpath.len(),
            bare.len()
        )));
    };
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let [mut none_ns, mut bare_ns, mut kpath_ns] = caller;
    Ok(Ok(ProbeCost {
        mechanism,
        mean_ns: k.mean_ns,
        variance_ns2: k.variance_ns2,
        samples: k.samples,
        median_ns: Some(k.median_ns),
        bare: Some(b),
        caller: Some(CallerCost {
            none_ns: median(&mut none_ns),
            bare_ns: median(&mut bare_ns),
            kpath_ns: median(&mut kpath_ns),
        }),
    }))
}

struct Round {
    intervals: Vec<u64>,
    caller_ns_per_call: f64,
}

/// Attaches `pair`, makes `calls` near-empty calls, and collects the intervals the pair timed.
fn run_round(
    mechanism: Mechanism,
    pair: Pair,
    calls: u32,
) -> Result<Result<Round, String>, ProbeError> {
    let mut probes = Probes::load(Settings {
        filter_pid: Some(std::process::id()),
        ..Settings::default()
    })?;
    if pair != Pair::None {
        if let Err(e) = attach(&mut probes, mechanism, pair) {
            return Ok(Err(e.to_string()));
        }
    }
    let mut events = probes.take_events()?;
    let buf = [0u8; 1];
    let start = Instant::now();
    for _ in 0..calls {
        // SAFETY: sendto on fd -1 fails with EBADF without touching the buffer beyond its length.
        unsafe { libc::sendto(-1, buf.as_ptr().cast(), 1, 0, std::ptr::null(), 0) };
    }
    let caller_ns_per_call = start.elapsed().as_nanos() as f64 / f64::from(calls);
    let intervals = match pair {
        Pair::None => Vec::new(),
        Pair::Bare => probes.bare_samples()?,
        Pair::Kpath => {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            let mut v = Vec::with_capacity(calls as usize);
            events.read(|item| {
                if let Ok(raw) = <&[u8; EVENT_SIZE]>::try_from(item) {
                    let e = Event::from_le_bytes(raw);
                    if e.tid == tid && e.kind == EventKind::Exit as u8 && e.flags == 0 {
                        v.push(e.dur_ns);
                    }
                }
                true
            });
            v
        }
    };
    Ok(Ok(Round {
        intervals,
        caller_ns_per_call,
    }))
}

fn attach(probes: &mut Probes, mechanism: Mechanism, pair: Pair) -> Result<(), ProbeError> {
    const ID: u32 = 0;
    let bare = pair == Pair::Bare;
    match mechanism {
        Mechanism::Tracepoint if bare => probes.attach_bare_stage(TpStage::SysSendto),
        Mechanism::Tracepoint => probes.attach_stage(TpStage::SysSendto, ID),
        Mechanism::Kprobe | Mechanism::Fentry => {
            let sym = kernel::Kallsyms::load()?
                .require(CALIBRATION_FUNCTION)?
                .clone();
            probes.register_function(ID, sym.address)?;
            match (mechanism, bare) {
                (Mechanism::Kprobe, false) => probes.attach_kprobe_pair(CALIBRATION_FUNCTION),
                (Mechanism::Kprobe, true) => probes.attach_bare_kprobe_pair(CALIBRATION_FUNCTION),
                (_, false) => probes.attach_fentry_pair(CALIBRATION_FUNCTION),
                (_, true) => probes.attach_bare_fentry_pair(CALIBRATION_FUNCTION),
            }
        }
    }
}

/// Mean, variance (Welford) and median of `v`; `None` with fewer than two intervals.
fn timing(v: &mut [u64]) -> Option<PairTiming> {
    if v.len() < 2 {
        return None;
    }
    let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
    for &x in v.iter() {
        n += 1;
        let x = x as f64;
        let d = x - mean;
        mean += d / n as f64;
        m2 += d * (x - mean);
    }
    v.sort_unstable();
    Some(PairTiming {
        mean_ns: mean,
        variance_ns2: m2 / (n - 1) as f64,
        median_ns: v[v.len() / 2] as f64,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::timing;

    #[test]
    fn timing_gives_mean_variance_and_median() {
        let mut v = vec![10, 20, 30, 40, 1000];
        let t = timing(&mut v).expect("timing");
        assert_eq!(t.samples, 5);
        assert!((t.mean_ns - 220.0).abs() < 1e-9);
        assert_eq!(t.median_ns, 30.0);
        // Sample variance of 10, 20, 30, 40, 1000.
        let var = [10.0f64, 20.0, 30.0, 40.0, 1000.0]
            .iter()
            .map(|x| (x - 220.0) * (x - 220.0))
            .sum::<f64>()
            / 4.0;
        assert!((t.variance_ns2 - var).abs() < 1e-6);
        assert!(timing(&mut [5]).is_none());
    }
}
