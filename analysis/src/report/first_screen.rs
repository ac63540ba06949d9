//! The first screen of every report: the answer and how far to trust it, before any table.
//! One typed [`FirstScreen`] computed from [`Results`]; `text.rs` prints it as a short header,
//! `html.rs` as the summary box, `markdown.rs` as a list.
//!
//! Three parts:
//! - **where the time goes**: the service time per datagram split into its stages, the probed
//!   path as a share of the proxy CPU's whole busy time per datagram when it was recorded, and
//!   the functions with the largest *self* time (their time less their probed callees', per
//!   datagram), as shares of `T`;
//! - **capacity**: the saturation rate `λ_max` of the choice the validation recommends (else
//!   of the probes' `T`, unvalidated), and the load at which that model's mean delay doubles
//!   (`queueing::delay_doubling_load`);
//! - **trust**: the validation's verdict, the probes' own share of `T`, the interrupted
//!   share, lost events, stages that kept nothing (and why: dropped by the filter, or never
//!   recorded), an unfinished trace, and where each stage ran (isolation).
//!
//! An item is an *alarm* only when it changes what the numbers mean; renderers draw alarms in
//! red and everything else plainly.

use super::unit::human;
use crate::queueing::{self, Setup};
use crate::results::{FunctionResult, Results};
use crate::stage::Stage;

/// The probes' own share of `T` above which it is an alarm.
pub const PROBE_SHARE_ALARM: f64 = 0.10;
/// The interrupted share of calls above which it is an alarm (those samples are dropped or
/// corrected, so a large share biases the kept ones towards the quiet moments).
pub const INTERRUPTED_SHARE_ALARM: f64 = 0.05;
/// Functions listed under "where the time goes".
pub const TOP_SELF: usize = 5;

/// One statement of the first screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What it is about, e.g. `"service time"`.
    pub label: &'static str,
    /// The statement.
    pub text: String,
    /// Whether it changes what the numbers mean (drawn in red).
    pub alarm: bool,
}

/// The answer and its trust, in three parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstScreen {
    /// Where the time goes.
    pub time: Vec<Item>,
    /// Capacity.
    pub capacity: Vec<Item>,
    /// How far to trust it.
    pub trust: Vec<Item>,
}

