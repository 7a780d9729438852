//! Writing a flow's values into its record ([`super::record`]'s layouts).
//!
//! A layout's fields are compiled once, when its template is made, into
//! [`Step`]s: where the field's value sits in a record's value table and
//! how it is written. A record then reads its flow once into that table
//! (the counters of both directions, every TCP value of both directions
//! and of the connection: [`super::tcpvalues`]) and writes the steps in a
//! flat loop, integers and times as whole words over the record's slack,
//! by the encoder's own primitives (the range checks and conversions
//! [`crate::encode::encode_value`] uses), without a
//! [`crate::decode::Value`] for each.

use super::flow::{DirCounters, Flow};
use super::ies::{DirField, What};
use super::tcpfields::Tf;
use super::tcpvalues::{self, CONN_SLOTS, DIR_SLOTS};
use crate::decode::{DateTime, TimePrecision};
use crate::encode::value::{ntp_word, put_word_at, unsigned_word, word_shift};
use crate::encode::Refusal;

// A record's value table: the flow's own values, each direction's
// counters (in `DirField` order), each direction's TCP values and the
// connection's, forward before reverse.
const FLOW_ID: usize = 0;
const START: usize = 1;
const END: usize = 2;
const REVERSE_DELTA: usize = 3;
const SRC_PORT: usize = 4;
const DST_PORT: usize = 5;
const ICMP: usize = 6;
const PROTOCOL: usize = 7;
const VLAN: usize = 8;
const REASON: usize = 9;
const DIR: usize = 10;
const DIR_WORDS: usize = 10;
const TCP: usize = DIR + 2 * DIR_WORDS;
const CONN: usize = TCP + 2 * DIR_SLOTS;
const SLOTS: usize = CONN + CONN_SLOTS;

/// How a compiled field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    /// An unsigned integer, refused if it does not fit.
    Unsigned,
    /// A TCP metric: capped at the field's largest value, so one that
    /// overflows its field (a capture's clock jumping by days) reads as
    /// the field's maximum rather than failing the record.
    Saturated,
    /// A signed integer (the table holds its two's complement), clamped
    /// to the field's range.
    Signed,
    /// A time in nanoseconds since 1970, in a field of this precision.
    Time(TimePrecision),
    /// Octets: the value table's slot says which ([`Octets`]).
    Octets,
}

/// Which octets an [`How::Octets`] field holds (its step's `src`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Octets {
    SrcAddr,
    DstAddr,
    SrcMac,
    DstMac,
    ReverseSrcMac,
    ReverseDstMac,
    Histogram,
    ReverseHistogram,
}

impl Octets {
    const ALL: [Octets; 8] = [
        Octets::SrcAddr,
        Octets::DstAddr,
        Octets::SrcMac,
        Octets::DstMac,
        Octets::ReverseSrcMac,
        Octets::ReverseDstMac,
        Octets::Histogram,
        Octets::ReverseHistogram,
    ];

    fn of(w: What) -> Option<Octets> {
        Some(match w {
            What::SrcAddr => Octets::SrcAddr,
            What::DstAddr => Octets::DstAddr,
            What::Dir(false, DirField::SrcMac) => Octets::SrcMac,
            What::Dir(false, DirField::DstMac) => Octets::DstMac,
            What::Dir(true, DirField::SrcMac) => Octets::ReverseSrcMac,
            What::Dir(true, DirField::DstMac) => Octets::ReverseDstMac,
            What::TcpDir(false, Tf::RttHistogram) => Octets::Histogram,
            What::TcpDir(true, Tf::RttHistogram) => Octets::ReverseHistogram,
            _ => return None,
        })
    }
}

/// A layout's field, compiled: where it goes in the record, where its value
/// comes from in the record's value table and how it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Step {
    at: u32,
    len: u16,
    src: u16,
    how: How,
    /// 64 - 8 × the length, for [`put_word_at`].
    shift: u8,
    /// The largest value a saturated field holds, or the largest positive
    /// one of a signed field.
    max: u64,
}

