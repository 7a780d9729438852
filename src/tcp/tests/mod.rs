//! The analysis on hand-made connections. Every expected value is worked
//! out from the segments as written here (RFC 9293 sequence space, RFC 7323
//! timestamps, RFC 2018/2883 SACK), not read off the analysis.

use super::*;
use crate::packet::PSH;

mod clock;
mod rtt_samples;
mod rtx;
mod seq_space;

pub(super) const MS: i64 = 1_000_000;
pub(super) const C: usize = 0; // the client's key side
pub(super) const S: usize = 1; // the server's

/// A segment at `t_ms` milliseconds.
pub(super) fn seg(t_ms: f64, seq: u32, ack: u32, flags: u8, len: u32) -> Segment {
    Segment {
        ts_ns: (t_ms * 1e6) as i64,
        seq,
        ack,
        flags,
        window: 1000,
        len,
        ecn: 0,
        options: TcpOptions::default(),
    }
}

pub(super) fn with_ts(mut s: Segment, val: u32, ecr: u32) -> Segment {
    s.options.set_timestamps(Some((val, ecr)));
    s
}

pub(super) fn with_sack(mut s: Segment, blocks: &[(u32, u32)]) -> Segment {
    for (i, b) in blocks.iter().enumerate() {
        s.options.sack[i] = *b;
    }
    s.options.sack_count = blocks.len() as u8;
    s.options.sack_sent = blocks.len() as u8;
    s
}

/// A handshake at 0 ms (SYN), 10 ms (SYN/ACK), 12 ms (ACK): client ISN
/// `ci`, server ISN `si`.
pub(super) fn open(ci: u32, si: u32) -> Conn {
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, ci, 0, SYN, 0));
    c.segment(S, &seg(10.0, si, ci.wrapping_add(1), SYN | ACK, 0));
    c.segment(
        C,
        &seg(12.0, ci.wrapping_add(1), si.wrapping_add(1), ACK, 0),
    );
    c
}

#[test]
fn handshake_halves_are_syn_to_synack_and_synack_to_ack() {
    let c = open(1000, 5000);
    assert_eq!(c.hs.syn_to_synack.get(), Some(10 * MS));
    assert_eq!(c.hs.synack_to_ack.get(), Some(2 * MS));
    // The initiator's direction's half is the responder's side of the OP.
    assert_eq!(c.dir[C].rtt.handshake.get(), Some(10 * MS));
    assert_eq!(c.dir[S].rtt.handshake.get(), Some(2 * MS));
    assert_eq!(c.rtt_estimate(), Some(12 * MS));
    assert_eq!(c.quality() & (Q_HANDSHAKE | Q_MID_CONNECTION), Q_HANDSHAKE);
}

#[test]
fn simultaneous_open_has_no_syn_ack_half() {
    // RFC 9293 §3.5 figure 8: both send SYN, then SYN/ACKs cross.
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 100, 0, SYN, 0));
    c.segment(S, &seg(1.0, 300, 0, SYN, 0));
    c.segment(C, &seg(5.0, 100, 301, SYN | ACK, 0));
    c.segment(S, &seg(6.0, 300, 101, SYN | ACK, 0));
    // The first SYN's sender is the initiator; the answering SYN/ACK came
    // from the server 6 ms later.
    assert_eq!(c.hs.syn_to_synack.get(), Some(6 * MS));
    assert!(c.dir.iter().all(|d| d.syn_seen));
    // Data after it is counted from each side's ISN + 1.
    c.segment(C, &seg(10.0, 101, 301, ACK | PSH, 50));
    assert_eq!(c.dir[C].seq.counts().advanced, 50);
}

