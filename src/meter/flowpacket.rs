//! What the flow table keeps of a packet: its flow key and side, and the
//! few header fields the counters of [`super::flow`] read, owned and
//! `Copy` (no borrow of the capture or the dissector), so that a packet is
//! taken apart once and its summary can be metered here or handed to a
//! worker thread ([`super::parallel`]).

use super::key::{FlowKey, Side};
use crate::packet::{Dissected, TcpOptions, L4};

/// A TCP header's fields the flow state reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpSeen {
    pub seq: u32,
    pub ack: u32,
    /// CWR ECE URG ACK PSH RST SYN FIN (octet 13).
    pub flags: u8,
    /// The low four bits of octet 12.
    pub flags_hi: u8,
    pub window: u16,
    /// The options captured (a header cut short by the snapshot length
    /// keeps the options before the cut).
    pub options: TcpOptions,
}

impl TcpSeen {
    /// tcpControlBits (IANA 6): the flags and the four bits before them.
    pub fn control_bits(&self) -> u16 {
        (u16::from(self.flags_hi & 0x0F) << 8) | u16::from(self.flags)
    }
}

/// A packet as the flow table sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowPacket {
    pub key: FlowKey,
    /// The endpoint of `key` that sent the packet (0 or 1).
    pub side: u8,
    pub ttl: u8,
    pub tos: u8,
    /// Capture time, ns since the epoch.
    pub ts_ns: i64,
    /// The IP length (headers included), as the header declares it.
    pub length: u32,
    /// Transport payload octets (see [`super::flow`]'s definitions): for
    /// TCP, the segment's data length.
    pub payload: u32,
    /// Packets on the wire this stands for.
    pub packets: u32,
    /// The TCP header, read when `has_tcp` ([`FlowPacket::tcp`]). Not an
    /// `Option`: the summary is filled in place, field by field, so that
    /// no part of it is built apart and copied in. Built apart, the header
    /// (and its options) was copied twice, each copy's wide loads
    /// straddling the narrow stores that had just built its source, which
    /// stalls the processor: 16.5% of `Meter::packet`'s samples on the
    /// snaplen-96 bench capture (`perf annotate`, BENCHMARKS.md).
    tcp_header: TcpSeen,
    has_tcp: bool,
    /// Destination then source MAC address, as the Ethernet header has
    /// them (zeros without one).
    pub macs: [u8; 12],
}

impl FlowPacket {
    /// The summary of `d`; `biflow` as [`FlowKey::of`] takes it.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn of(d: &Dissected<'_>, biflow: bool) -> Self {
        let (key, side) = FlowKey::of(d, biflow);
        let mut p = FlowPacket {
            key,
            side: u8::from(side == 1),
            ttl: d.ip.ttl,
            tos: d.ip.tos,
            ts_ns: d.ts_ns,
            length: d.ip.length,
            payload: transport_payload(d),
            packets: d.packets,
            tcp_header: TcpSeen::default(),
            has_tcp: false,
            macs: d.link.macs.unwrap_or_default(),
        };
        if let L4::Tcp(t) = d.l4 {
            p.has_tcp = true;
            let h = &mut p.tcp_header;
            h.seq = t.seq;
            h.ack = t.ack;
            h.flags = t.flags;
            h.flags_hi = t.flags_hi;
            h.window = t.window;
            if !t.options.is_empty() {
                h.options.read(t.options);
            }
        }
        p
    }

    /// The TCP header, for a TCP packet whose header was captured.
    #[inline]
    pub fn tcp(&self) -> Option<&TcpSeen> {
        self.has_tcp.then_some(&self.tcp_header)
    }

    /// The side as an index.
    pub fn side(&self) -> Side {
        usize::from(self.side & 1)
    }

    /// The TCP flags (0 for a packet without a TCP header).
    pub fn tcp_flags(&self) -> u8 {
        self.tcp().map_or(0, |t| t.flags)
    }
}

/// Transport payload octets of a packet (see [`super::flow`]'s module
/// docs).
#[allow(clippy::inline_always)]
#[inline(always)]
fn transport_payload(d: &Dissected<'_>) -> u32 {
    let after_ip = d.ip.length.saturating_sub(u32::from(d.ip.header_len));
    let l4 = match d.l4 {
        L4::Tcp(t) => u32::from(t.header_len),
        L4::Udp(_) => 8,
        L4::Ports { .. } => {
            if d.ip.protocol == 132 {
                12
            } else {
                8
            }
        }
        L4::Icmp { .. } => 4,
        L4::Fragment { .. } | L4::None => {
            if d.ip.has_transport_header() {
                // A whole packet of a protocol without a header we read.
                match d.ip.protocol {
                    6 => 20,
                    17 | 33 | 136 => 8,
                    132 => 12,
                    1 | 58 => 4,
                    _ => 0,
                }
            } else {
                0
            }
        }
    };
    after_ip.saturating_sub(l4)
}