impl Step {
    /// The word a value `v` of the record's table is written as in this
    /// (integer or time) field: range-checked, saturated or clamped as its
    /// [`How`] says.
    fn word(&self, v: u64) -> std::result::Result<u64, Refusal> {
        match self.how {
            How::Saturated => Ok(v.min(self.max)),
            How::Unsigned => unsigned_word(v, usize::from(self.len)),
            How::Signed => {
                let max = self.max as i64;
                Ok((v as i64).clamp(max.wrapping_neg().wrapping_sub(1), max) as u64)
            }
            How::Time(p) => time_word(v as i64, p, usize::from(self.len)),
            How::Octets => Err("octets are not a word".into()),
        }
    }
}

/// The place of value `i` of a direction's part of the table that starts
/// at `base` with parts of `per` values (small numbers: nothing wraps).
fn slot(base: usize, reverse: bool, per: usize, i: usize) -> usize {
    base.wrapping_add(usize::from(reverse).wrapping_mul(per))
        .wrapping_add(i)
}

/// The steps of a layout's fields `what` (their lengths checked already),
/// in record order.
pub(super) fn compile(what: &[(What, u16)]) -> Vec<Step> {
    let mut at = 0u32;
    what.iter()
        .map(|&(w, len)| {
            let (src, how) = match w {
                What::FlowId => (FLOW_ID, How::Unsigned),
                What::Start(p) => (START, How::Time(p)),
                What::End(p) => (END, How::Time(p)),
                What::ReverseDeltaMs => (REVERSE_DELTA, How::Signed),
                What::SrcPort => (SRC_PORT, How::Unsigned),
                What::DstPort => (DST_PORT, How::Unsigned),
                What::IcmpTypeCode => (ICMP, How::Unsigned),
                What::Protocol => (PROTOCOL, How::Unsigned),
                What::Vlan => (VLAN, How::Unsigned),
                What::EndReason => (REASON, How::Unsigned),
                What::Dir(_, DirField::SrcMac | DirField::DstMac)
                | What::SrcAddr
                | What::DstAddr
                | What::TcpDir(_, Tf::RttHistogram) => {
                    (Octets::of(w).map_or(0, |o| o as usize), How::Octets)
                }
                What::Dir(reverse, df) => {
                    (slot(DIR, reverse, DIR_WORDS, df as usize), How::Unsigned)
                }
                What::TcpDir(reverse, tf) => (
                    slot(TCP, reverse, DIR_SLOTS, tf.slot()),
                    if tf.signed() {
                        How::Signed
                    } else {
                        How::Saturated
                    },
                ),
                What::TcpConn(tf) => (slot(CONN, false, 0, tf.slot()), How::Saturated),
            };
            // Word fields are 1-8 octets (`check_lengths`): the shift is
            // 0 to 56.
            let shift = word_shift(usize::from(len)).unwrap_or(0);
            let max = u64::MAX >> shift;
            let max = if how == How::Signed { max >> 1 } else { max };
            let step = Step {
                at,
                len,
                // Below SLOTS (a few hundred).
                src: u16::try_from(src).unwrap_or(u16::MAX),
                how,
                shift,
                max,
            };
            at = at.saturating_add(u32::from(len));
            step
        })
        .collect()
}

/// A flow's record fields, written by the encoder's own primitives.
pub(super) struct Fields<'f> {
    pub f: &'f Flow,
    /// The record's flowId and its first and last packet times (those of
    /// the flow, or of a uniflow record's direction).
    pub flow_id: u64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub reason: u8,
    /// The key sides of the forward and reverse directions.
    pub fwd: usize,
    pub rev: usize,
    pub hist_element: (u32, u16),
}

