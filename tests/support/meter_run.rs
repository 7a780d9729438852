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

fn meter(decapsulate: bool, biflow: bool, max_flows: usize) -> Meter {
    Meter::new(
        MeterOptions {
            table: TableOptions {
                idle_ns: 1_000_000_000,
                active_ns: 5_000_000_000,
                max_flows,
                biflow,
                tcp_metrics: true,
            },
            decapsulate,
            ..MeterOptions::default()
        },
        &InfoModel::new(),
    )
    .expect("the meter's templates")
}

/// Check the counters after a run: records hold `packets` packets.
fn check(m: &mut Meter) -> u64 {
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
    assert_eq!(s.table.by_reason.iter().sum::<u64>(), records);
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
            total += check(&mut m);
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
    total + check(&mut m)
}
