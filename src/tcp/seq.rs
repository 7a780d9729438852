//! One direction's sequence space as the observation point (OP) sees it:
//! which data octets passed, which are missing (holes), which passed
//! again. Positions are 64-bit octet counts from the anchor
//! ([`crate::tcpseq::Unwrapper`]): the octet after the SYN when the SYN
//! was seen, else the first data octet seen, or the FIN's number when the
//! FIN came before any data. Octets before the anchor (a
//! capture that starts mid-connection and then sees old data again) were
//! never seen by the OP and are counted nowhere.
//!
//! Definitions (data octets only; SYN and FIN occupy sequence numbers but
//! carry none):
//! - the next expected position: one past the highest data octet seen, or
//!   before any data the anchor when it is the SYN's (without a SYN, the
//!   first data octet seen starts the space);
//! - advanced octets: the span of sequence space the direction's data
//!   covered, from the anchor (the first data octet seen without a SYN) to
//!   one past the highest octet seen (tcpSequenceCount);
//! - a hole: octets below the next expected position that have not passed
//!   the OP (with the SYN seen, a first data segment lost before the OP
//!   leaves one from the anchor). A segment that starts past the next
//!   expected position opens one (a jump, tcpSequenceJumpCount;
//!   maxTcpSequenceJump its size);
//! - filled octets: octets of a hole that pass later. They were delayed
//!   (reordered) when the filling segment was sent no later than the
//!   segment that opened the hole: its TSval is older than the opener's,
//!   or, without timestamps on both or with equal TSvals (one tick of the
//!   sender's clock tells nothing), it came within `reorder_window` of the
//!   opening; otherwise they are a retransmission of octets lost before
//!   the OP (repaired upstream loss);
//! - retransmitted octets: octets that pass the OP a second time (lost
//!   after the OP, or retransmitted needlessly); a retransmitted segment
//!   carries at least one. A SYN or FIN sent again with the same sequence
//!   number is a retransmitted segment of no octets (as the kernel's
//!   TcpRetransSegs counts them);
//! - never-seen octets: octets of holes still open (tcpSequenceLossCount),
//!   including holes closed by the cap on open holes ([`MAX_HOLES`]: the
//!   oldest goes, its octets counted never seen; if they pass later they
//!   count as retransmitted). A record that ends on the active timeout
//!   leaves the holes still open to its continuations
//!   ([`SeqSpace::never_seen_in_record`]): each octet is counted once in a
//!   connection's records.

use crate::tcpseq::Unwrapper;

/// Open holes kept per direction.
pub const MAX_HOLES: usize = 32;

/// A hole: octets [start, end) missing, opened at `opened_ns` by a segment
/// with TSval `tsval` (if it had one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    start: i64,
    end: i64,
    opened_ns: i64,
    tsval: Option<u32>,
}

/// Counters of a direction's sequence space (reset at an active-timeout
/// continuation; the state they come from is kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCounts {
    pub advanced: u64,
    pub jumps: u32,
    pub max_jump: u64,
    pub retransmitted_segments: u32,
    pub retransmitted_octets: u64,
    pub reordered_segments: u32,
    pub reordered_octets: u64,
    pub repaired_segments: u32,
    pub repaired_octets: u64,
    /// Octets of holes the cap closed.
    pub evicted_octets: u64,
}

/// What a data segment was, at the OP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Octets seen for the first time, past the highest before it.
    pub new: u64,
    /// Octets that passed before (a retransmission).
    pub again: u64,
    /// Octets filling holes: delayed ones, and retransmitted ones lost
    /// before the OP.
    pub reordered: u64,
    pub repaired: u64,
    /// The gap this segment opened.
    pub jump: u64,
    /// Start and end positions.
    pub start: i64,
    pub end: i64,
    /// One past the last octet of it that passed before (with `again` >
    /// 0): where what it re-sent ends.
    pub again_end: i64,
}

/// What [`SeqSpace::fill`] found.
struct Filled {
    reordered: u64,
    repaired: u64,
    again_end: i64,
}

/// What a FIN did ([`SeqSpace::fin`]): sent again (its number seen before,
/// without data), and the gap it opened before it (octets, 0 for none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fin {
    pub again: bool,
    pub jump: u64,
}

