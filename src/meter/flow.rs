//! A flow's state: a small fixed core (the key, times, the initiator, the
//! end state) and per-direction counters, plus an optional TCP block
//! allocated for TCP flows only, where the TCP-performance analysis keeps
//! its per-direction state. Every packet of a flow goes through
//! [`Flow::account`].
//!
//! Definitions (each an IANA IE, or CERT's for YAF's flags):
//! - octets: the IP length of each packet (headers included), as its
//!   header declares it, whatever the capture kept (octetDeltaCount);
//! - transport octets: the IP length minus the IP headers and the
//!   transport header (TCP's data offset, UDP 8, SCTP 12, ICMP/ICMPv6 the
//!   4-octet common header; later fragments carry no transport header);
//!   transport packets: packets with at least one such octet
//!   (transportOctetDeltaCount, transportPacketDeltaCount, RFC 7011 IEs
//!   401/402);
//! - initialTCPFlags: the flags of a direction's first packet;
//!   unionTCPFlags: the union of the flags of its other packets (YAF);
//!   tcpControlBits: the union over all its packets, with the four bits
//!   before the flags (IANA 6);
//! - minimumTTL/maximumTTL over the direction's packets; ipClassOfService
//!   and the MAC addresses of its first packet.

use super::flowpacket::{FlowPacket, TcpSeen};
use super::key::{FlowKey, Side};
use crate::packet::{ACK, FIN, RST, SYN};
use crate::tcp::series::Series;
use crate::tcp::{Conn, Segment};

/// A direction's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirCounters {
    pub packets: u64,
    pub octets: u64,
    pub transport_packets: u64,
    pub transport_octets: u64,
    /// First and last packet times (ns since the epoch); valid when
    /// `packets > 0`.
    pub first_ns: i64,
    pub last_ns: i64,
    pub initial_flags: u8,
    pub union_flags: u8,
    pub control_bits: u16,
    pub min_ttl: u8,
    pub max_ttl: u8,
    pub tos: u8,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

/// Per-direction TCP state kept by the engine (the TCP analysis grows
/// this block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpDir {
    /// The sequence number just past this direction's FIN, once sent.
    pub fin_end: Option<u32>,
    /// The other side acknowledged this direction's FIN.
    pub fin_acked: bool,
    /// The sequence number of this direction's SYN, once seen (its
    /// first).
    pub syn: Option<u32>,
}

/// The TCP block of a TCP flow: the engine's end-of-connection state and
/// the performance analysis ([`crate::tcp`]), by key side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TcpBlock {
    pub dir: [TcpDir; 2],
    /// None when the meter's TCP metrics are off.
    pub conn: Option<Box<Conn>>,
    /// The per-packet series, for a connection selected for one.
    pub series: Option<Box<Series>>,
}

/// How a flow stands after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Open,
    /// FIN seen both ways, not both acknowledged yet.
    Closing,
    /// RST seen, or both FINs seen and both acknowledged: the flow ends
    /// now (flowEndReason 3).
    Closed,
}

/// A flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub key: FlowKey,
    /// Kept across active-timeout continuations.
    pub flow_id: u64,
    /// The side that opened the flow: the sender of a SYN where one is
    /// seen, else of the first packet.
    pub initiator: Side,
    /// Earliest and latest packet of the record.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Counters by key side (not by initiator).
    pub dir: [DirCounters; 2],
    pub phase: Phase,
    pub tcp: Option<Box<TcpBlock>>,
}

impl Flow {
    /// A flow whose first packet is `p`; `tcp_metrics`: analyse its TCP
    /// performance (for a TCP flow).
    pub fn new(flow_id: u64, p: &FlowPacket, tcp_metrics: bool) -> Self {
        let side = p.side();
        // A SYN/ACK first: its receiver opened the connection.
        let initiator = if p.tcp_flags() & (SYN | ACK) == SYN | ACK {
            side ^ 1
        } else {
            side
        };
        Flow {
            key: p.key,
            flow_id,
            initiator,
            start_ns: p.ts_ns,
            end_ns: p.ts_ns,
            dir: [DirCounters::default(); 2],
            phase: Phase::Open,
            tcp: (p.key.protocol == 6).then(|| {
                Box::new(TcpBlock {
                    dir: [TcpDir::default(); 2],
                    conn: tcp_metrics.then(Box::default),
                    series: None,
                })
            }),
        }
    }

