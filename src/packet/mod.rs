//! THE packet-view layer, shared by the collector (flow export inside
//! captures) and the meter: lax, bounds-checked views of captured frames
//! from the link layer to the transport header. "Lax": a packet that does
//! not parse is not an error but a counted reason (captures are full of
//! other traffic); no read can panic.
//!
//! - [`link`]: link types, VLAN tags, MPLS, PPPoE, to the IP header;
//! - [`ip`]: IPv4 and IPv6 headers, extension headers, fragments;
//! - [`transport`]: TCP (options parsed), UDP, ICMP, port pairs;
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
    DissectOptions, DissectStats, Dissected, Dissector, FragmentMode, Framed, Step, L4,
};
pub use ip::{ip, Frag, Ip};
pub use link::{link, linktype, Link, NotIp};
pub use transport::{
    icmp_type_code, ports, tcp, udp, Tcp, TcpOptions, Udp, ACK, CWR, ECE, FIN, PSH, RST, SYN, URG,
};

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
