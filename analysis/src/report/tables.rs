//! Every table of a report as plain data (unescaped text cells): one place decides each
//! table's columns, and the renderers draw them (`report/text.rs` for the terminal,
//! `report/markdown.rs`, `html.rs`). Column 0 and the identifier columns (`code_cols`) are
//! text, the others numbers (right-aligned in the terminal).
//!
//! The file is long by design: it is the one place that decides every table's columns, one
//! builder per table.

use std::collections::BTreeMap;

use super::fmt_time;
use super::unit::TimeUnit;
use crate::kernel_stats::{KernelStatsResult, VarianceStatus};
use crate::results::{Clock, LevelOrigin, Results};
use crate::stage::Stage;
use crate::util::slug;
use crate::validation::{Prediction, ValidationRow};

/// One table row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// Stable element id (HTML `id`), if any.
    pub id: Option<String>,
    /// Whether the row reports a problem (drawn highlighted).
    pub alarm: bool,
    /// The cells, as plain text.
    pub cells: Vec<String>,
}

/// A table with a caption, header and rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Stable id (HTML `id` of the `<table>`).
    pub id: String,
    /// What the table shows.
    pub caption: String,
    /// Column headers.
    pub head: Vec<String>,
    /// Columns holding identifiers (function names, choice names), rendered as code.
    pub code_cols: Vec<usize>,
    /// Columns of text, left-aligned in the terminal: column 0 and `code_cols` unless a table
    /// says otherwise; the others are numbers.
    pub text_cols: Vec<usize>,
    /// Rows.
    pub rows: Vec<Row>,
}

impl Table {
    fn new(id: &str, caption: String, head: &[&str], code_cols: &[usize]) -> Self {
        Self {
            id: id.into(),
            caption,
            head: head.iter().map(|s| s.to_string()).collect(),
            code_cols: code_cols.to_vec(),
            text_cols: std::iter::once(0)
                .chain(code_cols.iter().copied())
                .collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, cells: Vec<String>) {
        self.rows.push(Row {
            cells,
            ..Row::default()
        });
    }
}

/// One line of the run metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// What.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Whether it reports a problem (lost events, unfinished trace, fallback).
    pub alarm: bool,
}

/// `YYYY-MM-DD hh:mm:ss.mmm UTC` from ns since the Unix epoch (proleptic Gregorian calendar,
/// H. Hinnant's `civil_from_days`).
pub fn utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let ms = (unix_ns % 1_000_000_000) / 1_000_000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{ms:03} UTC",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

fn compact_json(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 400 {
        let t: String = s.chars().take(399).collect();
        format!("{t}…")
    } else {
        s
    }
}