/// One direction's sequence state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSpace {
    /// Valid with [`ANCHORED`] (the options are packed into `known`, so
    /// that a connection's state stays within its budget).
    unwrapper: Unwrapper,
    /// First data position seen, and one past the highest (the next
    /// expected); valid once `data` is set.
    first: i64,
    high: i64,
    /// Where `advanced` counts from: `first`, or the highest octet at the
    /// last continuation.
    base: i64,
    data: bool,
    /// The SYN's and the FIN's sequence numbers, valid with [`HAS_SYN`]
    /// and [`HAS_FIN`].
    syn: u32,
    fin: u32,
    /// [`ANCHORED`], [`HAS_SYN`], [`HAS_FIN`].
    known: u8,
    /// [`SeqCounts::advanced`]: the one counter every direction with
    /// data moves.
    advanced: u64,
    /// Holes and the other counters: most directions never open a hole
    /// nor see an octet twice, so they are kept apart, made when first
    /// needed (a million connections open at once stay small).
    losses: Option<Box<Losses>>,
}

/// [`SeqSpace::known`] bits.
const ANCHORED: u8 = 1;
const HAS_SYN: u8 = 2;
const HAS_FIN: u8 = 4;

/// What a direction with holes or repeated octets keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Losses {
    holes: Vec<Hole>,
    counts: SeqCounts,
}

impl SeqSpace {
    fn unwrap(&self) -> Option<Unwrapper> {
        (self.known & ANCHORED != 0).then_some(self.unwrapper)
    }

    fn anchor(&mut self, u: Unwrapper) {
        self.unwrapper = u;
        self.known |= ANCHORED;
    }

    fn syn_seq(&self) -> Option<u32> {
        (self.known & HAS_SYN != 0).then_some(self.syn)
    }

    fn fin_seq(&self) -> Option<u32> {
        (self.known & HAS_FIN != 0).then_some(self.fin)
    }

    /// The position of sequence number `seq` (None before anything
    /// anchored the space).
    pub fn position(&self, seq: u32) -> Option<i64> {
        self.unwrap().map(|u| u.position(seq) as i64)
    }

    /// The position of the other side's acknowledgment number `ack` (None
    /// before anything anchored the space). While the OP has seen none of
    /// this direction's data (an asymmetric route: its data goes around
    /// the OP), nothing else moves the reference the numbers are read
    /// against, so the acknowledgments carry it forward: each is read
    /// against the furthest one before it, and an ACK stream may run
    /// through the whole sequence space. Once data is seen, its highest
    /// octet is the reference (an ACK cannot move it: a stray number would
    /// misplace the data that follows).
    pub fn ack_position(&mut self, ack: u32) -> Option<i64> {
        if self.known & ANCHORED == 0 {
            return None;
        }
        let u = &mut self.unwrapper;
        Some(if self.data {
            u.position(ack)
        } else {
            u.observe(ack)
        } as i64)
    }

    /// The next expected position: one past the highest data octet seen,
    /// or before any data the anchor when it is the SYN's (None else).
    pub fn next_expected(&self) -> Option<i64> {
        if self.data {
            Some(self.high)
        } else {
            self.syn_seq()
                .and_then(|isn| self.position(isn.wrapping_add(1)))
        }
    }

    /// One past the highest data octet seen (None before any data).
    pub fn high(&self) -> Option<i64> {
        self.data.then_some(self.high)
    }

    /// The first data position (None before any data).
    pub fn first(&self) -> Option<i64> {
        self.data.then_some(self.first)
    }

    /// The counters.
    pub fn counts(&self) -> SeqCounts {
        let mut c = self.losses.as_ref().map(|l| l.counts).unwrap_or_default();
        c.advanced = self.advanced;
        c
    }

    fn losses(&mut self) -> &mut Losses {
        self.losses.get_or_insert_with(Box::default)
    }

    /// The never-seen octets a record counts (tcpSequenceLossCount):
    /// those of the holes the cap closed during it, and, unless the record
    /// ends on the active timeout (`continues`: the connection goes on in
    /// a continuation), those of the holes open at its end. A hole open at
    /// an active timeout is counted once, where the connection's story
    /// ends for it: as filled (reordered or repaired) in the record where
    /// its octets pass, or as never seen in the connection's last record
    /// (or when the cap closes it). So the records of a connection add up
    /// to what one record of it would say.
    pub fn never_seen_in_record(&self, continues: bool) -> u64 {
        if continues {
            self.losses
                .as_deref()
                .map_or(0, |l| l.counts.evicted_octets)
        } else {
            self.never_seen()
        }
    }

    /// Octets of the holes open now, plus those the cap closed since the
    /// last continuation.
    pub fn never_seen(&self) -> u64 {
        let Some(l) = self.losses.as_deref() else {
            return 0;
        };
        let open: i64 = l.holes.iter().map(|h| h.end.saturating_sub(h.start)).sum();
        (open.max(0) as u64).saturating_add(l.counts.evicted_octets)
    }