#[test]
fn sequence_space_wraps_without_a_jump() {
    // ISN 2^32 - 100: the 300 octets wrap the sequence space.
    let isn = u32::MAX - 99;
    let mut c = open(isn, 7);
    let mut seq = isn.wrapping_add(1);
    for k in 0..3 {
        c.segment(C, &seg(20.0 + f64::from(k), seq, 8, ACK, 100));
        seq = seq.wrapping_add(100);
    }
    let s = &c.dir[C].seq.counts();
    assert_eq!((s.advanced, s.jumps, s.retransmitted_segments), (300, 0, 0));
    // The ACK of all 300 (a number past the wrap) times the last segment.
    c.segment(S, &seg(40.0, 8, seq, ACK, 0));
    assert_eq!(c.dir[C].rtt.seq_ack.count, 1);
    assert_eq!(c.dir[C].rtt.seq_ack.min, 18 * MS);
}

#[test]
fn fin_takes_a_sequence_number_but_no_octet() {
    let mut c = open(1000, 5000);
    c.segment(C, &seg(20.0, 1001, 5001, ACK, 100));
    c.segment(C, &seg(21.0, 1101, 5001, ACK | FIN, 0));
    // The server acknowledges the FIN: 1101 + 1.
    c.segment(S, &seg(30.0, 5001, 1102, ACK, 0));
    assert_eq!(c.dir[C].seq.counts().advanced, 100);
    assert_eq!(
        c.dir[C].losses().acked_unseen,
        0,
        "the FIN's number is not unseen data"
    );
    // A FIN sent again is a retransmitted segment of no octets.
    c.segment(C, &seg(230.0, 1101, 5001, ACK | FIN, 0));
    assert_eq!(c.dir[C].seq.counts().retransmitted_segments, 1);
    assert_eq!(c.dir[C].seq.counts().retransmitted_octets, 0);
}

#[test]
fn karn_no_sample_from_an_ack_covering_data_sent_twice() {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100)); // [0, 100)
    c.segment(C, &seg(21.0, 101, 1, ACK, 100)); // [100, 200)
                                                // [0, 100) sent again: any ACK covering it is ambiguous.
    c.segment(C, &seg(250.0, 1, 1, ACK, 100));
    c.segment(S, &seg(260.0, 1, 201, ACK, 0));
    assert_eq!(c.dir[C].rtt.seq_ack.count, 0);
    // A later segment, answered alone, is timed again.
    c.segment(C, &seg(300.0, 201, 1, ACK, 100));
    c.segment(S, &seg(310.0, 1, 301, ACK, 0));
    assert_eq!(c.dir[C].rtt.seq_ack.count, 1);
    assert_eq!(c.dir[C].rtt.seq_ack.min, 10 * MS);
}

#[test]
fn a_sack_block_times_the_segments_it_newly_covers() {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100)); // [0,100): lost after the OP
    c.segment(C, &seg(21.0, 101, 1, ACK, 100)); // [100,200)
    c.segment(C, &seg(22.0, 201, 1, ACK, 100)); // [200,300)
                                                // Duplicate ACKs selectively acknowledging seq 101-301.
    c.segment(S, &with_sack(seg(31.0, 1, 1, ACK, 0), &[(101, 201)]));
    c.segment(S, &with_sack(seg(32.5, 1, 1, ACK, 0), &[(101, 301)]));
    let r = &c.dir[C].rtt;
    // 31 - 21 = 10 ms, then 32.5 - 22 = 10.5 ms.
    assert_eq!(
        (r.seq_ack.count, r.seq_ack.min, r.seq_ack.max),
        (2, 10 * MS, 10_500_000)
    );
    // The SYN/ACK and two ACKs with its number and window: two
    // duplicates (data outstanding), both with SACK past the ACK.
    assert_eq!(c.dir[S].win.events().dup_acks, 2);
    assert_eq!(c.dir[S].win.events().sack_packets, 2);
    // The retransmission that follows is fast.
    c.segment(C, &seg(33.0, 1, 1, ACK, 100));
    assert_eq!(c.dir[C].losses().rtx.fast, 1);
}

