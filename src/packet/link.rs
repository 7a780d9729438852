//! Link layers down to the IP header: Ethernet II and IEEE 802.3 with
//! LLC/SNAP (RFC 1042), with
//! 802.1Q/802.1ad VLAN tags (the ids kept), MPLS label stacks (RFC 3032,
//! with the RFC 4385 pseudowire control word before an Ethernet frame),
//! PPPoE sessions (RFC 2516), PPP (RFC 1661, with or without HDLC
//! framing), Cisco HDLC, Linux cooked captures v1 and v2, Linux NFLOG, raw
//! IP and BSD loopback. Every read is bounds-checked; a frame that does not
//! reach an IP header is a [`NotIp`] reason, never an error.

use super::be16;

/// LINKTYPE_* values handled (tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    pub const PPP: u16 = 9;
    pub const RAW_OLD: u16 = 12;
    pub const RAW_OLD2: u16 = 14;
    pub const PPP_HDLC: u16 = 50;
    pub const PPP_ETHER: u16 = 51;
    pub const RAW: u16 = 101;
    pub const C_HDLC: u16 = 104;
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const NFLOG: u16 = 239;
    pub const LINUX_SLL2: u16 = 276;
}

pub(super) const ETH_IPV4: u16 = 0x0800;
pub(super) const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88A8, 0x9100];
const ETH_MPLS: [u16; 2] = [0x8847, 0x8848];
const ETH_PPPOE_SESSION: u16 = 0x8864;
/// Tags and labels followed before a frame is given up on.
const MAX_SHIMS: usize = 16;

/// Why a frame carries no IP packet we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotIp {
    /// A link type this layer does not read.
    LinkType,
    /// A known link layer carrying something else (ARP, LLDP, ...).
    NotIp,
    /// The frame ends inside a link-layer header.
    Truncated,
    /// The IP header is malformed or cut short.
    BadIp,
}

impl NotIp {
    /// Every reason, in a stable order (statistics keys).
    pub const ALL: [NotIp; 4] = [
        NotIp::LinkType,
        NotIp::NotIp,
        NotIp::Truncated,
        NotIp::BadIp,
    ];

    /// The reason's name in statistics.
    pub fn name(self) -> &'static str {
        match self {
            NotIp::LinkType => "unsupported_link_type",
            NotIp::NotIp => "not_ip",
            NotIp::Truncated => "truncated_link_header",
            NotIp::BadIp => "malformed_ip",
        }
    }
}

/// What the link layer says about a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// The Ethernet destination and source addresses as the header has
    /// them (an Ethernet frame only; [`Link::src_mac`], [`Link::dst_mac`]).
    /// One 12-octet copy, not two 6-octet ones: read back right after it
    /// is written, on every packet, in the shape it was written.
    pub macs: Option<[u8; 12]>,
    /// VLAN ids, outermost first (12 bits each).
    pub vlans: [u16; 2],
    /// How many of `vlans` are set (further tags are skipped, not kept).
    pub vlan_count: u8,
    /// The top MPLS label (20 bits), when the frame had a label stack.
    pub mpls_label: Option<u32>,
}

impl Link {
    /// The Ethernet source address.
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        let m = self.macs?;
        Some([m[6], m[7], m[8], m[9], m[10], m[11]])
    }

    /// The Ethernet destination address.
    pub fn dst_mac(&self) -> Option<[u8; 6]> {
        let m = self.macs?;
        Some([m[0], m[1], m[2], m[3], m[4], m[5]])
    }

    /// The outermost VLAN id.
    pub fn vlan(&self) -> Option<u16> {
        (self.vlan_count > 0).then_some(self.vlans[0])
    }

    fn push_vlan(&mut self, tci: u16) {
        if let Some(v) = self.vlans.get_mut(usize::from(self.vlan_count)) {
            *v = tci & 0x0FFF;
            self.vlan_count = self.vlan_count.saturating_add(1);
        }
    }
}

