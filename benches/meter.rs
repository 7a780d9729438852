//! The flow meter's stages timed one by one on a capture (plain Rust,
//! `harness = false`): each stage does the work of the one before it plus
//! one more step, so the differences say where a packet's time goes.
//!
//! - `read`: the pcap reader over the capture, read in blocks as `ff.Meter`
//!   reads it (`CaptureReader::next_fast`, then `next_packet`, as the
//!   meter's loops ask);
//! - `dissect`: + the packet layer (`Dissector::frame_with`, fragments assigned);
//! - `table`: + the flow table (the packet's summary filled in place,
//!   `FlowPacket::fill`, then `Table::observe`: key, lookup, update,
//!   timeouts), ended records dropped, without the TCP metrics;
//! - `tcp`: the same with the TCP metrics (`crate::tcp`, every TCP packet
//!   analysed);
//! - `records` (from here on with the TCP metrics): + records encoded in their templates (`Meter::packet`,
//!   `Meter::drain`): the whole meter without Arrow;
//! - `ipfix`: the meter as an IPFIX stream (`export_ipfix` into a sink:
//!   what `ferrofix meter -o` runs); `ipfix-notcp` without the TCP
//!   metrics (`--no-tcp-metrics`);
//! - `arrow`: the meter as Arrow batches (`MeterBatches`, what `ff.meter`
//!   runs with the GIL released);
//! - `records-2w`, `ipfix-2w`, `ipfix-notcp-2w`, `arrow-2w`: those with
//!   two workers (`workers = 2`), handed the frames;
//! - `ipfix-2r`, `ipfix-notcp-2r`, `arrow-2r`: two workers that read the file themselves
//!   (`Meter::read_file`: what `ferrofix meter` and `ff.Meter` do with one
//!   capture file).
//!
//! Each stage runs `FERROFIX_BENCH_RUNS` times (default 5) and the best run
//! is reported, in ns per packet and packets per second (with
//! `FERROFIX_BENCH_EACH` set, every run's time too: a process's first run
//! can be slower than the rest, so one run per process, as a whole
//! `ferrofix meter` makes, is not its best). The capture is
//! `FERROFIX_BENCH_CAPTURE`, by default `bench-data/meter-400mb-s96.pcap`
//! (`benches/make_capture.py --snaplen 96`), read from the page cache
//! after the first run.
//!
//!     cargo bench --bench meter
//!     FERROFIX_BENCH_MAPPED=1 cargo bench --bench meter   # the file mapped, as before
//!     FERROFIX_BENCH_CAPTURE=../main/bench-data/meter-400mb.pcap cargo bench --bench meter

#![allow(clippy::cast_precision_loss)] // rates printed

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrofix::columnar::ColumnarOptions;
use ferrofix::decode::Policy;
use ferrofix::encode::{ExportOptions, Exporter};
use ferrofix::meter::batches::MeterBatches;
use ferrofix::meter::export::export_ipfix;
use ferrofix::meter::flowpacket::FlowPacket;
use ferrofix::meter::input::Captures;
use ferrofix::meter::table::{Table, TableOptions};
use ferrofix::meter::{Meter, MeterOptions};
use ferrofix::model::InfoModel;
use ferrofix::packet::{DissectOptions, Dissector, FragmentMode};
use ferrofix::pcap::{CaptureReader, Packet};
use ferrofix::source::input::Opened;
use ferrofix::source::DynRead;

fn capture() -> PathBuf {
    if let Ok(p) = std::env::var("FERROFIX_BENCH_CAPTURE") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from("bench-data/meter-400mb-s96.pcap");
    if here.exists() {
        return here;
    }
    PathBuf::from("../main/bench-data/meter-400mb-s96.pcap")
}

/// The capture opened as `ff.Meter` opens it: streamed, records read in
/// the stream's buffer (`FERROFIX_BENCH_MAPPED=1`: mapped instead).
fn open(path: &Path) -> CaptureReader<DynRead> {
    if std::env::var_os("FERROFIX_BENCH_MAPPED").is_some() {
        return Opened::path(path)
            .expect("open the capture")
            .into_capture()
            .expect("a capture");
    }
    let mut r = Opened::path_streamed(path)
        .expect("open the capture")
        .0
        .into_capture()
        .expect("a capture");
    r.read_in_buffer();
    r
}

