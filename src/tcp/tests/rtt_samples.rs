//! Round-trip samples ([`crate::tcp::rtt`]) and their statistics where
//! the rules are easy to get wrong: Karn's rule after a loss before the OP,
//! and means and deviations over long series. Expected values are worked
//! out here from the segments and RFC 6298, not read off the analysis.

use super::{open, seg, with_sack, C, MS, S};
use crate::packet::ACK;
use crate::tcp::stats::Stats;

#[test]
fn karn_no_sample_from_an_ack_covering_a_repaired_loss() {
    // Client ISN 0: [0,100) at 20 ms, [100,200) lost before the OP,
    // [200,300) at 22 ms and [300,400) at 23 ms (a hole [100,200)).
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(22.0, 201, 1, ACK, 100));
    c.segment(C, &seg(23.0, 301, 1, ACK, 100));
    // The ACK of [0,100) at 40 ms: sent once, a 20 ms sample.
    c.segment(S, &seg(40.0, 1, 101, ACK, 0));
    assert_eq!(c.dir[C].rtt.seq_ack.count, 1);
    // The sender's retransmission of [100,200) at 44 ms: the OP sees it
    // once, but the sender sent those octets twice (the first copy was
    // lost before the OP).
    c.segment(C, &seg(44.0, 101, 1, ACK, 100));
    assert_eq!(c.dir[C].seq.counts().repaired_octets, 100);
    // The cumulative ACK of everything at 64 ms newly covers [100,200):
    // Karn (RFC 6298 §3): no sample (the newest segment it covers, sent at
    // 23 ms, would give 41 ms on a 20 ms path).
    c.segment(S, &seg(64.0, 1, 401, ACK, 0));
    let r = &c.dir[C].rtt.seq_ack;
    assert_eq!((r.count, r.min, r.max), (1, 20 * MS, 20 * MS));
    // The next segment, sent once and answered alone, is timed again.
    c.segment(C, &seg(70.0, 401, 1, ACK, 100));
    c.segment(S, &seg(90.0, 1, 501, ACK, 0));
    let r = &c.dir[C].rtt.seq_ack;
    assert_eq!((r.count, r.max), (2, 20 * MS));
}

#[test]
fn a_long_series_keeps_its_mean_and_deviation() {
    // 20,000 samples of 2.000 s then 20,000 of 2.001 s: two equal groups,
    // so the mean is halfway, 2.0005 s, and the population deviation half
    // their difference, 0.5 ms.
    let mut s = Stats::default();
    for k in 0..40_000 {
        s.add(if k < 20_000 {
            2_000_000_000
        } else {
            2_001_000_000
        });
    }
    assert_eq!(s.count, 40_000);
    assert!((s.mean() - 2_000_500_000.0).abs() < 1.0, "{}", s.mean());
    assert!((s.std_dev() - 500_000.0).abs() < 1.0, "{}", s.std_dev());
    // Merged from two halves, the same.
    let (mut a, mut b) = (Stats::default(), Stats::default());
    for _ in 0..20_000 {
        a.add(2_000_000_000);
        b.add(2_001_000_000);
    }
    let m = a.merged(&b);
    assert!((m.mean() - 2_000_500_000.0).abs() < 1.0, "{}", m.mean());
    assert!((m.std_dev() - 500_000.0).abs() < 1.0, "{}", m.std_dev());
}

#[test]
fn an_ack_both_cumulative_and_selective_times_the_last_segment_it_covers() {
    // Client ISN 0: [0,100) at 20 ms, [100,200) at 21 ms, [200,300) at
    // 22 ms. The receiver gets the first and the third, the second late
    // (reordered after the OP): its ACK at 31 ms acknowledges [0,100)
    // cumulatively and [200,300) in its first SACK block. It newly covers
    // both: the last seen of them, [200,300), gives 31 - 22 = 9 ms.
    let mut c = open(0, 0);
    c.segment(C, &seg(20.0, 1, 1, ACK, 100));
    c.segment(C, &seg(21.0, 101, 1, ACK, 100));
    c.segment(C, &seg(22.0, 201, 1, ACK, 100));
    c.segment(S, &with_sack(seg(31.0, 1, 101, ACK, 0), &[(201, 301)]));
    // The ACK of everything at 40 ms newly covers [100,200) alone (the
    // block took [200,300) already): 40 - 21 = 19 ms, not 40 - 22.
    c.segment(S, &seg(40.0, 1, 301, ACK, 0));
    let r = &c.dir[C].rtt.seq_ack;
    // With the handshake's ACK of the SYN/ACK, no sequence/ACK sample
    // came before: these two are the method's only ones.
    assert_eq!((r.count, r.min, r.max), (2, 9 * MS, 19 * MS));
}
