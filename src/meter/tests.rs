//! The engine on hand-built captures: every expected value below is read
//! off the packets as built (RFC 9293 for TCP's opening and closing, IANA's
//! flowEndReason definitions), not off the meter's output.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};

use super::batches::MeterBatches;
use super::input::Captures;
use super::table::{reason, TableOptions};
use super::{Meter, MeterOptions};
use crate::columnar::ColumnarOptions;
use crate::model::InfoModel;
use crate::packet::{ACK, FIN, RST, SYN};
use crate::pcap::CaptureReader;
use crate::source::DynRead;

const S: i64 = 1_000_000_000;

/// A nanosecond pcap of raw IP packets (LINKTYPE_RAW).
fn pcap(packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut f = 0xA1B2_3C4Du32.to_le_bytes().to_vec();
    f.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (ts, p) in packets {
        f.extend_from_slice(&((ts / S) as u32).to_le_bytes());
        f.extend_from_slice(&((ts % S) as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    f
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, ttl, proto, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let total = (20 + l4.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(l4);
    ip
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// A TCP segment from `src:sp` to `dst:dp` with `data` payload octets.
#[allow(clippy::too_many_arguments)] // a segment's fields, named at each call
fn tcp(
    src: [u8; 4],
    sp: u16,
    dst: [u8; 4],
    dp: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    data: usize,
) -> Vec<u8> {
    let mut t = sp.to_be_bytes().to_vec();
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    t.extend(std::iter::repeat_n(0u8, data));
    ipv4(src, dst, 6, 64, &t)
}

fn udp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, data: usize) -> Vec<u8> {
    let mut u = sp.to_be_bytes().to_vec();
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + data) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend(std::iter::repeat_n(0u8, data));
    ipv4(src, dst, 17, 64, &u)
}

fn run(packets: &[(i64, Vec<u8>)], table: TableOptions) -> RecordBatch {
    run_with(
        packets,
        MeterOptions {
            table,
            ..MeterOptions::default()
        },
    )
}

fn run_with(packets: &[(i64, Vec<u8>)], opts: MeterOptions) -> RecordBatch {
    let bytes = pcap(packets);
    let reader = CaptureReader::new(Box::new(std::io::Cursor::new(bytes)) as DynRead).unwrap();
    let meter = Meter::new(opts, &InfoModel::new()).unwrap();
    let mut b = MeterBatches::new(
        meter,
        Captures::new(vec![reader]),
        vec!["test".into()],
        None,
        ColumnarOptions::default(),
    );
    let schema = b.schema();
    let mut all = Vec::new();
    while let Some(batch) = b.next_batch().unwrap() {
        all.push(batch);
    }
    arrow_select_concat(&schema, &all)
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, all: &[RecordBatch]) -> RecordBatch {
    // One batch is what these small captures give; more would be a bug
    // in batching, not a thing to concatenate here.
    assert!(all.len() <= 1, "{} batches", all.len());
    all.first()
        .cloned()
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()))
}

/// Column `name` as u64s (nulls as None).
fn col(b: &RecordBatch, name: &str) -> Vec<Option<u64>> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    (0..c.len())
        .map(|i| {
            if c.is_null(i) {
                return None;
            }
            Some(if let Some(a) = c.as_primitive_opt::<UInt64Type>() {
                a.value(i)
            } else if let Some(a) = c.as_primitive_opt::<UInt32Type>() {
                u64::from(a.value(i))
            } else if let Some(a) = c.as_primitive_opt::<UInt16Type>() {
                u64::from(a.value(i))
            } else if let Some(a) = c.as_primitive_opt::<UInt8Type>() {
                u64::from(a.value(i))
            } else if let Some(a) = c.as_primitive_opt::<TimestampMillisecondType>() {
                a.value(i) as u64
            } else if let Some(a) = c.as_primitive_opt::<TimestampMicrosecondType>() {
                a.value(i) as u64
            } else if let Some(a) = c.as_primitive_opt::<TimestampNanosecondType>() {
                a.value(i) as u64
            } else {
                panic!("{name} is {:?}", c.data_type())
            })
        })
        .collect()
}

fn one(b: &RecordBatch, name: &str) -> u64 {
    assert_eq!(b.num_rows(), 1, "rows");
    col(b, name)[0].unwrap()
}

