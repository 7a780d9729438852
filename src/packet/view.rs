//! A packet taken apart ([`Dissected`]: link, IP and transport headers)
//! and what [`super::Dissector`] makes of a frame.

use super::defrag::HEADER_KEPT;
use super::link::{Link, NotIp};
use super::transport::{Tcp, Udp};
use super::Ip;

/// What a packet carries past its IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    /// ICMP or ICMPv6 type and code.
    Icmp {
        kind: u8,
        code: u8,
    },
    /// SCTP, DCCP or UDP-Lite: the port pair.
    Ports {
        src: u16,
        dst: u16,
    },
    /// A fragment after the first of its datagram: the first fragment's
    /// transport header bytes (up to [`HEADER_KEPT`]; none when its first
    /// fragment never came).
    Fragment {
        header: [u8; HEADER_KEPT],
        len: u8,
    },
    /// No transport header read: a protocol without one here, or a
    /// header the capture cut.
    None,
}

/// A packet taken apart.
#[derive(Debug, Clone)]
pub struct Dissected<'a> {
    /// Capture time, nanoseconds since the UNIX epoch.
    pub ts_ns: i64,
    pub link: Link,
    pub ip: Ip<'a>,
    pub l4: L4<'a>,
    /// Packets on the wire this stands for (a reassembled datagram's
    /// fragments; 1 otherwise).
    pub packets: u32,
    /// `ip.payload` is a reassembled datagram, not bytes of the frame.
    pub reassembled: bool,
    /// Tunnel headers taken off.
    pub depth: u8,
    /// The frame's number in the capture (for a reassembled datagram, its
    /// first fragment's), and where `ip.payload` starts in the input.
    pub number: u64,
    pub payload_offset: u64,
}

/// What a frame gave.
#[allow(clippy::large_enum_variant)] // the packet is the common case, never boxed
pub enum Step<'a> {
    Packet(Dissected<'a>),
    /// A fragment kept for later (reassembly, or its first fragment).
    Held,
    NotIp(NotIp),
}

/// What a frame gave, its packet as [`super::Dissector::frame_with`]'s caller
/// made it.
pub enum Framed<R> {
    Packet(R),
    /// A fragment kept for later (reassembly, or its first fragment).
    Held,
    NotIp(NotIp),
}
