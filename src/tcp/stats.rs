//! Running statistics of RTT samples (and of other per-packet values):
//! count, minimum, maximum, mean and standard deviation by Welford's
//! method, and the smoothed value of RFC 6298 §2 (SRTT: the first sample,
//! then `7/8 SRTT + 1/8 R'`), all from nanosecond samples. The moments
//! (mean, sum of squared deviations) are kept in double precision: in
//! single, a mean of 2 s has a step of 128-256 ns, so past some thousands
//! of samples a sample's pull on it (its difference over the count) is
//! rounded away and the mean stops moving (20,000 samples of 2.000 s then
//! 20,000 of 2.001 s kept it at 2.000 s, and the deviation at 707 µs for
//! 500). The smoothed value is kept in single: each step forgets 1/8 of
//! the past, so its rounding errors do not add up (at most some 8 steps'
//! worth, a relative 5e-7). [`Range`] and [`SignedRange`] are for values
//! that need no deviation (their means are exact sums).

/// Statistics of a series of non-negative samples (nanoseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub min: i64,
    pub max: i64,
    pub count: u32,
    mean: f64,
    /// Sum of squared deviations from the mean (Welford).
    m2: f64,
    /// RFC 6298 smoothed value.
    smoothed: f32,
}

impl Stats {
    /// Add a sample.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)] // see the module docs
    pub fn add(&mut self, x: i64) {
        let xf = x as f64;
        if self.count == 0 {
            self.min = x;
            self.max = x;
            self.mean = xf;
            self.m2 = 0.0;
            self.smoothed = xf as f32;
            self.count = 1;
            return;
        }
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        let d = xf - self.mean;
        self.mean += d / f64::from(self.count);
        self.m2 += d * (xf - self.mean);
        let smoothed = f64::from(self.smoothed);
        self.smoothed = (smoothed + (xf - smoothed) / 8.0) as f32;
    }

    /// The mean (0 without samples).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The statistics of both series together (Chan, Golub and LeVeque's
    /// combination of Welford moments); the smoothed value is `self`'s,
    /// or `other`'s when `self` has no sample.
    pub fn merged(&self, other: &Stats) -> Stats {
        if other.count == 0 {
            return *self;
        }
        if self.count == 0 {
            return *other;
        }
        let (na, nb) = (f64::from(self.count), f64::from(other.count));
        let n = na + nb;
        let delta = other.mean - self.mean;
        let mean = self.mean + delta * nb / n;
        let m2 = self.m2 + other.m2 + delta * delta * na * nb / n;
        Stats {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            count: self.count.saturating_add(other.count),
            mean,
            m2,
            smoothed: self.smoothed,
        }
    }

    /// The population standard deviation (0 with fewer than two samples).
    pub fn std_dev(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / f64::from(self.count)).max(0.0).sqrt()
        }
    }

    /// The RFC 6298 smoothed value after the last sample.
    pub fn smoothed(&self) -> f64 {
        f64::from(self.smoothed)
    }

    /// Whether any sample was added.
    pub fn any(&self) -> bool {
        self.count > 0
    }
}

/// Count, minimum, maximum and mean of non-negative values below 2^32
/// (larger ones count as 2^32 - 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub count: u32,
    pub min: u32,
    pub max: u32,
    /// The sum (no division a value: the mean is taken at the end).
    sum: u64,
}

impl Range {
    /// Add a value.
    #[inline]
    pub fn add(&mut self, x: u64) {
        let v = u32::try_from(x).unwrap_or(u32::MAX);
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(u64::from(v));
    }

    /// The mean (0 without values).
    #[allow(clippy::cast_precision_loss)] // a mean of 32-bit values
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / f64::from(self.count)
        }
    }

    /// Whether any value was added.
    pub fn any(&self) -> bool {
        self.count > 0
    }
}

/// Count, minimum, maximum ([`MinMax`]) and mean of signed values (the
/// mean from their exact sum, which saturates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedRange {
    pub span: MinMax,
    sum: i64,
}

impl SignedRange {
    /// Add a value.
    pub fn add(&mut self, x: i64) {
        self.span.add(x);
        self.sum = self.sum.saturating_add(x);
    }

    /// The mean (0 without values).
    #[allow(clippy::cast_precision_loss)] // a mean, reported in ms
    pub fn mean(&self) -> f64 {
        if self.span.count == 0 {
            0.0
        } else {
            self.sum as f64 / f64::from(self.span.count)
        }
    }

    /// Whether any value was added.
    pub fn any(&self) -> bool {
        self.span.any()
    }
}