#[test]
fn a_tcp_connection_is_one_biflow_oriented_by_its_syn() {
    // B's SYN/ACK reaches the capture first (A's SYN was missed): A is
    // still the initiator, because a SYN/ACK's receiver opened it.
    let pk = vec![
        (S, tcp(B, 80, A, 40000, 500, 101, SYN | ACK, 0)),
        (S + 1000, tcp(A, 40000, B, 80, 101, 501, ACK, 0)),
        (S + 2000, tcp(A, 40000, B, 80, 101, 501, ACK, 100)),
        (S + 3000, tcp(B, 80, A, 40000, 501, 201, ACK, 1000)),
        (S + 4000, tcp(A, 40000, B, 80, 201, 1501, FIN | ACK, 0)),
        (S + 5000, tcp(B, 80, A, 40000, 1501, 202, FIN | ACK, 0)),
        // The acknowledgment of B's FIN (its sequence number 1501 + 1).
        (S + 6000, tcp(A, 40000, B, 80, 202, 1502, ACK, 0)),
    ];
    let b = run(&pk, TableOptions::default());
    assert_eq!(one(&b, "sourceTransportPort"), 40000);
    assert_eq!(one(&b, "destinationTransportPort"), 80);
    assert_eq!(
        (
            one(&b, "packetDeltaCount"),
            one(&b, "reversePacketDeltaCount")
        ),
        (4, 3)
    );
    // 40-octet headers: A sent 4 packets and 100 data octets.
    assert_eq!(
        (
            one(&b, "octetDeltaCount"),
            one(&b, "reverseOctetDeltaCount")
        ),
        (260, 1120)
    );
    assert_eq!(one(&b, "transportOctetDeltaCount"), 100);
    assert_eq!(
        (
            one(&b, "transportPacketDeltaCount"),
            one(&b, "reverseTransportPacketDeltaCount")
        ),
        (1, 1)
    );
    assert_eq!(one(&b, "flowEndReason"), u64::from(reason::END_OF_FLOW));
    assert_eq!(one(&b, "initialTCPFlags"), u64::from(ACK));
    assert_eq!(one(&b, "unionTCPFlags"), u64::from(ACK | FIN));
    assert_eq!(one(&b, "reverseInitialTCPFlags"), u64::from(SYN | ACK));
    assert_eq!(one(&b, "reverseTcpControlBits"), u64::from(SYN | ACK | FIN));
    // The SYN/ACK at 1 s began the record, the last ACK at 1 s + 6 µs ended it.
    assert_eq!(one(&b, "flowStartNanoseconds"), S as u64);
    assert_eq!(one(&b, "flowEndMicroseconds"), 1_000_006);
    assert_eq!(one(&b, "reverseFlowDeltaMilliseconds"), 0);
}

#[test]
fn a_flow_ends_once_both_fins_are_acknowledged_in_either_order() {
    // Beside B (a real close, s05 of the truth runs): A's FIN, B's FIN
    // acknowledging it, lost beyond B; A sends its FIN again, B answers
    // with an ACK of A's FIN (B's own still unacknowledged), then sends its
    // FIN again; A's ACK of it closes the connection.
    let pk = vec![
        (S, tcp(A, 40000, B, 80, 201, 1501, FIN | ACK, 0)),
        (S + 1000, tcp(B, 80, A, 40000, 1501, 202, FIN | ACK, 0)),
        (S + 2000, tcp(A, 40000, B, 80, 201, 1501, FIN | ACK, 0)),
        (S + 3000, tcp(B, 80, A, 40000, 1502, 202, ACK, 0)),
        (S + 4000, tcp(B, 80, A, 40000, 1501, 202, FIN | ACK, 0)),
        (S + 5000, tcp(A, 40000, B, 80, 202, 1502, ACK, 0)),
    ];
    let b = run(&pk, TableOptions::default());
    assert_eq!(
        (
            one(&b, "packetDeltaCount"),
            one(&b, "reversePacketDeltaCount")
        ),
        (3, 3)
    );
    assert_eq!(one(&b, "flowEndReason"), u64::from(reason::END_OF_FLOW));
    assert_eq!(one(&b, "flowEndMicroseconds"), 1_000_005);
}

#[test]
fn rst_ends_a_flow_and_later_packets_start_another() {
    let pk = vec![
        (S, tcp(A, 1, B, 2, 0, 0, SYN, 0)),
        (2 * S, tcp(B, 2, A, 1, 0, 1, RST | ACK, 0)),
        (3 * S, tcp(B, 2, A, 1, 0, 1, RST | ACK, 0)),
    ];
    let b = run(&pk, TableOptions::default());
    assert_eq!(col(&b, "flowEndReason"), vec![Some(3), Some(3)]);
    assert_eq!(col(&b, "flowId"), vec![Some(1), Some(2)]);
    // The lone RST's sender is the second record's source.
    assert_eq!(col(&b, "sourceTransportPort"), vec![Some(1), Some(2)]);
}