impl Fields<'_> {
    /// Fill `buf` (the record's length and 8 octets of slack) with the
    /// fields `steps`; the error names the field's index.
    pub(super) fn fill(
        &self,
        steps: &[Step],
        buf: &mut [u8],
    ) -> std::result::Result<(), (usize, Refusal)> {
        let values = self.values();
        let analysed = self.f.conn().is_some();
        for (i, s) in steps.iter().enumerate() {
            let at = s.at as usize;
            let src = usize::from(s.src);
            if !analysed && src >= TCP {
                return Err((i, "the flow has no TCP analysis".into()));
            }
            let v = values.get(src).copied().unwrap_or(0);
            if s.how == How::Octets {
                let slot = buf.get_mut(at..at.saturating_add(usize::from(s.len)));
                if self.octets(src, slot) {
                    continue;
                }
                return Err((i, format!("no room for {} octets at {at}", s.len)));
            }
            let word = s.word(v).map_err(|r| (i, r))?;
            if !put_word_at(buf, at, word, s.shift) {
                return Err((i, format!("no room for {} octets at {at}", s.len)));
            }
        }
        Ok(())
    }

    /// The record's value table.
    fn values(&self) -> [u64; SLOTS] {
        let (f, k) = (self.f, &self.f.key);
        let mut t = [0u64; SLOTS];
        t[FLOW_ID] = self.flow_id;
        t[START] = self.start_ns as u64;
        t[END] = self.end_ns as u64;
        let r = &f.dir[self.rev];
        let delta_ms = if r.packets == 0 {
            0
        } else {
            r.first_ns.saturating_sub(self.start_ns) / 1_000_000
        };
        t[REVERSE_DELTA] = delta_ms.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as u64;
        t[SRC_PORT] = u64::from(k.ends[self.fwd].port);
        t[DST_PORT] = u64::from(k.ends[self.rev].port);
        t[ICMP] = u64::from(k.icmp);
        t[PROTOCOL] = u64::from(k.protocol);
        t[VLAN] = u64::from(k.vlan);
        t[REASON] = u64::from(self.reason);
        for (i, side) in [self.fwd, self.rev].into_iter().enumerate() {
            let from = DIR.saturating_add(i.saturating_mul(DIR_WORDS));
            if let Some(d) = t.get_mut(from..).and_then(<[u64]>::first_chunk_mut) {
                *d = dir_words(&f.dir[side]);
            }
        }
        if let Some(c) = f.conn() {
            let (head, conn) = t.split_at_mut(CONN);
            let tcp = head.get_mut(TCP..).and_then(<[u64]>::split_first_chunk_mut);
            let (Some((fwd, rest)), Some(conn)) = (tcp, conn.first_chunk_mut::<CONN_SLOTS>())
            else {
                return t;
            };
            let Some(rev) = rest.first_chunk_mut::<DIR_SLOTS>() else {
                return t;
            };
            let continues = self.reason == super::table::reason::ACTIVE;
            tcpvalues::tables(c, self.fwd, continues, fwd, rev, conn);
        }
        t
    }

    /// Write the octets field numbered `which` ([`Octets`]) into `slot`
    /// (its length); false if the field cannot be written there.
    fn octets(&self, which: usize, slot: Option<&mut [u8]>) -> bool {
        let (f, k) = (self.f, &self.f.key);
        let (Some(slot), Some(&which)) = (slot, Octets::ALL.get(which)) else {
            return false;
        };
        let bytes: &[u8] = match which {
            Octets::SrcAddr | Octets::DstAddr => {
                let side = if which == Octets::SrcAddr {
                    self.fwd
                } else {
                    self.rev
                };
                let a = &k.ends[side & 1].addr;
                if k.version == 4 {
                    &a[..4]
                } else {
                    a
                }
            }
            Octets::Histogram | Octets::ReverseHistogram => {
                let side = self.side(which == Octets::ReverseHistogram);
                return f.conn().is_some_and(|c| {
                    tcpvalues::hist_octets(&c.dir[side & 1], self.hist_element, slot)
                });
            }
            Octets::SrcMac => &f.dir[self.fwd].src_mac,
            Octets::DstMac => &f.dir[self.fwd].dst_mac,
            Octets::ReverseSrcMac => &f.dir[self.rev].src_mac,
            Octets::ReverseDstMac => &f.dir[self.rev].dst_mac,
        };
        if slot.len() != bytes.len() {
            return false;
        }
        slot.copy_from_slice(bytes);
        true
    }

    fn side(&self, reverse: bool) -> usize {
        if reverse {
            self.rev
        } else {
            self.fwd
        }
    }
}