    /// A SYN with sequence number `seq`: anchors the space (data starts
    /// after it, a SYN's own data too: RFC 7413 §2). True when it repeats
    /// a SYN already seen and carries no data (a SYN sent again with data
    /// counts through its data, as a FIN does).
    pub fn syn(&mut self, seq: u32, has_data: bool) -> bool {
        match self.syn_seq() {
            Some(s) if s == seq && has_data => false,
            Some(s) if s == seq => {
                let c = &mut self.losses().counts;
                c.retransmitted_segments = c.retransmitted_segments.saturating_add(1);
                true
            }
            Some(_) => false,
            None => {
                self.syn = seq;
                self.known |= HAS_SYN;
                if self.known & ANCHORED == 0 {
                    self.anchor(Unwrapper::new(seq.wrapping_add(1)));
                }
                false
            }
        }
    }

    /// A FIN at sequence number `seq` (after the segment's data). True
    /// when it repeats a FIN already seen and the segment has no data (a
    /// retransmitted FIN with data counts through its data).
    pub fn fin(&mut self, seq: u32, has_data: bool, ts_ns: i64, tsval: Option<u32>) -> Fin {
        // A direction seen first by its FIN (no SYN, no data before it):
        // the FIN anchors the space, so that it has a position.
        if self.known & ANCHORED == 0 {
            self.anchor(Unwrapper::new(seq));
        }
        match self.fin_seq() {
            Some(s) if s == seq && !has_data => {
                let c = &mut self.losses().counts;
                c.retransmitted_segments = c.retransmitted_segments.saturating_add(1);
                Fin {
                    again: true,
                    jump: 0,
                }
            }
            _ => {
                self.fin = seq;
                self.known |= HAS_FIN;
                // A FIN with data ends where its data did (`data` placed
                // it); one without starts where it is.
                let jump = if has_data {
                    0
                } else {
                    self.gap_before(seq, ts_ns, tsval)
                };
                Fin { again: false, jump }
            }
        }
    }

    /// A FIN without data at `seq`: a segment that starts past the next
    /// expected position opens a gap there, a FIN as a data segment does
    /// (the octets before it were sent, and the OP has not seen them).
    /// With no data seen yet, the next expected position is the SYN's
    /// anchor (no gap without the SYN: nothing says where data began). The
    /// gap's size, 0 for none.
    fn gap_before(&mut self, seq: u32, ts_ns: i64, tsval: Option<u32>) -> u64 {
        let Some(next) = self.next_expected() else {
            return 0;
        };
        let at = self.unwrapper.position(seq) as i64;
        if at <= next {
            return 0;
        }
        if !self.data {
            // The data space starts at the anchor, as its first data
            // segment would have started it.
            self.data = true;
            self.first = next;
            self.high = next;
            self.base = next;
        }
        let gap = at.saturating_sub(self.high);
        self.open_hole(self.high, at, ts_ns, tsval);
        let c = &mut self.losses().counts;
        c.jumps = c.jumps.saturating_add(1);
        c.max_jump = c.max_jump.max(gap as u64);
        self.high = at;
        self.unwrapper.advance_to(at as u64);
        self.advanced = self.high.saturating_sub(self.base).max(0) as u64;
        gap as u64
    }

    /// A segment of `len` > 0 data octets at `seq`, seen at `ts_ns` with
    /// TSval `tsval`; `reorder_window_ns` as in the module docs.
    pub fn data(
        &mut self,
        seq: u32,
        len: u32,
        ts_ns: i64,
        tsval: Option<u32>,
        reorder_window_ns: i64,
    ) -> Seen {
        if self.known & ANCHORED == 0 {
            self.anchor(Unwrapper::new(seq));
        }
        let u = self.unwrapper;
        let start = u.position(seq) as i64;
        let end = start.saturating_add(i64::from(len));
        let mut seen = Seen {
            start,
            end,
            ..Seen::default()
        };
        if !self.data {
            self.data = true;
            // With the SYN seen, positions (and the direction's data)
            // start at its anchor, the octet after the SYN, whether or not
            // that octet is the first seen: a first segment lost before
            // the OP leaves a hole from the anchor, as any later one does.
            // Without it, at the first data octet seen.
            let origin = self
                .syn_seq()
                .map_or(start, |isn| u.position(isn.wrapping_add(1)) as i64);
            self.first = origin;
            self.high = origin;
            self.base = origin;
        }
        if start > self.high {
            let gap = start.saturating_sub(self.high);
            seen.jump = gap as u64;
            self.open_hole(self.high, start, ts_ns, tsval);
            let c = &mut self.losses().counts;
            c.jumps = c.jumps.saturating_add(1);
            c.max_jump = c.max_jump.max(gap as u64);
        }
        // The part below the highest: holes filled, the rest seen before
        // (octets before the first data octet were never seen: skipped).
        let below_end = end.min(self.high);
        let below_start = start.max(self.first);
        if below_start < below_end {
            let filled = self.fill(below_start, below_end, ts_ns, tsval, reorder_window_ns);
            seen.reordered = filled.reordered;
            seen.repaired = filled.repaired;
            let span = below_end.saturating_sub(below_start) as u64;
            seen.again = span
                .saturating_sub(filled.reordered)
                .saturating_sub(filled.repaired);
            seen.again_end = filled.again_end;
        }
        if end > self.high {
            seen.new = end.saturating_sub(self.high.max(start)) as u64;
            self.high = end;
            // Keep positions near the stream's head (a stream may wrap).
            self.unwrapper.advance_to(end as u64);
        }
        self.advanced = self.high.saturating_sub(self.base).max(0) as u64;
        if seen.again == 0 && seen.reordered == 0 && seen.repaired == 0 {
            return seen;
        }
        let c = &mut self.losses().counts;
        if seen.again > 0 {
            c.retransmitted_segments = c.retransmitted_segments.saturating_add(1);
            c.retransmitted_octets = c.retransmitted_octets.saturating_add(seen.again);
        }
        if seen.reordered > 0 {
            c.reordered_segments = c.reordered_segments.saturating_add(1);
            c.reordered_octets = c.reordered_octets.saturating_add(seen.reordered);
        }
        if seen.repaired > 0 {
            c.repaired_segments = c.repaired_segments.saturating_add(1);
            c.repaired_octets = c.repaired_octets.saturating_add(seen.repaired);
        }
        seen
    }