#[test]
fn idle_and_active_timeouts() {
    let t = TableOptions {
        idle_ns: 10 * S,
        active_ns: 60 * S,
        ..TableOptions::default()
    };
    // A UDP exchange every 5 s for 100 s: active timeout at the packet
    // more than 60 s after the start (t=65), the continuation keeps the
    // flowId; then silence past 10 s and a packet at t=120: idle timeout.
    let mut pk: Vec<(i64, Vec<u8>)> = (0..=20)
        .map(|i| (i * 5 * S, udp(A, 53, B, 53, 10)))
        .collect();
    pk.push((120 * S, udp(A, 53, B, 53, 10)));
    let b = run(&pk, t);
    assert_eq!(col(&b, "flowEndReason"), vec![Some(2), Some(1), Some(4)]);
    assert_eq!(col(&b, "flowId"), vec![Some(1), Some(1), Some(2)]);
    // t = 0..60 is 13 packets; 65..100 is 8; then the last one.
    assert_eq!(
        col(&b, "packetDeltaCount"),
        vec![Some(13), Some(8), Some(1)]
    );
    assert_eq!(
        col(&b, "flowEndMilliseconds"),
        vec![Some(60_000), Some(100_000), Some(120_000)]
    );
}

#[test]
fn the_flow_cap_evicts_the_least_recently_seen() {
    let t = TableOptions {
        max_flows: 3,
        ..TableOptions::default()
    };
    // Flows on ports 1..=5, then port 1 again: each new flow past three
    // evicts the least recently seen (ports 1, then 2, then 3).
    let mut pk: Vec<(i64, Vec<u8>)> = (1..=5)
        .map(|p| (p * S, udp(A, p as u16, B, 9, 0)))
        .collect();
    pk.push((6 * S, udp(A, 1, B, 9, 0)));
    let b = run(&pk, t);
    assert_eq!(
        col(&b, "sourceTransportPort"),
        vec![Some(1), Some(2), Some(3), Some(4), Some(5), Some(1)]
    );
    assert_eq!(
        col(&b, "flowEndReason"),
        vec![Some(5), Some(5), Some(5), Some(4), Some(4), Some(4)]
    );
}

