//! Meter any bytes (shared by `tests/meter_robustness.rs` and the `meter`
//! fuzz target): as a capture when they start like one, else as frames of
//! every link type fed straight to the meter. The run must end without a
//! panic and its counters must add up: every packet read is either
//! metered or counted as not IP, every packet metered is in exactly one
//! record, and nothing stays open after the end.

#![allow(dead_code)]

use ferrofix::meter::table::TableOptions;
use ferrofix::meter::{Meter, MeterOptions};
use ferrofix::model::InfoModel;
use ferrofix::pcap::{CaptureReader, Packet};

const LINKTYPES: [u16; 14] = [0, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 228, 229, 276];

/// Short timeouts, so that small captures end records every way.
fn short_table() -> TableOptions {
    TableOptions {
        idle_ns: 1_000_000_000,
        active_ns: 5_000_000_000,
        ..TableOptions::default()
    }
}

fn meter_of(options: MeterOptions) -> Meter {
    Meter::new(options, &InfoModel::new()).expect("the meter's templates")
}

fn meter(decapsulate: bool, biflow: bool, max_flows: usize) -> Meter {
    meter_of(MeterOptions {
        table: TableOptions {
            max_flows,
            ..short_table()
        },
        biflow,
        decapsulate,
        ..MeterOptions::default()
    })
}

/// Check the counters after a run (`biflow`: its records are biflows;
/// else each flow ended gives one or two uniflow records).
fn check(m: &mut Meter, biflow: bool) -> u64 {
    m.finish().expect("finish");
    let mut records = 0u64;
    let mut encoded = 0u64;
    m.drain(|t, bytes, n| {
        let len = t.fixed_record_len.expect("fixed-length records");
        assert_eq!(bytes.len(), n * len);
        records += n as u64;
        encoded += bytes.len() as u64;
        Ok(())
    })
    .expect("drain");
    let s = m.stats();
    assert_eq!(
        s.metered + s.dissect.not_ip.iter().sum::<u64>(),
        s.dissect.packets
    );
    assert_eq!(m.open_flows(), 0);
    let ended = s.table.by_reason.iter().sum::<u64>();
    if biflow {
        assert_eq!(ended, records);
    } else {
        assert!((ended..=ended.saturating_mul(2)).contains(&records));
    }
    assert_eq!(s.records, records);
    assert!(s.table.peak_flows as usize <= 64);
    let _ = encoded;
    records
}

/// Meter `data`; returns the number of records.
pub fn meter_bytes(data: &[u8]) -> u64 {
    let mut total = 0;
    if ferrofix::pcap::is_capture(data) {
        for (decap, biflow) in [(false, true), (true, false)] {
            let mut m = meter(decap, biflow, 64);
            if let Ok(mut r) = CaptureReader::new(std::io::Cursor::new(data.to_vec())) {
                let mut n = 0u32;
                while let Ok(Some(p)) = r.next_packet() {
                    m.packet(&p).expect("packet");
                    n += 1;
                    assert!(n <= 1 << 20);
                }
            }
            total += check(&mut m, biflow);
        }
        return total;
    }
    // Frames: a length byte, then that many bytes, each under every link
    // type, with times that go back and forth.
    let mut m = meter(true, true, 64);
    let mut rest = data;
    let mut number = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (frame, after) = tail.split_at(take);
        for (i, &lt) in LINKTYPES.iter().enumerate() {
            number += 1;
            let p = Packet {
                linktype: lt,
                ts_ns: (number as i64 % 7) * 400_000_000 + i as i64,
                data: frame,
                orig_len: frame.len() as u32 + u32::from(len % 3) * 100,
                number,
                offset: 0,
            };
            m.packet(&p).expect("packet");
        }
        rest = after;
    }
    total + check(&mut m, true)
}

/// A record's template as its fields' (PEN, id), and its bytes with the
/// flowId zeroed.
type Record = (Vec<(u32, u16)>, Vec<u8>);

/// What a run of the meter gave: its records (flowIds zeroed, sorted),
/// its counters that one table and several workers share, and whether the
/// capture failed part-way (at which octet, by the error's text).
#[derive(Debug, PartialEq, Eq)]
struct Run {
    records: Vec<Record>,
    flows: u64,
    by_reason: [u64; 6],
    out_of_order: u64,
    dissect: ferrofix::packet::DissectStats,
    metered: u64,
    failed: Option<String>,
}