#[test]
fn timestamp_echo_matches_the_first_use_of_a_tsval_once() {
    let mut c = open(0, 0);
    c.segment(C, &with_ts(seg(20.0, 1, 1, ACK, 100), 500, 0));
    c.segment(C, &with_ts(seg(20.5, 101, 1, ACK, 100), 500, 0));
    c.segment(C, &with_ts(seg(21.0, 201, 1, ACK, 100), 501, 0));
    // The server echoes 500 (a delayed ACK), then 501.
    c.segment(S, &with_ts(seg(32.0, 1, 201, ACK, 0), 9000, 500));
    c.segment(S, &with_ts(seg(33.0, 1, 301, ACK, 0), 9000, 501));
    // Again 501: already matched.
    c.segment(S, &with_ts(seg(40.0, 1, 301, ACK, 0), 9001, 501));
    let ts = &c.dir[C].rtt.ts;
    assert_eq!((ts.count, ts.min, ts.max), (2, 12 * MS, 12 * MS));
    // A pure ACK's TSval asks for no answer: the client's ACK-only
    // segments are not timed.
    assert_eq!(c.dir[S].rtt.ts.count, 0);
}

#[test]
fn an_echo_of_a_tsval_older_than_ten_seconds_is_no_sample() {
    // docs/tcp-metrics.md: TSvals older than 10 s are forgotten. The
    // client sends [0,100) with TSval 500 at 20 ms; the server, silent
    // since, answers 18 s later echoing 500 (the last TSval it saw): no
    // 18 s "round trip". A segment sent later and echoed 30 ms after is a
    // sample of 30 ms.
    let mut c = open(0, 0);
    c.segment(C, &with_ts(seg(20.0, 1, 1, ACK, 100), 500, 0));
    c.segment(S, &with_ts(seg(18_020.0, 1, 101, ACK, 0), 9000, 500));
    assert_eq!(c.dir[C].rtt.ts.count, 0);
    c.segment(C, &with_ts(seg(18_100.0, 101, 1, ACK, 100), 600, 9000));
    c.segment(S, &with_ts(seg(18_130.0, 1, 201, ACK, 0), 9001, 600));
    let ts = &c.dir[C].rtt.ts;
    assert_eq!((ts.count, ts.min, ts.max), (1, 30 * MS, 30 * MS));
}

#[test]
fn holes_filled_late_are_repaired_loss_soon_reordering() {
    // Without timestamps: a handshake gives a 12 ms round trip, so fills
    // within 6 ms are reordering.
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 201, 1, ACK, 100)); // hole [100, 200)
    c.segment(C, &seg(22.0, 101, 1, ACK, 100)); // 1 ms later: reordered
    c.segment(C, &seg(23.0, 401, 1, ACK, 100)); // hole [300, 400)
    c.segment(C, &seg(50.0, 301, 1, ACK, 100)); // 27 ms later: repaired
    let s = &c.dir[C].seq.counts();
    assert_eq!((s.reordered_segments, s.reordered_octets), (1, 100));
    assert_eq!((s.repaired_segments, s.repaired_octets), (1, 100));
    assert_eq!((s.jumps, s.max_jump, s.retransmitted_segments), (2, 100, 0));
    assert_eq!(c.dir[C].seq.never_seen(), 0);
    assert_eq!(s.advanced, 500);
}

#[test]
fn with_timestamps_a_newer_tsval_marks_the_retransmission() {
    let mut c = open(0, 0);
    c.segment(C, &with_ts(seg(20.0, 1, 1, ACK, 100), 10, 0));
    c.segment(C, &with_ts(seg(21.0, 201, 1, ACK, 100), 11, 0)); // hole
                                                                // 1 ms later but stamped after the segment that opened the hole: sent
                                                                // later, so a retransmission of a lost segment.
    c.segment(C, &with_ts(seg(22.0, 101, 1, ACK, 100), 12, 0));
    // Another hole, filled 30 ms later by a segment stamped before its
    // opener: the original, delayed.
    c.segment(C, &with_ts(seg(23.0, 401, 1, ACK, 100), 14, 0));
    c.segment(C, &with_ts(seg(53.0, 301, 1, ACK, 100), 13, 0));
    let s = &c.dir[C].seq.counts();
    assert_eq!((s.repaired_segments, s.reordered_segments), (1, 1));
}

