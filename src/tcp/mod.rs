//! Passive TCP performance analysis (DESIGN: the meter's TCP metrics): per
//! connection and direction, what the packets passing an observation
//! point (OP) say about the path and the endpoints. The flow meter feeds
//! every TCP packet of a flow to its [`Conn`] ([`Conn::segment`]); the
//! records read the counters. No Python here.
//!
//! One metric family per file, each with its exact definitions:
//! - [`seq`]: sequence space: advanced, retransmitted, reordered, repaired
//!   and never-seen octets;
//! - [`rtt`]: round-trip times by handshake, sequence/ACK and timestamp
//!   echo;
//! - [`window`]: receiver window, zero windows, duplicate ACKs, SACK,
//!   flight;
//! - [`marks`]: ECN marks, options, segment sizes, timestamp clock;
//! - [`stats`]: the running statistics they share.
//!
//! - [`rtx`]: retransmission classes and loss events;
//! - [`series`]: per-packet series of chosen connections.
//!
//! - [`handshake`]: the handshake's halves and ECN setup.
//!
//! Here: the per-connection ties (definitions at [`Dir`]).

pub mod handshake;
pub mod marks;
pub mod opt;
pub mod rtt;
pub mod rtx;
pub mod seq;
pub mod series;
pub mod stats;
pub mod window;

#[cfg(test)]
mod tests;

use crate::packet::{TcpOptions, ACK, CWR, ECE, FIN, RST, SYN};
pub use handshake::Handshake;
use marks::Marks;
use opt::OptI64;
use rtt::Rtt;
use rtx::{classify_rtx, loss_indication, Losses};
use seq::SeqSpace;
use series::{event, Method, Observation};
use window::Window;

/// Without a round-trip estimate, hole fills later than this are repaired
/// losses rather than reordering (Wireshark's default for the same
/// question, 3 ms).
pub const REORDER_DEFAULT_NS: i64 = 3_000_000;

/// What the analysis reads of a TCP packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Segment {
    pub ts_ns: i64,
    pub seq: u32,
    pub ack: u32,
    /// CWR ECE URG ACK PSH RST SYN FIN.
    pub flags: u8,
    pub window: u16,
    /// Data octets (from the IP length: the same with or without the
    /// payload captured).
    pub len: u32,
    /// The IP ECN field.
    pub ecn: u8,
    pub options: TcpOptions,
}

/// One direction: the data it sends and the ACKs and windows it sends
/// back for the other's data.
///
/// Loss events (tcpLossEventCount, as QoF): retransmitted segments of d
/// (data, or a SYN or FIN sent again) and jumps of d's data are loss
/// indications; one counts as an event when it comes
/// more than one round trip (the connection's estimate,
/// [`Conn::rtt_estimate`]) after the last event, or, without an
/// estimate, in a later millisecond.
///
/// Keep-alives and zero-window probes (`Probe`) are neither data nor
/// retransmissions (the kernel counts neither in TcpRetransSegs): a
/// keep-alive is a segment of at most one octet, without SYN, FIN or RST,
/// one octet before d's next expected position, when the other side has
/// acknowledged everything up to that position and its last window is
/// not zero; the
/// zero-window probes are [`window`]'s.
///
/// ACKs of unseen data: packets of the other side acknowledging past the
/// highest data octet the OP saw d send (past d's FIN, if seen): data the
/// OP missed (capture loss, or a path around the OP); with the largest
/// such excess in octets.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(clippy::struct_excessive_bools)] // independent facts of one direction
pub struct Dir {
    pub seq: SeqSpace,
    pub rtt: Rtt,
    pub win: Window,
    pub marks: Marks,
    /// Retransmission classes, loss events, ACKs of unseen data (none
    /// until the first).
    losses: Option<Box<Losses>>,
    /// d's last data transmission.
    last_sent_ns: OptI64,
    /// Since d's acknowledgment last advanced, one of its ACKs carried a
    /// SACK block (captured whole) whose right edge is past its
    /// acknowledgment: the other side's loss shown by SACK (read by
    /// [`rtx::classify_rtx`] without a round-trip estimate).
    sack_past: bool,
    /// d's FIN's position, once seen.
    fin_pos: OptI64,
    /// d's last ACK that could set off a fast retransmission of the other
    /// side's data: one that advanced the acknowledgment, a duplicate ACK,
    /// or one with SACK blocks (not, say, d's own FIN or data sent again
    /// with the same acknowledgment).
    last_cue_ns: OptI64,
    /// d's window scale applies (both SYNs offered the option).
    scaled: bool,
    /// Until the other side first acknowledges any of d's data, the end
    /// of d's data sent so far; then the octets d sent before that ACK:
    /// its initial window as far as the OP saw (from d's first data octet
    /// to the end of the last segment sent before that ACK). One field for
    /// both keeps a connection's state within a size class of the
    /// allocator (`a_connections_state_stays_within_its_budget`).
    flight_or_window: i64,
    /// `flight_or_window` holds the initial window.
    window_known: bool,
    pub syn_seen: bool,
}

