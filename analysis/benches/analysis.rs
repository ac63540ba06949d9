//! Throughput of `report` (full analysis) and `tree` (call-tree reconstruction only) on a
//! synthetic trace, in records per second, beside reading alone (record by record, and in the
//! validated blocks `report` and `tree` use). Writes `target/bench/analysis.json`.
//!
//! `KPATH_BENCH_RECORDS` sets the record count (default 40 000 000). The trace is streamed
//! from memory: a block of generated records is repeated after an unfinished-trace header, so
//! the benchmark needs neither 2.5 GB of disk nor of memory.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use kpath_analysis::analyze::{analyze_reader, visit_reader};
use kpath_analysis::calltree::{Call, CallVisitor, Frame};
use kpath_analysis::synth::{unfinished_header, SynthConfig, SynthGenerator};
use kpath_analysis::{AnalysisOptions, StageClassifier};
use kpath_trace::TraceReader;

/// Header, then `block` repeated until `total` records were produced.
struct Repeat<'a> {
    header: &'a [u8],
    block: &'a [u8],
    pos: usize,
    remaining: u64,
}

impl Read for Repeat<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.header.len() {
            let n = buf.len().min(self.header.len() - self.pos);
            buf[..n].copy_from_slice(&self.header[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        if self.remaining == 0 {
            return Ok(0);
        }
        let off = (self.pos - self.header.len()) % self.block.len();
        let n = buf
            .len()
            .min(self.block.len() - off)
            .min(self.remaining.min(usize::MAX as u64) as usize);
        buf[..n].copy_from_slice(&self.block[off..off + n]);
        self.pos += n;
        self.remaining -= n as u64;
        Ok(n)
    }
}

struct Count(u64);
impl CallVisitor for Count {
    fn call(&mut self, _c: &Call<'_>, _a: &[Frame]) {
        self.0 += 1;
    }
}

fn main() {
    let records: u64 = std::env::var("KPATH_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40_000_000);
    let cfg = SynthConfig::veth(u64::MAX);
    let meta = cfg.metadata();
    let header = unfinished_header(&meta).expect("header");
    // A block of whole datagrams (34 records each), about 1M records.
    let mut g = SynthGenerator::new(cfg);
    let mut events = Vec::new();
    while events.len() < 1_000_000 {
        g.next_datagram(&mut events);
    }
    let block: Vec<u8> = events.iter().flat_map(|e| e.to_le_bytes()).collect();
    let per_datagram = 34u64;
    let records = (records / per_datagram).max(1) * per_datagram;
    let src = || Repeat {
        header: &header,
        block: &block,
        pos: 0,
        remaining: records * 64,
    };
    let path = Path::new("bench.trace");

    let t = Instant::now();
    let reader = TraceReader::new(src()).expect("reader");
    let r = analyze_reader(reader, path, &AnalysisOptions::default()).expect("analyze");
    let report_s = t.elapsed().as_secs_f64();
    assert_eq!(r.trace.records, records);

    let t = Instant::now();
    let reader = TraceReader::new(src()).expect("reader");
    let mut count = Count(0);
    visit_reader(
        reader,
        path,
        &StageClassifier::default(),
        kpath_analysis::results::Clock::OnCpu,
        &mut count,
    )
    .expect("tree");
    let tree_s = t.elapsed().as_secs_f64();
    assert_eq!(count.0, records / 2);

    let t = Instant::now();
    let mut reader = TraceReader::new(src()).expect("reader");
    let mut n = 0u64;
    while let Ok(Some(_)) = reader.next_event() {
        n += 1;
    }
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(n, records);

    // The reading `report` and `tree` do: validated blocks, no copy per record.
    let t = Instant::now();
    let mut reader = TraceReader::new(src()).expect("reader");
    let mut n = 0u64;
    loop {
        let block = reader.next_block().expect("block");
        if block.is_empty() {
            break;
        }
        n += block.len() as u64;
    }
    let blocks_s = t.elapsed().as_secs_f64();
    assert_eq!(n, records);

    let json = serde_json::json!({
        "records": records,
        "report": { "seconds": report_s, "records_per_s": records as f64 / report_s },
        "tree": { "seconds": tree_s, "records_per_s": records as f64 / tree_s },
        "read_only": { "seconds": read_s, "records_per_s": records as f64 / read_s },
        "read_blocks": { "seconds": blocks_s, "records_per_s": records as f64 / blocks_s },
        "target_records_per_s": 50_000_000,
    });
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let out = dir.join("bench");
    std::fs::create_dir_all(&out).expect("mkdir");
    let file = out.join("analysis.json");
    std::fs::write(&file, serde_json::to_string_pretty(&json).expect("json")).expect("write");
    println!("{}", serde_json::to_string_pretty(&json).expect("json"));
    println!("wrote {}", file.display());
}