impl FirstScreen {
    /// Every item, part by part, with its part's title.
    pub fn parts(&self) -> [(&'static str, &[Item]); 3] {
        [
            ("Where the time goes", &self.time),
            ("Capacity", &self.capacity),
            ("Trust", &self.trust),
        ]
    }

    /// Whether any item is an alarm.
    pub fn any_alarm(&self) -> bool {
        self.parts()
            .iter()
            .any(|(_, items)| items.iter().any(|i| i.alarm))
    }
}

fn item(label: &'static str, text: String, alarm: bool) -> Item {
    Item { label, text, alarm }
}

/// A share as `35%`: without a space, so that wrapping never parts a number from its sign.
fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The first screen of `r`.
pub fn of(r: &Results) -> FirstScreen {
    let mut s = FirstScreen::default();
    time(r, &mut s.time);
    capacity(r, &mut s.capacity);
    trust(r, &mut s.trust);
    s
}

fn time(r: &Results, out: &mut Vec<Item>) {
    let Some(sv) = &r.service else {
        out.push(item(
            "service time",
            format!(
                "unknown: {}",
                r.service_unknown.as_deref().unwrap_or("no service time")
            ),
            !r.is_stats_mode(),
        ));
        return;
    };
    let stage_t = |st: Stage| r.stage(st).map_or(0.0, |s| s.stats.mean);
    let (rx, tx) = (stage_t(Stage::Rx), stage_t(Stage::Tx));
    let share = |x: f64| {
        if sv.mean > 0.0 {
            pct(x / sv.mean)
        } else {
            "-".into()
        }
    };
    out.push(item(
        "service time",
        format!(
            "T = {} per datagram on the CPU in the probed kernel path: receive {} ({}), send {} \
             ({})",
            human(sv.mean),
            human(rx),
            share(rx),
            human(tx),
            share(tx)
        ),
        false,
    ));
    for d in &r.demand {
        if let Some(probed) = d.probed_share {
            out.push(item(
                "whole demand",
                format!(
                    "CPU {} was busy {} per datagram received: the probed path is {} of it; the \
                     rest is user space, other system calls, scheduling and wake-ups",
                    d.cpu,
                    human(d.busy_per_receive_ns),
                    pct(probed)
                ),
                false,
            ));
        }
    }
    let mut selfs: Vec<(&FunctionResult, f64)> = r
        .functions
        .iter()
        .filter(|f| f.stats.samples > 0 && matches!(f.stage, Stage::Rx | Stage::Tx))
        .map(|f| (f, f.k * self_time(r, f)))
        // Under half a per cent a share prints as 0 %: not where the time goes.
        .filter(|(_, t)| *t >= 0.005 * sv.mean)
        .collect();
    selfs.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !selfs.is_empty() && sv.mean > 0.0 {
        let list: Vec<String> = selfs
            .iter()
            .take(TOP_SELF)
            .map(|(f, t)| format!("{} [{}] {}", f.function, f.stage, share(*t)))
            .collect();
        out.push(item(
            "top functions",
            format!("self time per datagram, share of T: {}", list.join(", ")),
            false,
        ));
    }
}

/// A function's mean time per call less its probed direct callees' (its chain's calculated
/// time), never below 0; a function without a chain has no probed callees.
fn self_time(r: &Results, f: &FunctionResult) -> f64 {
    r.chains
        .iter()
        .find(|c| c.stage == f.stage && c.root == f.function)
        .map_or(f.stats.mean, |c| {
            (c.experimental_mean - c.calculated_mean).max(0.0)
        })
}

fn capacity(r: &Results, out: &mut Vec<Item>) {
    let rec = r.validation.as_ref().and_then(|v| {
        let rec = v.recommended.as_ref()?;
        let c = v.choices.iter().find(|c| c.name == rec.choice)?;
        Some((rec, c))
    });
    let (lambda_max, model, mean, cv2, setup, source) = match (rec, &r.service, &r.model) {
        (Some((rec, c)), _, _) => (
            rec.lambda_max_per_s,
            rec.model.clone(),
            c.service.mean,
            c.service.cv2,
            c.setup.as_ref().map(|s| Setup {
                mean: s.mean,
                variance: s.variance,
            }),
            format!(
                "T from {} ({}), the validation's {}",
                c.name,
                human(c.service.mean),
                if rec.fits { "fit" } else { "closest" }
            ),
        ),
        (None, Some(sv), Some(m)) => (
            m.lambda_max_per_s,
            m.recommended.clone(),
            sv.mean,
            sv.cv2,
            None,
            format!("the probes' T ({}), not validated", human(sv.mean)),
        ),
        _ => {
            out.push(item(
                "capacity",
                "unknown: no service time to project".into(),
                false,
            ));
            return;
        }
    };
    out.push(item(
        "saturation",
        format!("λ_max = 1/T = {lambda_max:.0} datagrams/s, from {source}"),
        false,
    ));
    if let Some(rho) = queueing::delay_doubling_load(&model, mean, cv2, setup) {
        out.push(item(
            "delay doubles",
            format!(
                "at ρ = {rho:.2}, λ = {:.0}/s: {model} (C² = {cv2:.2}) gives twice its no-load \
                 mean delay there",
                rho * lambda_max
            ),
            false,
        ));
    }
}

fn trust(r: &Results, out: &mut Vec<Item>) {
    let repeat = r.validation.as_ref().and_then(|v| v.repeatability.as_ref());
    match r.validation.as_ref().and_then(|v| v.recommended.as_ref()) {
        Some(rec) => out.push(item(
            "verdict",
            if rec.fits {
                format!("plan with it: {}", rec.why)
            } else if repeat.is_some_and(|p| p.wider_than_tolerance) {
                // The sentence begins "inconclusive on this host".
                rec.why.clone()
            } else {
                format!("no model fits: {}", rec.why)
            },
            !rec.fits,
        )),
        None => out.push(item(
            "verdict",
            "not validated: no measured load points (`kpath analyze --validation`, or `cargo \
             xtask demo`), so the projection is unchecked"
                .into(),
            false,
        )),
    }
    if let Some(p) = repeat {
        out.push(item(
            "repeatability",
            p.verdict.clone(),
            p.wider_than_tolerance,
        ));
    }
    if let Some(sv) = r.service.as_ref().filter(|s| s.mean > 0.0) {
        // Every probed call inside an invocation adds one probe pair to its root's time.
        let nested: f64 = [Stage::Rx, Stage::Tx]
            .iter()
            .filter_map(|&st| r.stage(st))
            .map(|s| (s.calls_per_invocation - 1.0).max(0.0))
            .sum();
        match r.probe_cost.iter().max_by(|a, b| a.mean.total_cmp(&b.mean)) {
            Some(p) => {
                let share = p.mean * nested / sv.mean;
                out.push(item(
                    "probe cost",
                    format!(
                        "kpath's probe pairs nested in a datagram's path add about {} ({nested:.1} \
                         pairs of {}, {}) = {} of T{}",
                        human(p.mean * nested),
                        human(p.mean),
                        p.mechanism,
                        pct(share),
                        if r.settings.subtract_probe_cost {
                            "; subtracted"
                        } else {
                            ""
                        }
                    ),
                    share > PROBE_SHARE_ALARM && !r.settings.subtract_probe_cost,
                ));
            }
            None => out.push(item(
                "probe cost",
                "not calibrated (`kpath-probe calibrate` before recording): the probes' share \
                 of T is unknown"
                    .into(),
                false,
            )),
        }
    }
    let calls: u64 = r.functions.iter().map(|f| f.calls).sum();
    let interrupted: u64 = r
        .functions
        .iter()
        .map(|f| {
            let i = &f.interrupted;
            i.hardirq + i.softirq + i.switch + i.migration
        })
        .sum();
    if calls > 0 {
        let share = interrupted as f64 / calls as f64;
        out.push(item(
            "interrupted",
            format!(
                "{} of {calls} calls were hit by an interrupt, a switch or a migration ({}), \
                 filter {}",
                interrupted,
                pct(share),
                r.settings.filter.name()
            ),
            // `--filter net` corrects the samples; dropping them (or keeping them whole)
            // biases the times when many are hit.
            share > INTERRUPTED_SHARE_ALARM && r.settings.filter != crate::results::Filter::Net,
        ));
    }
    if let Some(sel) = &r.settings.selection {
        out.push(item(
            "selection",
            match &sel.warning {
                Some(w) => format!("{sel}: {w}"),
                None => format!("{sel}: the figures describe only these"),
            },
            sel.warning.is_some(),
        ));
    }
    let t = &r.trace;
    out.push(item(
        "lost events",
        if t.lost_events > 0 {
            format!(
                "{} lost while recording: trees and counts have gaps",
                t.lost_events
            )
        } else {
            "none".into()
        },
        t.lost_events > 0,
    ));
    if t.missed_probe_runs > 0 {
        out.push(item(
            "missed probes",
            format!(
                "the kernel skipped {} probe runs (recursion guard): those calls are missing",
                t.missed_probe_runs
            ),
            true,
        ));
    }
    if !t.finalised || t.cut_tail.is_some() {
        out.push(item(
            "trace",
            "the recorder did not finish, or the last record is cut: the end is missing".into(),
            true,
        ));
    }
    if !r.is_stats_mode() {
        for st in [Stage::Rx, Stage::Tx] {
            let text = match r.stage(st) {
                Some(s) if s.stats.samples > 0 => continue,
                Some(s) if s.invocations > 0 => format!(
                    "stage {st} kept none of its {} invocations: the filter ({}) dropped them \
                     all; on a one-kernel stand every send carries the peer's softirq: try \
                     --filter net, or give the proxy its own CPU",
                    s.invocations,
                    r.settings.filter.name()
                ),
                _ => match &r.settings.selection {
                    Some(sel) => format!(
                        "stage {st} has no invocation in the selection {}",
                        sel.selection.flags()
                    ),
                    None => format!(
                        "stage {st} recorded no invocation: wrong --pid or --cpu? no traffic? \
                         its roots not probed?"
                    ),
                },
            };
            out.push(item("empty stage", text, true));
        }
    }
    let places: Vec<String> = r
        .stages
        .iter()
        .filter(|s| !s.cpus.is_empty() && s.stage != Stage::Other)
        .map(|s| {
            let cpus: Vec<String> = s.cpus.iter().map(|c| c.cpu.to_string()).collect();
            format!("{} on CPU {}", s.stage, cpus.join(", "))
        })
        .collect();
    if !places.is_empty() {
        out.push(item("isolation", places.join("; "), false));
    }
}
