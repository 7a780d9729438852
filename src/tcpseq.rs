//! TCP sequence-number arithmetic, shared by everything that follows a TCP
//! byte stream (IPFIX over TCP in captures, TCP performance analysis).
//!
//! RFC 9293 §3.4: every octet of a connection's data has a 32-bit sequence
//! number, counted from the initial sequence number (ISN) and "modulo
//! 2**32", so comparisons must be made in that arithmetic. RFC 1982 §3.2
//! defines it (serial number arithmetic, SERIAL_BITS = 32): `a < b` when
//! `b` is less than 2^31 ahead of `a` on the circle; numbers exactly 2^31
//! apart are left undefined. Here, as in the Linux kernel's `before()`,
//! `a < b` iff `(a - b) mod 2^32`, read as a signed 32-bit integer, is
//! negative: for numbers exactly 2^31 apart both `a < b` and `b < a` hold.
//!
//! A stream position is the 64-bit count of octets from the ISN, which does
//! not wrap in any real capture; [`Unwrapper`] turns sequence numbers into
//! positions by reading each as the nearest one (within 2^31 either side)
//! to a reference it moves along the stream. Positions are kept modulo
//! 2^64 so that data before the ISN (a retransmission of bytes sent before
//! the capture started) still has one: it wraps below zero and compares as
//! behind through [`pos_diff`], as sequence numbers do. [`classify`] says
//! where a segment lies relative to the next octet expected.

/// `a - b` in sequence space (RFC 1982 §3.2): positive when `a` is after
/// `b`, negative when before; `i32::MIN` when they are exactly 2^31 apart.
pub fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// `a < b` in sequence space (RFC 9293 §3.4, RFC 1982 §3.2).
pub fn seq_lt(a: u32, b: u32) -> bool {
    seq_diff(a, b) < 0
}

/// `a <= b` in sequence space (RFC 9293 §3.4, RFC 1982 §3.2).
pub fn seq_le(a: u32, b: u32) -> bool {
    seq_diff(a, b) <= 0
}

/// `a - b` for stream positions, which are modulo 2^64 like the sequence
/// numbers they come from: positive when `a` is after `b`.
pub fn pos_diff(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

/// Sequence numbers to stream positions: position 0 is the ISN (for a
/// connection whose SYN was seen, the SYN's number + 1, the first data
/// octet; RFC 9293 §3.4), and each number is read as the position nearest
/// a reference (within 2^31 either side), so a stream may wrap the 32-bit
/// space any number of times as long as the reference follows it
/// ([`Unwrapper::advance_to`] or [`Unwrapper::observe`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unwrapper {
    /// The reference: sequence number `seq` is at position `pos`.
    seq: u32,
    pos: u64,
}

impl Unwrapper {
    /// Sequence number `isn` is position 0.
    pub fn new(isn: u32) -> Self {
        Unwrapper { seq: isn, pos: 0 }
    }

    /// The position of `seq`: the one nearest the reference. A number
    /// behind the reference (a retransmission) gets a smaller position; one
    /// before the ISN wraps below 0 (compare with [`pos_diff`]).
    pub fn position(&self, seq: u32) -> u64 {
        self.pos
            .wrapping_add(i64::from(seq_diff(seq, self.seq)) as u64)
    }

    /// The sequence number of position `pos`.
    pub fn seq_at(&self, pos: u64) -> u32 {
        // Truncation is the reduction modulo 2^32 (RFC 9293 §3.4).
        self.seq.wrapping_add(pos.wrapping_sub(self.pos) as u32)
    }

    /// Move the reference to `pos` (typically the next octet expected):
    /// later numbers are read within 2^31 of it. Positions do not change.
    pub fn advance_to(&mut self, pos: u64) {
        self.seq = self.seq_at(pos);
        self.pos = pos;
    }

    /// The position of `seq`, moving the reference to it when it is ahead
    /// of the reference (the furthest number seen): for callers that see
    /// every segment of a connection and keep no "next expected" of their
    /// own. Old numbers do not move the reference back.
    pub fn observe(&mut self, seq: u32) -> u64 {
        let pos = self.position(seq);
        if pos_diff(pos, self.pos) > 0 {
            self.advance_to(pos);
        }
        pos
    }
}

