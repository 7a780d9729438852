//! NetFlow v9 (RFC 3954) and NetFlow v5 packets, read as IPFIX: each packet
//! is framed in a byte stream (`crate::source::framing`) and translated into one IPFIX
//! message ([`Translator`]), so the one decoder, its template store, its
//! health counters and every sink serve all three versions.
//!
//! What the translation keeps and changes:
//! - the header: v9's UNIX seconds become the export time, its source id
//!   the observation domain, its sequence number stays (the decoder is told
//!   that v9 numbers count packets, RFC 3954 §5.1, not data records);
//! - v9 field types below 32768 keep their numbers: IPFIX took them over
//!   from v9 (RFC 7012 §4), so they name the same IEs; types from 32768 up
//!   (vendor fields, e.g. Cisco ASA's) become enterprise IEs of
//!   [`V9_VENDOR_PEN`] with the low 15 bits as the number;
//! - v9 options templates (scope and option lengths in bytes, §6.1) become
//!   IPFIX options templates (field counts); v9 scope types System,
//!   Interface, Line Card, Cache and Template become exportingProcessId,
//!   ingressInterface, lineCardId, meteringProcessId and templateId;
//! - FIRST_SWITCHED / LAST_SWITCHED (21/22, milliseconds of SysUpTime,
//!   §8) become flowStartMilliseconds / flowEndMilliseconds (152/153),
//!   absolute: export time - SysUpTime + the field;
//! - NetFlow v5's fixed records become records of a fixed template (256)
//!   with IPFIX IE names, its header's sampling an options record.
//!
//! Byte offsets of errors found by the decoder inside a translated packet
//! point at the packet's start; the translator's own errors (malformed v9
//! or v5) carry their exact offset in the packet.

mod v5;
mod v9;

pub use v9::V9_VENDOR_PEN;

use std::collections::HashMap;

use crate::error::{Error, ErrorKind};
use crate::wire::{be16, IPFIX_VERSION, MESSAGE_HEADER_LEN};

/// Which protocol a packet of a stream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Ipfix,
    V9,
    V5,
}

impl Version {
    /// The version of a packet starting with `first_two` bytes.
    pub fn of(first_two: u16) -> Option<Version> {
        match first_two {
            IPFIX_VERSION => Some(Version::Ipfix),
            9 => Some(Version::V9),
            5 => Some(Version::V5),
            _ => None,
        }
    }

    /// Bytes of the fixed header.
    pub fn header_len(self) -> usize {
        match self {
            Version::Ipfix => MESSAGE_HEADER_LEN,
            Version::V9 => v9::HEADER_LEN,
            Version::V5 => v5::HEADER_LEN,
        }
    }

    /// The protocol's name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Version::Ipfix => "IPFIX",
            Version::V9 => "NetFlow v9",
            Version::V5 => "NetFlow v5",
        }
    }
}

/// An error at `at` bytes into a packet.
pub(crate) fn bad(kind: ErrorKind, at: usize) -> (Error, usize) {
    (Error::new(kind), at)
}

/// What a packet's framing needs to know after its header: for v5 the
/// record count fixes the length; v9 has no length field (RFC 3954 §5.1),
/// its flowsets run until the next packet's version or the input's end.
pub enum Extent {
    /// The packet is exactly this long.
    Fixed(usize),
    /// Walk the flowsets after the header.
    Flowsets,
}

/// The extent of a packet whose header is `header` (at least
/// `version.header_len()` bytes).
pub fn extent(version: Version, header: &[u8]) -> std::result::Result<Extent, (Error, usize)> {
    match version {
        Version::Ipfix => {
            let len = usize::from(be16(header, 2).unwrap_or(0));
            if len < MESSAGE_HEADER_LEN {
                return Err(bad(
                    ErrorKind::BadMessageHeader(format!(
                        "message length {len} is shorter than the header"
                    )),
                    2,
                ));
            }
            Ok(Extent::Fixed(len))
        }
        Version::V5 => v5::packet_len(header).map(Extent::Fixed),
        Version::V9 => Ok(Extent::Flowsets),
    }
}

/// Whether a v9 flowset header at a flowset boundary is in fact the start
/// of the next packet: flowset ids 2..=255 are reserved (RFC 3954 §5.2),
/// so 5, 9 and 10 there can only be a version number.
pub fn starts_packet(first_two: u16) -> bool {
    Version::of(first_two).is_some()
}

/// How a v9 field's bytes become the IPFIX field's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    /// Copied as they are.
    Copy(u16),
    /// 4 bytes of SysUpTime milliseconds -> 8 bytes of UNIX milliseconds.
    Uptime,
}

/// Most v9 templates held for record rewriting at once (per stream); past
/// it the oldest are not dropped but new ones are not rewritten: their
/// times stay relative and a problem is reported.
pub const MAX_TRANSLATED_TEMPLATES: usize = 65_536;

/// Data flowsets held per translator for their template, at most (sets,
/// bytes).
pub const MAX_HELD: (usize, usize) = (1024, 4 << 20);

