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
//! - sequence/ACK: a data segment to the first ACK that covers it, by its
//!   cumulative part (past its last octet) or whole inside its first SACK
//!   block (the most recent, RFC 2018 §4; both together where an ACK has
//!   both), timing the last seen of the segments the ACK newly covers.
//!   Karn's rule (RFC 6298 §3): no sample when any octet the ACK newly
//!   covers was sent more than once (seen twice at the OP, or a repair of
//!   octets lost before it, [`Rtt::sent_repair`]). At most [`MAX_TIMED`]
//!   segments are timed at a time: a segment seen while that many wait
//!   for their ACK is not timed at all (nor one filling a gap as
//!   reordering);
//! - timestamp echo (RFC 7323): the first segment carrying data (or a SYN
//!   or FIN) with a new TSval to the first segment of the other side
//!   echoing that TSval in TSecr, as pping does; TSvals older than
//!   [`TS_MAX_AGE_NS`] are forgotten.
//!
//! Every sample also counts in a log-binned histogram ([`HIST_EDGES_NS`]:
//! four bins a decade from 10 µs to 1 s), so distributions can be merged
//! across flows without per-packet output.

use std::collections::VecDeque;

use super::opt::OptI64;
use super::stats::Stats;
use crate::tcpseq::seq_lt;

/// Edges of the RTT histogram's bins, in ns: 10 µs, then four bins a
/// decade (edges at 10^(k/4), rounded to the nanosecond) up to 1 s. Bin 0
/// holds samples below 10 µs, bin k (1-20) those from edge k-1 up to edge
/// k, bin 21 those of 1 s and more: [`HIST_BINS`] bins.
pub const HIST_EDGES_NS: [i64; 21] = [
    10_000,
    17_783,
    31_623,
    56_234,
    100_000,
    177_828,
    316_228,
    562_341,
    1_000_000,
    1_778_279,
    3_162_278,
    5_623_413,
    10_000_000,
    17_782_794,
    31_622_777,
    56_234_133,
    100_000_000,
    177_827_941,
    316_227_766,
    562_341_325,
    1_000_000_000,
];
/// Bins of the RTT histogram.
pub const HIST_BINS: usize = 22;

/// The histogram bin of a sample.
pub fn hist_bin(ns: i64) -> usize {
    HIST_EDGES_NS.partition_point(|&e| e <= ns)
}

/// Segments timed at once per direction.
pub const MAX_TIMED: usize = 64;
/// TSvals remembered at once per direction.
pub const MAX_TSVALS: usize = 64;
/// TSvals are matched for at most this long.
pub const TS_MAX_AGE_NS: i64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timed {
    start: i64,
    sent_ns: i64,
    len: u32,
    /// Octets of it were sent again: its answer is ambiguous.
    again: bool,
}

impl Timed {
    fn end(&self) -> i64 {
        self.start.saturating_add(i64::from(self.len))
    }
}

/// Make room for one more in a queue that most connections keep short:
/// room for one, then two, then as a `VecDeque` grows (doubling).
fn room_for_one<T>(q: &mut VecDeque<T>) {
    if q.len() == q.capacity() && q.capacity() < 2 {
        q.reserve_exact(1);
    }
}

/// A direction's RTT state and samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rtt {
    timed: VecDeque<Timed>,
    tsvals: VecDeque<(u32, i64)>,
    last_tsval: Option<u32>,
    /// The highest cumulative ACK position of this direction's data.
    acked: OptI64,
    pub handshake: OptI64,
    pub seq_ack: Stats,
    pub ts: Stats,
    /// Every sample of every method by [`hist_bin`] ([`Rtt::hist`]): the
    /// low 16 bits of each count, and the high ones apart, made at the
    /// first count past 65,535 (few directions have that many samples).
    hist: [u16; HIST_BINS],
    hist_high: Option<Box<[u16; HIST_BINS]>>,
    /// An active-timeout continuation: the handshake's sample belongs to
    /// the first record.
    continued: bool,
}

