//! Lax views of captured packets down to UDP and TCP: link layers
//! (Ethernet with 802.1Q/802.1ad tags and MPLS label stacks, Linux cooked
//! SLL and SLL2, raw IP, BSD loopback), IPv4 (RFC 791) and IPv6 (RFC 8200,
//! extension headers skipped), UDP (RFC 768), TCP (RFC 9293). "Lax": a
//! packet that does not parse is not an error but `None` (captures are
//! full of other traffic); every read is bounds-checked.

use std::net::IpAddr;

/// LINKTYPE_* values handled.
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    pub const RAW_OLD: u16 = 12;
    pub const RAW_OLD2: u16 = 14;
    pub const RAW: u16 = 101;
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const LINUX_SLL2: u16 = 276;
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88A8, 0x9100];
const ETH_MPLS: [u16; 2] = [0x8847, 0x8848];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.saturating_add(1))?,
    ]))
}

/// The IP packet inside a link-layer frame.
pub fn ip_payload(linktype: u16, frame: &[u8]) -> Option<&[u8]> {
    match linktype {
        linktype::ETHERNET => {
            let mut ethertype = be16(frame, 12)?;
            let mut at: usize = 14;
            while ETH_VLAN.contains(&ethertype) {
                ethertype = be16(frame, at.saturating_add(2))?;
                at = at.saturating_add(4);
            }
            if ETH_MPLS.contains(&ethertype) {
                // Labels until the bottom-of-stack bit; then IP by version.
                loop {
                    let bottom = frame.get(at.saturating_add(2))? & 1 == 1;
                    at = at.saturating_add(4);
                    if bottom {
                        break;
                    }
                }
                return frame.get(at..);
            }
            by_ethertype(ethertype, frame.get(at..)?)
        }
        linktype::LINUX_SLL => by_ethertype(be16(frame, 14)?, frame.get(16..)?),
        linktype::LINUX_SLL2 => by_ethertype(be16(frame, 0)?, frame.get(20..)?),
        linktype::RAW
        | linktype::RAW_OLD
        | linktype::RAW_OLD2
        | linktype::IPV4
        | linktype::IPV6 => Some(frame),
        linktype::NULL | linktype::LOOP => {
            // A 4-byte address family (host order for NULL, network for
            // LOOP); IPv4 is 2, IPv6 24, 28 or 30 depending on the BSD.
            let fam = frame.get(..4)?;
            let v = if linktype == linktype::LOOP {
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
            } else {
                let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
                if le < 256 {
                    le
                } else {
                    u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
                }
            };
            matches!(v, 2 | 24 | 28 | 30)
                .then(|| frame.get(4..))
                .flatten()
        }
        _ => None,
    }
}

fn by_ethertype(t: u16, rest: &[u8]) -> Option<&[u8]> {
    matches!(t, ETH_IPV4 | ETH_IPV6).then_some(rest)
}

/// An IP packet's addresses and transport payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport protocol number.
    pub protocol: u8,
    /// The transport header and data (cut to the IP length).
    pub payload: &'a [u8],
    /// A fragment (IPv4 MF or offset, or an IPv6 fragment header): the
    /// payload is not a whole transport packet.
    pub fragment: bool,
    /// For a fragment: its identification, where its payload goes in the
    /// datagram, and whether more fragments follow.
    pub frag: Frag,
}

/// An IP fragment's place in its datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frag {
    pub id: u32,
    /// Byte offset of the payload in the reassembled transport packet.
    pub offset: usize,
    pub more: bool,
}