#[test]
fn a_hole_never_filled_is_never_seen_and_acks_past_data_are_unseen() {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 301, 1, ACK, 100)); // [100, 300) missed
                                                // The server acknowledges everything: it got what the OP missed.
    c.segment(S, &seg(30.0, 1, 401, ACK, 0));
    assert_eq!(c.dir[C].seq.never_seen(), 200);
    assert_eq!(c.dir[C].losses().acked_unseen, 0);
    // ...and acknowledges 50 octets the OP never saw sent.
    c.segment(S, &seg(31.0, 1, 451, ACK, 0));
    assert_eq!(
        (
            c.dir[S].losses().acked_unseen,
            c.dir[C].losses().acked_unseen_octets
        ),
        (1, 50)
    );
    assert_ne!(c.quality() & Q_CAPTURE_GAP, 0);
}

#[test]
fn a_capture_starting_mid_connection_anchors_at_the_first_data() {
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 70_000, 900, ACK, 100));
    c.segment(S, &seg(10.0, 900, 70_100, ACK, 0));
    c.segment(C, &seg(11.0, 70_100, 900, ACK, 100));
    // Old data from before the capture: not counted as retransmitted
    // (never seen here), nor as advancing.
    c.segment(C, &seg(12.0, 69_000, 900, ACK, 100));
    let s = &c.dir[C].seq.counts();
    assert_eq!((s.advanced, s.retransmitted_segments), (200, 0));
    assert_eq!(c.dir[C].rtt.seq_ack.min, 10 * MS);
    assert_eq!(c.hs.syn_to_synack.get(), None);
    assert_ne!(c.quality() & Q_MID_CONNECTION, 0);
    assert_eq!(c.quality() & Q_WINDOW_SCALE_KNOWN, 0);
    // No SYN: no initial window was observed (the server's ACK at 10 ms
    // is the first ACK of data the OP saw, not the connection's), and
    // the window fields' scale is unknown.
    assert_eq!(c.dir[C].initial_window(), None);
    assert!(!c.window_scale_known());
}

#[test]
fn keepalives_and_zero_window_probes_are_not_data_retransmissions() {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(S, &seg(30.0, 1, 101, ACK, 0));
    // Keep-alives (RFC 9293 §3.8.4): SEG.SEQ = SND.NXT - 1 (position 99),
    // with no data (Linux) or one octet already acknowledged (Windows),
    // everything sent acknowledged: neither data nor a retransmission.
    c.segment(C, &seg(7_200_000.0, 100, 1, ACK, 0));
    c.segment(C, &seg(7_201_000.0, 100, 1, ACK, 1));
    let d = &c.dir[C];
    assert_eq!(d.seq.counts().retransmitted_segments, 0);
    assert_eq!(d.losses().loss_events, 0);
    assert_eq!(d.win.events().probes, 0);
    // The server's window closes (a stall); the client probes it with one
    // octet past the window (position 100, new), then that octet again
    // (position 100 = SND.NXT - 1 now): two zero-window probes (RFC 9293
    // §3.8.6.1), the first new data, neither a retransmission (kernels
    // count persist probes apart: FreeBSD's tcps_sndprobe, Linux's none).
    let mut zero = seg(7_201_010.0, 1, 101, ACK, 0);
    zero.window = 0;
    c.segment(S, &zero);
    c.segment(C, &seg(7_201_200.0, 101, 1, ACK, 1));
    zero.ts_ns += 200 * MS;
    c.segment(S, &zero);
    c.segment(C, &seg(7_201_600.0, 101, 1, ACK, 1));
    let d = &c.dir[C];
    assert_eq!(d.win.events().probes, 2);
    // The server's zero-window ACK repeated while the probe's octet is
    // outstanding: not a duplicate ACK (Wireshark: its window is zero).
    assert_eq!(c.dir[S].win.events().dup_acks, 0);
    assert_eq!(d.seq.counts().retransmitted_segments, 0);
    assert_eq!(d.seq.counts().advanced, 101);
    assert_eq!(d.losses().loss_events, 0);
    assert_eq!(c.dir[S].win.events().zero_events, 1);
    // The window opens 1 s after it closed.
    c.segment(S, &seg(7_202_010.0, 1, 102, ACK, 0));
    assert_eq!(c.dir[S].win.events().zero_ns, 1000 * MS);
}

