//! THE packet-view layer, shared by the collector (flow export inside
//! captures) and the meter: lax, bounds-checked views of captured frames
//! from the link layer to the transport header. "Lax": a packet that does
//! not parse is not an error but a counted reason (captures are full of
//! other traffic); no read can panic.
//!
//! - [`link`](mod@link): link types, VLAN tags, MPLS, PPPoE, to the IP header;
//! - [`ip`]: IPv4 and IPv6 headers, extension headers, fragments;
//! - `transport`: TCP (options parsed), UDP, ICMP, port pairs;
//! - [`defrag`]: fragments reassembled, or assigned to their datagram;
//! - [`dissect`]: the one path through all of them (the packet it gives:
//!   `view.rs`; counters: `stats.rs`; Ethernet/IP at fixed offsets:
//!   `fixed.rs`; tunnels: `tunnel.rs`).

pub mod defrag;
pub mod dissect;
mod fixed;
mod ip;
pub mod link;
mod stats;
mod transport;
mod tunnel;
mod view;

pub use dissect::{
    DissectOptions, DissectStats, Dissected, Dissector, FragmentMode, Framed, Ignored, Step, L4,
};
pub use ip::{ip, Frag, Ip};
pub use link::{link, linktype, Link, NotIp};
pub use transport::{
    icmp_type_code, ports, tcp, udp, Tcp, TcpOptions, Udp, ACK, CWR, ECE, FIN, PSH, RST, SYN, URG,
};

/// A hash of the IP address pair of a frame, the same in both directions
/// and for every fragment of a datagram (0 for a frame without an IP
/// packet): what spreads a capture over the meter's workers. The outer
/// addresses of a tunnelled packet.
#[inline]
pub fn address_spread(linktype: u16, data: &[u8]) -> u64 {
    // The addresses where the IP header has them: nothing else is needed
    // (a malformed packet is counted by whichever worker takes it).
    let ip = match data.get(12..14) {
        // Ethernet straight to IP, the common case, without the rest of
        // `link` (which would give the same bytes).
        Some(&[0x08, 0x00] | &[0x86, 0xDD]) if linktype == linktype::ETHERNET => &data[14..],
        _ => match link(linktype, data) {
            Ok((_, ip)) => ip,
            Err(_) => return 0,
        },
    };
    let (a, b) = match ip.first().map(|v| v >> 4) {
        Some(4) => match ip.get(12..20) {
            Some(h) => (
                u128::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]])),
                u128::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
            ),
            None => return 0,
        },
        Some(6) => match ip.get(8..40).and_then(|h| <&[u8; 32]>::try_from(h).ok()) {
            Some(h) => {
                let (x, y) = h.split_at(16);
                let to = |s: &[u8]| <[u8; 16]>::try_from(s).map_or(0, u128::from_be_bytes);
                (to(x), to(y))
            }
            None => return 0,
        },
        _ => return 0,
    };
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let x = (lo as u64)
        ^ ((lo >> 64) as u64).rotate_left(23)
        ^ (hi as u64).rotate_left(41)
        ^ ((hi >> 64) as u64).rotate_left(7);
    // The high half of the product mixes every bit of `x`.
    (u128::from(x).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 64) as u64
        ^ x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A big-endian u16 at `at`, if the bytes are there.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.saturating_add(1))?,
    ]))
}

#[cfg(test)]
mod tests;
