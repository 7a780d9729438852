//! Retransmissions by class and loss events: what set each retransmission
//! off, as far as the packets passing the observation point tell
//! ([`RtxClasses`] has the definitions), and QoF's loss events.

use super::opt::OptI64;
use super::series::event;
use super::Dir;

/// Retransmitted segments by class. For a segment of direction d
/// carrying octets already seen, in this order of precedence:
/// - spurious: every such octet (the re-sent ones, not new data the
///   segment carries with them) was already acknowledged by the other
///   side;
/// - timeout: during a timeout's recovery (until the acknowledgment
///   reaches d's highest octet as it stood at the timeout), or sent after
///   a silence (see below) when it is not the first re-sending of d's
///   highest segment in that silence;
/// - tail-loss probe: sent after a silence, re-sending d's highest segment,
///   the first such since the other side's acknowledgment last advanced
///   (RFC 8985 §7; Linux sends the probe before any timeout), unless both
///   SYNs were seen and not both offered SACK-permitted (RACK-TLP works
///   from SACK: Linux sends no probe without it, and its timer is then the
///   retransmission timeout);
/// - fast: any other: loss detected from the other side's ACKs
///   (duplicate ACKs, SACK, RACK's reordering window).
///
/// A silence: no ACK from the other side that could set a retransmission
/// off (one advancing its acknowledgment, a duplicate ACK, or one with
/// SACK blocks; its own FIN or data sent again are not) for longer than
/// the time its ACK needs to reach d and d's answer the OP (the other
/// side's smallest RTT sample, the OP-to-d half) plus one and a half
/// round trips
/// ([`crate::tcp::Conn::rtt_estimate`]): a loss-recovery timer (a probe timeout is at
/// least two round trips, RFC 8985 §7.2) rather than an ACK set the
/// segment off; RACK's reordering window is at most a round trip. Without
/// a round-trip estimate, a retransmission is fast when the other side
/// sent three duplicate ACKs or a SACK block past its acknowledgment
/// since it last advanced, else sent after a silence (so a tail-loss
/// probe or a timeout by the rules above).
///
/// A FIN sent again without data is classified the same way, as the
/// segment of its one sequence number (re-sending the highest segment when
/// it is the last thing d sent); a SYN sent again is a timeout (only the
/// SYN's timer re-sends it; Linux counts both in `TCPTimeouts`). So the
/// classes add up to [`super::seq::SeqCounts::retransmitted_segments`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtxClasses {
    pub spurious: u32,
    pub fast: u32,
    pub tail_loss_probe: u32,
    pub timeout: u32,
}

/// A direction's loss signals ([`Dir`] has their definitions) and loss
/// recovery state: most directions never retransmit, so [`Dir`] keeps
/// them apart, made when first needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    pub rtx: RtxClasses,
    pub loss_events: u32,
    pub(super) last_loss_ns: OptI64,
    pub acked_unseen: u32,
    pub acked_unseen_octets: u64,
    /// d's duplicate ACKs since its acknowledgment last advanced.
    pub(super) dup_run: u32,
    /// In a timeout's recovery: until the other side acknowledges this.
    pub(super) rto_until: OptI64,
    /// d's tail-loss probe episode (RFC 8985 §7.4, Linux's
    /// `tlp_high_seq`): the position past everything d had sent (its FIN
    /// included) when it sent a probe; while it is open d sends no other
    /// probe. It ends when the other side acknowledges past it, or
    /// acknowledges it again in a pure ACK that does not advance, or with
    /// a D-SACK (the original and the probe both arrived), or when a
    /// timeout or a fast retransmission starts a recovery.
    pub(super) probe_end: OptI64,
}

