//! The sweep's results averaged over repeats: one [`SummaryRow`] per busy-us × size × clients,
//! printed as a table ([`table`]) and written as `summary.csv` ([`write_csv`]). The plots draw
//! the same rows.

use std::path::Path;

use super::CellResult;
use crate::error::{Error, Result};

/// One busy-us × size × clients point, averaged over its runs (the repeats).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Server busy-wait, µs.
    pub busy_us: f64,
    /// Payload bytes.
    pub size: usize,
    /// Concurrent clients.
    pub clients: u32,
    /// Runs averaged (repeats done).
    pub runs: u32,
    /// Mean throughput, replies/s.
    pub throughput_per_s: f64,
    /// Lowest throughput of a run, replies/s.
    pub throughput_min_per_s: f64,
    /// Highest throughput of a run, replies/s.
    pub throughput_max_per_s: f64,
    /// Mean of the runs' RTT medians, µs, over the runs with replies (`None`: no run had one).
    pub rtt_p50_us: Option<f64>,
    /// Mean of the runs' RTT 99th percentiles, µs, over the runs with replies.
    pub rtt_p99_us: Option<f64>,
    /// Mean server CPU, % of one CPU, over the runs where it was measured.
    pub cpu_pct: Option<f64>,
    /// Highest peak resident memory of the runs' servers, kB.
    pub peak_rss_kb: u64,
    /// Mean measured datagrams sent per run.
    pub sent: f64,
    /// Mean good replies per run.
    pub received: f64,
    /// Mean lost datagrams per run.
    pub lost: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Averages `results` over repeats: one row per busy-us × size × clients, sorted by busy-us,
/// then size, then clients.
pub fn summarise(results: &[CellResult]) -> Vec<SummaryRow> {
    let mut sorted: Vec<&CellResult> = results.iter().collect();
    sorted.sort_by(|a, b| {
        a.busy_us
            .total_cmp(&b.busy_us)
            .then(a.size.cmp(&b.size))
            .then(a.clients.cmp(&b.clients))
    });
    sorted
        .chunk_by(|a, b| a.busy_us == b.busy_us && a.size == b.size && a.clients == b.clients)
        .map(|runs| {
            let first = runs[0];
            let answered = || runs.iter().filter(|r| r.received > 0);
            let throughput = || runs.iter().map(|r| r.throughput_per_s);
            SummaryRow {
                busy_us: first.busy_us,
                size: first.size,
                clients: first.clients,
                runs: u32::try_from(runs.len()).unwrap_or(u32::MAX),
                throughput_per_s: mean(throughput()).unwrap_or(0.0),
                throughput_min_per_s: throughput().fold(f64::INFINITY, f64::min),
                throughput_max_per_s: throughput().fold(f64::NEG_INFINITY, f64::max),
                rtt_p50_us: mean(answered().map(|r| r.rtt_p50_us)),
                rtt_p99_us: mean(answered().map(|r| r.rtt_p99_us)),
                cpu_pct: mean(runs.iter().filter_map(|r| r.cpu_pct)),
                peak_rss_kb: runs.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0),
                sent: mean(runs.iter().map(|r| r.sent as f64)).unwrap_or(0.0),
                received: mean(runs.iter().map(|r| r.received as f64)).unwrap_or(0.0),
                lost: mean(runs.iter().map(|r| r.lost as f64)).unwrap_or(0.0),
            }
        })
        .collect()
}

/// `v` with `decimals` decimals, `-` for none.
fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