/// The smallest and largest of a series (cheaper than [`Stats`] where no
/// moment is wanted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinMax {
    pub count: u32,
    pub min: i64,
    pub max: i64,
}

impl MinMax {
    /// Add a value.
    #[inline]
    pub fn add(&mut self, x: i64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count = self.count.saturating_add(1);
    }

    /// Whether any value was added.
    pub fn any(&self) -> bool {
        self.count > 0
    }
}

/// `x` rounded to the nearest whole number, halves up, as `f64::round`
/// does for positive values (0 for negative or NaN values, `u64::MAX` past
/// it). By the truncating conversion, one instruction: `f64::round` is a
/// library call on the baseline x86-64 the wheels are built for, and the
/// records round some fifty values each.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // saturating casts, as documented
pub fn round_half_up(x: f64) -> u64 {
    (x + 0.5) as u64
}

/// Nanoseconds to whole microseconds, rounded to nearest (negative values,
/// which samples never are, give 0).
pub fn ns_to_us(ns: f64) -> u64 {
    round_half_up(ns / 1000.0)
}

/// Nanoseconds to whole milliseconds, rounded to nearest.
pub fn ns_to_ms(ns: f64) -> u64 {
    round_half_up(ns / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_half_up_as_f64_round_for_positive_values() {
        for x in [
            0.0,
            0.4,
            0.5,
            0.6,
            1.5,
            2.5,
            999.499,
            999.5,
            1e15 + 0.5,
            4e9,
        ] {
            assert_eq!(round_half_up(x), x.round() as u64, "{x}");
        }
        assert_eq!(round_half_up(-3.0), 0);
        assert_eq!(round_half_up(f64::NAN), 0);
        assert_eq!(round_half_up(1e30), u64::MAX);
        assert_eq!((ns_to_us(1_499.0), ns_to_us(1_500.0)), (1, 2));
        assert_eq!((ns_to_ms(2_499_999.0), ns_to_ms(2_500_000.0)), (2, 3));
    }

    #[test]
    fn welford_matches_the_textbook_formulas() {
        // Samples 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population sd 2 (the
        // classic example).
        let mut s = Stats::default();
        for x in [2, 4, 4, 4, 5, 5, 7, 9] {
            s.add(x);
        }
        assert_eq!((s.count, s.min, s.max), (8, 2, 9));
        assert!((s.mean() - 5.0).abs() < 1e-6);
        assert!((s.std_dev() - 2.0).abs() < 1e-6);
    }

    #[test]
    fn smoothing_is_rfc_6298() {
        // SRTT = R; then SRTT = 7/8 SRTT + 1/8 R'.
        let mut s = Stats::default();
        s.add(800);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-3;
        assert!(close(s.smoothed(), 800.0));
        s.add(1600);
        assert!(close(s.smoothed(), 900.0));
        s.add(100);
        assert!(close(s.smoothed(), 900.0 * 7.0 / 8.0 + 100.0 / 8.0));
    }

    #[test]
    fn merged_statistics_are_those_of_all_samples() {
        let (mut a, mut b, mut all) = (Stats::default(), Stats::default(), Stats::default());
        for x in [2, 4, 4, 4] {
            a.add(x);
            all.add(x);
        }
        for x in [5, 5, 7, 9] {
            b.add(x);
            all.add(x);
        }
        let m = a.merged(&b);
        assert_eq!((m.count, m.min, m.max), (8, 2, 9));
        assert!((m.mean() - 5.0).abs() < 1e-6 && (m.std_dev() - 2.0).abs() < 1e-6);
        assert!((m.std_dev() - all.std_dev()).abs() < 1e-6);
        assert!((m.smoothed() - a.smoothed()).abs() < 1e-9);
        assert_eq!(Stats::default().merged(&b), b);
    }

    #[test]
    fn a_range_keeps_min_max_and_mean() {
        let mut r = Range::default();
        for x in [3u64, 9, 6] {
            r.add(x);
        }
        assert_eq!((r.count, r.min, r.max), (3, 3, 9));
        assert!((r.mean() - 6.0).abs() < 1e-6);
        r.add(1 << 40);
        assert_eq!(r.max, u32::MAX);
    }

    #[test]
    fn units_round_to_nearest() {
        assert_eq!(ns_to_us(1_499.0), 1);
        assert_eq!(ns_to_us(1_500.0), 2);
        assert_eq!(ns_to_ms(20_499_999.0), 20);
        assert_eq!(ns_to_ms(20_500_000.0), 21);
        assert_eq!(ns_to_us(-5.0), 0);
    }
}
