//! Retransmissions by class ([`crate::tcp::rtx::RtxClasses`]) on hand-made
//! connections: data, FINs and SYNs sent again, with and without SACK, with
//! the other side silent or not. Every expected class is worked out from
//! the segments as written here and the definitions, not read off the
//! analysis.

use super::{seg, with_sack, C, MS, S};
use crate::packet::{ACK, FIN, SYN};
use crate::tcp::rtx::RtxClasses;
use crate::tcp::{series, Conn};

#[test]
fn a_retransmitted_syn_gives_no_handshake_sample_and_counts() {
    // Karn: which SYN did the SYN/ACK answer? None is taken.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 1000, 0, SYN, 0));
    c.segment(C, &seg(1000.0, 1000, 0, SYN, 0));
    c.segment(S, &seg(1010.0, 5000, 1001, SYN | ACK, 0));
    c.segment(C, &seg(1012.0, 1001, 5001, ACK, 0));
    assert_eq!(c.hs.syn_to_synack.get(), None);
    assert_eq!(c.hs.synack_to_ack.get(), Some(2 * MS));
    assert_eq!(c.dir[C].seq.counts().retransmitted_segments, 1);
    // SYNs carry no data octets.
    assert_eq!(c.dir[C].seq.counts().retransmitted_octets, 0);
    // Only the SYN's timer sends it again (RFC 6298 §5 on the SYN; Linux
    // counts it in TCPTimeouts): a timeout, so the classes add up.
    let timeout = probes_and_timeouts(0, 1);
    assert_eq!(c.dir[C].losses().rtx, timeout);
}

/// Retransmission classes with only tail-loss probes and timeouts.
fn probes_and_timeouts(tail_loss_probe: u32, timeout: u32) -> RtxClasses {
    RtxClasses {
        tail_loss_probe,
        timeout,
        ..Default::default()
    }
}

/// A handshake as [`super::open`]'s, both SYNs offering SACK or neither.
fn open_sack(sack: bool) -> Conn {
    let mut c = Conn::default();
    let mut syn = seg(0.0, 0, 0, SYN, 0);
    let mut synack = seg(10.0, 0, 1, SYN | ACK, 0);
    syn.options.sack_permitted = sack;
    synack.options.sack_permitted = sack;
    c.segment(C, &syn);
    c.segment(S, &synack);
    c.segment(C, &seg(12.0, 1, 1, ACK, 0));
    c
}

/// The client sends [0, 100) and [100, 200) then its FIN (position 200),
/// the server acknowledges the data at 32 ms; then nothing comes back.
fn data_then_fin(sack: bool) -> Conn {
    let mut c = open_sack(sack);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 101, 1, ACK, 100));
    c.segment(S, &seg(32.0, 1, 201, ACK, 0));
    c.segment(C, &seg(33.0, 201, 1, ACK | FIN, 0));
    c
}

#[test]
fn a_fin_sent_again_after_a_silence_is_a_timeout_without_sack() {
    // RTT 12 ms; the server is silent from 32 ms. 200 ms later the FIN
    // goes again: past the silence (its half 10 ms + 1.5 x 12 ms), the
    // highest segment, but SACK is off: no probe, the timer sent it.
    let mut c = data_then_fin(false);
    c.segment(C, &seg(240.0, 201, 1, ACK | FIN, 0));
    let want = probes_and_timeouts(0, 1);
    assert_eq!(c.dir[C].losses().rtx, want);
    assert_eq!(c.dir[C].seq.counts().retransmitted_segments, 1);
    // A FIN's loss is a loss indication as a segment's is.
    assert_eq!(c.dir[C].losses().loss_events, 1);
    // Its packet's events: a retransmission, a timeout.
    let ob = c.segment(C, &seg(700.0, 201, 1, ACK | FIN, 0));
    assert_eq!(
        ob.events,
        series::event::RETRANSMISSION | series::event::TIMEOUT
    );
}