/// The IP packet of a frame and what its link layer says.
#[inline]
pub fn link(linktype: u16, frame: &[u8]) -> Result<(Link, &[u8]), NotIp> {
    let mut l = Link::default();
    let ip = match linktype {
        linktype::ETHERNET => ethernet(frame, &mut l)?,
        linktype::LINUX_SLL => by_ethertype(
            be16(frame, 14).ok_or(NotIp::Truncated)?,
            frame.get(16..),
            &mut l,
        )?,
        linktype::LINUX_SLL2 => by_ethertype(
            be16(frame, 0).ok_or(NotIp::Truncated)?,
            frame.get(20..),
            &mut l,
        )?,
        linktype::RAW
        | linktype::RAW_OLD
        | linktype::RAW_OLD2
        | linktype::IPV4
        | linktype::IPV6 => frame,
        linktype::NULL | linktype::LOOP => loopback(linktype, frame)?,
        linktype::PPP | linktype::PPP_HDLC => ppp(frame)?,
        linktype::PPP_ETHER => pppoe(frame)?,
        linktype::C_HDLC => by_ethertype(
            be16(frame, 2).ok_or(NotIp::Truncated)?,
            frame.get(4..),
            &mut l,
        )?,
        linktype::NFLOG => nflog(frame)?,
        _ => return Err(NotIp::LinkType),
    };
    Ok((l, ip))
}

/// An Ethernet frame (also the inner frame of VXLAN, GRE bridging and
/// MPLS pseudowires).
#[inline]
pub(super) fn ethernet<'a>(frame: &'a [u8], l: &mut Link) -> Result<&'a [u8], NotIp> {
    l.macs = frame.get(..12).and_then(|m| m.try_into().ok());
    let ethertype = be16(frame, 12).ok_or(NotIp::Truncated)?;
    by_ethertype(ethertype, frame.get(14..), l)
}

/// The rest of a frame after an ethertype: shims (VLAN tags, MPLS labels,
/// PPPoE) followed to the IP header.
#[inline]
fn by_ethertype<'a>(t: u16, rest: Option<&'a [u8]>, l: &mut Link) -> Result<&'a [u8], NotIp> {
    let rest = rest.ok_or(NotIp::Truncated)?;
    if t == ETH_IPV4 || t == ETH_IPV6 {
        return Ok(rest);
    }
    shims(t, rest, l)
}

/// [`by_ethertype`] past its common case.
fn shims<'a>(mut t: u16, mut rest: &'a [u8], l: &mut Link) -> Result<&'a [u8], NotIp> {
    for _ in 0..MAX_SHIMS {
        if t <= 1500 {
            // An IEEE 802.3 length, not a type: 802.2 LLC, which carries
            // IP only with a SNAP header (RFC 1042: AA AA 03, an OUI, then
            // the ethertype).
            if rest.get(..3) != Some(&[0xAA, 0xAA, 0x03]) {
                return Err(NotIp::NotIp);
            }
            t = be16(rest, 6).ok_or(NotIp::Truncated)?;
            rest = rest.get(8..).ok_or(NotIp::Truncated)?;
            continue;
        }
        if ETH_VLAN.contains(&t) {
            l.push_vlan(be16(rest, 0).ok_or(NotIp::Truncated)?);
            t = be16(rest, 2).ok_or(NotIp::Truncated)?;
            rest = rest.get(4..).ok_or(NotIp::Truncated)?;
            continue;
        }
        return match t {
            ETH_IPV4 | ETH_IPV6 => Ok(rest),
            _ if ETH_MPLS.contains(&t) => mpls(rest, l),
            ETH_PPPOE_SESSION => pppoe(rest),
            _ => Err(NotIp::NotIp),
        };
    }
    Err(NotIp::NotIp)
}