/// Per-record quality bits (tcpMeasurementQuality).
pub const Q_HANDSHAKE: u32 = 0x01;
pub const Q_TIMESTAMPS: u32 = 0x02;
pub const Q_SACK: u32 = 0x04;
pub const Q_WINDOW_SCALE_KNOWN: u32 = 0x08;
pub const Q_CAPTURE_GAP: u32 = 0x10;
pub const Q_MID_CONNECTION: u32 = 0x20;

/// A TCP connection's analysis, by flow-key side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conn {
    pub dir: [Dir; 2],
    pub hs: Handshake,
    /// [`Conn::rtt_estimate`], kept up to date as samples come (read for
    /// every segment, changed by few).
    estimate: OptI64,
}

impl Conn {
    /// The round trip at the OP: both handshake halves, else the sum of
    /// the two directions' smallest samples.
    pub fn rtt_estimate(&self) -> Option<i64> {
        self.estimate.get()
    }

    fn compute_estimate(&self) -> Option<i64> {
        if let (Some(a), Some(b)) = (self.hs.syn_to_synack.get(), self.hs.synack_to_ack.get()) {
            return Some(a.saturating_add(b));
        }
        match (self.dir[0].rtt.min(), self.dir[1].rtt.min()) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        }
    }

    /// Whether the window scale is known (RFC 7323 §2.2: windows are
    /// scaled only when both SYNs offered the option): both SYNs seen, or
    /// one seen without the option.
    pub fn window_scale_known(&self) -> bool {
        let [a, b] = &self.dir;
        let without = |d: &Dir| d.syn_seen && d.marks.window_scale.is_none();
        (a.syn_seen && b.syn_seen) || without(a) || without(b)
    }

    /// Measurement-quality bits (the `Q_` constants).
    pub fn quality(&self) -> u32 {
        let mut q = 0;
        if self.hs.syn_seen() && self.hs.synack_seen() {
            q |= Q_HANDSHAKE;
        }
        let both = |bit: u8| self.dir.iter().all(|d| d.marks.options & bit != 0);
        if both(marks::OPT_TS) {
            q |= Q_TIMESTAMPS;
        }
        if self.dir.iter().all(|d| d.marks.sack_permitted) {
            q |= Q_SACK;
        }
        if self.dir.iter().all(|d| d.syn_seen) {
            q |= Q_WINDOW_SCALE_KNOWN;
        }
        if self
            .dir
            .iter()
            .any(|d| d.losses().acked_unseen > 0 || d.seq.never_seen() > 0)
        {
            q |= Q_CAPTURE_GAP;
        }
        if !self.hs.syn_seen() {
            q |= Q_MID_CONNECTION;
        }
        q
    }

    /// Analyse a packet of key side `side`; what it was, for a per-packet
    /// series ([`series`]).
    pub fn segment(&mut self, side: usize, s: &Segment) -> Observation {
        let side = side & 1;
        let now = s.ts_ns;
        let mut ob = Observation::default();
        if let Some(v) = self.handshake(side, s) {
            ob.rtt = Some((v, Method::Handshake));
        }
        let estimate = self.estimate.get();
        let [d0, d1] = &mut self.dir;
        let (d, r) = if side == 0 { (d0, d1) } else { (d1, d0) };
        let opts = &s.options;

        // Marks and options.
        d.marks.ecn(s.ecn);
        if s.flags & SYN == 0 {
            if s.flags & ECE != 0 {
                d.marks.ece = d.marks.ece.saturating_add(1);
            }
            if s.flags & CWR != 0 {
                d.marks.cwr = d.marks.cwr.saturating_add(1);
            }
        }
        d.marks.observed_mss = d.marks.observed_mss.max(s.len);
        d.marks.note_options(opts, s.flags & SYN != 0);
        if let Some((v, _)) = opts.timestamps() {
            d.marks.tsval(v, now);
        }

        // Sequence space.
        if s.flags & SYN != 0 {
            d.syn_seen = true;
            d.marks.last_syn_flags = Some(s.flags);
            // A SYN sent again counts as a retransmitted segment there.
            if d.seq.syn(s.seq, s.len > 0) {
                ob.events |= rtx::syn_again(d, now, estimate);
            }
            // Window scaling applies once both SYNs offered it.
            let both = d.marks.window_scale.is_some() && r.marks.window_scale.is_some();
            d.scaled = both && r.syn_seen;
            r.scaled = both && r.syn_seen;
        }
        let reorder_window = estimate.map_or(REORDER_DEFAULT_NS, |e| e / 2);
        let tsval = opts.timestamps().map(|(v, _)| v);
        // A SYN's data (TCP Fast Open, RFC 7413) starts after the SYN's
        // own sequence number, which carries no octet (RFC 9293 §3.4).
        let data_seq = s.seq.wrapping_add(u32::from(s.flags & SYN != 0));
        let probe = probe_kind(d, r, s, data_seq);
        if probe == Some(Probe::Window) {
            d.win.probed();
            ob.events |= event::WINDOW_PROBE;
        }
        if probe.is_some() && !(s.len == 1 && d.seq.position(data_seq) == d.seq.high()) {
            // A keep-alive, or a zero-window probe sending again the octet
            // an earlier one sent: not data, not a retransmission (the
            // kernel counts neither in TcpRetransSegs). An ACK covering a
            // probe's octet is ambiguous (Karn).
            if let Some(at) = d.seq.position(data_seq).filter(|_| s.len > 0) {
                d.rtt.sent_again(at, at.saturating_add(1));
            }
        } else if s.len > 0 && s.flags & RST == 0 {
            let seen = d.seq.data(data_seq, s.len, now, tsval, reorder_window);
            ob.events |= series::seen_events(&seen);
            if seen.again > 0 {
                d.rtt.sent_again(seen.start, seen.end);
                let highest = d.seq.high() == Some(seen.end);
                ob.events |= classify_rtx(d, r, seen.again_end, seen.end, highest, now, estimate);
            } else if seen.new > 0 && seen.reordered == 0 && seen.repaired == 0 {
                d.rtt.sent_new(seen.start, seen.end, now);
            }
            if seen.repaired > 0 {
                // Octets sent before, lost before the OP: an ACK covering
                // them is ambiguous (Karn), as one covering octets seen
                // twice.
                d.rtt.sent_repair(seen.start, seen.end);
            }
            if seen.new > 0 {
                d.marks.advanced(now, tsval);
                if !d.window_known {
                    d.flight_or_window = seen.end;
                }
            }
            if seen.again > 0 || seen.jump > 0 {
                loss_indication(d, now, estimate);
            }
            d.last_sent_ns = OptI64::some(now);
            // Flight: d's data not yet acknowledged by the other side.
            if let (Some(high), Some(acked)) = (d.seq.high(), d.rtt.acked_position()) {
                d.win
                    .flight
                    .add(u64::try_from(high.saturating_sub(acked)).unwrap_or(0));
            }
        }
        if s.flags & FIN != 0 {
            let fin_seq = data_seq.wrapping_add(s.len);
            let fin = d.seq.fin(fin_seq, s.len > 0, now, tsval);
            // After `fin`, which anchors a space nothing anchored before.
            let at = d.seq.position(fin_seq);
            if fin.jump > 0 {
                // A gap opened, as by data (tcpSequenceJumpCount).
                ob.events |= event::JUMP;
                loss_indication(d, now, estimate);
            }
            if fin.again {
                if let Some(at) = at {
                    ob.events |= rtx::fin_again(d, r, at, now, estimate);
                }
                d.last_sent_ns = OptI64::some(now);
            }
            d.fin_pos = at.into();
        }
        // TSvals of segments that ask for an answer (data, SYN, FIN).
        if (s.len > 0 || s.flags & (SYN | FIN) != 0) && s.flags & RST == 0 {
            if let Some(v) = tsval {
                d.rtt.sent_tsval(v, now);
            }
        }

        // d's window (RSTs carry none worth counting).
        if s.flags & RST == 0 {
            let shift = if d.scaled && s.flags & SYN == 0 {
                d.marks.window_scale.unwrap_or(0).min(14)
            } else {
                0
            };
            let window = u64::from(s.window) << shift;
            d.win.advertised(window, now);
            ob.window = Some(window);
            if window == 0 {
                ob.events |= event::ZERO_WINDOW;
            }
        }
        ob.seq = d.seq.position(s.seq);

        // d's ACK of the other side's data.
        let mut acked_more = false;
        if s.flags & ACK != 0 && s.flags & RST == 0 {
            let pure = s.len == 0 && s.flags & (SYN | FIN) == 0;
            let outstanding = match (r.seq.high(), r.seq.position(s.ack)) {
                (Some(high), Some(at)) => high > at,
                _ => false,
            };
            // Wireshark's duplicate ACK also starts at d's next expected
            // number (not, say, a keep-alive's).
            let next = d
                .fin_pos
                .get()
                .map(|f| f.saturating_add(1))
                .or_else(|| d.seq.next_expected());
            let in_order = match (d.seq.position(s.seq), next) {
                (Some(at), Some(next)) => at == next,
                _ => true,
            };
            let (dup_ack, repeat) = d.win.ack(s.ack, s.window, pure, in_order, outstanding);
            if dup_ack {
                ob.events |= event::DUP_ACK;
            }
            if opts.sack_sent > 0 {
                ob.events |= event::SACK;
            }
            let dsack = d.win.sack(s.ack, opts.sack_sent, opts.sack_blocks());
            if dsack {
                ob.events |= event::DSACK;
            }
            ob.ack = r.seq.ack_position(s.ack);
            if let Some(at) = ob.ack {
                let advanced = r.rtt.acked_position().is_none_or(|p| at > p);
                acked_more = advanced;
                // The first ACK of r's data ends r's first flight.
                if !r.window_known {
                    if let Some(first) = r.seq.first().filter(|&f| at > f) {
                        r.flight_or_window = r.flight_or_window.saturating_sub(first).max(0);
                        r.window_known = true;
                    }
                }
                if let Some(l) = r.losses.as_deref_mut() {
                    if let Some(end) = l.probe_end.get() {
                        if at > end || (at == end && (dsack || (repeat && !advanced))) {
                            l.probe_end = OptI64::NONE;
                        }
                    }
                }
                if advanced {
                    if let Some(l) = d.losses.as_deref_mut() {
                        l.dup_run = 0;
                    }
                    if let Some(l) = r.losses.as_deref_mut() {
                        if l.rto_until.get().is_some_and(|u| at >= u) {
                            l.rto_until = OptI64::NONE;
                        }
                    }
                } else if dup_ack {
                    let l = d.losses_mut();
                    l.dup_run = l.dup_run.saturating_add(1);
                }
                let first = opts.sack_blocks().first().and_then(|&(left, right)| {
                    Some((r.seq.position(left)?, r.seq.position(right)?))
                });
                // Any block, not only the first: a D-SACK first block sits
                // at or below the acknowledgment, the blocks after it not.
                let past = opts
                    .sack_blocks()
                    .iter()
                    .any(|&(_, right)| r.seq.position(right).is_some_and(|x| x > at));
                d.sack_past = past || (d.sack_past && !advanced);
                if let Some(v) = r.rtt.acked(at, first, now) {
                    ob.rtt = Some((v, Method::SeqAck));
                }
                // Acknowledged past anything the OP saw sent.
                let seen_end = match (r.fin_pos.get(), r.seq.high()) {
                    (Some(f), _) => Some(f.saturating_add(1)),
                    (None, Some(high)) => Some(high),
                    // Before its data: the octet after its SYN.
                    (None, None) => r.syn_seen.then_some(0),
                };
                if let Some(end) = seen_end {
                    if at > end {
                        let l = d.losses_mut();
                        l.acked_unseen = l.acked_unseen.saturating_add(1);
                        r.note_unseen(at.saturating_sub(end));
                    }
                }
            }
            if let Some((_, ecr)) = opts.timestamps() {
                if ecr != 0 || s.flags & SYN == 0 {
                    if let Some(v) = r.rtt.echoed(ecr, now) {
                        ob.rtt = ob.rtt.or(Some((v, Method::Timestamp)));
                    }
                }
            }
        }
        if ob.events & (event::DUP_ACK | event::SACK) != 0 || acked_more {
            d.last_cue_ns = OptI64::some(now);
        }
        if ob.rtt.is_some() {
            self.estimate = self.compute_estimate().into();
        }
        ob
    }

    /// Zero every counter (an active-timeout continuation): the state
    /// (sequence spaces, timed segments, the handshake) stays.
    pub fn reset_counts(&mut self) {
        for d in &mut self.dir {
            d.seq.reset_counts();
            d.rtt.reset_counts();
            d.win.reset_counts();
            d.marks.reset_counts();
            if let Some(l) = d.losses.as_deref_mut() {
                *l = Losses {
                    last_loss_ns: l.last_loss_ns,
                    dup_run: l.dup_run,
                    rto_until: l.rto_until,
                    ..Losses::default()
                };
            }
        }
        self.estimate = self.compute_estimate().into();
    }

    /// The record ends at `ts_ns`: open zero-window periods are counted to
    /// it.
    pub fn close(&mut self, ts_ns: i64) {
        for d in &mut self.dir {
            d.win.close(ts_ns);
        }
    }
}