/// The run's metadata: host, kernel, tools, times, mechanisms, counts, losses, settings, and
/// every note the recorder left.
pub fn metadata(r: &Results, u: TimeUnit) -> Vec<Meta> {
    let t = &r.trace;
    let mut v = Vec::new();
    let mut put = |key: &str, value: String, alarm: bool| {
        v.push(Meta {
            key: key.into(),
            value,
            alarm,
        })
    };
    put(
        "lost events",
        if t.lost_events > 0 {
            format!(
                "{} EVENTS LOST in the kernel (per CPU: {:?}): trees and counts have gaps",
                t.lost_events, t.lost_events_per_cpu
            )
        } else {
            "0".into()
        },
        t.lost_events > 0,
    );
    if let Some(cut) = &t.cut_tail {
        put("cut record", cut.to_string(), true);
    }
    if let Some(reordered) = &t.reordered {
        put("record order", reordered.to_string(), false);
    }
    if r.anomalies.out_of_order > 0 {
        put(
            "record order",
            format!(
                "{} records out of time order within their call stacks",
                r.anomalies.out_of_order
            ),
            true,
        );
    }
    if let Some(f) = t.notes.get("fallback") {
        put("mechanism fallback", compact_json(f), true);
    }
    put("host", t.hostname.clone(), false);
    put("kernel", t.kernel_release.clone(), false);
    put("CPUs", t.cpu_count.to_string(), false);
    let mut mechs: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.functions {
        *mechs.entry(f.mechanism.as_str()).or_default() += 1;
    }
    put(
        "mechanisms",
        if mechs.is_empty() {
            "none (no function returned)".into()
        } else {
            mechs
                .iter()
                .map(|(m, n)| format!("{m} ({n} function-stage pairs)"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        false,
    );
    put("recorder", t.tool.clone(), false);
    put("analyzer", r.analyzer.clone(), false);
    if t.start_time_unix_ns > 0 {
        put("start", utc(t.start_time_unix_ns), false);
    }
    match t.stop_time_unix_ns {
        Some(stop) => {
            let dur = stop.saturating_sub(t.start_time_unix_ns) as f64 * 1e-9;
            put("stop", format!("{} ({dur:.3} s)", utc(stop)), false);
        }
        None => put(
            "stop",
            if t.finalised {
                "not recorded".into()
            } else {
                "unknown: the recorder did not finish".into()
            },
            !t.finalised,
        ),
    }
    put(
        "trace",
        format!(
            "{} ({} records{})",
            t.path,
            t.records,
            if t.finalised {
                ""
            } else {
                ", NOT FINALISED: the recorder did not finish"
            }
        ),
        !t.finalised,
    );
    if !t.command_line.is_empty() {
        put("command line", t.command_line.join(" "), false);
    }
    if !t.clock_source.is_empty() {
        put("clock", t.clock_source.clone(), false);
    }
    for s in &r.stages {
        put(
            &format!("{} invocations", s.stage),
            format!(
                "{} ({} complete, {} kept after the filter)",
                s.invocations, s.complete_invocations, s.stats.samples
            ),
            false,
        );
    }
    let mut names: Vec<&str> = r.functions.iter().map(|f| f.function.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    put("functions with calls", names.len().to_string(), false);
    let a = &r.anomalies;
    let anomalies =
        a.unmatched_exits + a.unwound_calls + a.depth_gaps + a.depth_overflows + a.open_at_end;
    put(
        "nesting anomalies",
        format!(
            "{} unmatched exits, {} unwound calls, {} depth gaps, {} depth overflows, {} broken invocations, {} open at end",
            a.unmatched_exits, a.unwound_calls, a.depth_gaps, a.depth_overflows, a.broken_invocations, a.open_at_end
        ),
        anomalies > 0,
    );
    if let Some(sel) = &r.settings.selection {
        put(
            "selection",
            match &sel.warning {
                Some(w) => format!("{sel}; {w}"),
                None => sel.to_string(),
            },
            sel.warning.is_some(),
        );
    }
    put(
        "settings",
        format!(
            "filter {}{}; times in {}",
            r.settings.filter.name(),
            if r.settings.subtract_probe_cost {
                ", probe cost subtracted"
            } else {
                ""
            },
            u.describe()
        ),
        false,
    );
    for p in &r.probe_cost {
        put(
            &format!("probe cost ({})", p.mechanism),
            super::probe_cost_text(p),
            false,
        );
    }
    if let Some(w) = super::clamped_text(r) {
        put("probe cost clamped", w, true);
    }
    if let Some(t) = super::recorder_text(r) {
        put("recorder", t, false);
    }
    for (k, val) in t.notes.iter().filter(|(k, _)| k.as_str() != "fallback") {
        put(&format!("recorder: {k}"), compact_json(val), false);
    }
    v
}

/// The cell of a figure computed from no sample: not a zero.
const NO_DATA: &str = "-";

/// "yes" when the 1 % precision of the mean is reached, else the samples it needs (`n≥…`).
fn precision_1pct(reached: bool, needed: Option<f64>) -> String {
    if reached {
        "yes".into()
    } else {
        needed
            .map(|n| format!("n≥{n:.0}"))
            .unwrap_or_else(|| NO_DATA.into())
    }
}

/// Per stage (methodology step 6).
pub fn stages(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "stages-table",
        format!("Per stage: time per invocation T and its variance D ({un})"),
        &[
            "stage",
            "invocations",
            "kept",
            "mean T",
            "±ci95",
            "variance D",
            "C²",
            "p50",
            "p99",
            "calls/inv",
            "±1%",
        ],
        &[],
    );
    for s in &r.stages {
        let st = &s.stats;
        let some = |x: String| if st.samples == 0 { NO_DATA.into() } else { x };
        t.push(vec![
            s.stage.to_string(),
            s.invocations.to_string(),
            st.samples.to_string(),
            some(u.time(st.mean)),
            some(u.time(st.ci95)),
            some(u.variance(st.variance)),
            some(format!("{:.3}", st.cv2)),
            some(u.time(st.p50)),
            some(u.time(st.p99)),
            format!("{:.2}", s.calls_per_invocation),
            some(precision_1pct(
                st.precision_1pct_reached,
                st.samples_needed_1pct,
            )),
        ]);
    }
    t
}

/// Per stage: the plain average of its functions' times against the normative time per call
/// (methodology step 6).
pub fn plain_vs_normative(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "normative-table",
        format!("Plain average per function vs normative time per call ({un})"),
        &["stage", "functions", "plain avg", "normative", "error"],
        &[],
    );
    for s in r.stages.iter().filter(|s| s.stage != Stage::Other) {
        t.push(vec![
            s.stage.to_string(),
            s.distinct_functions.to_string(),
            u.time(s.plain_average),
            u.time(s.normative_per_call),
            format!("{:.1}%", s.normative_error_pct),
        ]);
    }
    t
}

/// Per function: time per call t, its spread and the net mean (methodology steps 3–4).
pub fn function_times(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "function-times-table",
        format!(
            "Per function: time per call t ({un}, {})",
            clock_words(r.settings.clock)
        ),
        &[
            "stage", "function", "calls", "k", "kept", "dropped", "mean", "±ci95", "std", "C²",
            "net mean",
        ],
        &[1],
    );
    for f in &r.functions {
        let s = &f.stats;
        let some = |x: String| if s.samples == 0 { NO_DATA.into() } else { x };
        t.push(vec![
            f.stage.to_string(),
            f.function.clone(),
            f.calls.to_string(),
            format!("{:.2}", f.k),
            s.samples.to_string(),
            f.dropped.to_string(),
            some(u.time(s.mean)),
            some(u.time(s.ci95)),
            some(u.time(s.std_dev)),
            some(format!("{:.3}", s.cv2)),
            u.time(f.net_mean),
        ]);
    }
    t
}

/// Per function that blocked: the waiting that on-CPU times leave out. A call *blocked* when
/// its task was switched out inside it (it slept, or was preempted); its *off-CPU* time is
/// that time away. One row per function with a blocked call; no rows when none blocked.
pub fn waiting(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "waiting-table",
        format!("Per function: waiting off the CPU ({un}), left out of on-CPU times"),
        &[
            "stage",
            "function",
            "calls",
            "blocked",
            "blocked %",
            "off-CPU per call",
            "off-CPU per blocked call",
        ],
        &[1],
    );
    for f in r.functions.iter().filter(|f| f.blocked > 0) {
        let known = |x: f64| {
            if r.trace.off_cpu_recorded {
                u.time(x)
            } else {
                NO_DATA.into()
            }
        };
        t.push(vec![
            f.stage.to_string(),
            f.function.clone(),
            f.calls.to_string(),
            f.blocked.to_string(),
            format!("{:.1}", 100.0 * f.blocked as f64 / f.calls.max(1) as f64),
            known(f.off_cpu_mean),
            known(f.off_cpu_mean * f.calls as f64 / f.blocked as f64),
        ]);
    }
    t
}

