//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers: addresses, protocol, TTL or
//! hop limit, the traffic-class octet (DSCP and ECN, RFC 2474 and RFC
//! 3168), the packet's length per its header, fragments, and IPv6
//! extension headers walked to the transport header.
//!
//! The length a flow meter counts is the one the IP header declares, not
//! the bytes captured: header-only captures (snaplen 54-96) are normal
//! research input. Two headers declare none: an IPv4 total length of 0
//! (captures taken with TCP segmentation offload, BIG TCP) and an IPv6
//! payload length of 0 without a jumbo option; their length is taken
//! from the frame's length on the wire, and [`Ip::length_from_frame`] says
//! so. An IPv6 jumbogram (RFC 2675) has its length in the hop-by-hop
//! option.

use std::net::IpAddr;

use super::be16;

/// An IP packet's header fields and transport payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip<'a> {
    /// 4 or 6.
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport protocol number (for IPv6 the last next-header value).
    pub protocol: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 type of service or IPv6 traffic class: DSCP in the upper six
    /// bits, ECN in the lower two.
    pub tos: u8,
    /// The packet's octets per its IP header, headers included.
    pub length: u32,
    /// Octets of IP headers: IPv4 with options, IPv6 with the extension
    /// headers walked (to the fragment header, for a fragment).
    pub header_len: u16,
    /// The header declared no length (see the module docs): `length` is
    /// the frame's length on the wire from the IP header on.
    pub length_from_frame: bool,
    /// The transport header and data (cut to the IP length; fewer bytes
    /// when the capture cut the packet).
    pub payload: &'a [u8],
    /// A fragment (IPv4 MF or offset, or an IPv6 fragment header): the
    /// payload is not a whole transport packet.
    pub fragment: bool,
    /// For a fragment: its identification, where its payload goes in the
    /// datagram, and whether more fragments follow.
    pub frag: Frag,
}

impl Ip<'_> {
    /// The ECN field (RFC 3168 §5): 0 not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    pub fn ecn(&self) -> u8 {
        self.tos & 3
    }

    /// A first fragment (offset 0, more to come) or a whole packet: the
    /// transport header is here.
    pub fn has_transport_header(&self) -> bool {
        !self.fragment || self.frag.offset == 0
    }
}

/// An IP fragment's place in its datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frag {
    pub id: u32,
    /// Byte offset of the payload in the reassembled transport packet.
    pub offset: usize,
    pub more: bool,
}

/// Parse an IPv4 or IPv6 packet of which `missing` bytes on the wire were
/// not captured (the frame's original length minus its captured length).
#[inline]
pub fn ip(p: &[u8], missing: u32) -> Option<Ip<'_>> {
    let wire = u32::try_from(p.len())
        .unwrap_or(u32::MAX)
        .saturating_add(missing);
    match p.first()? >> 4 {
        4 => ipv4(p, wire),
        6 => ipv6(p, wire),
        _ => None,
    }
}

#[inline]
fn ipv4(p: &[u8], wire: u32) -> Option<Ip<'_>> {
    let ihl = usize::from(p.first()? & 0x0F) * 4;
    let total = usize::from(be16(p, 2)?);
    if ihl < 20 || (total < ihl && total != 0) {
        return None;
    }
    let frag = be16(p, 6)?;
    let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
    let (length, from_frame, end) = if total == 0 {
        (wire, true, p.len())
    } else {
        // A capture may cut the packet short: keep what there is.
        (u32::try_from(total).ok()?, false, total.min(p.len()))
    };
    Some(Ip {
        version: 4,
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        protocol: *p.get(9)?,
        ttl: *p.get(8)?,
        tos: *p.get(1)?,
        length,
        header_len: ihl as u16,
        length_from_frame: from_frame,
        payload: p.get(ihl..end.max(ihl))?,
        fragment: frag & 0x3FFF != 0,
        frag: Frag {
            id: u32::from(be16(p, 4)?),
            offset: usize::from(frag & 0x1FFF) * 8,
            more: frag & 0x2000 != 0,
        },
    })
}

fn ipv6(p: &[u8], wire: u32) -> Option<Ip<'_>> {
    let plen = usize::from(be16(p, 4)?);
    let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
    let tos = ((p.first()? & 0x0F) << 4) | (p.get(1)? >> 4);
    let mut next = *p.get(6)?;
    let mut at: usize = 40;
    let mut fragment = false;
    let mut fr = Frag::default();
    let mut jumbo: Option<u32> = None;
    // Extension headers: hop-by-hop 0, routing 43, fragment 44,
    // destination options 60, mobility 135, HIP 139, shim6 140 (8-octet
    // units), AH 51 (4-octet units).
    for _ in 0..16 {
        match next {
            0 | 43 | 60 | 135 | 139 | 140 => {
                let len = usize::from(*p.get(at.saturating_add(1))?)
                    .saturating_add(1)
                    .saturating_mul(8);
                if next == 0 && plen == 0 {
                    jumbo = jumbo_length(p.get(at.saturating_add(2)..at.saturating_add(len))?);
                }
                next = *p.get(at)?;
                at = at.saturating_add(len);
            }
            44 => {
                let off = be16(p, at.saturating_add(2))?;
                fragment |= off & 0xFFF9 != 0;
                fr = Frag {
                    id: u32::from_be_bytes(
                        p.get(at.saturating_add(4)..at.saturating_add(8))?
                            .try_into()
                            .ok()?,
                    ),
                    offset: usize::from(off & 0xFFF8),
                    more: off & 1 != 0,
                };
                next = *p.get(at)?;
                at = at.saturating_add(8);
                // Fragment offsets count from here: the rest is the
                // fragmentable part, read once reassembled.
                break;
            }
            51 => {
                let len = usize::from(*p.get(at.saturating_add(1))?)
                    .saturating_add(2)
                    .saturating_mul(4);
                next = *p.get(at)?;
                at = at.saturating_add(len);
            }
            _ => break,
        }
    }
    let (length, from_frame) = match (plen, jumbo) {
        (0, Some(j)) => (j.saturating_add(40), false),
        (0, None) => (wire, true),
        // 40 + at most 65535.
        (n, _) => (u32::try_from(n).ok()?.saturating_add(40), false),
    };
    let end = usize::try_from(length).unwrap_or(usize::MAX).min(p.len());
    Some(Ip {
        version: 6,
        src: IpAddr::from(src),
        dst: IpAddr::from(dst),
        protocol: next,
        ttl: *p.get(7)?,
        tos,
        length,
        header_len: u16::try_from(at).unwrap_or(u16::MAX),
        length_from_frame: from_frame,
        payload: p.get(at..end.max(at))?,
        fragment,
        frag: fr,
    })
}

/// The Jumbo Payload option (RFC 2675 §2, type 0xC2) among hop-by-hop
/// options.
fn jumbo_length(mut opts: &[u8]) -> Option<u32> {
    while let Some(&kind) = opts.first() {
        if kind == 0 {
            opts = &opts[1..];
            continue;
        }
        let len = usize::from(*opts.get(1)?);
        if kind == 0xC2 && len == 4 {
            return Some(u32::from_be_bytes(opts.get(2..6)?.try_into().ok()?));
        }
        opts = opts.get(len.saturating_add(2)..)?;
    }
    None
}