/// Hand every packet of `r` to `f`, asking the fast path first (as the
/// meter's loops do); the count.
#[allow(clippy::inline_always)]
#[inline(always)]
fn each_packet(r: &mut CaptureReader<DynRead>, mut f: impl FnMut(&Packet<'_>)) -> u64 {
    let mut n = 0u64;
    loop {
        if let Some(p) = r.next_fast() {
            f(&p);
        } else {
            match r.next_packet().expect("read") {
                Some(p) => f(&p),
                None => return n,
            }
        }
        n += 1;
    }
}

fn read(path: &Path) -> u64 {
    each_packet(&mut open(path), |p| {
        black_box(p.data.len());
    })
}

fn dissector() -> Dissector {
    Dissector::new(DissectOptions {
        fragments: FragmentMode::Assign,
        decapsulate: false,
    })
}

fn dissect(path: &Path) -> u64 {
    let mut d = dissector();
    each_packet(&mut open(path), |p| {
        d.frame_with(p, |x| {
            black_box(x);
        });
        while let Some(x) = d.next_released() {
            black_box(&x);
        }
    })
}

fn table(path: &Path, tcp_metrics: bool) -> u64 {
    let mut r = open(path);
    let mut d = dissector();
    let mut t = Table::new(TableOptions {
        tcp_metrics,
        ..TableOptions::default()
    });
    let mut summary = FlowPacket::default();
    let n = each_packet(&mut r, |p| {
        d.frame_with(
            p,
            #[inline(always)]
            |x| {
                summary.fill(x);
                t.observe(&summary);
            },
        );
        while let Some(x) = d.next_released() {
            t.packet(&x);
        }
        t.ended.clear();
    });
    t.finish();
    black_box(t.ended.len());
    n
}

fn records(path: &Path, workers: usize) -> u64 {
    let mut r = open(path);
    let opts = MeterOptions {
        workers,
        ..MeterOptions::default()
    };
    let mut m = Meter::new(opts, &InfoModel::new()).expect("meter");
    let mut n = 0u64;
    let mut bytes = 0usize;
    while let Some(p) = r.next_packet().expect("read") {
        m.packet(&p).expect("meter");
        n += 1;
        if m.pending() >= 65_536 {
            m.drain(|_, b, _| {
                bytes += b.len();
                Ok(())
            })
            .expect("drain");
        }
    }
    m.finish().expect("finish");
    m.drain(|_, b, _| {
        bytes += b.len();
        Ok(())
    })
    .expect("drain");
    black_box(bytes);
    n
}

/// `read`: the workers read the file themselves (`Meter::read_file`, as
/// `ff.Meter` and `ferrofix meter` do with one capture file).
fn ipfix(path: &Path, tcp_metrics: bool, workers: usize, read: bool) -> u64 {
    let mut opts = MeterOptions {
        workers,
        ..MeterOptions::default()
    };
    opts.table.tcp_metrics = tcp_metrics;
    let mut m = Meter::new(opts, &InfoModel::new()).expect("meter");
    let mut caps = captures(&mut m, path, read);
    let mut ex = Exporter::new(std::io::sink(), ExportOptions::default()).expect("exporter");
    export_ipfix(
        &mut m,
        &mut caps,
        &["bench".into()],
        &mut ex,
        Policy::Error,
        &ferrofix::meter::export::Selection::default(),
        |_| Ok(()),
    )
    .expect("export");
    m.stats().dissect.packets
}

/// The capture for `m`: opened here, or (`read`) read by its workers.
fn captures(m: &mut Meter, path: &Path, read: bool) -> Captures {
    if read {
        assert!(m.read_file(path).expect("read"));
        Captures::new(Vec::new())
    } else {
        Captures::new(vec![open(path)])
    }
}

/// `read`: the workers read the file themselves (`Meter::read_file`).
fn arrow(path: &Path, workers: usize, read: bool) -> u64 {
    let opts = MeterOptions {
        workers,
        ..MeterOptions::default()
    };
    let mut m = Meter::new(opts, &InfoModel::new()).expect("meter");
    let caps = captures(&mut m, path, read);
    let mut b = MeterBatches::new(
        m,
        caps,
        vec!["bench".into()],
        None,
        ColumnarOptions::default(),
    );
    let mut rows = 0usize;
    while let Some(batch) = b.next_batch().expect("batch") {
        rows += batch.num_rows();
    }
    black_box(rows);
    if std::env::var_os("FERROFIX_BENCH_VERBOSE").is_some() {
        eprintln!("{rows} records, {:?}", b.meter().stats().table);
    }
    b.meter().stats().dissect.packets
}

/// CPU seconds of this process so far (user + system, its threads that
/// ended included), from /proc/self/schedstat's run time where there is
/// one thread, else /proc/self/stat's clock ticks (assumed 100 a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the ')'.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

type Stage = (&'static str, Box<dyn Fn(&Path) -> u64>);

fn main() {
    #[cfg(feature = "mimalloc")]
    ferrofix::tune_allocator();
    let path = capture();
    let runs: usize = std::env::var("FERROFIX_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!("capture: {}", path.display());
    let stages: Vec<Stage> = vec![
        ("read", Box::new(read)),
        ("dissect", Box::new(dissect)),
        ("table", Box::new(|p| table(p, false))),
        ("tcp", Box::new(|p| table(p, true))),
        ("records", Box::new(|p| records(p, 1))),
        ("records-2w", Box::new(|p| records(p, 2))),
        ("ipfix", Box::new(|p| ipfix(p, true, 1, false))),
        ("ipfix-2w", Box::new(|p| ipfix(p, true, 2, false))),
        ("ipfix-2r", Box::new(|p| ipfix(p, true, 2, true))),
        ("ipfix-notcp", Box::new(|p| ipfix(p, false, 1, false))),
        ("ipfix-notcp-2w", Box::new(|p| ipfix(p, false, 2, false))),
        ("ipfix-notcp-2r", Box::new(|p| ipfix(p, false, 2, true))),
        ("arrow", Box::new(|p| arrow(p, 1, false))),
        ("arrow-2w", Box::new(|p| arrow(p, 2, false))),
        ("arrow-2r", Box::new(|p| arrow(p, 2, true))),
    ];
    let mut prev: Option<f64> = None;
    for (name, f) in &stages {
        // A stage's own name picks it alone; else every stage whose name
        // contains the argument.
        let exact = only
            .as_deref()
            .is_some_and(|o| stages.iter().any(|(n, _)| *n == o));
        if only
            .as_deref()
            .is_some_and(|o| if exact { *name != o } else { !name.contains(o) })
        {
            continue;
        }
        let mut best = Duration::MAX;
        let mut packets = 0;
        let mut cpu = f64::MAX;
        let mut each = Vec::with_capacity(runs);
        for _ in 0..runs {
            let c = cpu_seconds();
            let t = Instant::now();
            packets = f(&path);
            each.push(t.elapsed());
            best = best.min(t.elapsed());
            cpu = cpu.min(cpu_seconds() - c);
        }
        if std::env::var_os("FERROFIX_BENCH_EACH").is_some() {
            let all: Vec<String> = each
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect();
            println!("{name:>9}: each run {}", all.join(" "));
        }
        let ns = best.as_secs_f64() * 1e9 / packets as f64;
        let step = match (prev, *name) {
            (Some(p), "dissect" | "table" | "records") => format!("  (+{:.1} ns)", ns - p),
            _ => String::new(),
        };
        println!(
            "{name:>9}: {:>6.3} s (cpu {cpu:.2} s)  {packets} packets  {ns:6.1} ns/packet  {:5.2} M packets/s{step}",
            best.as_secs_f64(),
            packets as f64 / best.as_secs_f64() / 1e6,
        );
        prev = Some(ns);
    }
}