impl Rtt {
    /// This direction sent new data [start, end) at `ts_ns` (no octet of
    /// it seen before).
    pub fn sent_new(&mut self, start: i64, end: i64, ts_ns: i64) {
        if self.timed.len() < MAX_TIMED {
            room_for_one(&mut self.timed);
            self.timed.push_back(Timed {
                start,
                len: u32::try_from(end.saturating_sub(start)).unwrap_or(u32::MAX),
                sent_ns: ts_ns,
                again: false,
            });
        }
    }

    /// This direction sent [start, end) again: timed segments overlapping
    /// it are ambiguous (Karn).
    pub fn sent_again(&mut self, start: i64, end: i64) {
        for t in &mut self.timed {
            if t.start < end && start < t.end() {
                t.again = true;
            }
        }
    }

    /// This direction's segment [start, end) filled a hole with octets
    /// lost before the OP: sent before, so an ACK newly covering them
    /// must give no sample (Karn), though the OP saw them once. Kept in
    /// the timed queue (in order of position) as a segment already
    /// ambiguous; with the queue full, the timed segments after it are
    /// marked ambiguous instead (an ACK covering it covers them, or came
    /// before them: fewer samples, never a wrong one).
    pub fn sent_repair(&mut self, start: i64, end: i64) {
        if self.timed.len() < MAX_TIMED {
            let at = self.timed.partition_point(|t| t.start < start);
            room_for_one(&mut self.timed);
            self.timed.insert(
                at,
                Timed {
                    start,
                    len: u32::try_from(end.saturating_sub(start)).unwrap_or(u32::MAX),
                    sent_ns: i64::MIN,
                    again: true,
                },
            );
        } else {
            for t in &mut self.timed {
                if t.end() > start {
                    t.again = true;
                }
            }
        }
    }

    /// The other side acknowledged up to position `ack` (cumulative) at
    /// `ts_ns`, with `sack` the position of its first SACK block. The
    /// segments it newly covers are those its cumulative part passes and
    /// those inside the block, together: an ACK that does both (a partial
    /// ACK in recovery, or after reordering) times the last seen of them
    /// all, not only of the first kind.
    pub fn acked(&mut self, ack: i64, sack: Option<(i64, i64)>, ts_ns: i64) -> Option<i64> {
        // The queue is in the order segments were seen (repairs, placed
        // by position, are ambiguous anyway): the last covered is the
        // last seen.
        let mut newest: Option<Timed> = None;
        let mut ambiguous = false;
        if self.acked.get().is_none_or(|a| ack > a) {
            self.acked = OptI64::some(ack);
            while let Some(t) = self.timed.front().copied() {
                if t.end() > ack {
                    // Partly acknowledged: what was sent again of it (or
                    // not) decides for the next ACK.
                    break;
                }
                self.timed.pop_front();
                ambiguous |= t.again;
                newest = Some(t);
            }
        }
        if let Some((l, r)) = sack {
            // Newly selectively acknowledged segments.
            self.timed.retain(|t| {
                if t.start >= l && t.end() <= r {
                    ambiguous |= t.again;
                    newest = Some(*t);
                    false
                } else {
                    true
                }
            });
        }
        let sample = newest
            .filter(|_| !ambiguous)
            .map(|t| ts_ns.saturating_sub(t.sent_ns));
        // A capture whose time went backwards gives no sample.
        let sample = sample.filter(|&s| s >= 0)?;
        self.seq_ack.add(sample);
        self.count_bin(sample);
        Some(sample)
    }

    /// The highest cumulative ACK position of this direction's data.
    pub fn acked_position(&self) -> Option<i64> {
        self.acked.get()
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
        room_for_one(&mut self.tsvals);
        self.tsvals.push_back((v, ts_ns));
    }

