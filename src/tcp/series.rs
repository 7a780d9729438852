//! Per-packet series of a connection: what the analysis made of each
//! packet ([`Observation`], returned by [`super::Conn::segment`]), kept as
//! columns per direction for the connections a caller selects, so that a
//! notebook can draw time-sequence graphs, RTT over time and windows over
//! time. Bounded: at most `cap` packets a direction, then the series is
//! marked truncated.
//!
//! Columns, one row per packet of the direction:
//! - `time_ns`: capture time, ns since the epoch;
//! - `seq`: the position of the segment's sequence number in the
//!   direction's sequence space ([`super::seq`]: 0 is the octet after the
//!   SYN, or the first data octet seen, or a FIN before any data); `len`:
//!   its data octets;
//! - `ack`: the position its acknowledgment number names in the other
//!   direction's space (-1 without ACK, or before that space is anchored);
//! - `window`: the window it advertised, scaled as in [`super::window`]
//!   (-1 for a RST);
//! - `flags`: the TCP flags; `ecn`: the IP ECN field;
//! - `rtt_ns`, `rtt_method`: the RTT sample this packet completed (-1 and
//!   0 when none). An ACK completes a sample of the *other* direction's
//!   data (its half of the round trip, [`super::rtt`]); methods 1
//!   handshake, 2 sequence/ACK, 3 timestamp echo (sequence/ACK is kept
//!   when an ACK completes both);
//! - `events`: the [`event`] bits.

use super::seq::Seen;

/// Event bits of a packet.
pub mod event {
    /// Data octets seen for the first time, past the highest before.
    pub const NEW: u16 = 0x0001;
    /// A retransmission: octets seen before, or a SYN or FIN (without
    /// data) sent again; its class is one of the class bits.
    pub const RETRANSMISSION: u16 = 0x0002;
    /// Octets filling a hole, sent no later than the hole's opener.
    pub const REORDERED: u16 = 0x0004;
    /// Octets filling a hole, sent later: lost before the OP, repaired.
    pub const REPAIRED: u16 = 0x0008;
    /// The segment (data, or a FIN without data) started past the next
    /// expected position: it opened a hole (tcpSequenceJumpCount).
    pub const JUMP: u16 = 0x0010;
    /// Retransmission classes ([`super::super::rtx::RtxClasses`]).
    pub const FAST: u16 = 0x0020;
    pub const TIMEOUT: u16 = 0x0040;
    pub const TAIL_LOSS_PROBE: u16 = 0x0080;
    pub const SPURIOUS: u16 = 0x0100;
    pub const WINDOW_PROBE: u16 = 0x0200;
    /// The packet carries SACK blocks; a D-SACK among them.
    pub const SACK: u16 = 0x0400;
    pub const DSACK: u16 = 0x0800;
    /// A duplicate ACK ([`super::super::window`]'s rule).
    pub const DUP_ACK: u16 = 0x1000;
    /// It advertised a zero window.
    pub const ZERO_WINDOW: u16 = 0x2000;
}

/// How an RTT sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Handshake = 1,
    SeqAck = 2,
    Timestamp = 3,
}

/// What the analysis made of one packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observation {
    pub events: u16,
    pub seq: Option<i64>,
    pub ack: Option<i64>,
    pub window: Option<u64>,
    pub rtt: Option<(i64, Method)>,
}

/// The event bits of a data segment's placement.
pub fn seen_events(seen: &Seen) -> u16 {
    let mut e = 0;
    if seen.new > 0 {
        e |= event::NEW;
    }
    if seen.again > 0 {
        e |= event::RETRANSMISSION;
    }
    if seen.reordered > 0 {
        e |= event::REORDERED;
    }
    if seen.repaired > 0 {
        e |= event::REPAIRED;
    }
    if seen.jump > 0 {
        e |= event::JUMP;
    }
    e
}

/// One direction's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    pub time_ns: Vec<i64>,
    pub seq: Vec<i64>,
    pub len: Vec<u32>,
    pub ack: Vec<i64>,
    pub window: Vec<i64>,
    pub flags: Vec<u8>,
    pub ecn: Vec<u8>,
    pub rtt_ns: Vec<i64>,
    pub rtt_method: Vec<u8>,
    pub events: Vec<u16>,
}

impl Columns {
    /// Rows.
    pub fn len(&self) -> usize {
        self.time_ns.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.time_ns.is_empty()
    }
}

/// A connection's series, by flow-key side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    pub dir: [Columns; 2],
    /// Rows kept at most per direction.
    pub cap: usize,
    /// Packets not kept because a direction was full.
    pub dropped: u64,
}

impl Series {
    /// An empty series keeping at most `cap` packets a direction.
    pub fn new(cap: usize) -> Self {
        Series {
            cap,
            ..Series::default()
        }
    }

    /// Keep packet `s` of key side `side` and what the analysis made of it.
    pub fn push(&mut self, side: usize, s: &super::Segment, ob: &Observation) {
        let c = &mut self.dir[side & 1];
        if c.len() >= self.cap {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let ack = if s.flags & crate::packet::ACK != 0 {
            ob.ack
        } else {
            None
        };
        c.time_ns.push(s.ts_ns);
        c.seq.push(ob.seq.unwrap_or(-1));
        c.len.push(s.len);
        c.ack.push(ack.unwrap_or(-1));
        c.window.push(
            ob.window
                .map_or(-1, |w| i64::try_from(w).unwrap_or(i64::MAX)),
        );
        c.flags.push(s.flags);
        c.ecn.push(s.ecn & 3);
        c.rtt_ns.push(ob.rtt.map_or(-1, |(v, _)| v));
        c.rtt_method.push(ob.rtt.map_or(0, |(_, m)| m as u8));
        c.events.push(ob.events);
    }
}
