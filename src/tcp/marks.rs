//! A direction's ECN marks, TCP options and segment sizes.
//!
//! Definitions (per direction, over its packets):
//! - ECT(0), ECT(1), CE: packets whose IP ECN field is 10, 01, 11 (RFC
//!   3168 §5); ectMarkCount counts ECT(0) and ECT(1), ceMarkCount CE;
//! - ECE, CWR: packets with that TCP flag, SYNs excluded (in a SYN they
//!   negotiate ECN, RFC 3168 §6.1.1);
//! - options seen: MSS, window scale, SACK-permitted, timestamps (in any
//!   packet), SACK blocks;
//! - declared MSS: the MSS option of the direction's SYN (the last one
//!   seen); observed MSS: the largest data length of its segments
//!   (declaredTcpMss, observedTcpMss);
//! - last SYN flags: the TCP flags of the direction's last SYN
//!   (lastSynTcpFlags, QoF develop's ECN-negotiation studies);
//! - inter-observation time (IOT): the time between successive segments
//!   of the direction that advance its sequence space (new data), min and
//!   max (min/maxTcpIOTMilliseconds);
//! - chirp: for successive advancing segments that both carry timestamps,
//!   their time apart at the OP less their time apart at the sender (the
//!   TSval difference over the direction's timestamp clock as estimated
//!   then, once it is known: again at each new TSval until it is, then at
//!   every 16th point): how much the path compressed (negative) or stretched
//!   (positive) their spacing; min, max and mean (QoF's chirp was always
//!   its IOT: a bug not reproduced);
//! - timestamp clock: TSval ticks per second of capture time, from the
//!   direction's segments that advance its TSval (the first seen of each
//!   value), once they span at least [`TS_CLOCK_MIN_NS`], in Hz rounded to
//!   nearest (tcpTimestampFrequency). Queues and reordering only ever
//!   delay a packet after its stamp, so the points (tick, capture time)
//!   lie on or above the line of the sender's clock: its slope is taken
//!   from their lower convex hull (at most 32 points, `HULL_MAX`: past that
//!   the oldest but the first goes), at the hull's edge over the mean tick
//!   (the line below every point closest to them all, as Moon, Skelly and
//!   Towsley estimate clock skew, INFOCOM 1999). QoF's first-to-last ratio
//!   moves by whole percent in a short flow when one end's packet waited
//!   in a queue; the hull does not.

use super::opt::OptI64;
use crate::packet::TcpOptions;
use crate::tcpseq::seq_diff;

/// The timestamp clock is reported once its samples span this long.
pub const TS_CLOCK_MIN_NS: i64 = 100_000_000;

/// qofTcpCharacteristics bits (QoF's values; 0x20 is SACK-permitted, as on
/// QoF's develop branch).
pub const CH_ECT0: u32 = 0x01;
pub const CH_ECT1: u32 = 0x02;
pub const CH_CE: u32 = 0x04;
pub const CH_TS: u32 = 0x10;
pub const CH_SACK_OK: u32 = 0x20;
pub const CH_WS: u32 = 0x40;

/// Options-seen bits (ferrofix's tcpOptionsSeen).
pub const OPT_MSS: u8 = 0x01;
pub const OPT_WS: u8 = 0x02;
pub const OPT_SACK_OK: u8 = 0x04;
pub const OPT_TS: u8 = 0x08;
pub const OPT_SACK: u8 = 0x10;

/// A direction's marks and options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    pub ect0: u32,
    pub ect1: u32,
    pub ce: u32,
    pub ece: u32,
    pub cwr: u32,
    pub options: u8,
    pub characteristics: u32,
    pub declared_mss: Option<u16>,
    pub observed_mss: u32,
    /// Window scale offered in the SYN.
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// ECE and CWR of this direction's SYN (ECN setup).
    pub syn_ece_cwr: Option<(bool, bool)>,
    /// The first TSval's time (none before one), and the last new
    /// TSval and its time.
    ts_first_ns: OptI64,
    ts_last: u32,
    ts_last_ns: i64,
    /// Ticks from the first TSval to the last (unwrapped).
    ts_span: i64,
    clock: Clock,
    pub last_syn_flags: Option<u8>,
    /// The last advancing segment: time and TSval.
    last_advance_ns: OptI64,
    last_advance_tsval: Option<u32>,
    /// Inter-observation times (ns).
    pub iot: super::stats::MinMax,
    /// Chirps (ns).
    pub chirp: super::stats::SignedRange,
    /// [`Marks::ts_frequency`] as of the last new tick.
    hz: OptI64,
}

