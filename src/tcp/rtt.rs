//! Round-trip times seen from the observation point (OP). A direction's
//! samples time its data going out past the OP and the other side's answer
//! coming back: the part of the round trip between the OP and that
//! direction's receiver (a "half"; at a capture beside the sender it is
//! nearly the whole round trip, beside the receiver nearly nothing).
//!
//! Three methods, each sample tagged with its own:
//! - handshake: SYN to SYN/ACK is the initiator direction's half, SYN/ACK
//!   to the ACK of it the responder direction's. Karn's rule: none when
//!   the SYN (or the SYN/ACK) was sent more than once;
//! - sequence/ACK: a data segment to the first ACK (cumulative, or a SACK
//!   block of the most recent kind, RFC 2018 §4) that covers its last
//!   octet, timing the most recently sent segment the ACK covers. Karn's
//!   rule (RFC 6298 §3): no sample when any octet the ACK newly covers was
//!   sent more than once. At most [`MAX_TIMED`] segments are timed at a
//!   time; later ones are not timed until earlier ones are answered;
//! - timestamp echo (RFC 7323): the first segment carrying data (or a SYN
//!   or FIN) with a new TSval to the first segment of the other side
//!   echoing that TSval in TSecr, as pping does; TSvals older than
//!   [`TS_MAX_AGE_NS`] are forgotten.

use std::collections::VecDeque;

use super::stats::Stats;
use crate::tcpseq::seq_lt;

/// Segments timed at once per direction.
pub const MAX_TIMED: usize = 64;
/// TSvals remembered at once per direction.
pub const MAX_TSVALS: usize = 64;
/// TSvals are matched for at most this long.
pub const TS_MAX_AGE_NS: i64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timed {
    start: i64,
    end: i64,
    sent_ns: i64,
    /// Octets of it were sent again: its answer is ambiguous.
    again: bool,
}

/// A direction's RTT state and samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rtt {
    timed: VecDeque<Timed>,
    tsvals: VecDeque<(u32, i64)>,
    last_tsval: Option<u32>,
    /// The highest cumulative ACK position of this direction's data.
    acked: Option<i64>,
    pub handshake: Option<i64>,
    pub seq_ack: Stats,
    pub ts: Stats,
    /// Every sample of every method.
    pub all: Stats,
}

impl Rtt {
    /// This direction sent new data [start, end) at `ts_ns` (no octet of
    /// it seen before).
    pub fn sent_new(&mut self, start: i64, end: i64, ts_ns: i64) {
        if self.timed.len() < MAX_TIMED {
            self.timed.push_back(Timed {
                start,
                end,
                sent_ns: ts_ns,
                again: false,
            });
        }
    }

    /// This direction sent [start, end) again: timed segments overlapping
    /// it are ambiguous (Karn).
    pub fn sent_again(&mut self, start: i64, end: i64) {
        for t in &mut self.timed {
            if t.start < end && start < t.end {
                t.again = true;
            }
        }
    }

    /// The other side acknowledged up to position `ack` (cumulative) at
    /// `ts_ns`, with `sack` the position of its first SACK block.
    pub fn acked(&mut self, ack: i64, sack: Option<(i64, i64)>, ts_ns: i64) -> Option<i64> {
        let mut sample = None;
        if self.acked.is_none_or(|a| ack > a) {
            self.acked = Some(ack);
            let mut newest: Option<Timed> = None;
            let mut ambiguous = false;
            while let Some(t) = self.timed.front().copied() {
                if t.end > ack {
                    // Partly acknowledged: what was sent again of it (or
                    // not) decides for the next ACK.
                    break;
                }
                self.timed.pop_front();
                ambiguous |= t.again;
                newest = Some(t);
            }
            if let Some(t) = newest.filter(|_| !ambiguous) {
                sample = Some(ts_ns.saturating_sub(t.sent_ns));
            }
        } else if let Some((l, r)) = sack {
            // Newly selectively acknowledged segments: the latest sent of
            // those inside the block, if none was sent again.
            let mut newest: Option<Timed> = None;
            let mut ambiguous = false;
            self.timed.retain(|t| {
                if t.start >= l && t.end <= r {
                    ambiguous |= t.again;
                    if newest.is_none_or(|n| t.sent_ns >= n.sent_ns) {
                        newest = Some(*t);
                    }
                    false
                } else {
                    true
                }
            });
            if let Some(t) = newest.filter(|_| !ambiguous) {
                sample = Some(ts_ns.saturating_sub(t.sent_ns));
            }
        }
        if let Some(s) = sample {
            self.seq_ack.add(s);
            self.all.add(s);
        }
        sample
    }

    /// The highest cumulative ACK position of this direction's data.
    pub fn acked_position(&self) -> Option<i64> {
        self.acked
    }

    /// This direction sent TSval `v` on a segment that asks for an answer
    /// (data, SYN or FIN) at `ts_ns`.
    pub fn sent_tsval(&mut self, v: u32, ts_ns: i64) {
        if self.last_tsval.is_some_and(|l| !seq_lt(l, v)) {
            return;
        }
        self.last_tsval = Some(v);
        while self
            .tsvals
            .front()
            .is_some_and(|&(_, t)| ts_ns.saturating_sub(t) > TS_MAX_AGE_NS)
        {
            self.tsvals.pop_front();
        }
        if self.tsvals.len() >= MAX_TSVALS {
            self.tsvals.pop_front();
        }
        self.tsvals.push_back((v, ts_ns));
    }

    /// The other side echoed TSval `ecr` at `ts_ns`.
    pub fn echoed(&mut self, ecr: u32, ts_ns: i64) -> Option<i64> {
        while self.tsvals.front().is_some_and(|&(v, _)| seq_lt(v, ecr)) {
            self.tsvals.pop_front();
        }
        match self.tsvals.front() {
            Some(&(v, t)) if v == ecr => {
                self.tsvals.pop_front();
                let s = ts_ns.saturating_sub(t);
                self.ts.add(s);
                self.all.add(s);
                Some(s)
            }
            _ => None,
        }
    }

    /// The handshake's sample for this direction.
    pub fn set_handshake(&mut self, v: i64) {
        self.handshake = Some(v);
        self.all.add(v);
    }

    /// The smallest sample of any method.
    pub fn min(&self) -> Option<i64> {
        [
            self.handshake,
            self.seq_ack.any().then_some(self.seq_ack.min),
            self.ts.any().then_some(self.ts.min),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Zero the samples (an active-timeout continuation); the handshake
    /// RTT is kept, as it describes the connection.
    pub fn reset_counts(&mut self) {
        self.seq_ack = Stats::default();
        self.ts = Stats::default();
        self.all = Stats::default();
    }
}