/// What a segment of at most one octet that is not data may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// RFC 9293 §3.8.4: at SND.NXT - 1 (no octet, or one already
    /// acknowledged), everything before acknowledged.
    KeepAlive,
    /// RFC 9293 §3.8.6.1: sent while the other side's window is zero:
    /// Linux's at SND.UNA - 1 without data, BSD's and Windows's one
    /// octet past the window (the first new, later ones that octet
    /// again).
    Window,
}

/// Whether d's segment `s` (data starting at `data_seq`) is a keep-alive
/// or a zero-window probe (see [`Dir`] and the [`window`] module).
fn probe_kind(d: &Dir, r: &Dir, s: &Segment, data_seq: u32) -> Option<Probe> {
    if s.len > 1 || s.flags & (SYN | FIN | RST) != 0 {
        return None;
    }
    let at = d.seq.position(data_seq)?;
    let next = d.seq.next_expected()?;
    let acked = d.rtt.acked_position();
    let before_next = at == next.saturating_sub(1);
    if r.win.at_zero() {
        let linux = s.len == 0 && acked.is_some_and(|a| at == a.saturating_sub(1));
        let octet = s.len == 1 && (at == next || before_next);
        return (linux || (s.len == 0 && before_next) || octet).then_some(Probe::Window);
    }
    (before_next && acked.is_some_and(|a| a >= next)).then_some(Probe::KeepAlive)
}

impl Dir {
    /// The octets this direction sent before the other side first
    /// acknowledged any of its data (its initial window as far as the OP
    /// saw), once that ACK is seen.
    /// None without d's SYN: a capture that starts mid-connection saw
    /// no initial window.
    pub fn initial_window(&self) -> Option<i64> {
        (self.window_known && self.syn_seen).then_some(self.flight_or_window)
    }

    /// Retransmission classes, loss events and ACKs of unseen data.
    pub fn losses(&self) -> Losses {
        self.losses.as_deref().copied().unwrap_or_default()
    }

    fn losses_mut(&mut self) -> &mut Losses {
        self.losses.get_or_insert_with(Box::default)
    }

    fn note_unseen(&mut self, excess: i64) {
        let e = excess.max(0) as u64;
        let l = self.losses_mut();
        l.acked_unseen_octets = l.acked_unseen_octets.max(e);
    }
}
