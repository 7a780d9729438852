//! The statistics' options template and records against RFC 7011's
//! layout (§3.4.2.2 options template record, §3.3.2 data set, §3.1
//! message header), the expected octets written out here from the RFC
//! and IANA's element ids, not from the encoder.

use super::*;
use crate::encode::{ExportOptions, Exporter};

/// The observation domain the statistics are written for (not 0, so
/// that the message headers and the scope show it).
const ODID: u32 = 0x0A0B_0C0D;

/// A big-endian u16.
fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

/// The options template set RFC 7011 §3.4.2.2 lays out for the two
/// templates: set id 3, then each record's id, field count, scope field
/// count and (element id, length) pairs.
fn expected_template_set() -> Vec<u8> {
    let mut set = Vec::new();
    set.extend(be16(3));
    // 4 (set header) + (6 + 4 * 4) + (6 + 3 * 4) + (6 + 5 * 4) octets.
    set.extend(be16(4 + 22 + 18 + 26));
    set.extend(be16(4352));
    set.extend(be16(4));
    set.extend(be16(1));
    // observationDomainId (149, unsigned32), exportedMessageTotalCount
    // (41), exportedFlowRecordTotalCount (42), exportedOctetTotalCount
    // (40): unsigned64 each.
    for (id, len) in [(149, 4), (41, 8), (42, 8), (40, 8)] {
        set.extend(be16(id));
        set.extend(be16(len));
    }
    set.extend(be16(4353));
    set.extend(be16(3));
    set.extend(be16(1));
    // observationDomainId, ignoredPacketTotalCount (164) and
    // ignoredOctetTotalCount (165), unsigned64 each.
    for (id, len) in [(149, 4), (164, 8), (165, 8)] {
        set.extend(be16(id));
        set.extend(be16(len));
    }
    set.extend(be16(4354));
    set.extend(be16(5));
    set.extend(be16(1));
    // The same, then the first and last packet ignored as
    // observationTimeNanoseconds (325, dateTimeNanoseconds: 8 octets).
    for (id, len) in [(149, 4), (164, 8), (165, 8), (325, 8), (325, 8)] {
        set.extend(be16(id));
        set.extend(be16(len));
    }
    set
}

/// RFC 7011 §6.1.10: dateTimeNanoseconds in NTP's format, seconds since
/// 1900 (RFC 5905 §6: 2,208,988,800 before the UNIX epoch) and the
/// fraction of a second in 2^-32 s.
fn ntp(secs: u32, fraction: u32) -> Vec<u8> {
    let mut v = (secs + 2_208_988_800).to_be_bytes().to_vec();
    v.extend(fraction.to_be_bytes());
    v
}

#[test]
fn options_templates_and_records_follow_rfc_7011s_layout() {
    let model = InfoModel::new();
    let mut s = StatsRecords::new(&model, ODID).unwrap();
    let opts = ExportOptions {
        export_time: Some(1_000),
        ..ExportOptions::default()
    };
    let mut ex = Exporter::new(Vec::new(), opts).unwrap();
    for t in s.templates() {
        ex.add_template(t).unwrap();
    }
    ex.flush().unwrap();
    let mut stats = MeterStats::default();
    // 7 malformed IP headers; 5 ARP frames and 3 of an unread link type
    // are not IP packets and must not count.
    stats.dissect.not_ip = [3, 5, 0, 7];
    // 420 octets, the first at 1,700,000,000.5 s, the last at
    // 1,700,000,001.25 s (fractions exact in 2^-32 s).
    stats.dissect.ignored.packet(400, 1_700_000_001_250_000_000);
    stats.dissect.ignored.packet(20, 1_700_000_000_500_000_000);
    s.write(&mut ex, &stats).unwrap();
    let out = ex.finish().unwrap();

    let tset = expected_template_set();
    let first_len = 16 + tset.len();
    let mut want = Vec::new();
    // Message 1: header (version 10, length, export time, sequence 0,
    // observation domain), the template set.
    want.extend(be16(10));
    want.extend(be16(u16::try_from(first_len).unwrap()));
    want.extend(1_000u32.to_be_bytes());
    want.extend(0u32.to_be_bytes());
    want.extend(ODID.to_be_bytes());
    want.extend(&tset);
    // Message 2: the two records, each in a data set of its template id;
    // sequence still 0 (no data record before it).
    let rec1_set = 4 + 4 + 3 * 8;
    let rec2_set = 4 + 4 + 8 + 8 + 8 + 8;
    want.extend(be16(10));
    want.extend(be16(16 + rec1_set + rec2_set));
    want.extend(1_000u32.to_be_bytes());
    want.extend(0u32.to_be_bytes());
    want.extend(ODID.to_be_bytes());
    want.extend(be16(4352));
    want.extend(be16(rec1_set));
    want.extend(ODID.to_be_bytes()); // observationDomainId
    want.extend(1u64.to_be_bytes()); // one message before
    want.extend(0u64.to_be_bytes()); // no flow record
    want.extend(u64::try_from(first_len).unwrap().to_be_bytes()); // its octets
    want.extend(be16(4354));
    want.extend(be16(rec2_set));
    want.extend(ODID.to_be_bytes());
    want.extend(7u64.to_be_bytes());
    want.extend(420u64.to_be_bytes());
    want.extend(ntp(1_700_000_000, 0x8000_0000));
    want.extend(ntp(1_700_000_001, 0x4000_0000));
    assert_eq!(out, want);
}

#[test]
fn with_nothing_ignored_no_time_is_made_up() {
    let model = InfoModel::new();
    let mut s = StatsRecords::new(&model, ODID).unwrap();
    let mut ex = Exporter::new(Vec::new(), ExportOptions::default()).unwrap();
    s.write(&mut ex, &MeterStats::default()).unwrap();
    let out = ex.finish().unwrap();
    // The last set: template 4353's record, domain and two zero counts.
    let mut want = be16(4353).to_vec();
    want.extend(be16(4 + 4 + 8 + 8));
    want.extend(ODID.to_be_bytes());
    want.extend([0; 16]);
    assert_eq!(&out[out.len() - want.len()..], &want[..]);
}

#[test]
fn flow_records_counted_exclude_earlier_statistics_records() {
    let model = InfoModel::new();
    let mut s = StatsRecords::new(&model, 0).unwrap();
    let mut ex = Exporter::new(Vec::new(), ExportOptions::default()).unwrap();
    s.write(&mut ex, &MeterStats::default()).unwrap();
    let first = ex.stats;
    s.write(&mut ex, &MeterStats::default()).unwrap();
    let out = ex.finish().unwrap();
    // The last message's first record: after its 16-octet header and
    // 4-octet set header, the domain (4 octets), then the three counts.
    let last = out.len() - (16 + 4 + 28 + 4 + 20);
    let rec = &out[last + 20..last + 48];
    let n = |i: usize| u64::from_be_bytes(rec[4 + 8 * i..12 + 8 * i].try_into().unwrap());
    assert_eq!(n(0), first.messages);
    assert_eq!(n(1), 0, "the first statistics records are no flow records");
    assert_eq!(n(2), first.bytes);
}