/// A count averaged over runs: whole when it is, one decimal when not.
fn count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A column: two header lines, a width, and the cell of a row (right-aligned).
struct Column {
    head: [&'static str; 2],
    width: usize,
    cell: fn(&SummaryRow) -> String,
}

const fn col(head: [&'static str; 2], width: usize, cell: fn(&SummaryRow) -> String) -> Column {
    Column { head, width, cell }
}

/// The table printed after a sweep: one line per row, 100 columns at most for the usual
/// magnitudes (a wider value widens its line only). Runs and the throughput range are shown
/// when some row has more than one run.
pub fn table(rows: &[SummaryRow]) -> String {
    let repeated = rows.iter().any(|r| r.runs > 1);
    let mut columns = vec![
        col(["busy", "µs"], 5, |r| format!("{}", r.busy_us)),
        col(["size", "B"], 5, |r| r.size.to_string()),
        col(["", "clients"], 7, |r| r.clients.to_string()),
        col(["throughput", "/s"], 10, |r| {
            num(Some(r.throughput_per_s), 0)
        }),
    ];
    if repeated {
        columns.push(col(["", "runs"], 4, |r| r.runs.to_string()));
        columns.push(col(["throughput", "min–max /s"], 13, |r| {
            if r.runs > 1 {
                format!(
                    "{:.0}–{:.0}",
                    r.throughput_min_per_s, r.throughput_max_per_s
                )
            } else {
                "-".into()
            }
        }));
    }
    columns.extend([
        col(["RTT p50", "µs"], 7, |r| num(r.rtt_p50_us, 1)),
        col(["RTT p99", "µs"], 7, |r| num(r.rtt_p99_us, 1)),
        col(["server", "CPU %"], 6, |r| num(r.cpu_pct, 1)),
        col(["peak RSS", "MiB"], 8, |r| {
            num(Some(r.peak_rss_kb as f64 / 1024.0), 1)
        }),
        col(["", "lost"], 6, |r| count(r.lost)),
    ]);
    let line = |cells: Vec<String>| -> String {
        let mut text = String::new();
        for (c, cell) in columns.iter().zip(cells) {
            if !text.is_empty() {
                text.push_str("  ");
            }
            text.push_str(&format!("{cell:>w$}", w = c.width));
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = String::new();
    for h in 0..2 {
        text += &line(columns.iter().map(|c| c.head[h].to_owned()).collect());
    }
    for r in rows {
        text += &line(columns.iter().map(|c| (c.cell)(r)).collect());
    }
    if repeated {
        text += "Means over the runs (RTT: of each run's percentile); peak RSS: the highest.\n";
    }
    text
}

/// The header of `summary.csv`, matching [`SummaryRow`]'s fields.
pub const CSV_HEADER: [&str; 14] = [
    "busy_us",
    "size",
    "clients",
    "runs",
    "throughput_per_s",
    "throughput_min_per_s",
    "throughput_max_per_s",
    "rtt_p50_us",
    "rtt_p99_us",
    "cpu_pct",
    "peak_rss_kb",
    "sent",
    "received",
    "lost",
];

fn csv_record(r: &SummaryRow) -> [String; 14] {
    let opt = |v: Option<f64>, decimals: usize| {
        v.filter(|v| v.is_finite())
            .map(|v| format!("{v:.decimals$}"))
            .unwrap_or_default()
    };
    [
        r.busy_us.to_string(),
        r.size.to_string(),
        r.clients.to_string(),
        r.runs.to_string(),
        format!("{:.1}", r.throughput_per_s),
        format!("{:.1}", r.throughput_min_per_s),
        format!("{:.1}", r.throughput_max_per_s),
        opt(r.rtt_p50_us, 2),
        opt(r.rtt_p99_us, 2),
        opt(r.cpu_pct, 1),
        r.peak_rss_kb.to_string(),
        format!("{:.1}", r.sent),
        format!("{:.1}", r.received),
        format!("{:.1}", r.lost),
    ]
}

/// Writes `rows` as CSV to `path` (created as `out` says): [`CSV_HEADER`], then one record
/// per row; values not measured are empty.
pub fn write_csv(rows: &[SummaryRow], path: &Path, out: &kpath_cli::Output) -> Result<()> {
    let file = out.create(path)?;
    let mut w = csv::Writer::from_writer(file);
    let mut write = || -> csv::Result<()> {
        w.write_record(CSV_HEADER)?;
        for r in rows {
            w.write_record(csv_record(r))?;
        }
        w.flush()?;
        Ok(())
    };
    write().map_err(|e| Error::file("write", path, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(busy_us: f64, size: usize, clients: u32, repeat: u32) -> CellResult {
        let c = f64::from(clients);
        let r = f64::from(repeat);
        CellResult {
            busy_us,
            size,
            clients,
            repeat,
            sent: 20_000,
            received: 20_000 - u64::from(repeat),
            lost: u64::from(repeat),
            throughput_per_s: 25_000.0 * c.sqrt() - 1000.0 * r - size as f64,
            rtt_mean_us: 40.0 * c,
            rtt_p50_us: 38.0 * c + r,
            rtt_p90_us: 60.0 * c,
            rtt_p99_us: 95.5 * c + r,
            rtt_p999_us: 120.0 * c,
            rtt_max_us: 300.0 * c,
            cpu_pct: Some(60.0 + 10.0 * r + busy_us),
            cpu_s: Some(0.1),
            load_s: 0.2,
            peak_rss_kb: 4000 + 100 * u64::from(repeat) + clients as u64,
            elapsed_s: 0.3,
        }
    }

    /// Cells in plan order for busy-us, sizes, clients and `repeats`.
    fn plan(busy: &[f64], sizes: &[usize], clients: &[u32], repeats: u32) -> Vec<CellResult> {
        let mut v = Vec::new();
        for &b in busy {
            for &s in sizes {
                for &c in clients {
                    for r in 0..repeats {
                        v.push(cell(b, s, c, r));
                    }
                }
            }
        }
        v
    }

    #[test]
    fn table_of_single_runs() {
        let rows = summarise(&plan(&[0.0], &[64, 512], &[1, 4, 100], 1));
        let expected = " busy   size           throughput  RTT p50  RTT p99  server  peak RSS
   µs      B  clients          /s       µs       µs   CPU %       MiB    lost
    0     64        1       24936     38.0     95.5    60.0       3.9       0
    0     64        4       49936    152.0    382.0    60.0       3.9       0
    0     64      100      249936   3800.0   9550.0    60.0       4.0       0
    0    512        1       24488     38.0     95.5    60.0       3.9       0
    0    512        4       49488    152.0    382.0    60.0       3.9       0
    0    512      100      249488   3800.0   9550.0    60.0       4.0       0
";
        let text = table(&rows);
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn table_of_repeats_with_ranges() {
        // Out of order and with a busy value that sorts after 10 as text.
        let mut cells = plan(&[10.0, 2.5], &[1400], &[16, 2], 3);
        cells.reverse();
        let mut rows = summarise(&cells);
        // A point with one run left (a stopped sweep), and one without a reply or CPU figure.
        rows[0].runs = 1;
        rows[1].rtt_p50_us = None;
        rows[1].rtt_p99_us = None;
        rows[1].cpu_pct = None;
        let expected = " busy   size           throughput           throughput  RTT p50  RTT p99  server  peak RSS
   µs      B  clients          /s  runs     min–max /s       µs       µs   CPU %       MiB    lost
  2.5   1400        2       32955     1              -     77.0    192.0    72.5       4.1       1
  2.5   1400       16       97600     3    96600–98600        -        -       -       4.1       1
   10   1400        2       32955     3    31955–33955     77.0    192.0    80.0       4.1       1
   10   1400       16       97600     3    96600–98600    609.0   1529.0    80.0       4.1       1
Means over the runs (RTT: of each run's percentile); peak RSS: the highest.
";
        let text = table(&rows);
        assert_eq!(text, expected, "\n{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "\n{text}");
    }

    #[test]
    fn averages_and_extremes() {
        let rows = summarise(&plan(&[0.0], &[64], &[8], 3));
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.runs, 3);
        let t0 = 25_000.0 * 8f64.sqrt() - 64.0;
        assert!((r.throughput_per_s - (t0 - 1000.0)).abs() < 1e-6);
        assert!((r.throughput_min_per_s - (t0 - 2000.0)).abs() < 1e-6);
        assert!((r.throughput_max_per_s - t0).abs() < 1e-6);
        assert_eq!(r.rtt_p50_us, Some(38.0 * 8.0 + 1.0));
        assert_eq!(r.cpu_pct, Some(70.0));
        assert_eq!(r.peak_rss_kb, 4208);
        assert_eq!(r.lost, 1.0);
        // Runs without replies have no RTT to average; runs without a CPU figure no CPU.
        let mut cells = plan(&[0.0], &[64], &[8], 2);
        cells[0].received = 0;
        cells[0].rtt_p50_us = 0.0;
        cells[1].cpu_pct = None;
        let r = &summarise(&cells)[0];
        assert_eq!(r.rtt_p50_us, Some(38.0 * 8.0 + 1.0));
        assert_eq!(r.cpu_pct, Some(60.0));
        cells[1].received = 0;
        cells[0].cpu_pct = None;
        let r = &summarise(&cells)[0];
        assert_eq!((r.rtt_p50_us, r.cpu_pct), (None, None));
    }

    #[test]
    fn csv_has_a_header_and_a_record_per_row() {
        let rows = summarise(&plan(&[0.0, 2.5], &[64], &[1, 4], 2));
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("summary.csv");
        write_csv(&rows, &path, &kpath_cli::Output::new(false)).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(lines.len(), 1 + 4);
        assert_eq!(
            lines[1],
            "0,64,1,2,24436.0,23936.0,24936.0,38.50,96.00,65.0,4101,20000.0,19999.5,0.5"
        );
        assert!(lines[1..]
            .iter()
            .all(|l| l.split(',').count() == CSV_HEADER.len()));
    }
}