/// The meter's records so far into `out`, flowId (IE 148) zeroed.
fn drain_zeroed(m: &mut Meter, out: &mut Vec<Record>) {
    m.drain(|t, bytes, n| {
        let len = t.fixed_record_len.expect("fixed-length records");
        assert_eq!(bytes.len(), n * len);
        let at = t
            .fields
            .iter()
            .position(|f| f.ie.pen == 0 && f.ie.id == 148)
            .map(|i| t.fixed_offsets[i] as usize);
        // Templates made as needed are numbered in the order met, which
        // workers change: records are compared by their fields.
        let fields: Vec<(u32, u16)> = t.fields.iter().map(|f| (f.ie.pen, f.ie.id)).collect();
        for r in bytes.chunks_exact(len) {
            let mut r = r.to_vec();
            if let Some(at) = at {
                r[at..at + 8].fill(0);
            }
            out.push((fields.clone(), r));
        }
        Ok(())
    })
    .expect("drain");
}

fn run_of(mut m: Meter, failed: Option<String>) -> Run {
    m.finish().expect("finish");
    let mut records = Vec::new();
    drain_zeroed(&mut m, &mut records);
    records.sort();
    let s = m.stats();
    assert_eq!(s.records, records.len() as u64);
    assert_eq!(m.open_flows(), 0);
    Run {
        records,
        flows: s.table.flows,
        by_reason: s.table.by_reason,
        out_of_order: s.table.out_of_order,
        dissect: s.dissect,
        metered: s.metered,
        failed,
    }
}

fn meter_with(workers: usize) -> Meter {
    meter_of(MeterOptions {
        table: short_table(),
        workers,
        ..MeterOptions::default()
    })
}

/// One table metering a copy of `data` in memory, frame by frame; `None`
/// if it is no capture (its header refused).
fn one_table(data: &[u8]) -> Option<Run> {
    let mut r = CaptureReader::new(std::io::Cursor::new(data.to_vec())).ok()?;
    let mut m = meter_with(1);
    let mut n = 0u32;
    let failed = loop {
        match r.next_packet() {
            Ok(Some(p)) => m.packet(&p).expect("packet"),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
        n += 1;
        assert!(n <= 1 << 20);
    };
    Some(run_of(m, failed))
}

/// `workers` workers reading the file at `path` themselves; `None` if
/// it is no capture.
fn workers_reading(path: &std::path::Path, workers: usize) -> Option<Run> {
    let mut m = meter_with(workers);
    if m.read_file(path).is_err() {
        return None;
    }
    let mut rounds = 0u32;
    let failed = loop {
        match m.read_round().expect("a round") {
            None => {}
            Some(ferrofix::meter::ReadEnd::End) => break None,
            Some(ferrofix::meter::ReadEnd::Failed(e)) => break Some(e.to_string()),
        }
        rounds += 1;
        assert!(rounds <= 1 << 20);
    };
    Some(run_of(m, failed))
}

/// A file of its own for each call in the system's temporary folder (the
/// caller removes it).
fn scratch(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "ferrofix-workers-agree-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// The capture `data` metered by one table and by 2 and 3 workers reading
/// it from a file themselves, plain (mapped, or read in blocks when its
/// records are far apart) and gzipped (decompressed in blocks by a
/// thread): the same records (flowIds aside, in any order), counters and
/// end (a capture failing part-way fails the same way with each, its
/// flows up to there kept), as `ferrofix::meter::parallel` documents.
/// Returns the number of records and whether the capture failed part-way
/// (none, and false, when `data` is no capture).
pub fn workers_agree(data: &[u8]) -> (u64, bool) {
    let Some(one) = one_table(data) else {
        return (0, false);
    };
    let gzipped = {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).expect("gzip");
        z.finish().expect("gzip")
    };
    for (name, bytes) in [("plain.pcap", data), ("gzipped.pcap", &gzipped[..])] {
        let path = scratch(name, bytes);
        for workers in [2, 3] {
            let many = workers_reading(&path, workers)
                .unwrap_or_else(|| panic!("{name}: {workers} workers refused a capture"));
            assert_eq!(many, one, "{name}: {workers} workers against one table");
        }
        let _ = std::fs::remove_file(&path);
    }
    (one.records.len() as u64, one.failed.is_some())
}