#[test]
fn the_other_sides_fin_sent_again_does_not_break_a_silence() {
    // Beside the server of a real close (s05): the server's FIN at 40 ms
    // is lost beyond the OP; at 240 ms the client sends its own FIN again
    // (same acknowledgment: no news of the server's data), the server
    // answers with an ACK of it, and 10 ms later its timer sends its FIN
    // again: a timeout, though the client was heard 10 ms before.
    let mut c = open_sack(false);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(S, &seg(30.0, 1, 101, ACK, 0));
    c.segment(C, &seg(31.0, 101, 1, ACK | FIN, 0));
    c.segment(S, &seg(40.0, 1, 102, ACK | FIN, 0));
    c.segment(C, &seg(240.0, 101, 1, ACK | FIN, 0));
    c.segment(S, &seg(240.1, 2, 102, ACK, 0));
    c.segment(S, &seg(250.0, 1, 102, ACK | FIN, 0));
    let want = probes_and_timeouts(0, 1);
    assert_eq!(c.dir[S].losses().rtx, want);
    // The client's FIN was acknowledged before it went again: spurious
    // here (the acknowledgment was lost beyond the OP).
    assert_eq!(c.dir[C].losses().rtx.spurious, 1);
}

#[test]
fn a_fin_sent_again_is_classified_where_no_syn_nor_data_came_before() {
    // A capture starting at the close: the client's FIN three times, the
    // server silent. Nothing anchored the space but the FIN. No round trip
    // known and no duplicate ACKs: sent after a silence; SACK not known to
    // be off (no SYN seen), so the first is a tail-loss probe, the second
    // a timeout.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 7000, 900, ACK | FIN, 0));
    c.segment(C, &seg(300.0, 7000, 900, ACK | FIN, 0));
    c.segment(C, &seg(900.0, 7000, 900, ACK | FIN, 0));
    assert_eq!(c.dir[C].seq.counts().retransmitted_segments, 2);
    let want = probes_and_timeouts(1, 1);
    assert_eq!(c.dir[C].losses().rtx, want);
    // The server's ACK of the FIN (7000 + 1) acknowledges nothing unseen.
    c.segment(S, &seg(910.0, 900, 7001, ACK, 0));
    assert_eq!(c.dir[S].losses().acked_unseen, 0);
    // One past it would be.
    c.segment(S, &seg(920.0, 900, 7002, ACK, 0));
    assert_eq!(c.dir[S].losses().acked_unseen, 1);
}

#[test]
fn a_fin_sent_again_after_a_silence_is_a_loss_probe_with_sack() {
    let mut c = data_then_fin(true);
    c.segment(C, &seg(60.0, 201, 1, ACK | FIN, 0));
    let want = probes_and_timeouts(1, 0);
    assert_eq!(c.dir[C].losses().rtx, want);
    // The probe unanswered, the timer sends it once more: a timeout.
    c.segment(C, &seg(300.0, 201, 1, ACK | FIN, 0));
    assert_eq!(c.dir[C].losses().rtx.timeout, 1);
    // Acknowledged, then sent again: spurious.
    c.segment(S, &seg(310.0, 1, 202, ACK, 0));
    c.segment(C, &seg(320.0, 201, 1, ACK | FIN, 0));
    assert_eq!(c.dir[C].losses().rtx.spurious, 1);
    let r = c.dir[C].losses().rtx;
    let classes = r.spurious + r.fast + r.tail_loss_probe + r.timeout;
    assert_eq!(classes, c.dir[C].seq.counts().retransmitted_segments);
}

