//! The TCP-performance fields of a TCP flow's record ([`crate::tcp`]'s
//! counters): QoF's IEs (PEN 35566) and ferrofix's (PEN 32473 unless the
//! meter is given another), per direction (reverse IEs for the reverse
//! direction) or per connection.
//!
//! A value that was not measured is absent, never 0 (an RTT without a
//! sample, a window scale never offered): such a field belongs to a
//! group, and a record carries a group's fields only when its value
//! exists. Each combination of groups present is a template of its own
//! ([`super::record`] makes them as flows need them), so IPFIX readers
//! see a missing value as a missing field and Arrow as null.

use crate::tcp::rtt::HIST_BINS;
use crate::tcp::stats::{ns_to_ms, ns_to_us, Stats};
use crate::tcp::{Conn, Dir};

/// A field's value source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tf {
    // QoF's, per direction.
    SequenceCount,
    RetransmitCount,
    MaxSequenceJump,
    EctMarks,
    CeMarks,
    DeclaredMss,
    ObservedMss,
    SequenceLoss,
    SequenceJumps,
    LossEvents,
    Characteristics,
    DupAcks,
    SelAcks,
    MinRwin,
    MeanRwin,
    MaxRwin,
    ReceiverStalls,
    TimestampFrequency,
    // QoF's, per connection.
    QofMinRttMs,
    QofMeanRttMs,
    QofLastRttMs,
    QofRttSamples,
    // ferrofix's, per direction: RTT statistics of a method.
    Rtt(Method, Stat),
    HandshakeHalf,
    RetransmittedOctets,
    FastRetransmits,
    TimeoutRetransmits,
    TailLossProbes,
    SpuriousRetransmits,
    WindowProbes,
    ReorderedSegments,
    ReorderedOctets,
    UpstreamLoss,
    RepairedSegments,
    RepairedOctets,
    AckedUnseen,
    AckedUnseenOctets,
    MaxFlight,
    MeanFlight,
    ZeroWindowUs,
    Dsacks,
    SackBlocks,
    Ect1,
    Ece,
    Cwr,
    OptionsSeen,
    WindowScale,
    /// The RTT histogram: a basicList, written as octets ([`hist_octets`]).
    RttHistogram,
    LastSynFlags,
    MinIot,
    MaxIot,
    /// Signed ([`dir_signed`]).
    MinChirp,
    MaxChirp,
    MeanChirp,
    InitialWindow,
    // ferrofix's, per connection.
    HandshakeRtt,
    Quality,
    EcnNegotiated,
}

/// An RTT method ([`crate::tcp::rtt`]); `All` is every sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    All,
    SeqAck,
    Ts,
}

/// A statistic of RTT samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    Min,
    Mean,
    Max,
    StdDev,
    Smoothed,
    Count,
}

/// Groups of fields present only when measured; bits of a record's mask.
/// Per-direction groups take two bits (forward, reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Always,
    RttAll,
    RttSeqAck,
    RttTs,
    HandshakeHalf,
    Flight,
    Rwin,
    DeclaredMss,
    WindowScale,
    TsFrequency,
    LastSyn,
    Iot,
    Chirp,
    InitialWindow,
    // Per connection.
    HandshakeRtt,
    QofRtt,
}

impl Group {
    /// The group's bit for direction `reverse` (per-connection groups:
    /// `reverse` ignored).
    fn bit(self, reverse: bool) -> u32 {
        // Forward bits; the reverse direction's is the next one up.
        let forward = match self {
            Group::Always => return 0,
            Group::HandshakeRtt => return 1 << 26,
            Group::QofRtt => return 1 << 27,
            Group::RttAll => 1,
            Group::RttSeqAck => 1 << 2,
            Group::RttTs => 1 << 4,
            Group::HandshakeHalf => 1 << 6,
            Group::Flight => 1 << 8,
            Group::Rwin => 1 << 10,
            Group::DeclaredMss => 1 << 12,
            Group::WindowScale => 1 << 14,
            Group::TsFrequency => 1 << 16,
            Group::LastSyn => 1 << 18,
            Group::Iot => 1 << 20,
            Group::Chirp => 1 << 22,
            Group::InitialWindow => 1 << 24,
        };
        if reverse {
            forward << 1
        } else {
            forward
        }
    }

    /// The per-direction groups.
    pub const PER_DIRECTION: [Group; 13] = [
        Group::RttAll,
        Group::RttSeqAck,
        Group::RttTs,
        Group::HandshakeHalf,
        Group::Flight,
        Group::Rwin,
        Group::DeclaredMss,
        Group::WindowScale,
        Group::TsFrequency,
        Group::LastSyn,
        Group::Iot,
        Group::Chirp,
        Group::InitialWindow,
    ];

