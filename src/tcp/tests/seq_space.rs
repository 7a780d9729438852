//! The sequence space ([`crate::tcp::seq`]) where its anchor, its records
//! and its clocks matter: a first data segment lost before the OP, data on
//! a SYN, holes across active-timeout continuations, repairs within one
//! tick of the sender's timestamp clock, ACKs of a direction the OP never
//! sees. Every expected value is worked out here, in the comments, from
//! the segments as written and the definitions of `docs/tcp-metrics.md`,
//! not read off the analysis.

use super::{open, seg, with_ts, C, S};
use crate::packet::{ACK, FIN, SYN};
use crate::tcp::{Conn, Q_CAPTURE_GAP};

/// Client ISN 1000 (anchor, position 0, is number 1001), server ISN 5000:
/// the handshake of [`open`] (a 12 ms round trip: fills within 6 ms of a
/// hole's opening are reordering).
fn lost_first_segment(repair: bool) -> Conn {
    let mut c = open(1000, 5000);
    // [0, 1000) is lost before the OP; [1000, 2000) and [2000, 3000) pass.
    c.segment(C, &seg(20.0, 2001, 5001, ACK, 1000));
    c.segment(C, &seg(21.0, 3001, 5001, ACK, 1000));
    if repair {
        // The sender's retransmission of [0, 1000), 130 ms later.
        c.segment(C, &seg(150.0, 1001, 5001, ACK, 1000));
    }
    // The first ACK of the client's data.
    c.segment(S, &seg(170.0, 5001, 4001, ACK, 0));
    c
}

#[test]
fn a_first_data_segment_lost_before_the_op_is_a_hole_from_the_anchor() {
    // Positions count from the anchor, the octet after the SYN (position
    // 0, sequence number 1001). The first segment seen starts at 1000,
    // past the next expected position 0: it opens the hole [0, 1000), a
    // jump of 1000 octets. The repair at 150 ms fills it 130 ms after the
    // opening, later than half the 12 ms round trip: repaired upstream
    // loss, 1 segment, 1000 octets. tcpSequenceCount: from the anchor to
    // one past the highest octet, 3000. Upstream loss = repaired + never
    // seen = 1000 + 0. Loss indications: the jump (20 ms) only; the repair
    // re-sends no octet the OP saw: 1 event.
    let c = lost_first_segment(true);
    let d = &c.dir[C];
    let s = d.seq.counts();
    assert_eq!((s.advanced, s.jumps, s.max_jump), (3000, 1, 1000));
    assert_eq!((s.repaired_segments, s.repaired_octets), (1, 1000));
    assert_eq!((s.reordered_segments, s.retransmitted_segments), (0, 0));
    assert_eq!(d.seq.never_seen(), 0);
    assert_eq!(d.losses().loss_events, 1);
    // The initial window: from the anchor to the end of the last segment
    // sent before the first ACK of data (170 ms): 3000 octets.
    assert_eq!(d.initial_window(), Some(3000));
}

#[test]
fn a_first_data_segment_never_repaired_is_never_seen() {
    // As above without the repair: the hole [0, 1000) stays open, 1000
    // octets never seen (tcpSequenceLossCount; upstream loss 1000), and
    // the server's ACK of 3000 is not past the highest octet seen.
    let c = lost_first_segment(false);
    let d = &c.dir[C];
    assert_eq!(d.seq.never_seen(), 1000);
    assert_eq!(d.seq.counts().repaired_octets, 0);
    assert_eq!(c.dir[S].losses().acked_unseen, 0);
    assert_ne!(c.quality() & Q_CAPTURE_GAP, 0);
}