#[test]
fn the_highest_segment_sent_again_after_a_silence_needs_sack_to_be_a_probe() {
    for (sack, probe, timeout) in [(true, 1, 0), (false, 0, 1)] {
        let mut c = open_sack(sack);
        c.segment(C, &seg(20.0, 1, 1, ACK, 100));
        c.segment(C, &seg(21.0, 101, 1, ACK, 100));
        c.segment(S, &seg(32.0, 1, 101, ACK, 0));
        // [100, 200) re-sent 40 ms after the last ACK (silence: 10 +
        // 18 ms).
        c.segment(C, &seg(72.0, 101, 1, ACK, 100));
        let r = c.dir[C].losses().rtx;
        assert_eq!(
            (r.tail_loss_probe, r.timeout),
            (probe, timeout),
            "sack {sack}"
        );
    }
}

/// SACK on, RTT 12 ms: the client's request [0, 100) at 20 ms is lost
/// beyond the OP and, the server silent, sent again at 240 ms as the
/// highest segment: a tail-loss probe, its episode ending past 100. The
/// server acknowledges 100 at 252 ms: the probe's end, not past it.
fn probed_then_acked_at_its_end() -> Conn {
    let mut c = open_sack(true);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(240.0, 1, 1, ACK, 100));
    assert_eq!(c.dir[C].losses().rtx, probes_and_timeouts(1, 0));
    c.segment(S, &seg(252.0, 1, 101, ACK, 0));
    c
}

#[test]
fn no_probe_while_a_probes_episode_is_open() {
    // Run 5's s14 beside the client: the ACK at the probe's end leaves
    // its episode open (RFC 8985 §7.4; Linux's tlp_high_seq); the FIN
    // then lost and sent again after a silence is the timer's, not a
    // second probe (the client's kernel: 2 probes, 1 timeout over the
    // connection). With the episode ended at any advance it was a probe.
    let mut c = probed_then_acked_at_its_end();
    c.segment(C, &seg(260.0, 101, 1, ACK | FIN, 0));
    c.segment(C, &seg(500.0, 101, 1, ACK | FIN, 0));
    assert_eq!(c.dir[C].losses().rtx, probes_and_timeouts(1, 1));
}

#[test]
fn a_probes_episode_ends_past_its_end_or_at_a_repeated_ack_of_it() {
    // New data acknowledged past the probe's end: the episode is over;
    // the next tail lost and sent again after a silence is a probe.
    let mut c = probed_then_acked_at_its_end();
    c.segment(C, &seg(260.0, 101, 1, ACK, 100));
    c.segment(S, &seg(272.0, 1, 201, ACK, 0));
    c.segment(C, &seg(280.0, 201, 1, ACK, 100));
    c.segment(C, &seg(520.0, 201, 1, ACK, 100));
    assert_eq!(c.dir[C].losses().rtx, probes_and_timeouts(2, 0));
    // The same ACK of the probe's end once more (the original and the
    // probe both arrived): over too.
    let mut c = probed_then_acked_at_its_end();
    c.segment(S, &seg(253.0, 1, 101, ACK, 0));
    c.segment(C, &seg(260.0, 101, 1, ACK | FIN, 0));
    c.segment(C, &seg(500.0, 101, 1, ACK | FIN, 0));
    assert_eq!(c.dir[C].losses().rtx, probes_and_timeouts(2, 0));
}

#[test]
fn a_syn_sent_again_is_a_loss_indication() {
    // A loss indication is a retransmission or a gap (tcpLossEventCount);
    // the SYN sent again at 1 s is a retransmission (TcpRetransSegs counts
    // it): the first loss event.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 1000, 0, SYN, 0));
    c.segment(C, &seg(1000.0, 1000, 0, SYN, 0));
    assert_eq!(c.dir[C].losses().loss_events, 1);
}

