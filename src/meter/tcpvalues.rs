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
struct ConnValues<'a> {
    pub conn: &'a Conn,
    /// By key side.
    dirs: [DirValues<'a>; 2],
}

/// A direction's part of [`ConnValues`].
struct DirValues<'a> {
    dir: &'a Dir,
    seq: SeqCounts,
    events: WindowEvents,
    losses: Losses,
    all: Stats,
    never_seen: u64,
    ts_frequency: Option<u64>,
}

impl<'a> ConnValues<'a> {
    /// `continues`: the record ends on the active timeout (a continuation
    /// follows), see [`crate::tcp::seq::SeqSpace::never_seen_in_record`].
    fn of(conn: &'a Conn, continues: bool) -> Self {
        let dir = |d: &'a Dir| DirValues {
            dir: d,
            seq: d.seq.counts(),
            events: d.win.events(),
            losses: d.losses(),
            all: d.rtt.all(),
            never_seen: d.seq.never_seen_in_record(continues),
            ts_frequency: d.marks.ts_frequency(),
        };
        ConnValues {
            conn,
            dirs: [dir(&conn.dir[0]), dir(&conn.dir[1])],
        }
    }
}

/// Every TCP value of `conn`'s record: the forward direction's (key side
/// `fwd`), the reverse's and the connection's; `continues`: the record
/// ends on the active timeout.
pub fn tables(
    conn: &Conn,
    fwd: usize,
    continues: bool,
    forward: &mut DirTable,
    reverse: &mut DirTable,
    connection: &mut ConnTable,
) {
    let cv = ConnValues::of(conn, continues);
    dir_table(&cv.dirs[fwd & 1], forward);
    dir_table(&cv.dirs[(fwd ^ 1) & 1], reverse);
    conn_table(&cv, connection);
}

/// A direction's TCP values by [`Tf::slot`]: every per-direction field of
/// the template, whatever the layout, read off the analysis once a record
/// (the signed chirps as their two's complement).
pub type DirTable = [u64; DIR_SLOTS];

/// The per-connection values by [`Tf::slot`].
pub type ConnTable = [u64; CONN_SLOTS];

/// Slots of a [`DirTable`]: the per-direction fields, the RTT statistics
/// of the three methods taking six each.
pub const DIR_SLOTS: usize = RTT_SLOT + 3 * 6;
/// Slots of a [`ConnTable`].
pub const CONN_SLOTS: usize = 7;
const RTT_SLOT: usize = 50;

impl Tf {
    /// The field's place in its table: a [`DirTable`] for the
    /// per-direction fields, a [`ConnTable`] for the per-connection ones.
    #[allow(clippy::match_same_arms)] // the two tables' numbers overlap
    #[inline]
    pub const fn slot(self) -> usize {
        match self {
            Tf::SequenceCount => 0,
            Tf::RetransmitCount => 1,
            Tf::MaxSequenceJump => 2,
            Tf::EctMarks => 3,
            Tf::CeMarks => 4,
            Tf::DeclaredMss => 5,
            Tf::ObservedMss => 6,
            Tf::SequenceLoss => 7,
            Tf::SequenceJumps => 8,
            Tf::LossEvents => 9,
            Tf::Characteristics => 10,
            Tf::DupAcks => 11,
            Tf::SelAcks => 12,
            Tf::MinRwin => 13,
            Tf::MeanRwin => 14,
            Tf::MaxRwin => 15,
            Tf::ReceiverStalls => 16,
            Tf::TimestampFrequency => 17,
            Tf::HandshakeHalf => 18,
            Tf::RetransmittedOctets => 19,
            Tf::FastRetransmits => 20,
            Tf::TimeoutRetransmits => 21,
            Tf::TailLossProbes => 22,
            Tf::SpuriousRetransmits => 23,
            Tf::WindowProbes => 24,
            Tf::ReorderedSegments => 25,
            Tf::ReorderedOctets => 26,
            Tf::UpstreamLoss => 27,
            Tf::RepairedSegments => 28,
            Tf::RepairedOctets => 29,
            Tf::AckedUnseen => 30,
            Tf::AckedUnseenOctets => 31,
            Tf::MaxFlight => 32,
            Tf::MeanFlight => 33,
            Tf::ZeroWindowUs => 34,
            Tf::Dsacks => 35,
            Tf::SackBlocks => 36,
            Tf::Ect1 => 37,
            Tf::Ece => 38,
            Tf::Cwr => 39,
            Tf::OptionsSeen => 40,
            Tf::WindowScale => 41,
            Tf::LastSynFlags => 42,
            Tf::MinIot => 43,
            Tf::MaxIot => 44,
            Tf::MinChirp => 45,
            Tf::MaxChirp => 46,
            Tf::MeanChirp => 47,
            Tf::InitialWindow => 48,
            // Written as octets (`hist_octets`), never from the table.
            Tf::RttHistogram => 49,
            // Small numbers: nothing wraps.
            Tf::Rtt(m, s) => RTT_SLOT
                .wrapping_add(6usize.wrapping_mul(m as usize))
                .wrapping_add(s as usize),
            // The per-connection table's.
            Tf::QofMinRttMs => 0,
            Tf::QofMeanRttMs => 1,
            Tf::QofLastRttMs => 2,
            Tf::QofRttSamples => 3,
            Tf::HandshakeRtt => 4,
            Tf::Quality => 5,
            Tf::EcnNegotiated => 6,
        }
    }
}

