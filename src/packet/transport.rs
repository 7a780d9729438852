//! Transport headers: TCP (RFC 9293) with its options parsed (MSS, window
//! scale RFC 7323 §2, SACK-permitted and SACK blocks RFC 2018, timestamps
//! RFC 7323 §3), UDP (RFC 768), ICMP (RFC 792) and ICMPv6 (RFC 4443) type
//! and code, and the port pair of SCTP (RFC 9260), DCCP (RFC 4340) and
//! UDP-Lite (RFC 3828), which all start with it.

use super::be16;

/// UDP ports and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Parse a UDP header (the payload cut to the UDP length when it is
/// smaller than what was captured).
#[inline]
pub fn udp(p: &[u8]) -> Option<Udp<'_>> {
    // The 8-byte header (a shorter one has no payload to give).
    let h: &[u8; 8] = p.get(..8)?.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let end = if len >= 8 { len.min(p.len()) } else { p.len() };
    Some(Udp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        payload: p.get(8..end)?,
    })
}

/// TCP ports, sequence number, flags and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// The eight flag bits of octet 13 (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    /// The low four bits of octet 12 (reserved; AE/NS in bit 0, RFC
    /// 3540 and draft-ietf-tcpm-accurate-ecn).
    pub flags_hi: u8,
    pub window: u16,
    /// The header's length in octets (data offset times 4, RFC 9293 §3.1).
    pub header_len: u8,
    /// The options bytes (see [`Tcp::parsed_options`]).
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

impl Tcp<'_> {
    /// The control bits as IPFIX's tcpControlBits (IANA 6) carries them:
    /// the flags of octet 13 and the four bits before them.
    pub fn control_bits(&self) -> u16 {
        (u16::from(self.flags_hi & 0x0F) << 8) | u16::from(self.flags)
    }

    /// The options, parsed.
    pub fn parsed_options(&self) -> TcpOptions {
        TcpOptions::parse(self.options)
    }
}

/// Parse a TCP header.
#[inline]
pub fn tcp(p: &[u8]) -> Option<Tcp<'_>> {
    // The fixed 20-byte header, read at its offsets.
    let h: &[u8; 20] = p.get(..20)?.try_into().ok()?;
    let off = usize::from(h[12] >> 4) * 4;
    if off < 20 {
        return None;
    }
    Some(Tcp {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: h[13],
        flags_hi: h[12] & 0x0F,
        window: u16::from_be_bytes([h[14], h[15]]),
        header_len: off as u8,
        // A header cut by the capture inside its options keeps the
        // fixed part: the options present are read, the payload is empty.
        options: p.get(20..off.min(p.len()))?,
        payload: p.get(off..).unwrap_or(&[]),
    })
}

/// TCP options (RFC 9293 §3.1: kinds 0 and 1 one byte, others
/// kind-length-value); a malformed option ends the walk, keeping what came
/// before it.
///
/// Every field is a plain integer, all written by `default()` (which
/// valued options were present is a bit set, read through
/// [`TcpOptions::mss`] and its siblings): an `Option<u8>` left `None` has
/// its value byte unwritten, and a copy of the struct then loaded two
/// octets over a one-octet store, which the processor cannot forward
/// from (see [`crate::meter`]'s packet summary for where that cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Other kinds seen (a bit per kind below 64; 63 for any higher kind).
    pub other: u64,
    /// SACK blocks (kind 5), left and right edges, in the order sent.
    pub sack: [(u32, u32); 4],
    tsval: u32,
    tsecr: u32,
    mss: u16,
    /// The `HAS_` bits of the valued options present.
    present: u8,
    window_scale: u8,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// SACK blocks whose edges were captured (in `sack`, at most 4).
    pub sack_count: u8,
    /// SACK blocks the option carried, by its length octet: more than
    /// `sack_count` when a capture's snaplen cut the option (a header-only
    /// capture of IPv6 keeps the option's kind and length, not always its
    /// blocks).
    pub sack_sent: u8,
}

const HAS_MSS: u8 = 1;
const HAS_WINDOW_SCALE: u8 = 2;
const HAS_TIMESTAMPS: u8 = 4;

impl TcpOptions {
    /// Maximum segment size (kind 2).
    #[inline]
    pub fn mss(&self) -> Option<u16> {
        (self.present & HAS_MSS != 0).then_some(self.mss)
    }

    /// Window scale shift count (kind 3), as sent (RFC 7323 §2.3 caps its
    /// use at 14).
    #[inline]
    pub fn window_scale(&self) -> Option<u8> {
        (self.present & HAS_WINDOW_SCALE != 0).then_some(self.window_scale)
    }

