//! Round-trip samples ([`crate::tcp::rtt`]) and their statistics where
//! the rules are easy to get wrong. Expected values are worked out here
//! from the samples and RFC 6298, not read off the analysis.

use crate::tcp::stats::Stats;

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