/// The RTT statistics of method `m` into their six slots.
#[allow(clippy::cast_precision_loss)] // nanoseconds far below 2^52
fn rtt_slots(t: &mut DirTable, m: Method, st: &Stats) {
    let mut v = [0u64; 6];
    v[Stat::Min as usize] = us(st.min as f64);
    v[Stat::Mean as usize] = us(st.mean());
    v[Stat::Max as usize] = us(st.max as f64);
    v[Stat::StdDev as usize] = us(st.std_dev());
    v[Stat::Smoothed as usize] = us(st.smoothed());
    v[Stat::Count as usize] = u64::from(st.count);
    let at = Tf::Rtt(m, Stat::Min).slot();
    if let Some(d) = t.get_mut(at..).and_then(<[u64]>::first_chunk_mut::<6>) {
        *d = v;
    }
}

/// Every per-direction field's value for direction `v`: the definition of
/// each field's unit and rounding.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)] // ns and octets far below 2^52
fn dir_table(v: &DirValues<'_>, t: &mut DirTable) {
    let dir = v.dir;
    let seq = &v.seq;
    let win = &dir.win;
    let events = &v.events;
    let losses = &v.losses;
    let marks = &dir.marks;
    let rtx = &losses.rtx;
    let chirp = &marks.chirp;
    // The chirps in milliseconds rounded to nearest, signed.
    let ms_signed = |ns: f64| ((ns / 1e6).round() as i64) as u64;
    t[const { Tf::SequenceCount.slot() }] = seq.advanced;
    t[const { Tf::RetransmitCount.slot() }] = u64::from(seq.retransmitted_segments);
    t[const { Tf::MaxSequenceJump.slot() }] = seq.max_jump.min(u64::from(u32::MAX));
    t[const { Tf::EctMarks.slot() }] = u64::from(marks.ect0.saturating_add(marks.ect1));
    t[const { Tf::CeMarks.slot() }] = u64::from(marks.ce);
    t[const { Tf::DeclaredMss.slot() }] = u64::from(marks.declared_mss.unwrap_or(0));
    t[const { Tf::ObservedMss.slot() }] = u64::from(marks.observed_mss.min(u32::from(u16::MAX)));
    t[const { Tf::SequenceLoss.slot() }] = v.never_seen;
    t[const { Tf::SequenceJumps.slot() }] = u64::from(seq.jumps);
    t[const { Tf::LossEvents.slot() }] = u64::from(losses.loss_events);
    t[const { Tf::Characteristics.slot() }] = u64::from(marks.characteristics);
    t[const { Tf::DupAcks.slot() }] = u64::from(events.dup_acks);
    t[const { Tf::SelAcks.slot() }] = u64::from(events.sack_packets);
    t[const { Tf::MinRwin.slot() }] = u64::from(win.rwin.min);
    t[const { Tf::MeanRwin.slot() }] = round_half_up(win.rwin.mean()).min(u64::from(u32::MAX));
    t[const { Tf::MaxRwin.slot() }] = u64::from(win.rwin.max);
    t[const { Tf::ReceiverStalls.slot() }] = u64::from(events.zero_events);
    t[const { Tf::TimestampFrequency.slot() }] =
        v.ts_frequency.unwrap_or(0).min(u64::from(u32::MAX));
    rtt_slots(t, Method::All, &v.all);
    rtt_slots(t, Method::SeqAck, &dir.rtt.seq_ack);
    rtt_slots(t, Method::Ts, &dir.rtt.ts);
    t[const { Tf::HandshakeHalf.slot() }] = us(dir.rtt.handshake.get().unwrap_or(0) as f64);
    t[const { Tf::RetransmittedOctets.slot() }] = seq.retransmitted_octets;
    t[const { Tf::FastRetransmits.slot() }] = u64::from(rtx.fast);
    t[const { Tf::TimeoutRetransmits.slot() }] = u64::from(rtx.timeout);
    t[const { Tf::TailLossProbes.slot() }] = u64::from(rtx.tail_loss_probe);
    t[const { Tf::SpuriousRetransmits.slot() }] = u64::from(rtx.spurious);
    t[const { Tf::WindowProbes.slot() }] = u64::from(events.probes);
    t[const { Tf::ReorderedSegments.slot() }] = u64::from(seq.reordered_segments);
    t[const { Tf::ReorderedOctets.slot() }] = seq.reordered_octets;
    t[const { Tf::UpstreamLoss.slot() }] = seq.repaired_octets.saturating_add(v.never_seen);
    t[const { Tf::RepairedSegments.slot() }] = u64::from(seq.repaired_segments);
    t[const { Tf::RepairedOctets.slot() }] = seq.repaired_octets;
    t[const { Tf::AckedUnseen.slot() }] = u64::from(losses.acked_unseen);
    t[const { Tf::AckedUnseenOctets.slot() }] = losses.acked_unseen_octets;
    t[const { Tf::MaxFlight.slot() }] = u64::from(win.flight.max);
    t[const { Tf::MeanFlight.slot() }] = round_half_up(win.flight.mean());
    t[const { Tf::ZeroWindowUs.slot() }] = ns_to_us(events.zero_ns as f64);
    t[const { Tf::Dsacks.slot() }] = u64::from(events.dsacks);
    t[const { Tf::SackBlocks.slot() }] = u64::from(events.sack_blocks);
    t[const { Tf::Ect1.slot() }] = u64::from(marks.ect1);
    t[const { Tf::Ece.slot() }] = u64::from(marks.ece);
    t[const { Tf::Cwr.slot() }] = u64::from(marks.cwr);
    t[const { Tf::OptionsSeen.slot() }] = u64::from(marks.options);
    t[const { Tf::WindowScale.slot() }] = u64::from(marks.window_scale.unwrap_or(0));
    t[const { Tf::LastSynFlags.slot() }] = u64::from(marks.last_syn_flags.unwrap_or(0));
    t[const { Tf::MinIot.slot() }] = ns_to_ms(marks.iot.min as f64);
    t[const { Tf::MaxIot.slot() }] = ns_to_ms(marks.iot.max as f64);
    t[const { Tf::MinChirp.slot() }] = ms_signed(chirp.span.min as f64);
    t[const { Tf::MaxChirp.slot() }] = ms_signed(chirp.span.max as f64);
    t[const { Tf::MeanChirp.slot() }] = ms_signed(chirp.mean());
    t[const { Tf::InitialWindow.slot() }] =
        u64::try_from(dir.initial_window().unwrap_or(0)).unwrap_or(0);
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
    /// Whether the field is signed (its [`DirTable`] slot holds the two's
    /// complement).
    pub fn signed(self) -> bool {
        matches!(self, Tf::MinChirp | Tf::MaxChirp | Tf::MeanChirp)
    }
}