/// An MPLS label stack (RFC 3032): labels to the bottom-of-stack bit, then
/// IP by its version nibble, or a pseudowire control word (first nibble
/// 0, RFC 4385) and an Ethernet frame.
fn mpls<'a>(mut rest: &'a [u8], l: &mut Link) -> Result<&'a [u8], NotIp> {
    for _ in 0..MAX_SHIMS {
        let entry = rest.get(..4).ok_or(NotIp::Truncated)?;
        let label = u32::from_be_bytes([0, entry[0], entry[1], entry[2]]) >> 4;
        l.mpls_label.get_or_insert(label);
        rest = &rest[4..];
        if entry[2] & 1 == 1 {
            return match rest.first().ok_or(NotIp::Truncated)? >> 4 {
                4 | 6 => Ok(rest),
                0 => ethernet(rest.get(4..).ok_or(NotIp::Truncated)?, l),
                _ => Err(NotIp::NotIp),
            };
        }
    }
    Err(NotIp::NotIp)
}

/// A PPPoE session frame (RFC 2516 §4: 6-byte header, then PPP).
fn pppoe(rest: &[u8]) -> Result<&[u8], NotIp> {
    let proto = be16(rest, 6).ok_or(NotIp::Truncated)?;
    ppp_protocol(proto, rest.get(8..))
}

/// A PPP frame, with or without the HDLC address and control bytes
/// (RFC 1662), its protocol field one or two bytes (RFC 1661 §2).
fn ppp(frame: &[u8]) -> Result<&[u8], NotIp> {
    let mut at = 0usize;
    if frame.get(..2) == Some(&[0xFF, 0x03]) {
        at = 2;
    }
    let first = *frame.get(at).ok_or(NotIp::Truncated)?;
    if first & 1 == 1 {
        // A compressed one-byte protocol field.
        return ppp_protocol(u16::from(first), frame.get(at.saturating_add(1)..));
    }
    ppp_protocol(
        be16(frame, at).ok_or(NotIp::Truncated)?,
        frame.get(at.saturating_add(2)..),
    )
}

fn ppp_protocol(proto: u16, rest: Option<&[u8]>) -> Result<&[u8], NotIp> {
    match proto {
        0x0021 | 0x0057 => rest.ok_or(NotIp::Truncated),
        _ => Err(NotIp::NotIp),
    }
}

/// BSD loopback: a 4-byte address family (host order for NULL, network
/// order for LOOP); IPv4 is 2, IPv6 24, 28 or 30 depending on the BSD.
fn loopback(linktype: u16, frame: &[u8]) -> Result<&[u8], NotIp> {
    let fam: [u8; 4] = frame
        .get(..4)
        .ok_or(NotIp::Truncated)?
        .try_into()
        .map_err(|_| NotIp::Truncated)?;
    let v = if linktype == linktype::LOOP {
        u32::from_be_bytes(fam)
    } else {
        let le = u32::from_le_bytes(fam);
        if le < 256 {
            le
        } else {
            u32::from_be_bytes(fam)
        }
    };
    if matches!(v, 2 | 24 | 28 | 30) {
        frame.get(4..).ok_or(NotIp::Truncated)
    } else {
        Err(NotIp::NotIp)
    }
}

/// Linux NFLOG: a 4-byte header (address family, version, resource id),
/// then TLVs (length and type in host order, little-endian in practice,
/// padded to 4 bytes); the packet is the NFULA_PAYLOAD (type 9) TLV.
fn nflog(frame: &[u8]) -> Result<&[u8], NotIp> {
    let family = *frame.first().ok_or(NotIp::Truncated)?;
    if !matches!(family, 2 | 10) {
        return Err(NotIp::NotIp);
    }
    let mut at = 4usize;
    while let Some(tlv) = frame.get(at..at.saturating_add(4)) {
        let len = usize::from(u16::from_le_bytes([tlv[0], tlv[1]]));
        let kind = u16::from_le_bytes([tlv[2], tlv[3]]) & 0x7FFF;
        if len < 4 {
            return Err(NotIp::Truncated);
        }
        if kind == 9 {
            // The payload may be cut by the snaplen: take what is there.
            let end = at.saturating_add(len).min(frame.len());
            return frame.get(at.saturating_add(4)..end).ok_or(NotIp::Truncated);
        }
        at = at.saturating_add(len.saturating_add(3) & !3);
    }
    Err(NotIp::Truncated)
}