/// How a table title names the clock of its times.
pub fn clock_words(clock: Clock) -> &'static str {
    match clock {
        Clock::OnCpu => "on-CPU",
        Clock::Wall => "wall-clock, sleeping included",
    }
}

/// Per function: the distribution of t and the interrupted samples by cause.
pub fn function_distribution(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "function-distribution-table",
        format!("Per function: distribution ({un}) and interrupted samples by cause"),
        &[
            "stage", "function", "min", "p50", "p90", "p99", "max", "irq", "sirq", "sw", "mig",
            "±1%",
        ],
        &[1],
    );
    for f in &r.functions {
        let s = &f.stats;
        let i = &f.interrupted;
        let some = |x: String| if s.samples == 0 { NO_DATA.into() } else { x };
        t.push(vec![
            f.stage.to_string(),
            f.function.clone(),
            some(u.time(s.min)),
            some(u.time(s.p50)),
            some(u.time(s.p90)),
            some(u.time(s.p99)),
            some(u.time(s.max)),
            i.hardirq.to_string(),
            i.softirq.to_string(),
            i.switch.to_string(),
            i.migration.to_string(),
            precision_1pct(s.precision_1pct_reached, s.samples_needed_1pct),
        ]);
    }
    t
}

/// Per nesting level, counted from the root or from the leaves (methodology step 5).
pub fn levels(r: &Results, from: LevelOrigin, u: TimeUnit) -> Table {
    let un = u.name();
    let (id, label) = match from {
        LevelOrigin::Leaves => (
            "levels-leaves-table",
            "from the leaves (0 = no probed callees)",
        ),
        LevelOrigin::Root => ("levels-root-table", "from the root (0 = root)"),
    };
    let mut t = Table::new(
        id,
        format!("Per nesting level, {label} ({un})"),
        &[
            "stage",
            "level",
            "functions",
            "calls/inv",
            "Σk·t",
            "Σk·D",
            "mean",
            "variance",
        ],
        &[],
    );
    for l in r.levels.iter().filter(|l| l.from == from) {
        t.push(vec![
            l.stage.to_string(),
            l.level.to_string(),
            l.functions.len().to_string(),
            format!("{:.2}", l.calls_per_invocation),
            u.time(l.sum_kt),
            u.variance(l.sum_kd),
            u.time(l.mean),
            u.variance(l.variance),
        ]);
    }
    t
}