/// The per-connection fields' values.
#[allow(clippy::cast_precision_loss)] // nanoseconds far below 2^52
fn conn_table(cv: &ConnValues<'_>, t: &mut ConnTable) {
    let (c, a, b) = (cv.conn, &cv.dirs[0].all, &cv.dirs[1].all);
    // The round trip at the OP: the sum of the two halves.
    t[const { Tf::QofMinRttMs.slot() }] = ns_to_ms(a.min.saturating_add(b.min) as f64);
    t[const { Tf::QofMeanRttMs.slot() }] = ns_to_ms(a.mean() + b.mean());
    t[const { Tf::QofLastRttMs.slot() }] = ns_to_ms(a.smoothed() + b.smoothed());
    t[const { Tf::QofRttSamples.slot() }] = u64::from(a.count.saturating_add(b.count));
    t[const { Tf::HandshakeRtt.slot() }] =
        us(c.hs
            .syn_to_synack
            .get()
            .unwrap_or(0)
            .saturating_add(c.hs.synack_to_ack.get().unwrap_or(0)) as f64);
    t[const { Tf::Quality.slot() }] = u64::from(c.quality());
    // RFC 7011 §6.1.5: true is 1, false is 2.
    t[const { Tf::EcnNegotiated.slot() }] = if c.hs.ecn { 1 } else { 2 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::tcpfields::{per_connection, per_direction};

    /// Every field of the templates has a slot of its own in its table: no
    /// two fields' values overwrite each other.
    #[test]
    fn every_field_has_a_slot_of_its_own() {
        let mut dir: Vec<usize> = per_direction().iter().map(|f| f.1.slot()).collect();
        let n = dir.len();
        dir.sort_unstable();
        dir.dedup();
        assert_eq!(dir.len(), n, "two per-direction fields share a slot");
        assert!(dir.iter().all(|&s| s < DIR_SLOTS));
        let mut conn: Vec<usize> = per_connection().iter().map(|f| f.1.slot()).collect();
        let n = conn.len();
        conn.sort_unstable();
        conn.dedup();
        assert_eq!(conn.len(), n, "two per-connection fields share a slot");
        assert!(conn.iter().all(|&s| s < CONN_SLOTS));
    }
}