#[test]
fn spurious_looks_at_the_resent_octets_only() {
    // [0,100) is acknowledged at 40 ms; at 45 ms one segment re-sends
    // [0,100) and carries the new [100,200). Every re-sent octet was
    // already acknowledged: spurious (the new octets are not re-sent).
    let mut c = open_sack(true);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(S, &seg(40.0, 1, 101, ACK, 0));
    c.segment(C, &seg(45.0, 1, 1, ACK, 200));
    let s = c.dir[C].seq.counts();
    assert_eq!((s.retransmitted_segments, s.retransmitted_octets), (1, 100));
    let spurious = RtxClasses {
        spurious: 1,
        ..Default::default()
    };
    assert_eq!(c.dir[C].losses().rtx, spurious);
    // Re-sending [50,100) (not acknowledged by an ACK of 50) with new
    // octets is not.
    let mut c = open_sack(true);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(S, &seg(40.0, 1, 51, ACK, 0));
    c.segment(C, &seg(45.0, 51, 1, ACK, 150));
    assert_eq!(c.dir[C].losses().rtx.spurious, 0);
}

/// A connection seen from its middle (no SYN): the client sends [0, 400)
/// in four segments of 100 from sequence number 1000 at 0-3 ms, the
/// server acknowledges the first at 10 ms. The server sends no data, so
/// its direction has no RTT sample, and without the handshake there is
/// no round-trip estimate: retransmissions are classed by the server's
/// ACKs since its acknowledgment last advanced.
fn mid_connection() -> Conn {
    let mut c = Conn::default();
    for k in 0..4u32 {
        c.segment(C, &seg(f64::from(k), 1000 + 100 * k, 1, ACK, 100));
    }
    c.segment(S, &seg(10.0, 1, 1100, ACK, 0));
    assert_eq!(c.rtt_estimate(), None);
    c
}

/// The client's classes after it sends [100, 200) again at 14 ms.
fn resent(mut c: Conn) -> RtxClasses {
    c.segment(C, &seg(14.0, 1100, 1, ACK, 100));
    assert_eq!(c.dir[C].seq.counts().retransmitted_segments, 1);
    c.dir[C].losses().rtx
}

const FAST: RtxClasses = RtxClasses {
    fast: 1,
    spurious: 0,
    tail_loss_probe: 0,
    timeout: 0,
};

#[test]
fn without_an_estimate_three_duplicate_acks_make_a_retransmission_fast() {
    let mut three = mid_connection();
    let mut two = mid_connection();
    for t in [11.0, 12.0, 13.0] {
        three.segment(S, &seg(t, 1, 1100, ACK, 0));
    }
    for t in [11.0, 12.0] {
        two.segment(S, &seg(t, 1, 1100, ACK, 0));
    }
    assert_eq!(three.dir[S].win.events().dup_acks, 3);
    assert_eq!(resent(three), FAST);
    // Two are no loss signal: sent after a silence, not the highest
    // segment (that ends at 400): the timer's.
    assert_eq!(resent(two), probes_and_timeouts(0, 1));
}

#[test]
fn without_an_estimate_a_sack_block_since_the_last_advance_makes_it_fast() {
    // A block past the acknowledgment, then an ACK without one that does
    // not advance (a window update): the loss SACK showed still stands.
    let mut c = mid_connection();
    c.segment(S, &with_sack(seg(11.0, 1, 1100, ACK, 0), &[(1200, 1300)]));
    let mut update = seg(12.0, 1, 1100, ACK, 0);
    update.window = 2000;
    c.segment(S, &update);
    assert_eq!(resent(c), FAST);
    // A D-SACK first block (at or below the acknowledgment) followed by
    // a block past it.
    let mut c = mid_connection();
    let blocks = [(1000, 1100), (1200, 1300)];
    c.segment(S, &with_sack(seg(11.0, 1, 1100, ACK, 0), &blocks));
    assert_eq!(resent(c), FAST);
    // An advance since: the block said nothing of what is missing now.
    let mut c = mid_connection();
    c.segment(S, &with_sack(seg(11.0, 1, 1100, ACK, 0), &[(1200, 1300)]));
    c.segment(S, &seg(12.0, 1, 1300, ACK, 0));
    c.segment(C, &seg(14.0, 1300, 1, ACK, 100));
    assert_eq!(c.dir[C].losses().rtx, probes_and_timeouts(1, 0));
}
