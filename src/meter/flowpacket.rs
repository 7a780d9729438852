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

/// A packet as the flow table sees it (equal to another when everything
/// it shows is: the TCP header only through [`FlowPacket::tcp`]).
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

impl PartialEq for FlowPacket {
    fn eq(&self, o: &Self) -> bool {
        // Every field named, so that a field added later cannot be left
        // out of the comparison (the struct pattern does not compile then).
        let FlowPacket {
            key,
            side,
            ttl,
            tos,
            ts_ns,
            length,
            payload,
            packets,
            tcp_header: _,
            has_tcp: _,
            macs,
        } = *self;
        (key, side, ttl, tos, ts_ns) == (o.key, o.side, o.ttl, o.tos, o.ts_ns)
            && (length, payload, packets, macs) == (o.length, o.payload, o.packets, o.macs)
            && self.tcp() == o.tcp()
    }
}

impl Eq for FlowPacket {}

impl FlowPacket {
    /// The summary of `d`.
    pub fn of(d: &Dissected<'_>) -> Self {
        let mut p = FlowPacket::default();
        p.fill(d);
        p
    }

    /// [`FlowPacket::of`] written into `self` (every field): the meter's
    /// loop fills one summary where it lies and hands it to the table by
    /// reference. Built and returned, the summary was moved whole into
    /// place, that move's wide loads straddling the narrow stores that had
    /// just built it (a store-forwarding stall: 6% of the snaplen-96
    /// bench's samples on that one line, BENCHMARKS.md).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn fill(&mut self, d: &Dissected<'_>) {
        let side = self.key.fill(d);
        self.side = u8::from(side == 1);
        self.ttl = d.ip.ttl;
        self.tos = d.ip.tos;
        self.ts_ns = d.ts_ns;
        self.length = d.ip.length;
        self.payload = transport_payload(d);
        self.packets = d.packets;
        self.macs = d.link.macs.unwrap_or_default();
        if let L4::Tcp(t) = d.l4 {
            self.has_tcp = true;
            let h = &mut self.tcp_header;
            h.seq = t.seq;
            h.ack = t.ack;
            h.flags = t.flags;
            h.flags_hi = t.flags_hi;
            h.window = t.window;
            h.options = TcpOptions::default();
            if !t.options.is_empty() {
                h.options.read(t.options);
            }
        } else {
            self.has_tcp = false;
        }
    }

    /// A summary whose every field holds a value no packet gives it (for
    /// the test that [`FlowPacket::fill`] writes every field).
    #[cfg(test)]
    pub(crate) fn scrambled() -> Self {
        let mut options = TcpOptions::default();
        options.set_mss(Some(0xABAB));
        options.set_window_scale(Some(0xAB));
        options.set_timestamps(Some((0xABAB_ABAB, 0xABAB_ABAB)));
        let end = super::key::Endpoint {
            addr: [0xAB; 16],
            port: 0xABAB,
        };
        FlowPacket {
            key: FlowKey {
                ends: [end; 2],
                vlan: 0xABAB,
                protocol: 0xAB,
                version: 0xAB,
                icmp: 0xABAB,
            },
            side: 0xAB,
            ttl: 0xAB,
            tos: 0xAB,
            ts_ns: -0xABAB,
            length: 0xABAB_ABAB,
            payload: 0xABAB_ABAB,
            packets: 0xABAB_ABAB,
            tcp_header: TcpSeen {
                seq: 0xABAB_ABAB,
                ack: 0xABAB_ABAB,
                flags: 0xAB,
                flags_hi: 0xAB,
                window: 0xABAB,
                options,
            },
            has_tcp: true,
            macs: [0xAB; 12],
        }
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
        L4::Ports { .. } => header_len(d.ip.protocol, d.ip.payload),
        L4::Icmp { .. } => 4,
        L4::Fragment { .. } | L4::None => {
            if d.ip.has_transport_header() {
                // A whole packet whose header the capture lacks.
                header_len(d.ip.protocol, d.ip.payload)
            } else {
                0
            }
        }
    };
    after_ip.saturating_sub(l4)
}

/// The transport header's length in octets, read from what the capture
/// kept of it where it says (TCP's data offset, RFC 9293 §3.1; DCCP's,
/// RFC 4340 §5.1, both in 32-bit words), else the protocol's least
/// (TCP 20, UDP and UDP-Lite 8, SCTP's common header 12, DCCP's generic
/// header 12, ICMP 4); 0 for a protocol without one here.
#[inline]
fn header_len(protocol: u8, b: &[u8]) -> u32 {
    // The count of 32-bit words `shift`ed out of octet `at`, if captured
    // and at least `least` octets.
    let words = |at: usize, shift: u8, least: u32| {
        b.get(at)
            .map(|&w| u32::from(w >> shift) * 4)
            .filter(|&n| n >= least)
            .unwrap_or(least)
    };
    match protocol {
        6 => words(12, 4, 20),
        17 | 136 => 8,
        33 => words(4, 0, 12),
        132 => 12,
        1 | 58 => 4,
        _ => 0,
    }
}
