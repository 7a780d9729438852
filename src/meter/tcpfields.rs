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
//! see a missing value as a missing field and Arrow as null. The values
//! are read in [`super::tcpvalues`].

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
    /// The RTT histogram: a basicList, written as octets ([`super::tcpvalues::hist_octets`]).
    RttHistogram,
    LastSynFlags,
    MinIot,
    MaxIot,
    /// Signed ([`Tf::signed`]).
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
    /// Both the SYN and the SYN/ACK answering it were seen: whether ECN
    /// was set up is known.
    Ecn,
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
            Group::Ecn => return 1 << 29,
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
        let mut m = ANALYSED
            | Group::HandshakeRtt.bit(false)
            | Group::QofRtt.bit(false)
            | Group::Ecn.bit(false);
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
        ("tcpEcnNegotiated", T::EcnNegotiated, G::Ecn),
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

/// Whether group `g` has a value for the direction of key side `side`.
fn present(g: Group, c: &Conn, side: usize) -> bool {
    let d: &Dir = &c.dir[side & 1];
    match g {
        Group::Always => true,
        Group::RttAll => d.rtt.any(),
        Group::RttSeqAck => d.rtt.seq_ack.any(),
        Group::RttTs => d.rtt.ts.any(),
        Group::HandshakeHalf => d.rtt.handshake.is_some(),
        Group::Flight => d.win.flight.any(),
        Group::Rwin => d.win.rwin.any() && c.window_scale_known(),
        Group::DeclaredMss => d.marks.declared_mss.is_some(),
        Group::WindowScale => d.marks.window_scale.is_some(),
        Group::TsFrequency => d.marks.ts_frequency().is_some(),
        Group::LastSyn => d.marks.last_syn_flags.is_some(),
        Group::Iot => d.marks.iot.any(),
        Group::Chirp => d.marks.chirp.any(),
        Group::InitialWindow => d.initial_window().is_some(),
        Group::HandshakeRtt => c.hs.syn_to_synack.is_some() && c.hs.synack_to_ack.is_some(),
        Group::QofRtt => c.dir.iter().all(|d| d.rtt.any()),
        Group::Ecn => c.hs.syn_seen() && c.hs.synack_seen(),
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
        for g in groups {
            if present(g, c, side) {
                m |= g.bit(reverse);
            }
        }
    }
    for g in [Group::HandshakeRtt, Group::QofRtt, Group::Ecn] {
        if present(g, c, 0) {
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
