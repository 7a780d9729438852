//! The values of the TCP-performance fields ([`super::tcpfields`] lists
//! them): each read off a connection's analysis ([`crate::tcp::Conn`]) in
//! the field's unit, the RTT histogram as its basicList octets.

use super::tcpfields::{Method, Stat, Tf};
use crate::tcp::rtt::HIST_BINS;
use crate::tcp::rtx::Losses;
use crate::tcp::seq::SeqCounts;
use crate::tcp::stats::{ns_to_ms, ns_to_us, round_half_up, Stats};
use crate::tcp::window::WindowEvents;
use crate::tcp::{Conn, Dir};

fn us(ns: f64) -> u64 {
    ns_to_us(ns).min(u64::from(u32::MAX))
}

/// A connection's values as its record's TCP fields read them, gathered
/// once a record rather than once a field: the counters the analysis keeps
/// apart, the RTT statistics of every method merged.
pub struct ConnValues<'a> {
    pub conn: &'a Conn,
    /// By key side.
    dirs: [DirValues<'a>; 2],
}

/// A direction's part of [`ConnValues`].
pub struct DirValues<'a> {
    pub dir: &'a Dir,
    seq: SeqCounts,
    events: WindowEvents,
    losses: Losses,
    all: Stats,
    never_seen: u64,
    ts_frequency: Option<u64>,
}

impl<'a> ConnValues<'a> {
    pub fn of(conn: &'a Conn) -> Self {
        let dir = |d: &'a Dir| DirValues {
            dir: d,
            seq: d.seq.counts(),
            events: d.win.events(),
            losses: d.losses(),
            all: d.rtt.all(),
            never_seen: d.seq.never_seen(),
            ts_frequency: d.marks.ts_frequency(),
        };
        ConnValues {
            conn,
            dirs: [dir(&conn.dir[0]), dir(&conn.dir[1])],
        }
    }

    /// Key side `side`'s values.
    pub fn dir(&self, side: usize) -> &DirValues<'a> {
        &self.dirs[side & 1]
    }
}

fn stats_of(v: &DirValues<'_>, m: Method) -> Stats {
    match m {
        Method::All => v.all,
        Method::SeqAck => v.dir.rtt.seq_ack,
        Method::Ts => v.dir.rtt.ts,
    }
}

/// A per-direction field's value for direction `v` of `cv`.
#[allow(clippy::cast_precision_loss)] // nanoseconds and octets far below 2^52
pub fn dir_word(cv: &ConnValues<'_>, v: &DirValues<'_>, field: Tf) -> u64 {
    let dir = v.dir;
    let seq = &v.seq;
    let win = &dir.win;
    let events = &v.events;
    let losses = &v.losses;
    let marks = &dir.marks;
    let rtx = &losses.rtx;
    match field {
        Tf::SequenceCount => seq.advanced,
        Tf::RetransmitCount => u64::from(seq.retransmitted_segments),
        Tf::MaxSequenceJump => seq.max_jump.min(u64::from(u32::MAX)),
        Tf::EctMarks => u64::from(marks.ect0.saturating_add(marks.ect1)),
        Tf::CeMarks => u64::from(marks.ce),
        Tf::DeclaredMss => u64::from(marks.declared_mss.unwrap_or(0)),
        Tf::ObservedMss => u64::from(marks.observed_mss.min(u32::from(u16::MAX))),
        Tf::SequenceLoss => v.never_seen,
        Tf::SequenceJumps => u64::from(seq.jumps),
        Tf::LossEvents => u64::from(losses.loss_events),
        Tf::Characteristics => u64::from(marks.characteristics),
        Tf::DupAcks => u64::from(events.dup_acks),
        Tf::SelAcks => u64::from(events.sack_packets),
        Tf::MinRwin => u64::from(win.rwin.min),
        Tf::MeanRwin => round_half_up(win.rwin.mean()).min(u64::from(u32::MAX)),
        Tf::MaxRwin => u64::from(win.rwin.max),
        Tf::ReceiverStalls => u64::from(events.zero_events),
        Tf::TimestampFrequency => v.ts_frequency.unwrap_or(0).min(u64::from(u32::MAX)),
        Tf::Rtt(m, stat) => {
            let st = stats_of(v, m);
            match stat {
                Stat::Min => us(st.min as f64),
                Stat::Mean => us(st.mean()),
                Stat::Max => us(st.max as f64),
                Stat::StdDev => us(st.std_dev()),
                Stat::Smoothed => us(st.smoothed()),
                Stat::Count => u64::from(st.count),
            }
        }
        Tf::HandshakeHalf => us(dir.rtt.handshake.get().unwrap_or(0) as f64),
        Tf::RetransmittedOctets => seq.retransmitted_octets,
        Tf::FastRetransmits => u64::from(rtx.fast),
        Tf::TimeoutRetransmits => u64::from(rtx.timeout),
        Tf::TailLossProbes => u64::from(rtx.tail_loss_probe),
        Tf::SpuriousRetransmits => u64::from(rtx.spurious),
        Tf::WindowProbes => u64::from(rtx.probe),
        Tf::ReorderedSegments => u64::from(seq.reordered_segments),
        Tf::ReorderedOctets => seq.reordered_octets,
        Tf::UpstreamLoss => seq.repaired_octets.saturating_add(v.never_seen),
        Tf::RepairedSegments => u64::from(seq.repaired_segments),
        Tf::RepairedOctets => seq.repaired_octets,
        Tf::AckedUnseen => u64::from(losses.acked_unseen),
        Tf::AckedUnseenOctets => losses.acked_unseen_octets,
        Tf::MaxFlight => u64::from(win.flight.max),
        Tf::MeanFlight => round_half_up(win.flight.mean()),
        Tf::ZeroWindowUs => ns_to_us(events.zero_ns as f64),
        Tf::Dsacks => u64::from(events.dsacks),
        Tf::SackBlocks => u64::from(events.sack_blocks),
        Tf::Ect1 => u64::from(marks.ect1),
        Tf::Ece => u64::from(marks.ece),
        Tf::Cwr => u64::from(marks.cwr),
        Tf::OptionsSeen => u64::from(marks.options),
        Tf::WindowScale => u64::from(marks.window_scale.unwrap_or(0)),
        Tf::LastSynFlags => u64::from(marks.last_syn_flags.unwrap_or(0)),
        Tf::MinIot => ns_to_ms(marks.iot.min as f64),
        Tf::MaxIot => ns_to_ms(marks.iot.max as f64),
        Tf::InitialWindow => u64::try_from(dir.initial_window.get().unwrap_or(0)).unwrap_or(0),
        _ => conn_word(cv, field),
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
    for (b, c) in dir.rtt.hist().iter().zip(out[9..].chunks_exact_mut(4)) {
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
pub fn conn_word(cv: &ConnValues<'_>, f: Tf) -> u64 {
    let (c, a, b) = (cv.conn, &cv.dirs[0].all, &cv.dirs[1].all);
    match f {
        // The round trip at the OP: the sum of the two halves.
        Tf::QofMinRttMs => ns_to_ms(a.min.saturating_add(b.min) as f64),
        Tf::QofMeanRttMs => ns_to_ms(a.mean() + b.mean()),
        Tf::QofLastRttMs => ns_to_ms(a.smoothed() + b.smoothed()),
        Tf::QofRttSamples => u64::from(a.count.saturating_add(b.count)),
        Tf::HandshakeRtt => {
            us(c.hs
                .syn_to_synack
                .get()
                .unwrap_or(0)
                .saturating_add(c.hs.synack_to_ack.get().unwrap_or(0)) as f64)
        }
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