/// A time in a field of `precision` and `n` octets (the template picked
/// the precisions the flow's times fit, [`super::ies::Times`]).
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
fn dir_words(c: &DirCounters) -> [u64; DIR_WORDS] {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn step(w: What, len: u16) -> Step {
        compile(&[(w, len)])[0]
    }

    fn written(s: &Step, v: u64) -> Vec<u8> {
        let mut buf = [0u8; 16];
        assert!(put_word_at(&mut buf, 0, s.word(v).unwrap(), s.shift));
        buf[..usize::from(s.len)].to_vec()
    }

    /// Each kind of field as RFC 7011 writes it: unsigned big-endian and
    /// refused past its length (§6.1.1), a TCP metric capped at its
    /// field's largest value, a signed one clamped to its range in two's
    /// complement (§6.1.2), times in milliseconds since 1970 and as NTP
    /// timestamps from 1900 (§6.1.9-10: 1970 is 2,208,988,800 s =
    /// 0x83AA7E80 past 1900), refused before 1970.
    #[test]
    fn fields_are_written_as_rfc_7011_says() {
        let flow_id = step(What::FlowId, 4);
        assert_eq!(written(&flow_id, 0x0102_0304), [1, 2, 3, 4]);
        assert!(flow_id.word(1 << 32).is_err());

        let flight = step(What::TcpDir(false, Tf::MaxFlight), 4);
        assert_eq!(flight.how, How::Saturated);
        assert_eq!(written(&flight, u64::MAX), [0xFF; 4]);
        assert_eq!(written(&flight, 7), [0, 0, 0, 7]);

        let chirp = step(What::TcpDir(true, Tf::MinChirp), 2);
        assert_eq!(chirp.how, How::Signed);
        assert_eq!(written(&chirp, (-2i64) as u64), [0xFF, 0xFE]);
        assert_eq!(written(&chirp, (-40_000i64) as u64), [0x80, 0x00]);
        assert_eq!(written(&chirp, 40_000), [0x7F, 0xFF]);

        let start_ms = step(What::Start(TimePrecision::Milliseconds), 8);
        assert_eq!(
            written(&start_ms, 1_500_000_000),
            [0, 0, 0, 0, 0, 0, 0x05, 0xDC]
        );
        assert!(start_ms.word((-1i64) as u64).is_err());
        let end_us = step(What::End(TimePrecision::Microseconds), 8);
        assert_eq!(written(&end_us, 0), [0x83, 0xAA, 0x7E, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            written(&end_us, 1_000_000_000),
            [0x83, 0xAA, 0x7E, 0x81, 0, 0, 0, 0]
        );

        let mac = step(What::Dir(true, DirField::SrcMac), 6);
        assert_eq!(mac.how, How::Octets);
        assert_eq!(usize::from(mac.src), Octets::ReverseSrcMac as usize);
    }

    /// Steps follow each other in the record, each value from its own slot
    /// of the table: the reverse direction's after the forward's.
    #[test]
    fn steps_are_laid_end_to_end_from_their_slots() {
        let steps = compile(&[
            (What::FlowId, 8),
            (What::Dir(false, DirField::Packets), 8),
            (What::Dir(true, DirField::Packets), 4),
            (What::TcpDir(false, Tf::SequenceCount), 8),
            (What::TcpDir(true, Tf::SequenceCount), 8),
            (What::TcpConn(Tf::Quality), 1),
        ]);
        let at: Vec<u32> = steps.iter().map(|s| s.at).collect();
        assert_eq!(at, [0, 8, 16, 20, 28, 36]);
        let src: Vec<usize> = steps.iter().map(|s| usize::from(s.src)).collect();
        assert_eq!(src[1], DIR + DirField::Packets as usize);
        assert_eq!(src[2], DIR + DIR_WORDS + DirField::Packets as usize);
        assert_eq!(src[4] - src[3], DIR_SLOTS);
        assert!(src.iter().all(|&s| s < SLOTS));
        assert!(src[5] >= CONN);
    }
}