/// Parse an IPv4 or IPv6 packet.
pub fn ip(p: &[u8]) -> Option<Ip<'_>> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0F) * 4;
            let total = usize::from(be16(p, 2)?);
            if ihl < 20 || total < ihl {
                return None;
            }
            let frag = be16(p, 6)?;
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            // A capture may cut the packet short: keep what there is.
            let end = total.min(p.len());
            Some(Ip {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                protocol: *p.get(9)?,
                payload: p.get(ihl..end)?,
                fragment: frag & 0x3FFF != 0,
                frag: Frag {
                    id: u32::from(be16(p, 4)?),
                    offset: usize::from(frag & 0x1FFF) * 8,
                    more: frag & 0x2000 != 0,
                },
            })
        }
        6 => {
            let plen = usize::from(be16(p, 4)?);
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(p.len());
            let mut next = *p.get(6)?;
            let mut at: usize = 40;
            let mut fragment = false;
            let mut fr = Frag::default();
            // Extension headers: hop-by-hop 0, routing 43, fragment 44,
            // destination options 60, mobility 135 (8-octet units), AH 51
            // (4-octet units).
            for _ in 0..16 {
                match next {
                    0 | 43 | 60 | 135 => {
                        let len = usize::from(*p.get(at.saturating_add(1))?)
                            .saturating_add(1)
                            .saturating_mul(8);
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
                        // Fragment offsets count from here: the rest is
                        // the fragmentable part, read once reassembled.
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
            Some(Ip {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                protocol: next,
                payload: p.get(at..end.max(at))?,
                fragment,
                frag: fr,
            })
        }
        _ => None,
    }
}

/// UDP ports and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Parse a UDP header (the payload cut to the UDP length when it is
/// smaller than what was captured).
pub fn udp(p: &[u8]) -> Option<Udp<'_>> {
    let len = usize::from(be16(p, 4)?);
    let end = if len >= 8 { len.min(p.len()) } else { p.len() };
    Some(Udp {
        src_port: be16(p, 0)?,
        dst_port: be16(p, 2)?,
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
    pub flags: u8,
    pub window: u16,
    /// The options bytes.
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;

/// Parse a TCP header.
pub fn tcp(p: &[u8]) -> Option<Tcp<'_>> {
    let off = usize::from(p.get(12)? >> 4) * 4;
    if off < 20 {
        return None;
    }
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            p.get(at..at.saturating_add(4))?.try_into().ok()?,
        ))
    };
    Some(Tcp {
        src_port: be16(p, 0)?,
        dst_port: be16(p, 2)?,
        seq: u32_at(4)?,
        ack: u32_at(8)?,
        flags: *p.get(13)?,
        window: be16(p, 14)?,
        options: p.get(20..off)?,
        payload: p.get(off..)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        let total = (20 + 8 + payload.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&4739u16.to_be_bytes());
        ip.extend_from_slice(&2055u16.to_be_bytes());
        ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        ip
    }

    #[test]
    fn ethernet_vlan_sll_and_raw_reach_the_same_udp_payload() {
        let pkt = ipv4_udp(b"hello");
        let mut eth = vec![0; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        eth.extend_from_slice(&pkt);
        let mut sll = vec![0; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&pkt);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&pkt);
        for (lt, frame) in [
            (linktype::ETHERNET, &eth),
            (linktype::LINUX_SLL, &sll),
            (linktype::RAW, &pkt),
            (linktype::NULL, &null),
        ] {
            let ip = ip(ip_payload(lt, frame).unwrap()).unwrap();
            assert_eq!((ip.protocol, ip.fragment), (17, false));
            assert_eq!(ip.src, "192.0.2.1".parse::<IpAddr>().unwrap());
            let u = udp(ip.payload).unwrap();
            assert_eq!(
                (u.src_port, u.dst_port, u.payload),
                (4739, 2055, &b"hello"[..])
            );
        }
    }

    #[test]
    fn short_and_odd_packets_are_none_not_panics() {
        let pkt = ipv4_udp(b"x");
        for n in 0..pkt.len() {
            let _ = ip(&pkt[..n]).map(|i| udp(i.payload));
            let _ = ip_payload(linktype::ETHERNET, &pkt[..n]);
            let _ = tcp(&pkt[..n]);
        }
        assert!(ip(&[0x60; 10]).is_none());
    }
}