    /// Every optional group's bits, both directions or the forward one
    /// only.
    pub fn all_bits(reverse_too: bool) -> u32 {
        let mut m = ANALYSED | Group::HandshakeRtt.bit(false) | Group::QofRtt.bit(false);
        for g in Group::PER_DIRECTION {
            m |= g.bit(false);
            if reverse_too {
                m |= g.bit(true);
            }
        }
        m
    }
}

/// The bit every TCP record with the analysis carries (a TCP flow metered
/// without it has mask 0).
pub const ANALYSED: u32 = 1 << 28;

/// (name, field, group) of the per-direction fields, in template order.
pub fn per_direction() -> Vec<(&'static str, Tf, Group)> {
    use Group as G;
    use Tf as T;
    let mut v = vec![
        ("tcpSequenceCount", T::SequenceCount, G::Always),
        ("tcpRetransmitCount", T::RetransmitCount, G::Always),
        ("maxTcpSequenceJump", T::MaxSequenceJump, G::Always),
        ("tcpSequenceJumpCount", T::SequenceJumps, G::Always),
        ("tcpSequenceLossCount", T::SequenceLoss, G::Always),
        ("tcpLossEventCount", T::LossEvents, G::Always),
        ("ectMarkCount", T::EctMarks, G::Always),
        ("ceMarkCount", T::CeMarks, G::Always),
        ("declaredTcpMss", T::DeclaredMss, G::DeclaredMss),
        ("observedTcpMss", T::ObservedMss, G::Always),
        ("qofTcpCharacteristics", T::Characteristics, G::Always),
        ("tcpDupAckCount", T::DupAcks, G::Always),
        ("tcpSelAckCount", T::SelAcks, G::Always),
        ("minTcpRwin", T::MinRwin, G::Rwin),
        ("meanTcpRwin", T::MeanRwin, G::Rwin),
        ("maxTcpRwin", T::MaxRwin, G::Rwin),
        ("tcpReceiverStallCount", T::ReceiverStalls, G::Always),
        (
            "tcpTimestampFrequency",
            T::TimestampFrequency,
            G::TsFrequency,
        ),
    ];
    for (names, m, group) in [
        (
            [
                "minTcpRttMicroseconds",
                "meanTcpRttMicroseconds",
                "maxTcpRttMicroseconds",
                "stddevTcpRttMicroseconds",
                "smoothedTcpRttMicroseconds",
                "tcpRttSampleTotalCount",
            ],
            Method::All,
            G::RttAll,
        ),
        (
            [
                "minTcpSeqAckRttMicroseconds",
                "meanTcpSeqAckRttMicroseconds",
                "maxTcpSeqAckRttMicroseconds",
                "stddevTcpSeqAckRttMicroseconds",
                "smoothedTcpSeqAckRttMicroseconds",
                "tcpSeqAckRttSampleCount",
            ],
            Method::SeqAck,
            G::RttSeqAck,
        ),
        (
            [
                "minTcpTsRttMicroseconds",
                "meanTcpTsRttMicroseconds",
                "maxTcpTsRttMicroseconds",
                "stddevTcpTsRttMicroseconds",
                "smoothedTcpTsRttMicroseconds",
                "tcpTsRttSampleCount",
            ],
            Method::Ts,
            G::RttTs,
        ),
    ] {
        let [min, mean, max, sd, smoothed, count] = names;
        for (name, stat) in [
            (min, Stat::Min),
            (mean, Stat::Mean),
            (max, Stat::Max),
            (sd, Stat::StdDev),
            (smoothed, Stat::Smoothed),
        ] {
            v.push((name, T::Rtt(m, stat), group));
        }
        // Counts are never absent: 0 is a measurement (no sample).
        v.push((count, T::Rtt(m, Stat::Count), G::Always));
    }
    v.extend([
        (
            "tcpHandshakeHalfRttMicroseconds",
            T::HandshakeHalf,
            G::HandshakeHalf,
        ),
        (
            "tcpRetransmittedOctetCount",
            T::RetransmittedOctets,
            G::Always,
        ),
        ("tcpFastRetransmitCount", T::FastRetransmits, G::Always),
        (
            "tcpTimeoutRetransmitCount",
            T::TimeoutRetransmits,
            G::Always,
        ),
        ("tcpTailLossProbeCount", T::TailLossProbes, G::Always),
        (
            "tcpSpuriousRetransmitCount",
            T::SpuriousRetransmits,
            G::Always,
        ),
        ("tcpWindowProbeCount", T::WindowProbes, G::Always),
        ("tcpReorderedSegmentCount", T::ReorderedSegments, G::Always),
        ("tcpReorderedOctetCount", T::ReorderedOctets, G::Always),
        ("tcpUpstreamLossOctetCount", T::UpstreamLoss, G::Always),
        ("tcpRepairedSegmentCount", T::RepairedSegments, G::Always),
        ("tcpRepairedOctetCount", T::RepairedOctets, G::Always),
        ("tcpAckedUnseenCount", T::AckedUnseen, G::Always),
        ("tcpAckedUnseenOctetCount", T::AckedUnseenOctets, G::Always),
        ("maxTcpFlightOctets", T::MaxFlight, G::Flight),
        ("meanTcpFlightOctets", T::MeanFlight, G::Flight),
        ("tcpZeroWindowMicroseconds", T::ZeroWindowUs, G::Always),
        ("tcpDsackCount", T::Dsacks, G::Always),
        ("tcpSackBlockCount", T::SackBlocks, G::Always),
        ("tcpEct1PacketCount", T::Ect1, G::Always),
        ("tcpEceCount", T::Ece, G::Always),
        ("tcpCwrCount", T::Cwr, G::Always),
        ("tcpOptionsSeen", T::OptionsSeen, G::Always),
        ("tcpWindowScale", T::WindowScale, G::WindowScale),
        ("tcpRttHistogram", T::RttHistogram, G::RttAll),
        ("lastSynTcpFlags", T::LastSynFlags, G::LastSyn),
        ("minTcpIOTMilliseconds", T::MinIot, G::Iot),
        ("maxTcpIOTMilliseconds", T::MaxIot, G::Iot),
        ("minTcpChirpMilliseconds", T::MinChirp, G::Chirp),
        ("maxTcpChirpMilliseconds", T::MaxChirp, G::Chirp),
        ("meanTcpChirpMilliseconds", T::MeanChirp, G::Chirp),
        ("tcpInitialWindowOctets", T::InitialWindow, G::InitialWindow),
    ]);
    v
}