/// Stats mode: time per call t of the clean samples, per function (`?` where the kernel's
/// sums saturated).
pub fn kernel_times(k: &KernelStatsResult, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "kernel-times-table",
        format!("Per function, aggregated in the kernel: time per call t of the clean samples ({un}); dropped = interrupted"),
        &[
            "function", "calls", "kept", "dropped", "mean", "±ci95", "std", "C²", "±1%",
        ],
        &[0],
    );
    for f in &k.functions {
        let unknown = f.variance_status == VarianceStatus::Saturated;
        let var_cell = |x: Option<f64>, fmt: &dyn Fn(f64) -> String| match x {
            Some(v) => fmt(v),
            None if unknown => "?".to_string(),
            None => "-".to_string(),
        };
        t.push(vec![
            f.function.clone(),
            f.calls.to_string(),
            f.samples.to_string(),
            f.dropped.to_string(),
            if f.mean.is_none() && f.samples > 0 {
                "?".into()
            } else {
                opt_time(u, f.mean)
            },
            var_cell(f.ci95, &|x| u.time(x)),
            var_cell(f.std_dev, &|x| u.time(x)),
            var_cell(f.cv2, &|c| format!("{c:.3}")),
            precision_1pct(f.precision_1pct_reached, f.samples_needed_1pct),
        ]);
    }
    t
}

/// Stats mode: the distribution of the clean samples, per function (`~`: approximated from
/// the kernel's log2 histogram).
pub fn kernel_distribution(k: &KernelStatsResult, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "kernel-distribution-table",
        format!("Per function, aggregated in the kernel: distribution of the clean samples ({un}); p50~ p90~ p99~ are approximations"),
        &[
            "function",
            "min",
            "p50~",
            "p90~",
            "p99~",
            "max",
            "interrupted mean",
        ],
        &[0],
    );
    for f in &k.functions {
        t.push(vec![
            f.function.clone(),
            opt_time(u, f.min),
            opt_time(u, f.p50.map(|p| p.value)),
            opt_time(u, f.p90.map(|p| p.value)),
            opt_time(u, f.p99.map(|p| p.value)),
            opt_time(u, f.max),
            opt_time(u, f.interrupted_mean),
        ]);
    }
    t
}