    /// Count packet `p`.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn account(&mut self, p: &FlowPacket) {
        let side = p.side();
        self.start_ns = self.start_ns.min(p.ts_ns);
        self.end_ns = self.end_ns.max(p.ts_ns);
        let c = &mut self.dir[side];
        let first = c.packets == 0;
        c.packets = c.packets.saturating_add(u64::from(p.packets));
        c.octets = c.octets.saturating_add(u64::from(p.length));
        if p.payload > 0 {
            c.transport_packets = c.transport_packets.saturating_add(1);
            c.transport_octets = c.transport_octets.saturating_add(u64::from(p.payload));
        }
        if first {
            c.first_ns = p.ts_ns;
            c.last_ns = p.ts_ns;
            c.min_ttl = p.ttl;
            c.max_ttl = p.ttl;
            c.tos = p.tos;
            let [d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5] = p.macs;
            c.dst_mac = [d0, d1, d2, d3, d4, d5];
            c.src_mac = [s0, s1, s2, s3, s4, s5];
        } else {
            c.first_ns = c.first_ns.min(p.ts_ns);
            c.last_ns = c.last_ns.max(p.ts_ns);
            c.min_ttl = c.min_ttl.min(p.ttl);
            c.max_ttl = c.max_ttl.max(p.ttl);
        }
        if let Some(t) = p.tcp() {
            if first {
                c.initial_flags = t.flags;
            } else {
                c.union_flags |= t.flags;
            }
            c.control_bits |= t.control_bits();
            self.tcp_state(side, p.payload, t);
            if let Some(b) = self.tcp.as_mut() {
                if let Some(conn) = b.conn.as_mut() {
                    let seg = Segment {
                        ts_ns: p.ts_ns,
                        seq: t.seq,
                        ack: t.ack,
                        flags: t.flags,
                        window: t.window,
                        len: p.payload,
                        ecn: p.tos & 3,
                        options: t.options,
                    };
                    let ob = conn.segment(side, &seg);
                    if let Some(series) = b.series.as_mut() {
                        series.push(side, &seg, &ob);
                    }
                }
            }
        }
    }

    /// `len`: the segment's data octets.
    fn tcp_state(&mut self, side: Side, len: u32, t: &TcpSeen) {
        let no_syn_yet = self
            .tcp
            .as_ref()
            .is_some_and(|b| b.dir[0].syn.is_none() && b.dir[1].syn.is_none());
        let Some(b) = self.tcp.as_mut() else { return };
        if t.flags & SYN != 0 {
            if no_syn_yet {
                // The first SYN names the initiator (its sender, or for a
                // SYN/ACK its receiver), whatever came before it.
                self.initiator = if t.flags & ACK == 0 { side } else { side ^ 1 };
            }
            b.dir[side].syn.get_or_insert(t.seq);
        }
        if t.flags & RST != 0 {
            self.phase = Phase::Closed;
            return;
        }
        if t.flags & FIN != 0 {
            // The FIN occupies the sequence number after the data.
            let end = t.seq.wrapping_add(len).wrapping_add(1);
            b.dir[side].fin_end = Some(end);
        }
        let theirs = &mut b.dir[side ^ 1];
        if t.flags & ACK != 0 && theirs.fin_end == Some(t.ack) {
            theirs.fin_acked = true;
        }
        if b.dir.iter().all(|d| d.fin_end.is_some()) {
            if self.phase == Phase::Open {
                self.phase = Phase::Closing;
            }
            // Both FINs acknowledged: the connection is closed (RFC 9293
            // §3.6), whichever order they went in, and not before: an
            // acknowledgment of one FIN while the other is lost (answering
            // it sent again) leaves the lost one's retransmission in the
            // flow.
            if b.dir.iter().all(|d| d.fin_acked) {
                self.phase = Phase::Closed;
            }
        }
    }

    /// Whether `p` opens a new connection on this flow's key: a SYN (or
    /// SYN/ACK) from a side whose SYN was seen with another sequence
    /// number (a SYN or SYN/ACK sent again keeps its number, RFC 9293
    /// §3.8.1; a new one is a new connection whose old one ended unseen:
    /// its FIN or RST was not captured, or it was left open; a SYN/ACK, when
    /// the new connection's SYN was not captured).
    pub fn reused_by(&self, p: &FlowPacket) -> bool {
        let (Some(b), Some(t)) = (self.tcp.as_ref(), p.tcp()) else {
            return false;
        };
        t.flags & SYN != 0 && b.dir[p.side()].syn.is_some_and(|isn| isn != t.seq)
    }

    /// Start the continuation of an active-timed-out record: counters
    /// zeroed, key, flowId, initiator and TCP state kept.
    pub fn continuation(&mut self, ts_ns: i64) {
        self.dir = [DirCounters::default(); 2];
        if let Some(conn) = self.tcp.as_mut().and_then(|b| b.conn.as_mut()) {
            conn.reset_counts();
        }
        self.start_ns = ts_ns;
        self.end_ns = ts_ns;
    }

    /// The TCP analysis, for a TCP flow metered with it.
    pub fn conn(&self) -> Option<&Conn> {
        self.tcp.as_ref().and_then(|b| b.conn.as_deref())
    }

    /// The record ends: state that runs to the record's end (zero-window
    /// time) is counted up to its last packet.
    pub fn close(&mut self) {
        let end = self.end_ns;
        if let Some(conn) = self.tcp.as_mut().and_then(|b| b.conn.as_mut()) {
            conn.close(end);
        }
    }

    /// Packets of the record.
    pub fn packets(&self) -> u64 {
        self.dir[0].packets.saturating_add(self.dir[1].packets)
    }
}