    fn open_hole(&mut self, start: i64, end: i64, ts_ns: i64, tsval: Option<u32>) {
        let l = self.losses();
        if l.holes.len() >= MAX_HOLES {
            // The oldest (lowest) hole goes; its octets count as never seen.
            let h = l.holes.remove(0);
            let n = h.end.saturating_sub(h.start).max(0) as u64;
            l.counts.evicted_octets = l.counts.evicted_octets.saturating_add(n);
        }
        l.holes.push(Hole {
            start,
            end,
            opened_ns: ts_ns,
            tsval,
        });
    }

    /// Fill [start, end) (below the highest octet) from the holes.
    fn fill(
        &mut self,
        start: i64,
        end: i64,
        ts_ns: i64,
        tsval: Option<u32>,
        reorder_window_ns: i64,
    ) -> Filled {
        let (mut reordered, mut repaired) = (0u64, 0u64);
        let Some(l) = self.losses.as_deref_mut().filter(|l| !l.holes.is_empty()) else {
            return Filled {
                reordered: 0,
                repaired: 0,
                again_end: end,
            };
        };
        let mut kept = Vec::with_capacity(l.holes.len().saturating_add(1));
        // The filled pieces: disjoint, as the holes are.
        let mut pieces: Vec<(i64, i64)> = Vec::new();
        for hole in l.holes.drain(..) {
            let (lo, hi) = (start.max(hole.start), end.min(hole.end));
            if lo >= hi {
                kept.push(hole);
                continue;
            }
            pieces.push((lo, hi));
            let octets = hi.saturating_sub(lo) as u64;
            // A TSval newer than the opener's says the filling segment was
            // sent later; an older one, earlier. An equal one says nothing
            // (both fell in one tick of the sender's clock: 1 ms for Linux,
            // longer than a LAN's round trip), so the capture times decide
            // as without timestamps.
            let sent_later = match (tsval, hole.tsval) {
                (Some(now), Some(then)) if now != then => crate::tcpseq::seq_lt(then, now),
                _ => ts_ns.saturating_sub(hole.opened_ns) > reorder_window_ns,
            };
            if sent_later {
                repaired = repaired.saturating_add(octets);
            } else {
                reordered = reordered.saturating_add(octets);
            }
            // What is left of the hole: below lo, above hi.
            if hole.start < lo {
                kept.push(Hole { end: lo, ..hole });
            }
            if hi < hole.end {
                kept.push(Hole { start: hi, ..hole });
            }
        }
        l.holes = kept;
        // Where the octets that passed before end: below the filled pieces
        // at the top of [start, end).
        let mut again_end = end;
        while let Some(&(lo, _)) = pieces.iter().find(|&&(_, hi)| hi == again_end) {
            again_end = lo;
        }
        Filled {
            reordered,
            repaired,
            again_end,
        }
    }

    /// Zero the counters (an active-timeout continuation); the state
    /// stays, and `advanced` counts from the highest octet now.
    pub fn reset_counts(&mut self) {
        if let Some(l) = self.losses.as_deref_mut() {
            l.counts = SeqCounts::default();
        }
        self.advanced = 0;
        self.base = self.high;
        // Holes below the new start stay open: octets filling them later
        // are counted in the record where they pass, and those never
        // filled in the connection's last record
        // ([`SeqSpace::never_seen_in_record`]).
    }
}
