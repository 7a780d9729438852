//! Writing a flow's values into its record ([`super::record`]'s layouts):
//! every field by the encoder's own primitives, in place, integers and
//! times as whole words over the record's slack.

use super::flow::{DirCounters, Flow};
use super::record::{DirField, What};
use super::tcpfields::Tf;
use super::tcpvalues::{self, ConnValues};
use crate::decode::{DateTime, TimePrecision};
use crate::encode::value::{ntp_word, put_word_at, signed_word, unsigned_word};
use crate::encode::Refusal;

/// A flow's record fields, written by the encoder's own primitives (the
/// range checks and conversions [`crate::encode::encode_value`] uses),
/// without a [`crate::decode::Value`] for each.
pub(super) struct Fields<'f> {
    pub f: &'f Flow,
    pub reason: u8,
    /// The key sides of the forward and reverse directions.
    pub fwd: usize,
    pub rev: usize,
    pub hist_element: (u32, u16),
}

impl Fields<'_> {
    /// Fill `buf` (the record's length and 8 octets of slack) with the
    /// fields `what`; the error names the field's index.
    pub(super) fn fill(
        &self,
        what: &[(What, u16)],
        buf: &mut [u8],
    ) -> std::result::Result<(), (usize, Refusal)> {
        let (f, k) = (self.f, &self.f.key);
        // Every per-direction counter of both directions, read once.
        let dirs = [dir_words(&f.dir[self.fwd]), dir_words(&f.dir[self.rev])];
        let tcp = f.conn().map(ConnValues::of);
        let mut at = 0usize;
        for (i, &(w, length)) in what.iter().enumerate() {
            let n = usize::from(length);
            let bytes: Option<&[u8]> = match w {
                What::SrcAddr | What::DstAddr => {
                    let side = if w == What::SrcAddr {
                        self.fwd
                    } else {
                        self.rev
                    };
                    let a = &k.ends[side & 1].addr;
                    Some(if k.version == 4 { &a[..4] } else { a })
                }
                What::TcpDir(reverse, Tf::RttHistogram) => {
                    let dir = f.conn().map(|c| &c.dir[self.side(reverse) & 1]);
                    let written = match (dir, buf.get_mut(at..at.saturating_add(n))) {
                        (Some(d), Some(slot)) => tcpvalues::hist_octets(d, self.hist_element, slot),
                        _ => false,
                    };
                    if !written {
                        return Err((i, "no room for the RTT histogram".into()));
                    }
                    at = at.wrapping_add(n);
                    continue;
                }
                What::Dir(reverse, DirField::SrcMac) => Some(&f.dir[self.side(reverse)].src_mac),
                What::Dir(reverse, DirField::DstMac) => Some(&f.dir[self.side(reverse)].dst_mac),
                _ => None,
            };
            let ok = match bytes {
                Some(b) => buf
                    .get_mut(at..at.saturating_add(n))
                    .filter(|d| d.len() == b.len())
                    .map(|d| d.copy_from_slice(b))
                    .is_some(),
                None => {
                    let v = self.word(w, n, &dirs, tcp.as_ref()).map_err(|r| (i, r))?;
                    put_word_at(buf, at, v, n)
                }
            };
            if !ok {
                return Err((i, format!("no room for {n} octets at {at} of the record")));
            }
            // At most the record's length (the layout's sum): no wrap.
            at = at.wrapping_add(n);
        }
        Ok(())
    }

    fn side(&self, reverse: bool) -> usize {
        if reverse {
            self.rev
        } else {
            self.fwd
        }
    }

    /// An integer or time field's value, checked to fit `n` octets.
    #[inline]
    fn word(
        &self,
        what: What,
        n: usize,
        dirs: &[[u64; 10]; 2],
        tcp: Option<&ConnValues<'_>>,
    ) -> std::result::Result<u64, Refusal> {
        let (f, k) = (self.f, &self.f.key);
        match what {
            What::FlowId => unsigned_word(f.flow_id, n),
            What::Start(p) => time_word(f.start_ns, p, n),
            What::End(p) => time_word(f.end_ns, p, n),
            What::ReverseDeltaMs => {
                let r = &f.dir[self.rev];
                let ms = if r.packets == 0 {
                    0
                } else {
                    r.first_ns.saturating_sub(f.start_ns) / 1_000_000
                };
                signed_word(ms.clamp(i64::from(i32::MIN), i64::from(i32::MAX)), n)
            }
            What::SrcPort => unsigned_word(u64::from(k.ends[self.fwd].port), n),
            What::DstPort => unsigned_word(u64::from(k.ends[self.rev].port), n),
            What::IcmpTypeCode => unsigned_word(u64::from(k.icmp), n),
            What::Protocol => unsigned_word(u64::from(k.protocol), n),
            What::Vlan => unsigned_word(u64::from(k.vlan), n),
            What::EndReason => unsigned_word(u64::from(self.reason), n),
            What::Dir(reverse, df) => {
                let d = &dirs[usize::from(reverse)];
                unsigned_word(d.get(df as usize).copied().unwrap_or(0), n)
            }
            What::TcpDir(reverse, tf) => {
                let cv = tcp.ok_or("the flow has no TCP analysis")?;
                let v = cv.dir(self.side(reverse));
                if tf.signed() {
                    // Saturated at the field's range like the unsigned.
                    let bits = u32::try_from(n.saturating_mul(8))
                        .unwrap_or(64)
                        .clamp(8, 64);
                    let max = i64::MAX
                        .checked_shr(64u32.saturating_sub(bits))
                        .unwrap_or(0);
                    let v = tcpvalues::dir_signed(v.dir, tf)
                        .clamp(max.wrapping_neg().wrapping_sub(1), max);
                    return signed_word(v, n);
                }
                unsigned_word(saturated(tcpvalues::dir_word(cv, v, tf), n), n)
            }
            What::TcpConn(tf) => {
                let cv = tcp.ok_or("the flow has no TCP analysis")?;
                unsigned_word(saturated(tcpvalues::conn_word(cv, tf), n), n)
            }
            What::SrcAddr | What::DstAddr => Err("an address is not an integer".into()),
        }
    }
}