#[test]
fn data_on_a_syn_follows_the_syns_own_number() {
    // TCP Fast Open (RFC 7413): the SYN (ISN 1000) carries 100 octets.
    // The SYN occupies number 1000 and no octet; its data is numbers
    // 1001-1100, positions [0, 100). The next segment is [100, 1100)
    // (number 1101): no hole, no jump, no octet seen twice. The SYN/ACK
    // acknowledges 1101 (position 100) and the server's ACK 2101
    // (position 1100): neither is past what the OP saw.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 1000, 0, SYN, 100));
    c.segment(S, &seg(10.0, 5000, 1101, SYN | ACK, 0));
    c.segment(C, &seg(12.0, 1101, 5001, ACK, 1000));
    c.segment(S, &seg(30.0, 5001, 2101, ACK, 0));
    // The FIN after it: number 2101, position 1100, acknowledged by 2102.
    c.segment(C, &seg(31.0, 2101, 5001, ACK | FIN, 0));
    c.segment(S, &seg(40.0, 5001, 2102, ACK, 0));
    let d = &c.dir[C];
    let s = d.seq.counts();
    assert_eq!(
        (s.advanced, s.jumps, s.retransmitted_segments),
        (1100, 0, 0)
    );
    assert_eq!(d.seq.never_seen(), 0);
    assert_eq!(d.losses().loss_events, 0);
    assert_eq!(c.dir[S].losses().acked_unseen, 0);
    assert_eq!(c.quality() & Q_CAPTURE_GAP, 0);
    // The SYN's data and the first segment were sent before the first ACK
    // of data (the SYN/ACK's acknowledgment of the SYN's data, 10 ms).
    assert_eq!(d.initial_window(), Some(100));
}

#[test]
fn a_syn_with_data_sent_again_is_one_retransmitted_segment() {
    // The same SYN and its 100 octets sent twice: one segment carrying
    // 100 octets already seen (kernel TcpRetransSegs counts it once).
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 1000, 0, SYN, 100));
    c.segment(C, &seg(1000.0, 1000, 0, SYN, 100));
    let s = c.dir[C].seq.counts();
    assert_eq!((s.retransmitted_segments, s.retransmitted_octets), (1, 100));
    assert_eq!(s.advanced, 100);
}

/// A connection with the hole [100, 200) (opened at 21 ms), its record
/// ending on the active timeout after 21 ms, and the continuation that
/// follows: `repair_at` fills the hole there (or nothing does).
/// `(record 1's, record 2's)` tcpSequenceLossCount and repaired octets.
fn across_a_continuation(repair_at: Option<f64>) -> [(u64, u64); 2] {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 201, 1, ACK, 100));
    let first = (
        c.dir[C].seq.never_seen_in_record(true),
        c.dir[C].seq.counts().repaired_octets,
    );
    c.reset_counts();
    c.segment(C, &seg(1000.0, 301, 1, ACK, 100));
    if let Some(t) = repair_at {
        c.segment(C, &seg(t, 101, 1, ACK, 100));
    }
    let last = (
        c.dir[C].seq.never_seen_in_record(false),
        c.dir[C].seq.counts().repaired_octets,
    );
    [first, last]
}

#[test]
fn continuations_count_a_hole_once() {
    // One record of the whole connection: the hole [100, 200) never
    // filled is 100 octets never seen; filled at 1100 ms (1079 ms after
    // its opening, past half the 12 ms round trip), 100 repaired and 0
    // never seen. Split at an active timeout, the records must add up to
    // the same: the first record (its hole still open, the connection
    // going on) counts nothing of it, the last counts it as it ends.
    assert_eq!(across_a_continuation(None), [(0, 0), (100, 0)]);
    assert_eq!(across_a_continuation(Some(1100.0)), [(0, 0), (0, 100)]);
}

#[test]
fn equal_tsvals_leave_the_fill_to_the_capture_times() {
    // A LAN: the handshake's halves are 0.1 ms each, so the reordering
    // window is half the 0.2 ms round trip. The sender's clock ticks in
    // ms: the segment that opens the hole [100, 200) and the repair 0.5 ms
    // later carry the same TSval 110, which cannot say which was sent
    // first; 0.5 ms is past the window: repaired, not reordered.
    let mut c = Conn::default();
    c.segment(C, &with_ts(seg(0.0, 0, 0, SYN, 0), 100, 0));
    c.segment(S, &with_ts(seg(0.1, 0, 1, SYN | ACK, 0), 7, 100));
    c.segment(C, &with_ts(seg(0.2, 1, 1, ACK, 0), 100, 7));
    c.segment(C, &with_ts(seg(10.0, 1, 1, ACK, 100), 110, 7));
    c.segment(C, &with_ts(seg(10.02, 201, 1, ACK, 100), 110, 7));
    c.segment(C, &with_ts(seg(10.52, 101, 1, ACK, 100), 110, 17));
    let s = c.dir[C].seq.counts();
    assert_eq!((s.repaired_segments, s.reordered_segments), (1, 0));
    // The same repair 0.05 ms after the opening, within the window:
    // reordered.
    let mut c = Conn::default();
    c.segment(C, &with_ts(seg(0.0, 0, 0, SYN, 0), 100, 0));
    c.segment(S, &with_ts(seg(0.1, 0, 1, SYN | ACK, 0), 7, 100));
    c.segment(C, &with_ts(seg(0.2, 1, 1, ACK, 0), 100, 7));
    c.segment(C, &with_ts(seg(10.0, 1, 1, ACK, 100), 110, 7));
    c.segment(C, &with_ts(seg(10.02, 201, 1, ACK, 100), 110, 7));
    c.segment(C, &with_ts(seg(10.07, 101, 1, ACK, 100), 110, 17));
    let s = c.dir[C].seq.counts();
    assert_eq!((s.repaired_segments, s.reordered_segments), (0, 1));
}

