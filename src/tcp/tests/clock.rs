//! The direction's timestamp clock (`marks::Clock`, tcpTimestampFrequency):
//! expected values worked out here from the points as written, not read
//! off the analysis.

use super::MS;
use crate::tcp::marks;

#[test]
fn the_timestamp_clock_ignores_a_queued_end() {
    // A 1000 Hz clock over 300 ms; the last tick's packet waits 5 ms in a
    // queue, the first one 3 ms: the ratio of the ends would say 993 Hz.
    let mut m = marks::Marks::default();
    for k in 0..=300u32 {
        let delay = match k {
            0 => 3.0,
            300 => 5.0,
            _ => 0.0,
        };
        m.tsval(1000 + k, ((f64::from(k) + delay) * 1e6) as i64);
    }
    assert_eq!(m.ts_frequency(), Some(1000));
    // Under 100 ms of ticks: not reported.
    let mut short = marks::Marks::default();
    short.tsval(1, 0);
    short.tsval(50, 49 * MS);
    assert_eq!(short.ts_frequency(), None);
}

#[test]
fn the_timestamp_clocks_hull_keeps_32_points_and_the_first() {
    // 40 points on a convex curve (ns = 10^6 t + 10 t^2), so every one is
    // on the lower hull: ticks 0, 100, ..., 800, then 801..=831. Their
    // mean tick, 722, lies on the edge from 700 to 800; the cap of 32
    // drops the 8 oldest points but the first, which leaves the edge from
    // 0 to 801 there.
    let ns = |t: i64| t * 1_000_000 + 10 * t * t;
    let ticks: Vec<i64> = (0..=8).map(|k| 100 * k).chain(801..=831).collect();
    assert_eq!(ticks.len(), 40);
    let mut m = marks::Marks::default();
    for &t in &ticks {
        m.tsval(u32::try_from(t).unwrap(), ns(t));
    }
    // 801 ticks over 807,416,010 ns is 992.05 Hz; without the cap, 100
    // ticks over 101,500,000 ns would be 985.22 Hz.
    assert_eq!(m.ts_frequency(), Some(992));
}