/// (name, field, group) of the per-connection fields, in template order.
pub fn per_connection() -> Vec<(&'static str, Tf, Group)> {
    use Group as G;
    use Tf as T;
    vec![
        ("minTcpRttMilliseconds", T::QofMinRttMs, G::QofRtt),
        ("meanTcpRttMilliseconds", T::QofMeanRttMs, G::QofRtt),
        ("lastTcpRttMilliseconds", T::QofLastRttMs, G::QofRtt),
        ("tcpRttSampleCount", T::QofRttSamples, G::Always),
        (
            "tcpHandshakeRttMicroseconds",
            T::HandshakeRtt,
            G::HandshakeRtt,
        ),
        ("tcpMeasurementQuality", T::Quality, G::Always),
        ("tcpEcnNegotiated", T::EcnNegotiated, G::Always),
    ]
}

/// Octets a field is sent in when less than its type's (RFC 7011 §6.2
/// reduced-size encoding): counts of segments, packets and events go in
/// 4 octets (saturating at 2^32 - 1), so that a biflow TCP record fits a
/// 1,400-octet message; octet counts keep 8.
pub fn reduced_length(field: Tf) -> Option<u16> {
    use Tf as T;
    matches!(
        field,
        T::RetransmitCount
            | T::SequenceJumps
            | T::LossEvents
            | T::EctMarks
            | T::CeMarks
            | T::DupAcks
            | T::SelAcks
            | T::FastRetransmits
            | T::TimeoutRetransmits
            | T::TailLossProbes
            | T::SpuriousRetransmits
            | T::WindowProbes
            | T::ReorderedSegments
            | T::RepairedSegments
            | T::AckedUnseen
            | T::Dsacks
            | T::SackBlocks
            | T::Ect1
            | T::Ece
            | T::Cwr
    )
    .then_some(4)
}

/// Whether group `g` has a value for `d`.
fn present(g: Group, c: &Conn, d: &Dir) -> bool {
    match g {
        Group::Always => true,
        Group::RttAll => d.rtt.all().any(),
        Group::RttSeqAck => d.rtt.seq_ack.any(),
        Group::RttTs => d.rtt.ts.any(),
        Group::HandshakeHalf => d.rtt.handshake.is_some(),
        Group::Flight => d.win.flight.any(),
        Group::Rwin => d.win.rwin.any(),
        Group::DeclaredMss => d.marks.declared_mss.is_some(),
        Group::WindowScale => d.marks.window_scale.is_some(),
        Group::TsFrequency => d.marks.ts_frequency().is_some(),
        Group::LastSyn => d.marks.last_syn_flags.is_some(),
        Group::Iot => d.marks.iot.any(),
        Group::Chirp => d.marks.chirp.any(),
        Group::InitialWindow => d.initial_window.is_some(),
        Group::HandshakeRtt => c.hs.syn_to_synack.is_some() && c.hs.synack_to_ack.is_some(),
        Group::QofRtt => c.dir.iter().all(|d| d.rtt.all().any()),
    }
}

