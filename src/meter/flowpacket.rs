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
    /// The TCP header, for a TCP packet whose header was captured.
    pub tcp: Option<TcpSeen>,
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
        FlowPacket {
            key,
            side: u8::from(side == 1),
            ttl: d.ip.ttl,
            tos: d.ip.tos,
            ts_ns: d.ts_ns,
            length: d.ip.length,
            payload: transport_payload(d),
            packets: d.packets,
            tcp: match d.l4 {
                L4::Tcp(t) => Some(TcpSeen {
                    seq: t.seq,
                    ack: t.ack,
                    flags: t.flags,
                    flags_hi: t.flags_hi,
                    window: t.window,
                    options: if t.options.is_empty() {
                        TcpOptions::default()
                    } else {
                        TcpOptions::parse(t.options)
                    },
                }),
                _ => None,
            },
            macs: d.link.macs.unwrap_or_default(),
        }
    }

    /// The side as an index.
    pub fn side(&self) -> Side {
        usize::from(self.side & 1)
    }

    /// The TCP flags (0 for a packet without a TCP header).
    pub fn tcp_flags(&self) -> u8 {
        self.tcp.map_or(0, |t| t.flags)
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