    /// The other side echoed TSval `ecr` at `ts_ns`. A TSval sent more
    /// than [`TS_MAX_AGE_NS`] before is forgotten, here as where TSvals
    /// are kept: its echo (a peer that answers after a long silence, with
    /// the last TSval it saw) is no round trip.
    pub fn echoed(&mut self, ecr: u32, ts_ns: i64) -> Option<i64> {
        while self
            .tsvals
            .front()
            .is_some_and(|&(v, t)| seq_lt(v, ecr) || ts_ns.saturating_sub(t) > TS_MAX_AGE_NS)
        {
            self.tsvals.pop_front();
        }
        match self.tsvals.front() {
            Some(&(v, t)) if v == ecr && ts_ns >= t => {
                self.tsvals.pop_front();
                let s = ts_ns.saturating_sub(t);
                self.ts.add(s);
                self.count_bin(s);
                Some(s)
            }
            _ => None,
        }
    }

    /// The handshake's sample for this direction.
    pub fn set_handshake(&mut self, v: i64) {
        self.handshake = OptI64::some(v);
        self.count_bin(v);
    }

    fn count_bin(&mut self, ns: i64) {
        let b = hist_bin(ns).min(HIST_BINS - 1);
        let (low, carry) = self.hist[b].overflowing_add(1);
        self.hist[b] = low;
        if carry {
            let high = &mut self.hist_high.get_or_insert_with(Box::default)[b];
            if *high == u16::MAX {
                // Saturated at u32::MAX.
                self.hist[b] = u16::MAX;
            } else {
                *high = high.saturating_add(1);
            }
        }
    }

    /// The RTT histogram: every sample of every method by [`hist_bin`]
    /// (counts saturate at `u32::MAX`).
    pub fn hist(&self) -> [u32; HIST_BINS] {
        let mut h = [0u32; HIST_BINS];
        for (b, (&low, out)) in self.hist.iter().zip(h.iter_mut()).enumerate() {
            let high = self.hist_high.as_ref().map_or(0, |x| x[b]);
            *out = u32::from(high) << 16 | u32::from(low);
        }
        h
    }

    /// Every sample of every method: the methods' statistics merged (the
    /// handshake's sample with them until an active-timeout continuation);
    /// the smoothed value is the sequence/ACK method's where it has
    /// samples (as a sender's own SRTT), else the timestamp method's, else
    /// the handshake's.
    pub fn all(&self) -> Stats {
        let mut hs = Stats::default();
        if let Some(v) = self.handshake.get().filter(|_| !self.continued) {
            hs.add(v);
        }
        self.seq_ack.merged(&self.ts).merged(&hs)
    }

    /// Whether any method has a sample ([`Rtt::all`] has one), without
    /// merging them.
    pub fn any(&self) -> bool {
        self.seq_ack.any() || self.ts.any() || (self.handshake.is_some() && !self.continued)
    }

    /// The smallest sample of any method.
    pub fn min(&self) -> Option<i64> {
        [
            self.handshake.get(),
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
        self.continued = true;
        self.hist = [0; HIST_BINS];
        self.hist_high = None;
    }
}

#[cfg(test)]
mod tests {
    use super::{hist_bin, Rtt, HIST_BINS};

    #[test]
    fn histogram_counts_carry_past_16_bits_and_saturate() {
        let mut r = Rtt::default();
        let b = hist_bin(2_000_000); // 2 ms
        for _ in 0..70_000 {
            r.count_bin(2_000_000);
        }
        r.count_bin(5_000); // below 10 µs: bin 0
        let h = r.hist();
        assert_eq!((h[b], h[0]), (70_000, 1));
        assert_eq!(h.iter().map(|&c| u64::from(c)).sum::<u64>(), 70_001);
        // One short of u32::MAX, then two more: it stays at u32::MAX.
        r.hist[b] = u16::MAX - 1;
        r.hist_high = Some(Box::new([u16::MAX; HIST_BINS]));
        r.count_bin(2_000_000);
        assert_eq!(r.hist()[b], u32::MAX);
        r.count_bin(2_000_000);
        r.count_bin(2_000_000);
        assert_eq!(r.hist()[b], u32::MAX);
    }
}