/// Points of the lower convex hull kept at most (a hull of a line plus
/// delays has few; past this the oldest inner point goes).
const HULL_MAX: usize = 32;

/// The lower convex hull of (ticks since the first TSval, ns since its
/// segment), and the mean tick of every point.
#[derive(Debug, Clone, Default, PartialEq)]
struct Clock {
    hull: Vec<(i64, i64)>,
    points: u32,
    /// The sum of the points' ticks, for their mean (rounding past 2^53
    /// is harmless: the mean only picks a hull edge).
    sum_ticks: f64,
}

/// Whether o -> a -> p turns left (counter-clockwise): the cross product
/// of (a - o) and (p - o) is positive. In 64 bits when the differences and
/// products fit (ticks and ns of a few hours do), else in 128.
fn left_turn(o: (i64, i64), a: (i64, i64), p: (i64, i64)) -> bool {
    let fast = || {
        let left = a.0.checked_sub(o.0)?.checked_mul(p.1.checked_sub(o.1)?)?;
        let right = a.1.checked_sub(o.1)?.checked_mul(p.0.checked_sub(o.0)?)?;
        Some(left > right)
    };
    fast().unwrap_or_else(|| {
        let d = |x: i64, y: i64| i128::from(x).wrapping_sub(i128::from(y));
        // |values| < 2^64, so the products fit i128.
        let cross = d(a.0, o.0)
            .wrapping_mul(d(p.1, o.1))
            .wrapping_sub(d(a.1, o.1).wrapping_mul(d(p.0, o.0)));
        cross > 0
    })
}

impl Clock {
    #[allow(clippy::cast_precision_loss)] // see `sum_ticks`
    fn add(&mut self, ticks: i64, ns: i64) {
        self.points = self.points.saturating_add(1);
        self.sum_ticks += ticks as f64;
        // Andrew's monotone chain (ticks only grow): drop the last point
        // while it does not turn left.
        while let [.., o, a] = self.hull[..] {
            if left_turn(o, a, (ticks, ns)) {
                break;
            }
            self.hull.pop();
        }
        if self.hull.len() >= HULL_MAX {
            self.hull.remove(1);
        }
        if self.hull.capacity() == 0 {
            self.hull.reserve_exact(2);
        }
        self.hull.push((ticks, ns));
    }

    /// Ticks per second, at the hull's edge over the mean tick.
    #[allow(clippy::cast_precision_loss)] // ticks and ns far below 2^52
    fn hz(&self) -> Option<f64> {
        if self.points == 0 {
            return None;
        }
        let mean = self.sum_ticks / f64::from(self.points);
        let edge = self
            .hull
            .windows(2)
            .find(|w| w[1].0 as f64 >= mean)
            .or_else(|| self.hull.windows(2).last())?;
        let (a, b) = (edge[0], edge[1]);
        let ns = b.1.saturating_sub(a.1);
        (ns > 0).then(|| b.0.saturating_sub(a.0) as f64 * 1e9 / ns as f64)
    }
}

impl Marks {
    /// The TCP options of one of this direction's segments (`syn`: a SYN's,
    /// whose MSS, window scale and SACK permission are the connection's).
    pub(super) fn note_options(&mut self, o: &TcpOptions, syn: bool) {
        let m = self;
        if let Some(mss) = o.mss() {
            m.options |= OPT_MSS;
            if syn {
                m.declared_mss = Some(mss);
            }
        }
        if let Some(ws) = o.window_scale() {
            m.options |= OPT_WS;
            m.characteristics |= CH_WS;
            if syn {
                m.window_scale = Some(ws);
            }
        }
        if o.sack_permitted {
            m.options |= OPT_SACK_OK;
            m.characteristics |= CH_SACK_OK;
            if syn {
                m.sack_permitted = true;
            }
        }
        if o.timestamps().is_some() {
            m.options |= OPT_TS;
            m.characteristics |= CH_TS;
        }
        if o.sack_sent > 0 {
            m.options |= OPT_SACK;
        }
    }

    /// A packet's IP ECN field.
    pub fn ecn(&mut self, ecn: u8) {
        match ecn & 3 {
            2 => {
                self.ect0 = self.ect0.saturating_add(1);
                self.characteristics |= CH_ECT0;
            }
            1 => {
                self.ect1 = self.ect1.saturating_add(1);
                self.characteristics |= CH_ECT1;
            }
            3 => {
                self.ce = self.ce.saturating_add(1);
                self.characteristics |= CH_CE;
            }
            _ => {}
        }
    }