/// A time, or `-` when there is none.
fn opt_time(u: TimeUnit, x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| u.time(x))
}

/// The queueing model's projection, per load (`kpath model`).
pub fn model_points(m: &crate::queueing::ModelOutput, unit: &str) -> Table {
    let mut t = Table::new(
        "model-table",
        format!("M/G/1 against M/M/1 per load: mean sojourn W ({unit}) and number in system N"),
        &[
            "rho",
            "λ /s",
            "W M/G/1",
            "N M/G/1",
            "W M/M/1",
            "N M/M/1",
            "M/M/1 error",
        ],
        &[],
    );
    t.text_cols.clear();
    if m.setup.is_some() {
        t.caption = format!(
            "M/G/1, M/M/1 and M/G/1 with setup per load: mean sojourn W ({unit}) and number in \
             system N"
        );
        t.head
            .extend(["W setup".to_string(), "N setup".to_string()]);
    }
    for p in &m.points {
        let mut row = vec![
            format!("{:.2}", p.rho),
            format!("{:.1}", p.lambda_per_s),
            fmt_time(p.mg1.sojourn),
            format!("{:.3}", p.mg1.in_system),
            fmt_time(p.mm1.sojourn),
            format!("{:.3}", p.mm1.in_system),
            format!("{:.1}%", p.mm1_error_pct),
        ];
        if m.setup.is_some() {
            row.extend(match p.mg1_setup {
                Some(s) => [fmt_time(s.sojourn), format!("{:.3}", s.in_system)],
                None => [NO_DATA.to_string(), NO_DATA.to_string()],
            });
        }
        t.push(row);
    }
    t
}

/// Per chain (methodology step 5): experimental against calculated.
pub fn chains(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "chains-table",
        format!("Per chain: experimental (the root measured) vs calculated (Σ k·t, Σ k·D over direct callees) ({un})"),
        &[
            "stage", "chain root", "elements", "calls", "exp t", "calc t", "ratio", "exp D",
            "calc D", "ratio",
        ],
        &[1],
    );
    for c in &r.chains {
        t.push(vec![
            c.stage.to_string(),
            c.root.clone(),
            c.elements.len().to_string(),
            c.calls.to_string(),
            u.time(c.experimental_mean),
            u.time(c.calculated_mean),
            format!("{:.3}", c.ratio_mean),
            u.variance(c.experimental_variance),
            u.variance(c.calculated_variance),
            format!("{:.3}", c.ratio_variance),
        ]);
    }
    t
}

/// The `n` functions with the largest total time (calls × mean time per call, inclusive of
/// their callees).
pub fn top_functions(r: &Results, n: usize, u: TimeUnit) -> Table {
    let un = u.name();
    let mut t = Table::new(
        "top-functions-table",
        format!(
            "Top {n} functions by total time = calls × mean t (inclusive of probed callees) ({un})"
        ),
        &[
            "#",
            "stage",
            "function",
            "mechanism",
            "calls",
            "k",
            "mean t",
            "±ci95",
            "k·t",
            "% of stage T",
            "total",
        ],
        &[2],
    );
    let mut fs: Vec<_> = r.functions.iter().collect();
    let total = |f: &crate::results::FunctionResult| f.calls as f64 * f.stats.mean;
    fs.sort_by(|a, b| total(b).total_cmp(&total(a)));
    for (i, f) in fs.into_iter().take(n).enumerate() {
        let stage_t = r.stage(f.stage).map_or(0.0, |s| s.stats.mean);
        let kt = f.k * f.stats.mean;
        t.push(vec![
            (i + 1).to_string(),
            f.stage.to_string(),
            f.function.clone(),
            f.mechanism.clone(),
            f.calls.to_string(),
            format!("{:.2}", f.k),
            u.time(f.stats.mean),
            u.time(f.stats.ci95),
            u.time(kt),
            if stage_t > 0.0 {
                format!("{:.1}%", 100.0 * kt / stage_t)
            } else {
                "—".into()
            },
            u.time(total(f)),
        ]);
    }
    t
}