#[test]
fn linux_zero_window_probes_are_window_probes() {
    // Linux probes a zero window with no data at SND.UNA - 1 (the
    // kernel's tcp_xmit_probe_skb): here position 99, all acknowledged.
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    let mut zero = seg(30.0, 1, 101, ACK, 0);
    zero.window = 0;
    c.segment(S, &zero);
    for t in [230.0, 630.0, 1430.0] {
        c.segment(C, &seg(t, 100, 1, ACK, 0));
        zero.ts_ns = ((t + 1.0) * 1e6) as i64;
        c.segment(S, &zero);
    }
    let d = &c.dir[C];
    assert_eq!(d.win.events().probes, 3);
    assert_eq!(d.seq.counts().retransmitted_segments, 0);
    // The zero-window ACKs repeated are not duplicate ACKs (Wireshark:
    // a duplicate ACK has a window other than zero).
    assert_eq!(c.dir[S].win.events().dup_acks, 0);
}

#[test]
fn duplicate_acks_need_the_same_window_and_data_outstanding() {
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 101, 1, ACK, 100));
    c.segment(S, &seg(30.0, 1, 101, ACK, 0));
    c.segment(S, &seg(31.0, 1, 101, ACK, 0)); // duplicate
    let mut update = seg(32.0, 1, 101, ACK, 0);
    update.window = 2000;
    c.segment(S, &update); // a window update, not a duplicate
    c.segment(S, &seg(33.0, 1, 201, ACK, 0));
    c.segment(S, &seg(34.0, 1, 201, ACK, 0)); // nothing outstanding
    assert_eq!(c.dir[S].win.events().dup_acks, 1);
}

#[test]
fn a_duplicate_ack_starts_at_the_next_expected_number() {
    // The server sends [0,100); the client's pure ACK (of the server's
    // ISN + 1: nothing) with a new window (a window update), then the
    // same acknowledgment and window on a segment numbered one before its
    // next expected (its SYN's number, as a keep-alive): the server's data
    // is outstanding, but Wireshark's duplicate ACK must carry the
    // sender's next expected number.
    let mut c = open(0, 0);
    let wide = |mut s: Segment| {
        s.window = 2000;
        s
    };
    c.segment(S, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &wide(seg(21.0, 1, 1, ACK, 0)));
    c.segment(C, &wide(seg(22.0, 0, 1, ACK, 0)));
    assert_eq!(c.dir[C].win.events().dup_acks, 0);
    // The same ACK numbered in order is one.
    c.segment(C, &wide(seg(23.0, 1, 1, ACK, 0)));
    assert_eq!(c.dir[C].win.events().dup_acks, 1);
}