/// A v9 data flowset that came before its template.
#[derive(Debug)]
struct HeldFlowSet {
    source: u32,
    tid: u16,
    body: Vec<u8>,
    /// Its packet's UNIX milliseconds and SysUpTime, for its times.
    now_ms: i64,
    uptime: u32,
}

/// Translates the NetFlow packets of one stream (one exporter) into IPFIX
/// messages, remembering which v9 templates need their records rewritten.
#[derive(Debug, Default)]
pub struct Translator {
    /// Per (source id, template id): the field conversions of templates
    /// whose records change on translation (absent: copied as they are).
    rewrite: HashMap<(u32, u16), Vec<Conv>>,
    /// Templates seen (holding only).
    known: std::collections::HashSet<(u32, u16)>,
    /// Hold data flowsets that come before their template (a UDP session:
    /// the template may follow) until it comes, instead of passing them on
    /// untranslated.
    hold: bool,
    held: Vec<HeldFlowSet>,
    held_bytes: usize,
    /// Held flowsets translated once their template came, and those
    /// dropped (past [`MAX_HELD`]), per (source id, template id).
    pub replayed: u64,
    dropped: HashMap<(u32, u16), u64>,
}

impl Translator {
    /// A translator with no template state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A translator for a UDP session: v9 data that comes before its
    /// template is held (bounded) and translated when the template comes,
    /// with its own packet's times.
    pub fn holding() -> Self {
        Translator {
            hold: true,
            ..Self::default()
        }
    }

    /// Data flowsets held now.
    pub fn held(&self) -> u64 {
        self.held.len() as u64
    }

    /// Data flowsets without their template so far, per (source id,
    /// template id): held, or dropped past the bound.
    pub fn missing(&self) -> HashMap<(u32, u16), u64> {
        let mut m = self.dropped.clone();
        for h in &self.held {
            let n = m.entry((h.source, h.tid)).or_default();
            *n = n.saturating_add(1);
        }
        m
    }

    /// Translate `packet` (a whole v9 or v5 packet, as framed) into one
    /// IPFIX message in `out` (cleared first). Errors carry their offset in
    /// the packet.
    pub fn translate(
        &mut self,
        version: Version,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), (Error, usize)> {
        out.clear();
        match version {
            Version::Ipfix => {
                out.extend_from_slice(packet);
                Ok(())
            }
            Version::V9 => v9::translate(self, packet, out),
            Version::V5 => v5::translate(packet, out),
        }
    }
}

/// Write the IPFIX message header (length patched by [`finish_message`]).
fn put_header(out: &mut Vec<u8>, export_time: u32, sequence: u32, odid: u32) {
    out.extend_from_slice(&IPFIX_VERSION.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&export_time.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&odid.to_be_bytes());
}