/// The service-time choices of the validation: T, D, C², saturation rate.
pub fn validation_choices(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let choices = || r.validation.iter().flat_map(|v| &v.choices);
    let with_setup = any_setup(r);
    let mut head = vec!["choice", "T", "D", "C²", "λ_max /s", "what"];
    if with_setup {
        head.insert(5, "setup (sd)");
    }
    let mut t = Table::new(
        "validation-choices",
        format!("Service-time choices ({un})"),
        &head,
        &[0],
    );
    for c in choices() {
        let mut cells = vec![
            c.name.clone(),
            u.time(c.service.mean),
            u.variance(c.service.variance),
            format!("{:.3}", c.service.cv2),
            format!("{:.0}", c.lambda_max_per_s),
            c.description.clone(),
        ];
        if with_setup {
            let setup = opt(c.setup.as_ref(), |s| {
                format!("{} ({})", u.time(s.mean), u.time(s.variance.sqrt()))
            });
            cells.insert(5, setup);
        }
        t.push(cells);
    }
    t
}

/// Per service-time choice and model: the verdict of the validation
/// (`crate::validation::verdict`).
pub fn verdicts(r: &Results) -> Table {
    let repeat = r
        .validation
        .as_ref()
        .and_then(|v| v.repeatability.as_ref())
        .map_or(String::new(), |p| format!("; repeatability: {}", p.verdict));
    let mut t = Table::new(
        "validation-verdicts",
        format!(
            "Verdict per service-time choice and model: largest |error of W| at reached \
             points{repeat}"
        ),
        &[
            "choice",
            "model",
            "points ≤ 0.7",
            "max ≤ 0.7",
            "max ≤ 0.9",
            "verdict",
        ],
        &[0],
    );
    for c in r.validation.iter().flat_map(|v| &v.choices) {
        for m in &c.verdicts {
            let pct = |e: Option<f64>| opt(e, |e| format!("{e:.0}%"));
            t.push(vec![
                c.name.clone(),
                m.model.clone(),
                m.points_to_fit_rho.to_string(),
                pct(m.max_abs_error_pct_to_fit_rho),
                pct(m.max_abs_error_pct_to_high_rho),
                m.verdict.clone(),
            ]);
        }
    }
    t
}

/// Whether any service-time choice has a setup time (then the tables show its columns).
fn any_setup(r: &Results) -> bool {
    r.validation
        .iter()
        .flat_map(|v| &v.choices)
        .any(|c| c.setup.is_some())
}

/// The stable HTML id of a validation row: `run` counts the choice's rows at this load so
/// far (1 for the first; a point measured again is `…-run2`).
pub fn validation_row_id(choice: &str, rho: f64, run: usize) -> String {
    match run {
        1 => format!("val-{}-{rho:.2}", slug(choice)),
        n => format!("val-{}-{rho:.2}-run{n}", slug(choice)),
    }
}

fn opt<T>(x: Option<T>, f: impl Fn(T) -> String) -> String {
    x.map_or_else(|| "—".into(), f)
}

fn err(e: Option<f64>) -> String {
    opt(e, |e| format!("{e:+.1}%"))
}

fn pred_w(p: Option<Prediction>, u: TimeUnit) -> (String, String) {
    (
        opt(p, |p| u.time(p.sojourn)),
        err(p.and_then(|p| p.sojourn_error_pct)),
    )
}

fn pred_n(p: Option<Prediction>) -> (String, String) {
    (
        opt(p, |p| format!("{:.3}", p.in_system)),
        err(p.and_then(|p| p.in_system_error_pct)),
    )
}