#[test]
fn the_table_never_holds_more_than_max_flows() {
    let mut m = Meter::new(
        MeterOptions {
            table: TableOptions {
                max_flows: 100,
                ..TableOptions::default()
            },
            ..MeterOptions::default()
        },
        &InfoModel::new(),
    )
    .unwrap();
    for i in 0..10_000u32 {
        let p = udp(
            A,
            (i % 60_000) as u16,
            [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
            9,
            0,
        );
        let pkt = crate::pcap::Packet {
            linktype: 101,
            ts_ns: i64::from(i),
            data: &p,
            orig_len: p.len() as u32,
            number: u64::from(i),
            offset: 0,
        };
        m.packet(&pkt).unwrap();
        assert!(m.open_flows() <= 100);
        m.drain(|_, _, _| Ok(())).unwrap();
    }
    let s = m.stats();
    assert_eq!(
        (s.table.flows, s.table.peak_flows, s.table.by_reason[5]),
        (10_000, 100, 9_900)
    );
}

#[test]
fn icmp_type_and_code_are_in_the_key() {
    let echo = |src, dst, kind: u8| ipv4(src, dst, 1, 64, &[kind, 0, 0, 0, 0, 1, 0, 1]);
    let pk = vec![
        (S, echo(A, B, 8)),
        (S + 10, echo(B, A, 0)),
        (2 * S, echo(A, B, 8)),
    ];
    let b = run(&pk, TableOptions::default());
    let mut got: Vec<(u64, u64)> = col(&b, "icmpTypeCodeIPv4")
        .into_iter()
        .zip(col(&b, "packetDeltaCount"))
        .map(|(k, n)| (k.unwrap(), n.unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![(0, 1), (8 * 256, 2)]);
    assert_eq!(col(&b, "sourceTransportPort"), vec![None, None]);
}

#[test]
fn records_written_as_ipfix_read_back_the_same() {
    use crate::columnar::ColumnarReader;
    use crate::encode::{ExportOptions, Exporter};
    use crate::source::MessageStream;
    let pk = vec![
        (S, tcp(A, 1000, B, 80, 0, 0, SYN, 0)),
        (S + 5, tcp(B, 80, A, 1000, 0, 1, SYN | ACK, 0)),
        (S + 9, udp(A, 5, B, 6, 3)),
    ];
    let model = InfoModel::new();
    let reader =
        || CaptureReader::new(Box::new(std::io::Cursor::new(pcap(&pk))) as DynRead).unwrap();
    let mut m = Meter::new(MeterOptions::default(), &model).unwrap();
    let mut ex = Exporter::new(Vec::new(), ExportOptions::default()).unwrap();
    let mut caps = Captures::new(vec![reader()]);
    super::export::export_ipfix(
        &mut m,
        &mut caps,
        &[],
        &mut ex,
        crate::decode::Policy::Error,
        &super::export::Selection::default(),
        |_| Ok(()),
    )
    .unwrap();
    let ipfix = ex.finish().unwrap();
    let direct = run(&pk, TableOptions::default());
    let stream = MessageStream::from_shared(Arc::from(ipfix)).unwrap();
    let columns = Meter::new(MeterOptions::default(), &model)
        .unwrap()
        .records()
        .columns()
        .to_vec();
    // The histograms' list shape, as read_ipfix finds it by a pre-scan.
    let mut opts = ColumnarOptions::default();
    opts.list_shapes.extend(super::batches::list_shapes(&model));
    let mut back = ColumnarReader::new(
        stream,
        model,
        &crate::decode::DecoderOptions::default(),
        &columns,
        opts,
    );
    let read = back.next().unwrap().unwrap();
    assert_eq!(read.num_rows(), 2);
    for f in direct.schema().fields() {
        assert_eq!(
            read.column_by_name(f.name()).map(Array::to_data),
            direct.column_by_name(f.name()).map(Array::to_data),
            "{}",
            f.name()
        );
    }
}

#[test]
fn times_outside_the_ntp_era_leave_those_columns_null() {
    // 2100-01-01 (after NTP era 0 ends in 2036): milliseconds since 1970
    // hold it, the NTP micro/nanosecond fields cannot (RFC 7011 §6.1.9).
    let t2100 = 4_102_444_800 * S;
    let pk = vec![(S, udp(A, 1, B, 2, 0)), (t2100, udp(A, 3, B, 4, 0))];
    let b = run(&pk, TableOptions::default());
    assert_eq!(
        col(&b, "flowStartMilliseconds"),
        vec![Some(1000), Some(4_102_444_800_000)]
    );
    assert_eq!(
        col(&b, "flowStartMicroseconds"),
        vec![Some(1_000_000), None]
    );
    assert_eq!(col(&b, "flowEndNanoseconds"), vec![Some(S as u64), None]);
}

/// One summary filled packet after packet, as the meter's loops reuse
/// it, holds what a summary built afresh holds: nothing of the packet
/// before stays (a TCP header after a UDP packet, options after a packet
/// without, a MAC after a frame without Ethernet, a VLAN id ...), nor of
/// a summary whose every field was set to a value no packet gives, on
/// every packet of every fixture capture, either orientation.
#[test]
fn a_summary_filled_in_place_is_one_built_afresh() {
    use super::flowpacket::FlowPacket;
    use crate::packet::{DissectOptions, Dissector, FragmentMode, Step};
    let mut reused = FlowPacket::default();
    let (mut n, mut tcp, mut other) = (0usize, 0usize, 0usize);
    let mut paths: Vec<_> = std::fs::read_dir("tests/data/pcap")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        if !crate::pcap::is_capture(&bytes) {
            continue;
        }
        let Ok(mut r) = CaptureReader::new(Box::new(std::io::Cursor::new(bytes)) as DynRead) else {
            continue;
        };
        let mut d = Dissector::new(DissectOptions {
            fragments: FragmentMode::Assign,
            decapsulate: false,
        });
        while let Ok(Some(p)) = r.next_packet() {
            let Step::Packet(x) = d.frame(&p) else {
                continue;
            };
            let fresh = FlowPacket::of(&x);
            reused.fill(&x);
            assert_eq!(reused, fresh, "{}", path.display());
            let mut scrambled = FlowPacket::scrambled();
            scrambled.fill(&x);
            assert_eq!(scrambled, fresh, "{}", path.display());
            n += 1;
            if reused.tcp().is_some() {
                tcp += 1;
            } else {
                other += 1;
            }
        }
    }
    assert!(
        n > 10_000 && tcp > 1_000 && other > 1_000,
        "{n} {tcp} {other}"
    );
}

mod records;