/// Patch the message length; refuse a translation over 65535 bytes.
fn finish_message(out: &mut [u8]) -> std::result::Result<(), (Error, usize)> {
    let len = u16::try_from(out.len()).map_err(|_| {
        bad(
            ErrorKind::BadMessageHeader(format!(
                "the packet translates to {} bytes of IPFIX, over the 65535 a message holds",
                out.len()
            )),
            0,
        )
    })?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Start a set with id `id`; returns where its length goes.
fn begin_set(out: &mut Vec<u8>, id: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    at
}

/// Patch a set's length, or drop the set when nothing went into it.
fn end_set(out: &mut Vec<u8>, at: usize) {
    // `at` is where the set began in `out`, which only grew since.
    if out.len().saturating_sub(at) == 4 {
        out.truncate(at);
    } else {
        close_set(out, at);
    }
}

/// Patch a set's length (an empty set stays: the decoder sees it).
fn close_set(out: &mut [u8], at: usize) {
    // A set is at most a message long; finish_message refuses the rest.
    let len = u16::try_from(out.len().saturating_sub(at)).unwrap_or(u16::MAX);
    if let Some(d) = out.get_mut(at.saturating_add(2)..at.saturating_add(4)) {
        d.copy_from_slice(&len.to_be_bytes());
    }
}

/// UNIX milliseconds of a SysUpTime reading `t`, given the packet's UNIX
/// milliseconds `now_ms` and SysUpTime `uptime`: the uptime difference is
/// taken modulo 2^32 as a signed number, so readings from before SysUpTime
/// wrapped (every 49.7 days) and small skews both come out right.
fn absolute_ms(now_ms: i64, uptime: u32, t: u32) -> u64 {
    let back = i64::from(uptime.wrapping_sub(t) as i32);
    // now_ms is a u32 of seconds times 1000 and back an i32: no overflow.
    u64::try_from(now_ms.saturating_sub(back)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_differences_wrap_modulo_2_32() {
        // A reading 1 s before the packet, and one from before SysUpTime
        // wrapped (uptime 100 ms, reading 2^32 - 900 ms: 1 s earlier).
        assert_eq!(absolute_ms(10_000, 5_000, 4_000), 9_000);
        assert_eq!(absolute_ms(10_000, 100, u32::MAX - 899), 9_000);
        // A reading slightly after the packet's uptime (skew) stays close.
        assert_eq!(absolute_ms(10_000, 5_000, 5_010), 10_010);
    }

    /// A v9 packet: header, then flowsets given as (id, body).
    fn v9(flowsets: &[(u16, &[u8])]) -> Vec<u8> {
        let mut p = vec![0, 9, 0, 1];
        p.extend_from_slice(&[0; 16]);
        for (id, body) in flowsets {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
            p.extend_from_slice(body);
        }
        p
    }

    #[test]
    fn v9_packets_are_framed_by_the_next_version_and_padding() {
        let a = v9(&[(0, &[1, 0, 0, 1, 0, 8, 0, 4]), (256, &[1, 2, 3, 4])]);
        let mut data = a.clone();
        data.extend_from_slice(&[0; 4]); // zero padding between datagrams
        let b = v9(&[(256, &[5, 6, 7, 8])]);
        data.extend_from_slice(&b);
        let (v, len) = crate::source::framing::frame(&data).unwrap().unwrap();
        assert_eq!((v, len), (Version::V9, a.len() + 4));
        assert_eq!(
            crate::source::framing::frame(&data[len..])
                .unwrap()
                .unwrap(),
            (Version::V9, b.len())
        );
        // A flowset overrunning the input is reported at the packet start
        // with what it needed.
        let cut = &data[..a.len() - 2];
        let (e, at) = crate::source::framing::frame(cut).unwrap_err();
        assert_eq!(at, 0);
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
    }

    #[test]
    fn v9_templates_and_times_translate() {
        // Template 256: FIRST_SWITCHED (4), a vendor field 40000 (2).
        let mut t = Vec::new();
        for x in [256u16, 2, 22, 4, 40000, 2] {
            t.extend_from_slice(&x.to_be_bytes());
        }
        let mut p = v9(&[(0, &t), (256, &[0, 0, 0x03, 0xE8, 0xAB, 0xCD])]);
        p[4..8].copy_from_slice(&5_000u32.to_be_bytes()); // SysUpTime 5 s
        p[8..12].copy_from_slice(&1_000u32.to_be_bytes()); // UNIX 1000 s
        let mut out = Vec::new();
        Translator::new()
            .translate(Version::V9, &p, &mut out)
            .unwrap();
        let mut want = vec![0, 10];
        want.extend_from_slice(&(out.len() as u16).to_be_bytes());
        want.extend_from_slice(&1_000u32.to_be_bytes());
        want.extend_from_slice(&[0; 8]);
        // Template set: 152 (8 bytes), 40000 as PEN 2^32-1.
        want.extend_from_slice(&[0, 2, 0, 20, 1, 0, 0, 2, 0, 152, 0, 8]);
        want.extend_from_slice(&[0x9C, 0x40, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF]);
        // Data: 1000 s - 5 s + 1 s = 996,000 ms.
        want.extend_from_slice(&[1, 0, 0, 14]);
        want.extend_from_slice(&996_000u64.to_be_bytes());
        want.extend_from_slice(&[0xAB, 0xCD]);
        assert_eq!(out, want);
    }

    #[test]
    fn v9_data_before_its_template_is_held_and_timed_by_its_own_packet() {
        // Packet 1 (SysUpTime 5 s, UNIX 1000 s): data for 256 only.
        // Packet 2 (SysUpTime 65 s, UNIX 1060 s): template 256, then data.
        let mut t = Vec::new();
        for x in [256u16, 1, 22, 4] {
            t.extend_from_slice(&x.to_be_bytes());
        }
        let mut p1 = v9(&[(256, &[0, 0, 0x03, 0xE8])]);
        p1[4..8].copy_from_slice(&5_000u32.to_be_bytes());
        p1[8..12].copy_from_slice(&1_000u32.to_be_bytes());
        let mut p2 = v9(&[(0, &t), (256, &[0, 0, 0x07, 0xD0])]);
        p2[4..8].copy_from_slice(&65_000u32.to_be_bytes());
        p2[8..12].copy_from_slice(&1_060u32.to_be_bytes());
        let mut tr = Translator::holding();
        let mut out = Vec::new();
        tr.translate(Version::V9, &p1, &mut out).unwrap();
        assert_eq!(out.len(), 16, "the data waits for its template");
        assert_eq!(tr.missing().get(&(0, 256)), Some(&1));
        tr.translate(Version::V9, &p2, &mut out).unwrap();
        // Template set (12 bytes), the held set timed by packet 1 (996 s),
        // then packet 2's own set (1000 s - 65 s + 2 s = 997 s).
        let sets = &out[16..];
        assert_eq!(&sets[..4], &[0, 2, 0, 12]);
        assert_eq!(&sets[12..16], &[1, 0, 0, 12]);
        assert_eq!(sets[16..24], 996_000u64.to_be_bytes());
        assert_eq!(&sets[24..28], &[1, 0, 0, 12]);
        assert_eq!(sets[28..36], 997_000u64.to_be_bytes());
        assert!(tr.missing().is_empty());
        assert_eq!((tr.held(), tr.replayed), (0, 1));
        // A plain translator passes such data on as it is.
        let mut plain = Translator::new();
        plain.translate(Version::V9, &p1, &mut out).unwrap();
        assert_eq!(out.len(), 16 + 8);
    }
}