fn validation_cells(
    choice: &str,
    v: &ValidationRow,
    with_setup: bool,
    with_busy: bool,
    u: TimeUnit,
) -> Vec<String> {
    let m = v.measured.as_ref();
    let (w_mg1, e_w_mg1) = pred_w(v.mg1, u);
    let (w_mm1, e_w_mm1) = pred_w(v.mm1, u);
    let (n_mg1, e_n_mg1) = pred_n(v.mg1);
    let (n_mm1, e_n_mm1) = pred_n(v.mm1);
    let (w_setup, e_w_setup) = pred_w(v.mg1_setup, u);
    let mut cells = vec![
        choice.to_string(),
        format!("{:.2}", v.rho),
        format!("{:.0}", v.lambda_target_per_s),
        opt(v.lambda_achieved_per_s, |a| format!("{a:.0}")),
        opt(v.rho_achieved, |a| format!("{a:.3}")),
        opt(m, |m| m.sojourn.samples.to_string()),
        opt(m, |m| {
            format!(
                "{} ± {}",
                u.time(m.sojourn.mean),
                opt(m.sojourn.ci95, |x| u.time(x))
            )
        }),
        opt(m.and_then(|m| m.in_system), |n| {
            format!(
                "{n:.3} ± {}",
                opt(m.and_then(|m| m.in_system_ci95), |c| format!("{c:.3}"))
            )
        }),
        w_mg1,
        e_w_mg1,
        w_mm1,
        e_w_mm1,
        n_mg1,
        e_n_mg1,
        n_mm1,
        e_n_mm1,
        match &v.reason {
            None => "reached".into(),
            Some(r) => format!("not reached: {r}"),
        },
    ];
    if with_setup {
        // After M/M/1's W, as in the header (N's error equals W's, so no N column).
        cells.splice(12..12, [w_setup, e_w_setup]);
    }
    if with_busy {
        // After the measured N, as in the header.
        cells.insert(8, opt(v.busy_per_datagram, |x| u.time(x)));
    }
    cells
}

/// The validation table: one row per load point per service-time choice.
pub fn validation(r: &Results, u: TimeUnit) -> Table {
    let un = u.name();
    let with_setup = any_setup(r);
    let mut head = vec![
        "choice",
        "ρ",
        "λ target /s",
        "λ achieved /s",
        "ρ achieved",
        "n",
        "W measured",
        "N measured",
        "W M/G/1",
        "err",
        "W M/M/1",
        "err",
        "N M/G/1",
        "err",
        "N M/M/1",
        "err",
        "status",
    ];
    if with_setup {
        head.splice(12..12, ["W M/G/1+setup", "err"]);
    }
    let with_busy = r
        .validation
        .iter()
        .flat_map(|v| &v.choices)
        .flat_map(|c| &c.points)
        .any(|p| p.busy_per_datagram.is_some());
    if with_busy {
        head.insert(8, "S busy");
    }
    let mut t = Table::new(
        "validation-table",
        format!(
            "Measured sojourn W ({un}) and number in system N = λ_a·W (Little){} against M/G/1 \
             and M/M/1{} at the achieved load ρ_a = λ_a·T; ± is the 95 % confidence half-width; \
             error = (predicted − measured)/measured",
            if with_busy {
                ", the proxy CPU's busy time per datagram S at that load (utilisation law)"
            } else {
                ""
            },
            if with_setup {
                " (and M/G/1 with the choice's setup time)"
            } else {
                ""
            }
        ),
        &head,
        &[0],
    );
    for c in r.validation.iter().flat_map(|v| &v.choices) {
        for (i, v) in c.points.iter().enumerate() {
            let run = 1 + c.points[..i].iter().filter(|p| p.rho == v.rho).count();
            t.rows.push(Row {
                id: Some(validation_row_id(&c.name, v.rho, run)),
                alarm: !v.reached,
                cells: validation_cells(&c.name, v, with_setup, with_busy, u),
            });
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_at_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        // 2024-02-29 12:34:56.789 UTC = 1709210096 s.
        assert_eq!(
            utc(1_709_210_096_789_000_000),
            "2024-02-29 12:34:56.789 UTC"
        );
    }
}