#[test]
fn acks_of_a_direction_the_op_never_sees_run_past_half_the_space() {
    // The client's data goes around the OP: only its SYN (ISN 1000,
    // anchor 1001) passes, then the server's ACKs, each 2^29 octets past
    // the last (k * 2^29 past the anchor, k = 1..7). Each acknowledges
    // past what the OP saw the client send (the octet after its SYN,
    // position 0): 7 ACKs of unseen data, the largest excess 7 * 2^29
    // octets, past 2^31.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 1000, 0, SYN, 0));
    c.segment(S, &seg(10.0, 5000, 1001, SYN | ACK, 0));
    for k in 1..=7u32 {
        let ack = 1001u32.wrapping_add(k << 29);
        c.segment(S, &seg(100.0 * f64::from(k), 5001, ack, ACK, 0));
    }
    assert_eq!(c.dir[S].losses().acked_unseen, 7);
    assert_eq!(c.dir[C].losses().acked_unseen_octets, 7 << 29);
    assert_eq!(c.dir[C].rtt.seq_ack.count, 0);
}

#[test]
fn a_fin_past_the_next_expected_position_opens_a_gap() {
    // docs/tcp-metrics.md: a segment that starts past the next expected
    // position opens a gap, a FIN without data included. Server ISN 5000
    // (anchor, position 0, is number 5001). Its first segment seen is a
    // FIN at 5081 without data: the 80 octets [0, 80) before it were sent
    // and not seen, a jump of 80 octets and a loss indication; the data
    // space runs from the anchor to the FIN, tcpSequenceCount 80. The
    // sender's data [0, 80) arrives 100 ms later (past half the 12 ms
    // round trip): repaired upstream loss, nothing left never seen.
    let mut c = open(1000, 5000);
    c.segment(S, &seg(20.0, 5081, 1001, FIN | ACK, 0));
    {
        let d = &c.dir[S];
        let s = d.seq.counts();
        assert_eq!((s.advanced, s.jumps, s.max_jump), (80, 1, 80));
        assert_eq!(d.seq.never_seen(), 80);
        assert_eq!(d.losses().loss_events, 1);
    }
    c.segment(S, &seg(120.0, 5001, 1001, ACK, 80));
    let d = &c.dir[S];
    let s = d.seq.counts();
    assert_eq!((s.repaired_segments, s.repaired_octets), (1, 80));
    assert_eq!((s.retransmitted_segments, s.reordered_segments), (0, 0));
    assert_eq!(d.seq.never_seen(), 0);
    // The FIN is not taken for sent again when it comes again: the data
    // before it does not move it.
    c.segment(S, &seg(130.0, 5081, 1001, FIN | ACK, 0));
    assert_eq!(c.dir[S].seq.counts().retransmitted_segments, 1);
}

#[test]
fn a_fin_at_the_next_expected_position_opens_no_gap() {
    // The same FIN where the next expected position is (after [0, 80)
    // seen): no jump, no loss indication.
    let mut c = open(1000, 5000);
    c.segment(S, &seg(20.0, 5001, 1001, ACK, 80));
    c.segment(S, &seg(21.0, 5081, 1001, FIN | ACK, 0));
    let d = &c.dir[S];
    assert_eq!(d.seq.counts().jumps, 0);
    assert_eq!(d.seq.never_seen(), 0);
    assert_eq!(d.losses().loss_events, 0);
}