    /// Timestamps (kind 8): TSval and TSecr.
    #[inline]
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        (self.present & HAS_TIMESTAMPS != 0).then_some((self.tsval, self.tsecr))
    }

    pub fn set_mss(&mut self, v: Option<u16>) {
        self.mss = v.unwrap_or(0);
        self.mark(HAS_MSS, v.is_some());
    }

    pub fn set_window_scale(&mut self, v: Option<u8>) {
        self.window_scale = v.unwrap_or(0);
        self.mark(HAS_WINDOW_SCALE, v.is_some());
    }

    pub fn set_timestamps(&mut self, v: Option<(u32, u32)>) {
        (self.tsval, self.tsecr) = v.unwrap_or((0, 0));
        self.mark(HAS_TIMESTAMPS, v.is_some());
    }

    fn mark(&mut self, bit: u8, on: bool) {
        if on {
            self.present |= bit;
        } else {
            self.present &= !bit;
        }
    }

    /// Parse the options bytes of a TCP header.
    #[inline]
    pub fn parse(b: &[u8]) -> Self {
        let mut o = TcpOptions::default();
        o.read(b);
        o
    }

    /// [`TcpOptions::parse`] into `self`, which holds no option yet (as
    /// `default()` made it): the meter parses into the packet summary it
    /// is filling, so no options struct is built apart and copied over.
    #[inline]
    pub(crate) fn read(&mut self, b: &[u8]) {
        debug_assert_eq!(
            *self,
            TcpOptions::default(),
            "read into options already read"
        );
        // The common layout of established connections (Linux, BSD):
        // NOP, NOP, timestamps, and nothing else.
        if let [1, 1, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *b {
            self.tsval = u32::from_be_bytes([v0, v1, v2, v3]);
            self.tsecr = u32::from_be_bytes([e0, e1, e2, e3]);
            self.present = HAS_TIMESTAMPS;
            return;
        }
        // Returned, not written through `self`: a pointer into the
        // caller's summary passed to a function not inlined would keep
        // the summary in memory and have it copied whole.
        *self = Self::parse_general(b);
    }

    /// [`TcpOptions::parse`] for any layout.
    #[inline(never)]
    fn parse_general(mut b: &[u8]) -> Self {
        let mut o = TcpOptions::default();
        while let Some(&kind) = b.first() {
            match kind {
                0 => break,
                1 => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = b.get(1) else { break };
            let len = usize::from(len);
            let Some(v) = b.get(2..len.max(2)) else {
                // The capture ends inside the option: a SACK option's
                // length still says how many blocks were sent, and its
                // blocks captured whole are read.
                if kind == 5 {
                    o.read_sack(b.get(2..).unwrap_or_default(), len);
                }
                break;
            };
            if len < 2 {
                break;
            }
            match (kind, v.len()) {
                (2, 2) => o.set_mss(Some(u16::from_be_bytes([v[0], v[1]]))),
                (3, 1) => o.set_window_scale(Some(v[0])),
                (4, 0) => o.sack_permitted = true,
                (5, n) if n % 8 == 0 => o.read_sack(v, len),
                (8, 8) => o.set_timestamps(Some((
                    u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                    u32::from_be_bytes([v[4], v[5], v[6], v[7]]),
                ))),
                (k, _) => o.other |= 1u64 << k.min(63),
            }
            b = &b[len..];
        }
        o
    }

    /// A SACK option of length `len` whose value's captured octets are
    /// `v`: the blocks captured whole, and how many it carried (none for
    /// a length no whole number of blocks makes).
    fn read_sack(&mut self, v: &[u8], len: usize) {
        let Some(blocks) = len.checked_sub(2).filter(|n| n % 8 == 0).map(|n| n / 8) else {
            return;
        };
        self.sack_sent = u8::try_from(blocks).unwrap_or(u8::MAX);
        for blk in v.chunks_exact(8).take(blocks) {
            if let Some(slot) = self.sack.get_mut(usize::from(self.sack_count)) {
                *slot = (
                    u32::from_be_bytes([blk[0], blk[1], blk[2], blk[3]]),
                    u32::from_be_bytes([blk[4], blk[5], blk[6], blk[7]]),
                );
                self.sack_count = self.sack_count.saturating_add(1);
            }
        }
    }

    /// The SACK blocks captured whole ([`TcpOptions::sack_sent`] says how
    /// many were sent).
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        self.sack.get(..usize::from(self.sack_count)).unwrap_or(&[])
    }
}

/// An ICMP or ICMPv6 message's type and code.
#[inline]
pub fn icmp_type_code(p: &[u8]) -> Option<(u8, u8)> {
    Some((*p.first()?, *p.get(1)?))
}

/// The source and destination port at the start of a transport header
/// (UDP, TCP, SCTP, DCCP, UDP-Lite).
#[inline]
pub fn ports(p: &[u8]) -> Option<(u16, u16)> {
    Some((be16(p, 0)?, be16(p, 2)?))
}
