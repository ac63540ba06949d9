//! The CPUs' whole service demand against the probed path (issue "A projection that
//! predicts", item 1): the busy time of each CPU that received datagrams
//! (`kpath_trace::CpuBusyInfo`, from the switches to and from its idle task), divided by the
//! datagrams it received — the utilisation law, `S = U/λ = busy time / datagrams` — and the
//! share of it that the probes' service time `T` explains. The rest is what the probes do not
//! see: the proxy's user space, system calls and kernel work outside the probed set,
//! scheduling, and the wake-up of an idle CPU.
//!
//! "Datagrams received" are the receive-stage invocations that ran on the CPU. On the
//! isolated stand that is one per datagram relayed (the demo checks it); where the proxy's
//! CPU also receives the replies of others it overcounts, which the report's "where the
//! invocations ran" shows.

use kpath_trace::Metadata;

use crate::results::{CpuDemand, Service, StageResult};
use crate::stage::Stage;

/// One [`CpuDemand`] per CPU with both busy time and receive invocations, by CPU.
/// `service` is the probes' T, in ns (the analysis pass's unit), if any.
pub fn of(meta: &Metadata, stages: &[StageResult], service: Option<&Service>) -> Vec<CpuDemand> {
    let Some(busy) = &meta.cpu_busy else {
        return Vec::new();
    };
    let Some(rx) = stages.iter().find(|s| s.stage == Stage::Rx) else {
        return Vec::new();
    };
    let mut out: Vec<CpuDemand> = busy
        .iter()
        .filter_map(|b| {
            let n = rx.cpus.iter().find(|c| c.cpu == b.cpu)?.invocations;
            if n == 0 {
                return None;
            }
            let per = b.busy_ns as f64 / n as f64;
            Some(CpuDemand {
                cpu: b.cpu,
                busy: b.clone(),
                receive_invocations: n,
                busy_per_receive_ns: per,
                probed_share: service.filter(|_| per > 0.0).map(|s| s.mean / per),
            })
        })
        .collect();
    out.sort_by_key(|d| d.cpu);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::CpuCount;
    use kpath_trace::CpuBusyInfo;

    fn busy(cpu: u32, busy_ns: u64) -> CpuBusyInfo {
        CpuBusyInfo {
            cpu,
            window_ns: 1_000_000_000,
            busy_ns,
            idle_irq_ns: 0,
            cycles: 0,
            long_cycles: 0,
            long_cycles_ns: 0,
            cycle_mean_ns: None,
            cycle_variance_ns2: None,
            cycle_min_ns: None,
            cycle_max_ns: None,
        }
    }

    #[test]
    fn busy_time_per_datagram_received_and_the_probes_share_of_it() {
        let mut meta = Metadata::new("test", "6.1", 4);
        meta.cpu_busy = Some(vec![busy(3, 50_000_000), busy(1, 40_000_000), busy(0, 9)]);
        let mut rx = StageResult {
            stage: Stage::Rx,
            invocations: 2_010,
            complete_invocations: 2_010,
            dropped: 0,
            stats: Default::default(),
            calls_per_invocation: 1.0,
            distinct_functions: 1,
            plain_average: 0.0,
            normative_per_call: 0.0,
            normative_error_pct: 0.0,
            cpus: Vec::new(),
            sources: Vec::new(),
        };
        // CPU 1 received 2 000 datagrams, CPU 3 none of the stage (only busy), CPU 2 no busy.
        rx.cpus = vec![
            CpuCount {
                cpu: 1,
                invocations: 2_000,
            },
            CpuCount {
                cpu: 2,
                invocations: 10,
            },
        ];
        let t = Service {
            mean: 5_000.0,
            variance: 1.0,
            cv2: 0.0,
        };
        let d = of(&meta, &[rx], Some(&t));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].cpu, d[0].receive_invocations), (1, 2_000));
        assert_eq!(d[0].busy_per_receive_ns, 20_000.0);
        assert_eq!(d[0].probed_share, Some(0.25));
        assert_eq!(
            of(&Metadata::new("test", "6.1", 4), &[], Some(&t)),
            Vec::new()
        );
    }
}