/// The groups present for a connection whose forward and reverse
/// directions are key sides `fwd` and `rev` (`reverse_too`: the record
/// carries the reverse direction).
pub fn mask(c: &Conn, fwd: usize, rev: usize, reverse_too: bool) -> u32 {
    let mut m = ANALYSED;
    let groups = Group::PER_DIRECTION;
    for (reverse, side) in [(false, fwd), (true, rev)] {
        if reverse && !reverse_too {
            break;
        }
        let d = &c.dir[side & 1];
        for g in groups {
            if present(g, c, d) {
                m |= g.bit(reverse);
            }
        }
    }
    for g in [Group::HandshakeRtt, Group::QofRtt] {
        if present(g, c, &c.dir[0]) {
            m |= g.bit(false);
        }
    }
    m
}

/// Whether a field of group `g` (direction `reverse`) is in a record of
/// mask `m`.
pub fn included(g: Group, reverse: bool, m: u32) -> bool {
    g == Group::Always || m & g.bit(reverse) != 0
}

fn us(ns: f64) -> u64 {
    ns_to_us(ns).min(u64::from(u32::MAX))
}

fn stats_of(d: &Dir, m: Method) -> Stats {
    match m {
        Method::All => d.rtt.all(),
        Method::SeqAck => d.rtt.seq_ack,
        Method::Ts => d.rtt.ts,
    }
}

/// A per-direction field's value for direction `d` of `c`.
#[allow(clippy::cast_precision_loss)] // nanoseconds and octets far below 2^52
pub fn dir_word(conn: &Conn, dir: &Dir, field: Tf) -> u64 {
    let seq = &dir.seq.counts;
    let win = &dir.win;
    let marks = &dir.marks;
    let rtx = &dir.rtx;
    match field {
        Tf::SequenceCount => seq.advanced,
        Tf::RetransmitCount => u64::from(seq.retransmitted_segments),
        Tf::MaxSequenceJump => seq.max_jump.min(u64::from(u32::MAX)),
        Tf::EctMarks => u64::from(marks.ect0.saturating_add(marks.ect1)),
        Tf::CeMarks => u64::from(marks.ce),
        Tf::DeclaredMss => u64::from(marks.declared_mss.unwrap_or(0)),
        Tf::ObservedMss => u64::from(marks.observed_mss.min(u32::from(u16::MAX))),
        Tf::SequenceLoss => dir.seq.never_seen(),
        Tf::SequenceJumps => u64::from(seq.jumps),
        Tf::LossEvents => u64::from(dir.loss_events),
        Tf::Characteristics => u64::from(marks.characteristics),
        Tf::DupAcks => u64::from(win.dup_acks),
        Tf::SelAcks => u64::from(win.sack_packets),
        Tf::MinRwin => u64::from(win.rwin.min),
        Tf::MeanRwin => win.rwin.mean().round().clamp(0.0, f64::from(u32::MAX)) as u64,
        Tf::MaxRwin => u64::from(win.rwin.max),
        Tf::ReceiverStalls => u64::from(win.zero_events),
        Tf::TimestampFrequency => marks.ts_frequency().unwrap_or(0).min(u64::from(u32::MAX)),
        Tf::Rtt(m, stat) => {
            let st = stats_of(dir, m);
            match stat {
                Stat::Min => us(st.min as f64),
                Stat::Mean => us(st.mean()),
                Stat::Max => us(st.max as f64),
                Stat::StdDev => us(st.std_dev()),
                Stat::Smoothed => us(st.smoothed()),
                Stat::Count => u64::from(st.count),
            }
        }
        Tf::HandshakeHalf => us(dir.rtt.handshake.unwrap_or(0) as f64),
        Tf::RetransmittedOctets => seq.retransmitted_octets,
        Tf::FastRetransmits => u64::from(rtx.fast),
        Tf::TimeoutRetransmits => u64::from(rtx.timeout),
        Tf::TailLossProbes => u64::from(rtx.tail_loss_probe),
        Tf::SpuriousRetransmits => u64::from(rtx.spurious),
        Tf::WindowProbes => u64::from(rtx.probe),
        Tf::ReorderedSegments => u64::from(seq.reordered_segments),
        Tf::ReorderedOctets => seq.reordered_octets,
        Tf::UpstreamLoss => seq.repaired_octets.saturating_add(dir.seq.never_seen()),
        Tf::RepairedSegments => u64::from(seq.repaired_segments),
        Tf::RepairedOctets => seq.repaired_octets,
        Tf::AckedUnseen => u64::from(dir.acked_unseen),
        Tf::AckedUnseenOctets => dir.acked_unseen_octets,
        Tf::MaxFlight => u64::from(win.flight.max),
        Tf::MeanFlight => win.flight.mean().round().max(0.0) as u64,
        Tf::ZeroWindowUs => ns_to_us(win.zero_ns as f64),
        Tf::Dsacks => u64::from(win.dsacks),
        Tf::SackBlocks => u64::from(win.sack_blocks),
        Tf::Ect1 => u64::from(marks.ect1),
        Tf::Ece => u64::from(marks.ece),
        Tf::Cwr => u64::from(marks.cwr),
        Tf::OptionsSeen => u64::from(marks.options),
        Tf::WindowScale => u64::from(marks.window_scale.unwrap_or(0)),
        Tf::LastSynFlags => u64::from(marks.last_syn_flags.unwrap_or(0)),
        Tf::MinIot => ns_to_ms(marks.iot.min as f64),
        Tf::MaxIot => ns_to_ms(marks.iot.max as f64),
        Tf::InitialWindow => dir.initial_window.unwrap_or(0),
        _ => conn_word(conn, field),
    }
}