#[test]
fn dsack_is_a_first_block_below_the_ack_or_inside_the_second() {
    let mut w = window::Window::default();
    assert!(w.sack(500, 1, &[(100, 200)])); // RFC 2883 §4.1: below the ACK
    assert!(w.sack(100, 2, &[(300, 400), (200, 500)])); // §4.2: inside the second
    assert!(!w.sack(100, 2, &[(300, 400), (500, 600)])); // an ordinary SACK
    let e = w.events();
    assert_eq!((e.dsacks, e.sack_packets, e.sack_blocks), (2, 2, 5));
    // Three blocks sent, none captured whole (a header-only capture):
    // counted as sent, and nothing is known of their edges.
    assert!(!w.sack(100, 3, &[]));
    let e = w.events();
    assert_eq!((e.dsacks, e.sack_packets, e.sack_blocks), (2, 2, 8));
}

#[test]
fn windows_are_scaled_only_when_both_syns_offered_it() {
    let mut syn = seg(0.0, 0, 0, SYN, 0);
    syn.options.set_window_scale(Some(7));
    let mut synack = seg(10.0, 0, 1, SYN | ACK, 0);
    synack.options.set_window_scale(Some(2));
    synack.window = 29200;
    let mut c = Conn::default();
    c.segment(C, &syn);
    c.segment(S, &synack);
    let mut ack = seg(12.0, 1, 1, ACK, 0);
    ack.window = 100;
    c.segment(C, &ack);
    // The SYN/ACK's window is not scaled (RFC 7323 §2.2); the client's
    // later one is, by its own 7.
    assert_eq!(c.dir[S].win.rwin.max, 29200u32);
    assert_eq!(c.dir[C].win.rwin.max, 100 << 7);
    // Without the option on one side, nothing is scaled.
    let mut c = Conn::default();
    c.segment(C, &syn);
    synack.options.set_window_scale(None);
    c.segment(S, &synack);
    c.segment(C, &ack);
    // (the SYN's 1000, the ACK's 100: neither scaled)
    assert_eq!(c.dir[C].win.rwin.max, 1000);
    assert_eq!(c.dir[C].win.rwin.min, 100);
}

#[test]
fn ecn_setup_and_marks_are_counted_per_direction() {
    let mut c = Conn::default();
    c.segment(C, &seg(0.0, 0, 0, SYN | ECE | CWR, 0));
    c.segment(S, &seg(10.0, 0, 1, SYN | ACK | ECE, 0));
    for (t, ecn) in [(20.0, 2), (21.0, 2), (22.0, 3), (23.0, 1)] {
        let mut s = seg(t, 1, 1, ACK, 100);
        s.ecn = ecn;
        c.segment(C, &s);
    }
    c.segment(S, &seg(30.0, 1, 101, ACK | ECE, 0));
    assert!(c.hs.ecn);
    let m = &c.dir[C].marks;
    assert_eq!((m.ect0, m.ect1, m.ce), (2, 1, 1));
    assert_eq!(
        c.dir[S].marks.ece, 1,
        "the SYN/ACK's ECE is set-up, not an echo"
    );
}

#[test]
fn rtt_histogram_bins_are_quarter_decades_from_10_us_to_1_s() {
    use rtt::hist_bin;
    // Edges 10^(1 + k/4) µs: 10, 17.78, 31.62, 56.23, 100 µs, ... 1 s.
    assert_eq!(hist_bin(0), 0);
    assert_eq!(hist_bin(9_999), 0);
    assert_eq!(hist_bin(10_000), 1);
    assert_eq!(hist_bin(17_782), 1);
    assert_eq!(hist_bin(17_783), 2);
    assert_eq!(hist_bin(100_000), 5);
    assert_eq!(hist_bin(20_000_000), 14); // 20 ms: [17.78, 31.62) ms
    assert_eq!(hist_bin(999_999_999), 20);
    assert_eq!(hist_bin(1_000_000_000), 21);
    assert_eq!(hist_bin(i64::MAX), 21);
    for (k, e) in (0u8..).zip(rtt::HIST_EDGES_NS) {
        let want = 10f64.powf(1.0 + f64::from(k) / 4.0) * 1000.0;
        let got = f64::from(u32::try_from(e).unwrap());
        assert!((got - want).abs() <= 0.5, "edge {k}");
    }
    // Every sample of every method counts once.
    let mut c = open(0, 0);
    c.segment(C, &with_ts(seg(20.0, 1, 1, ACK, 100), 7, 0));
    c.segment(S, &with_ts(seg(40.0, 1, 101, ACK, 0), 9, 7));
    // Handshake 10 ms (bin 13), sequence/ACK and timestamp 20 ms (bin 14).
    let h = c.dir[C].rtt.hist();
    assert_eq!((h[13], h[14], h.iter().sum::<u32>()), (1, 2, 3));
    assert_eq!(c.dir[C].rtt.all().count, 3);
}

