//! NetFlow v5 packets -> IPFIX messages. v5 has no templates: a 24-byte
//! header (version, count, SysUpTime, UNIX seconds and nanoseconds, flow
//! sequence, engine type and id, sampling) and `count` (1..=30) records of
//! 48 bytes in one fixed layout (Cisco's "NetFlow Export Datagram Format").
//! Each translated message carries template [`V5_TEMPLATE`] with the IPFIX
//! IEs of those fields, then the records; the observation domain is
//! engine type << 8 | engine id; the flow sequence counts records, as IPFIX
//! sequence numbers do. A non-zero sampling field becomes an options record
//! (template [`V5_SAMPLING_TEMPLATE`]: observationDomainId,
//! samplingAlgorithm, samplingInterval).

use super::{absolute_ms, bad, begin_set, close_set, finish_message, put_header};
use crate::error::{Error, ErrorKind};
use crate::wire::{be16, be32, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID};

/// Bytes of the v5 header.
pub const HEADER_LEN: usize = 24;
/// Bytes of a v5 record.
pub const RECORD_LEN: usize = 48;
/// Most records a v5 packet may hold.
pub const MAX_RECORDS: usize = 30;
/// Template id of translated v5 records.
pub const V5_TEMPLATE: u16 = 256;
/// Options template id of the translated sampling record.
pub const V5_SAMPLING_TEMPLATE: u16 = 257;

type R<T> = std::result::Result<T, (Error, usize)>;

/// The record's fields: (IANA IE, IPFIX length, offset in the v5 record,
/// v5 length); the two times are SysUpTime milliseconds made absolute.
const FIELDS: [(u16, u16, usize, usize); 18] = [
    (8, 4, 0, 4),    // srcaddr -> sourceIPv4Address
    (12, 4, 4, 4),   // dstaddr -> destinationIPv4Address
    (15, 4, 8, 4),   // nexthop -> ipNextHopIPv4Address
    (10, 2, 12, 2),  // input -> ingressInterface
    (14, 2, 14, 2),  // output -> egressInterface
    (2, 4, 16, 4),   // dPkts -> packetDeltaCount
    (1, 4, 20, 4),   // dOctets -> octetDeltaCount
    (152, 8, 24, 4), // First -> flowStartMilliseconds
    (153, 8, 28, 4), // Last -> flowEndMilliseconds
    (7, 2, 32, 2),   // srcport -> sourceTransportPort
    (11, 2, 34, 2),  // dstport -> destinationTransportPort
    (6, 1, 37, 1),   // tcp_flags -> tcpControlBits
    (4, 1, 38, 1),   // prot -> protocolIdentifier
    (5, 1, 39, 1),   // tos -> ipClassOfService
    (16, 2, 40, 2),  // src_as -> bgpSourceAsNumber
    (17, 2, 42, 2),  // dst_as -> bgpDestinationAsNumber
    (9, 1, 44, 1),   // src_mask -> sourceIPv4PrefixLength
    (13, 1, 45, 1),  // dst_mask -> destinationIPv4PrefixLength
];

/// The length of a v5 packet from its header.
pub(super) fn packet_len(h: &[u8]) -> R<usize> {
    let count = usize::from(be16(h, 2).unwrap_or(0));
    if count == 0 || count > MAX_RECORDS {
        return Err(bad(
            ErrorKind::BadMessageHeader(format!(
                "NetFlow v5 record count {count} is not in 1..={MAX_RECORDS}"
            )),
            2,
        ));
    }
    // count <= MAX_RECORDS (checked above).
    Ok(HEADER_LEN.saturating_add(count.saturating_mul(RECORD_LEN)))
}

/// Translate one v5 packet (exactly `packet_len` bytes).
pub(super) fn translate(p: &[u8], out: &mut Vec<u8>) -> R<()> {
    let len = packet_len(p)?;
    if p.len() != len {
        return Err(bad(
            ErrorKind::Truncated {
                needed: len as u64,
                available: p.len() as u64,
            },
            0,
        ));
    }
    let uptime = be32(p, 4).unwrap_or(0);
    let secs = be32(p, 8).unwrap_or(0);
    let nsecs = be32(p, 12).unwrap_or(0);
    let sequence = be32(p, 16).unwrap_or(0);
    let odid = u32::from(be16(p, 20).unwrap_or(0));
    let sampling = be16(p, 22).unwrap_or(0);
    // u32 seconds times 1000 plus a u32 / 10^6: far from i64::MAX.
    let now_ms = i64::from(secs)
        .saturating_mul(1000)
        .saturating_add(i64::from(nsecs / 1_000_000));
    put_header(out, secs, sequence, odid);

    let s = begin_set(out, TEMPLATE_SET_ID);
    out.extend_from_slice(&V5_TEMPLATE.to_be_bytes());
    out.extend_from_slice(&(FIELDS.len() as u16).to_be_bytes());
    for (ie, l, _, _) in FIELDS {
        out.extend_from_slice(&ie.to_be_bytes());
        out.extend_from_slice(&l.to_be_bytes());
    }
    close_set(out, s);
    if sampling != 0 {
        let s = begin_set(out, OPTIONS_TEMPLATE_SET_ID);
        // Template 257: 3 fields, 1 scope: observationDomainId (149),
        // samplingAlgorithm (35), samplingInterval (34).
        for v in [V5_SAMPLING_TEMPLATE, 3, 1, 149, 4, 35, 1, 34, 4] {
            out.extend_from_slice(&u16::to_be_bytes(v));
        }
        close_set(out, s);
        let s = begin_set(out, V5_SAMPLING_TEMPLATE);
        out.extend_from_slice(&odid.to_be_bytes());
        // Top two bits: the mode (1 deterministic, 2 random); the rest the
        // interval, one of N packets.
        out.push((sampling >> 14) as u8);
        out.extend_from_slice(&u32::from(sampling & 0x3FFF).to_be_bytes());
        close_set(out, s);
    }

    let s = begin_set(out, V5_TEMPLATE);
    for rec in p[HEADER_LEN..].chunks_exact(RECORD_LEN) {
        for (ie, _, at, l) in FIELDS {
            if ie == 152 || ie == 153 {
                let t = be32(rec, at).unwrap_or(0);
                out.extend_from_slice(&absolute_ms(now_ms, uptime, t).to_be_bytes());
            } else {
                out.extend_from_slice(rec.get(at..at.saturating_add(l)).unwrap_or_default());
            }
        }
    }
    close_set(out, s);
    finish_message(out)
}