/// Count a retransmission in its class; the class's event bit.
///
/// `resent_end` is the position just past the octets it re-sent (that had
/// passed before; past a FIN's number for a FIN), `end` just past the
/// whole segment (new octets it carries too); `highest`: it re-sends d's
/// highest segment.
#[allow(clippy::too_many_arguments)] // the facts of one segment
pub(super) fn classify_rtx(
    d: &mut Dir,
    r: &Dir,
    resent_end: i64,
    end: i64,
    highest: bool,
    t: i64,
    estimate: Option<i64>,
) -> u16 {
    let acked = d.rtt.acked_position();
    let high = d.seq.high();
    // Both SYNs seen, and not both offering SACK: no loss probes.
    let no_sack = d.syn_seen && r.syn_seen && !(d.marks.sack_permitted && r.marks.sack_permitted);
    let r_dup_run = r.losses.as_deref().map_or(0, |x| x.dup_run);
    // Past everything d sent (Linux's snd_nxt): a probe's episode end.
    let sent_end = [
        high,
        d.fin_pos.get().map(|f| f.saturating_add(1)),
        Some(end),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(end);
    let losses = d.losses_mut();
    let probing = losses.probe_end.is_some();
    let c = &mut losses.rtx;
    // Only the re-sent octets: new data riding with them (a segment
    // rebuilt larger than the original) is not re-sent.
    if acked.is_some_and(|a| resent_end <= a) {
        c.spurious = c.spurious.saturating_add(1);
        return event::SPURIOUS;
    }
    if losses.rto_until.is_some() {
        c.timeout = c.timeout.saturating_add(1);
        losses.probe_end = OptI64::NONE;
        return event::TIMEOUT;
    }
    let silence = match estimate {
        Some(rtt) => {
            let half = r.rtt.min().unwrap_or(0);
            let quiet = r
                .last_cue_ns
                .get()
                .map_or(i64::MAX, |l| t.saturating_sub(l));
            quiet > half.saturating_add(rtt.saturating_mul(3) / 2)
        }
        None => !(r_dup_run >= 3 || r.sack_past),
    };
    // A recovery (fast or by timeout) ends a probe's episode; a probe
    // opens one, only where none is open.
    if !silence {
        c.fast = c.fast.saturating_add(1);
        losses.probe_end = OptI64::NONE;
        event::FAST
    } else if highest && !probing && !no_sack {
        c.tail_loss_probe = c.tail_loss_probe.saturating_add(1);
        losses.probe_end = OptI64::some(sent_end);
        event::TAIL_LOSS_PROBE
    } else {
        c.timeout = c.timeout.saturating_add(1);
        losses.rto_until = high.into();
        losses.probe_end = OptI64::NONE;
        event::TIMEOUT
    }
}

/// A SYN sent again: a timeout (see [`RtxClasses`]), and a loss
/// indication as any retransmission; its event bits.
pub(super) fn syn_again(d: &mut Dir, t: i64, estimate: Option<i64>) -> u16 {
    let c = &mut d.losses_mut().rtx;
    c.timeout = c.timeout.saturating_add(1);
    loss_indication(d, t, estimate);
    event::RETRANSMISSION | event::TIMEOUT
}

/// A FIN without data sent again, its number at position `at`: classified
/// as the segment of that one number, the highest unless data went out past
/// it, and a loss indication; its event bits.
pub(super) fn fin_again(d: &mut Dir, r: &Dir, at: i64, t: i64, estimate: Option<i64>) -> u16 {
    let highest = d.seq.high().is_none_or(|h| at >= h);
    let end = at.saturating_add(1);
    let class = classify_rtx(d, r, end, end, highest, t, estimate);
    loss_indication(d, t, estimate);
    event::RETRANSMISSION | class
}

pub(super) fn loss_indication(d: &mut Dir, t: i64, estimate: Option<i64>) {
    let l = d.losses_mut();
    let new_event = match (l.last_loss_ns.get(), estimate) {
        (None, _) => true,
        (Some(l), Some(e)) => t.saturating_sub(l) > e,
        (Some(l), None) => t.div_euclid(1_000_000) > l.div_euclid(1_000_000),
    };
    if new_event {
        l.loss_events = l.loss_events.saturating_add(1);
        l.last_loss_ns = OptI64::some(t);
    }
}