#[test]
fn a_capture_clock_going_backwards_gives_no_rtt_sample() {
    let mut c = open(0, 0);
    c.segment(C, &with_ts(seg(50.0, 1, 1, ACK, 100), 7, 0));
    // The ACK stamped before the data: no sample of either method.
    c.segment(S, &with_ts(seg(40.0, 1, 101, ACK, 0), 9, 7));
    assert_eq!((c.dir[C].rtt.seq_ack.count, c.dir[C].rtt.ts.count), (0, 0));
    // The handshake's samples stand (10 ms, and 2 ms for the server).
    assert_eq!(c.dir[C].rtt.all().count, 1);
}

#[test]
fn iot_chirp_and_initial_window_of_a_first_flight() {
    let mut c = open(0, 0);
    // Three segments stamped and seen 1 and 2 ms apart (a 1000 Hz clock).
    for (k, (t, v)) in [(100.0, 100), (101.0, 101), (103.0, 103)]
        .iter()
        .enumerate()
    {
        let seq = 1 + 100 * k as u32;
        c.segment(C, &with_ts(seg(*t, seq, 1, ACK, 100), *v, 0));
    }
    // The first ACK of data ends the first flight: 300 octets.
    c.segment(S, &seg(120.0, 1, 101, ACK, 0));
    let d = &c.dir[C];
    assert_eq!(d.initial_window(), Some(300));
    assert_eq!((d.marks.iot.min, d.marks.iot.max), (MS, 2 * MS));
    // The clock needs 100 ms of ticks before it is known: no chirp yet.
    assert_eq!(d.marks.chirp.span.count, 0);
    assert_eq!(d.marks.last_syn_flags, Some(SYN));
    assert_eq!(c.dir[S].marks.last_syn_flags, Some(SYN | ACK));
    // 150 more segments 1 ms apart, then one that waited 4 ms more: the
    // path stretched that spacing by 4 ms.
    let mut seq = 301u32;
    for k in 0..150u32 {
        c.segment(
            C,
            &with_ts(seg(104.0 + f64::from(k), seq, 1, ACK, 100), 104 + k, 0),
        );
        seq = seq.wrapping_add(100);
    }
    c.segment(C, &with_ts(seg(258.0, seq, 1, ACK, 100), 254, 0));
    let chirp = &c.dir[C].marks.chirp;
    assert_eq!(chirp.span.max, 4 * MS);
    assert_eq!(chirp.span.min, 0);
    // Later flights do not change the initial window.
    assert_eq!(c.dir[C].initial_window(), Some(300));
}

/// The budget behind "1M concurrent TCP connections in 2 GB"
/// (BENCHMARKS.md): a connection's analysis inline, both directions, before
/// what it allocates on demand (queues, holes, loss and window events).
#[test]
fn a_connections_state_stays_within_its_budget() {
    // 1,280 octets is one of mimalloc's size classes (the extension's
    // allocator): a box one octet larger takes 1,536, 256 MB more for 1M
    // connections (BENCHMARKS.md, issue 15's memory target).
    assert!(
        std::mem::size_of::<Conn>() <= 1_280,
        "{}",
        std::mem::size_of::<Conn>()
    );
    assert_eq!(std::mem::size_of::<super::opt::OptI64>(), 8);
}