    /// A TSval sent at `ts_ns`.
    pub fn tsval(&mut self, v: u32, ts_ns: i64) {
        match self.ts_first_ns.get() {
            Some(t0) => {
                let d = seq_diff(v, self.ts_last);
                if d > 0 {
                    self.ts_span = self.ts_span.saturating_add(i64::from(d));
                    (self.ts_last, self.ts_last_ns) = (v, ts_ns);
                    self.clock.add(self.ts_span, ts_ns.saturating_sub(t0));
                    // The clock's rate moves slowly: estimated again every
                    // 16th tick (and until there is one), not every packet.
                    if self.hz.is_none() || self.clock.points % 16 == 0 {
                        self.hz = self.ts_frequency().map_or(OptI64::NONE, |hz| {
                            OptI64::some(i64::try_from(hz).unwrap_or(i64::MAX))
                        });
                    }
                }
            }
            None => {
                self.ts_first_ns = OptI64::some(ts_ns);
                (self.ts_last, self.ts_last_ns) = (v, ts_ns);
                self.clock.add(0, 0);
            }
        }
    }

    /// A segment that advanced the sequence space at `ts_ns` with TSval
    /// `tsval`.
    pub fn advanced(&mut self, ts_ns: i64, tsval: Option<u32>) {
        if let Some(t0) = self.last_advance_ns.get() {
            let v0 = self.last_advance_tsval;
            let gap = ts_ns.saturating_sub(t0);
            if gap >= 0 {
                self.iot.add(gap);
                if let (Some(v0), Some(v1), Some(hz)) = (v0, tsval, self.hz.get()) {
                    // The time apart at the sender, in ns rounded to
                    // nearest: ticks < 2^31, so ticks * 1e9 fits u64.
                    let ticks = u64::try_from(seq_diff(v1, v0));
                    if let (Ok(ticks), Ok(hz @ 1..)) = (ticks, u64::try_from(hz)) {
                        let sent = (ticks.saturating_mul(1_000_000_000).saturating_add(hz / 2))
                            .checked_div(hz)
                            .unwrap_or(0);
                        self.chirp
                            .add(gap.saturating_sub(i64::try_from(sent).unwrap_or(i64::MAX)));
                    }
                }
            }
        }
        self.last_advance_ns = OptI64::some(ts_ns);
        self.last_advance_tsval = tsval;
    }

    /// The timestamp clock in Hz (see the module docs).
    pub fn ts_frequency(&self) -> Option<u64> {
        let t0 = self.ts_first_ns.get()?;
        let t1 = self.ts_last_ns;
        if t1.saturating_sub(t0) < TS_CLOCK_MIN_NS {
            return None;
        }
        let hz = self.clock.hz()?;
        (hz.is_finite() && hz >= 0.0).then(|| super::stats::round_half_up(hz))
    }

    /// Zero the counters (an active-timeout continuation); what the
    /// handshake set and the timestamp clock's fit stay.
    pub fn reset_counts(&mut self) {
        *self = Marks {
            declared_mss: self.declared_mss,
            window_scale: self.window_scale,
            sack_permitted: self.sack_permitted,
            syn_ece_cwr: self.syn_ece_cwr,
            ts_first_ns: self.ts_first_ns,
            ts_last: self.ts_last,
            ts_last_ns: self.ts_last_ns,
            ts_span: self.ts_span,
            clock: self.clock.clone(),
            last_syn_flags: self.last_syn_flags,
            last_advance_ns: self.last_advance_ns,
            last_advance_tsval: self.last_advance_tsval,
            hz: self.hz,
            ..Marks::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::left_turn;

    #[test]
    fn turns_in_64_bits_and_past_them() {
        let o = (0, 0);
        assert!(left_turn(o, (1, 0), (1, 1)));
        assert!(!left_turn(o, (1, 0), (2, 0)), "collinear is no left turn");
        assert!(!left_turn(o, (1, 1), (2, 1)));
        // Products past i64: 2^80 - 2^41 > 0, and 2^80 - 2^81 < 0.
        let (k40, k41) = (1i64 << 40, 1i64 << 41);
        assert!(left_turn(o, (k40, 1), (k41, k40)));
        assert!(!left_turn(o, (k40, k40), (k41, k40)));
        assert!(!left_turn(o, (k40, 1), (k41, 1)));
    }
}
