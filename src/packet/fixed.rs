//! The most common frames read at fixed offsets, ahead of the general
//! path of [`super::link`] and [`super::ip`] (see [`ethernet_ip`]).

use std::net::IpAddr;

use super::link::{Link, ETH_IPV4, ETH_IPV6};
use super::{Frag, Ip};

/// The most common frames read at fixed offsets: Ethernet II carrying
/// IPv4 with a 20-byte header or IPv6 without extension headers, that
/// declares its length, whole (not a fragment). Anything else, or a frame
/// too short for it, is `None` and takes the general path ([`link`],
/// [`ip`]), which gives the same for these frames (a test holds them to
/// it).
// Measured: returned through memory it cost about 40 instructions a
// packet (DEVELOP.md, Performance notes: the meter).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(super) fn ethernet_ip(linktype: u16, data: &[u8]) -> Option<(Link, Ip<'_>, &[u8])> {
    if linktype != super::linktype::ETHERNET {
        return None;
    }
    let e: &[u8; 14] = data.get(..14)?.try_into().ok()?;
    let mut macs = [0u8; 12];
    macs.copy_from_slice(&e[..12]);
    let l = Link {
        macs: Some(macs),
        ..Link::default()
    };
    let bytes = &data[14..];
    let ip = match u16::from_be_bytes([e[12], e[13]]) {
        ETH_IPV4 => {
            let h: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
            let total = u16::from_be_bytes([h[2], h[3]]);
            let frag = u16::from_be_bytes([h[6], h[7]]);
            if h[0] != 0x45 || total < 20 || frag & 0x3FFF != 0 {
                return None;
            }
            let end = usize::from(total).min(bytes.len());
            Ip {
                version: 4,
                src: IpAddr::from([h[12], h[13], h[14], h[15]]),
                dst: IpAddr::from([h[16], h[17], h[18], h[19]]),
                protocol: h[9],
                ttl: h[8],
                tos: h[1],
                length: u32::from(total),
                header_len: 20,
                length_from_frame: false,
                payload: bytes.get(20..end)?,
                fragment: false,
                frag: Frag {
                    id: u32::from(u16::from_be_bytes([h[4], h[5]])),
                    offset: 0,
                    more: false,
                },
            }
        }
        ETH_IPV6 => {
            let h: &[u8; 40] = bytes.get(..40)?.try_into().ok()?;
            let plen = u16::from_be_bytes([h[4], h[5]]);
            let next = h[6];
            // Extension headers (see `ip`) take the general path.
            if h[0] >> 4 != 6
                || plen == 0
                || matches!(next, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140)
            {
                return None;
            }
            let length = u32::from(plen).saturating_add(40);
            let end = (usize::from(plen) + 40).min(bytes.len());
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&h[8..24]);
            dst.copy_from_slice(&h[24..40]);
            Ip {
                version: 6,
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                protocol: next,
                ttl: h[7],
                tos: ((h[0] & 0x0F) << 4) | (h[1] >> 4),
                length,
                header_len: 40,
                length_from_frame: false,
                payload: bytes.get(40..end)?,
                fragment: false,
                frag: Frag::default(),
            }
        }
        _ => return None,
    };
    Some((l, ip, bytes))
}