/// `v` capped at the largest value of `n` octets: a TCP metric that
/// overflows its field (a capture's clock jumping by days) reads as the
/// field's maximum rather than failing the record.
fn saturated(v: u64, n: usize) -> u64 {
    match u32::try_from(n.saturating_mul(8)) {
        Ok(bits) if bits < 64 => v.min(
            1u64.checked_shl(bits)
                .map_or(u64::MAX, |m| m.saturating_sub(1)),
        ),
        _ => v,
    }
}

/// A time in a field of `precision` and `n` octets (the template picked
/// the precisions the flow's times fit, [`Times`]).
#[inline]
fn time_word(ns: i64, precision: TimePrecision, n: usize) -> std::result::Result<u64, Refusal> {
    match precision {
        TimePrecision::Milliseconds => {
            let ms = u64::try_from(ns.div_euclid(1_000_000))
                .map_err(|_| format!("{ns} ns since 1970 is before 1970"))?;
            unsigned_word(ms, n)
        }
        TimePrecision::Microseconds | TimePrecision::Nanoseconds => {
            let t = DateTime {
                secs: ns.div_euclid(1_000_000_000),
                nanos: ns.rem_euclid(1_000_000_000) as u32,
                precision,
            };
            ntp_word(&t, precision == TimePrecision::Microseconds)
        }
        TimePrecision::Seconds => {
            let s = u64::try_from(ns.div_euclid(1_000_000_000))
                .map_err(|_| format!("{ns} ns since 1970 is before 1970"))?;
            unsigned_word(s, n)
        }
    }
}

/// A direction's counters in [`DirField`] order (the MACs, written as
/// octets, are not among them).
fn dir_words(c: &DirCounters) -> [u64; 10] {
    [
        c.octets,
        c.packets,
        c.transport_octets,
        c.transport_packets,
        u64::from(c.initial_flags),
        u64::from(c.union_flags),
        u64::from(c.control_bits),
        u64::from(c.min_ttl),
        u64::from(c.max_ttl),
        u64::from(c.tos),
    ]
}