/// Octets of the RTT histogram field: a basicList header (semantic,
/// element id with the enterprise bit, element length, PEN: RFC 6313
/// §4.5.1) and the bins as unsigned32.
pub const HIST_FIELD_LEN: u16 = 9 + 4 * HIST_BINS as u16;

/// The RTT histogram field of direction `dir` (RFC 6313 §4.5.1), its
/// elements the IE (`pen`, `id`) (tcpRttBinCount), written into `out`
/// ([`HIST_FIELD_LEN`] octets).
pub fn hist_octets(dir: &Dir, element: (u32, u16), out: &mut [u8]) -> bool {
    let Some(out) = out.get_mut(..usize::from(HIST_FIELD_LEN)) else {
        return false;
    };
    // Semantic 0x04: ordered (RFC 6313 §4.5.5).
    out[0] = 0x04;
    out[1..3].copy_from_slice(&(element.1 | 0x8000).to_be_bytes());
    out[3..5].copy_from_slice(&4u16.to_be_bytes());
    out[5..9].copy_from_slice(&element.0.to_be_bytes());
    for (b, c) in dir.rtt.hist.iter().zip(out[9..].chunks_exact_mut(4)) {
        c.copy_from_slice(&b.to_be_bytes());
    }
    true
}

impl Tf {
    /// Whether the field is signed ([`dir_signed`]).
    pub fn signed(self) -> bool {
        matches!(self, Tf::MinChirp | Tf::MaxChirp | Tf::MeanChirp)
    }
}

/// A signed per-direction field's value (the chirps, in milliseconds
/// rounded to nearest).
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // ms of ns spans
pub fn dir_signed(dir: &Dir, field: Tf) -> i64 {
    let c = &dir.marks.chirp;
    let ns = match field {
        Tf::MinChirp => c.min as f64,
        Tf::MaxChirp => c.max as f64,
        Tf::MeanChirp => c.mean(),
        _ => 0.0,
    };
    (ns / 1e6).round() as i64
}

/// A per-connection field's value.
#[allow(clippy::cast_precision_loss)] // nanoseconds far below 2^52
pub fn conn_word(c: &Conn, f: Tf) -> u64 {
    let [a, b] = [c.dir[0].rtt.all(), c.dir[1].rtt.all()];
    match f {
        // The round trip at the OP: the sum of the two halves.
        Tf::QofMinRttMs => ns_to_ms(a.min.saturating_add(b.min) as f64),
        Tf::QofMeanRttMs => ns_to_ms(a.mean() + b.mean()),
        Tf::QofLastRttMs => ns_to_ms(a.smoothed() + b.smoothed()),
        Tf::QofRttSamples => u64::from(a.count.saturating_add(b.count)),
        Tf::HandshakeRtt => us(c
            .hs
            .syn_to_synack
            .unwrap_or(0)
            .saturating_add(c.hs.synack_to_ack.unwrap_or(0)) as f64),
        Tf::Quality => u64::from(c.quality()),
        // RFC 7011 §6.1.5: true is 1, false is 2.
        Tf::EcnNegotiated => {
            if c.hs.ecn {
                1
            } else {
                2
            }
        }
        _ => 0,
    }
}