/// Where a segment's octets lie relative to the next octet expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Nothing new: the segment ends at or before the next octet expected
    /// (an empty segment there too).
    Retransmitted,
    /// Starts before the next octet expected and ends after it: its first
    /// `seen` octets were received already, the rest are new.
    Overlap { seen: u64 },
    /// Starts exactly at the next octet expected.
    New,
    /// Starts after the next octet expected: `gap` octets are missing
    /// before it (not received yet, or lost).
    Ahead { gap: u64 },
}

/// Classify the segment of `len` octets at position `start` against
/// `next`, the position of the next octet expected (RFC 9293 §3.4's
/// acceptability reasoning, on positions instead of sequence numbers).
pub fn classify(start: u64, len: u64, next: u64) -> Placement {
    let end = start.wrapping_add(len);
    if pos_diff(end, next) <= 0 {
        return Placement::Retransmitted;
    }
    let behind = pos_diff(next, start);
    match behind.cmp(&0) {
        // 0 < behind < len here (end is past next).
        std::cmp::Ordering::Greater => Placement::Overlap {
            seen: behind as u64,
        },
        std::cmp::Ordering::Equal => Placement::New,
        std::cmp::Ordering::Less => Placement::Ahead {
            gap: start.wrapping_sub(next),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: u32 = 1 << 31;

    #[test]
    fn serial_comparisons_follow_rfc_1982() {
        assert!(seq_lt(1, 2) && !seq_lt(2, 1) && !seq_lt(5, 5));
        assert!(seq_le(5, 5) && seq_le(1, 2) && !seq_le(2, 1));
        // Across the wrap: 0xFFFF_FFF0 is 32 before 0x10.
        assert_eq!(seq_diff(0x10, 0xFFFF_FFF0), 32);
        assert_eq!(seq_diff(0xFFFF_FFF0, 0x10), -32);
        assert!(seq_lt(0xFFFF_FFF0, 0x10) && !seq_lt(0x10, 0xFFFF_FFF0));
        // RFC 1982 §3.2: i1 < i2 when i2 is less than 2^31 ahead.
        assert!(seq_lt(0, HALF - 1) && !seq_lt(HALF - 1, 0));
        // 2^31 + 1 "ahead" is 2^31 - 1 behind.
        assert!(!seq_lt(0, HALF + 1) && seq_lt(HALF + 1, 0));
        assert_eq!(seq_diff(0, HALF + 1), i32::MAX);
        // Exactly 2^31 apart (undefined in RFC 1982): each is before the other.
        assert_eq!(seq_diff(0, HALF), i32::MIN);
        assert!(seq_lt(0, HALF) && seq_lt(HALF, 0));
    }

    #[test]
    fn positions_count_octets_from_an_isn_near_the_wrap() {
        // ISN 2^32 - 16: 16 octets before the sequence space wraps.
        let u = Unwrapper::new(0xFFFF_FFF0);
        assert_eq!(u.position(0xFFFF_FFF0), 0);
        assert_eq!(u.position(0xFFFF_FFFF), 15);
        assert_eq!(u.position(0), 16);
        assert_eq!(u.position(0x10), 32);
        assert_eq!(u.seq_at(16), 0);
        // From the reference at 0: 2^31 - 1 ahead is read as ahead...
        assert_eq!(u.position(0x7FFF_FFEF), (1 << 31) - 1);
        // ...and 2^31 ahead as 2^31 behind, i.e. before the ISN.
        assert_eq!(u.position(0x7FFF_FFF0), 0u64.wrapping_sub(1 << 31));
    }

    #[test]
    fn a_reference_that_follows_the_stream_unwraps_every_lap() {
        let isn = 0xFFFF_FFF0;
        let mut u = Unwrapper::new(isn);
        // Steps of 2^30 octets: seq_at(k * 2^30) = isn + k * 2^30 mod 2^32,
        // a lap every 4 steps.
        for k in 1..=10u64 {
            let seq = isn.wrapping_add((k as u32).wrapping_mul(1 << 30));
            assert_eq!(u.position(seq), k << 30, "step {k}");
            u.advance_to(k << 30);
            assert_eq!(u.seq_at(k << 30), seq);
        }
        // The reference is at 10 * 2^30 (2.5 laps), sequence number
        // isn + 2^31. isn + 1 is 2^31 - 1 behind it: two laps on, 2 * 2^32
        // + 1. isn itself is exactly 2^31 away and reads as behind, as in
        // seq_diff: 2 * 2^32.
        assert_eq!(u.position(isn.wrapping_add(1)), (2u64 << 32) + 1);
        assert_eq!(u.position(isn), 2u64 << 32);
        // An old segment 1000 octets behind the reference.
        let old = isn.wrapping_add(0x8000_0000).wrapping_sub(1000);
        assert_eq!(u.position(old), (10u64 << 30) - 1000);
    }

    #[test]
    fn observe_moves_the_reference_forward_only() {
        let isn = 0xFFFF_FF00; // 256 octets before the wrap
        let mut u = Unwrapper::new(isn);
        assert_eq!(u.observe(isn.wrapping_add(100)), 100);
        // 0x10 is 256 + 16 octets after the ISN.
        assert_eq!(u.observe(0x10), 272);
        // A retransmission behind: its position, the reference stays.
        assert_eq!(u.observe(isn.wrapping_add(50)), 50);
        assert_eq!(u.seq_at(272), 0x10);
        assert_eq!(u, {
            let mut v = Unwrapper::new(isn);
            v.advance_to(272);
            v
        });
        // Data before the ISN wraps below position 0.
        assert_eq!(pos_diff(u.observe(isn.wrapping_sub(1)), 0), -1);
        // Steps of 2^31 - 1 (just under half the space) never lose count.
        let mut u = Unwrapper::new(0);
        let step = u64::from(HALF - 1);
        for k in 1..=6u64 {
            let seq = (k * step) as u32; // modulo 2^32
            assert_eq!(u.observe(seq), k * step, "step {k}");
        }
    }

    #[test]
    fn segments_against_the_next_octet_expected() {
        let next = 100;
        // [40, 100) and [40, 90): all seen.
        assert_eq!(classify(40, 60, next), Placement::Retransmitted);
        assert_eq!(classify(40, 50, next), Placement::Retransmitted);
        // An empty segment at next brings nothing either.
        assert_eq!(classify(100, 0, next), Placement::Retransmitted);
        // [90, 110): 10 octets seen, 10 new.
        assert_eq!(classify(90, 20, next), Placement::Overlap { seen: 10 });
        assert_eq!(classify(100, 20, next), Placement::New);
        // [130, 150): octets 100..130 missing.
        assert_eq!(classify(130, 20, next), Placement::Ahead { gap: 30 });
        assert_eq!(classify(101, 1, next), Placement::Ahead { gap: 1 });
    }

    #[test]
    fn segments_before_position_zero_and_across_the_wrap() {
        // Starting 10 octets before the ISN (position -10), next at 5.
        let start = 0u64.wrapping_sub(10);
        assert_eq!(classify(start, 20, 5), Placement::Overlap { seen: 15 });
        assert_eq!(classify(start, 15, 5), Placement::Retransmitted);
        // Through an Unwrapper whose ISN is 16 below the wrap, with octets
        // up to sequence number 0 (position 16) received: a segment from
        // 0xFFFF_FFF8 (position 8) of 16 octets has 8 old, 8 new.
        let u = Unwrapper::new(0xFFFF_FFF0);
        let next = u.position(0);
        assert_eq!(next, 16);
        assert_eq!(
            classify(u.position(0xFFFF_FFF8), 16, next),
            Placement::Overlap { seen: 8 }
        );
        // One from 0x20 (position 48): 32 octets missing before it.
        assert_eq!(
            classify(u.position(0x20), 4, next),
            Placement::Ahead { gap: 32 }
        );
        // An old one from before the wrap, wholly below next.
        assert_eq!(
            classify(u.position(0xFFFF_FFF0), 16, next),
            Placement::Retransmitted
        );
    }
}
