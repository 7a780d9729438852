//! Tunnels taken apart on request: IP-in-IP (RFC 2003), IPv6-in-IPv4
//! (RFC 4213), GRE (RFC 2784/2890) carrying IP, Ethernet or ERSPAN type
//! II, VXLAN (RFC 7348) on UDP port 4789.

use super::link::{ethernet, Link, ETH_IPV4, ETH_IPV6};
use super::transport::udp;
use super::{be16, ip, Ip};

/// The VXLAN port (RFC 7348 §5).
pub const VXLAN_PORT: u16 = 4789;

/// The packet inside a tunnel packet, if `p` is one.
pub(super) fn inner<'a>(p: &Ip<'a>, missing: u32, l: &mut Link) -> Option<Ip<'a>> {
    let b = p.payload;
    match p.protocol {
        4 | 41 => ip(b, missing),
        47 => {
            // GRE (RFC 2784, keys and sequence numbers RFC 2890): flags,
            // version 0, protocol type; 4 bytes each for checksum, key,
            // sequence number when present.
            let flags = be16(b, 0)?;
            if flags & 0x0007 != 0 {
                return None;
            }
            let proto = be16(b, 2)?;
            let mut at = 4usize;
            for bit in [0x8000u16, 0x2000, 0x1000] {
                if flags & bit != 0 {
                    at = at.saturating_add(4);
                }
            }
            let rest = b.get(at..)?;
            match proto {
                ETH_IPV4 | ETH_IPV6 => ip(rest, missing),
                // Transparent Ethernet bridging.
                0x6558 => ip(ethernet(rest, l).ok()?, missing),
                // ERSPAN type II: an 8-byte header, then the frame.
                0x88BE => ip(ethernet(rest.get(8..)?, l).ok()?, missing),
                _ => None,
            }
        }
        17 => {
            let u = udp(b)?;
            if u.dst_port != VXLAN_PORT || u.payload.first()? & 0x08 == 0 {
                return None;
            }
            // VXLAN: an 8-byte header (the I flag set), then the frame.
            ip(ethernet(u.payload.get(8..)?, l).ok()?, missing)
        }
        _ => None,
    }
}
