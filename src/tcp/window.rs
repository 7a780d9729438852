//! A direction's acknowledgments and advertised window, and the data in
//! flight towards it.
//!
//! Definitions (per direction d, the sender of the ACKs and windows):
//! - receiver window: each packet's window field shifted by d's window
//!   scale (RFC 7323 §2.3) when both SYNs offered the option and the
//!   packet is not a SYN (SYN windows are never scaled); min, mean and max
//!   over d's packets other than RSTs, packet-weighted
//!   (min/mean/maxTcpRwin, reported only when the scale is known:
//!   [`crate::tcp::Conn::window_scale_known`]);
//! - zero-window events: d's window going to 0 from non-zero or at d's
//!   first packet (tcpReceiverStallCount), and the time from each such
//!   packet to d's next packet with a non-zero window (or d's last packet);
//! - duplicate ACK: a packet of d with ACK and no data, SYN, FIN or RST,
//!   whose acknowledgment number and window equal d's previous packet's,
//!   whose window is not zero and whose sequence number is d's next
//!   expected one (Wireshark's rule, `tcp.analysis.duplicate_ack`), while
//!   the other side has data outstanding;
//! - zero-window probes: segments d sends while the other side's window
//!   is zero, of at most one octet: Linux's at SND.UNA - 1 without data,
//!   BSD's and Windows's one octet past the window (the first new, the
//!   later ones that octet again); not retransmissions
//!   (tcpWindowProbeCount);
//! - SACK: packets of d with a SACK block whose right edge is past the
//!   acknowledgment number (tcpSelAckCount); DSACK (RFC 2883 §4): a first
//!   block at or below the acknowledgment number, or inside the second
//!   block;
//! - flight (of the other side's data, sampled at each of its data
//!   segments): its highest octet sent minus d's highest cumulative
//!   acknowledgment; max and mean.

use super::opt::OptI64;
use super::stats::Range;
use crate::tcpseq::seq_le;

/// A direction's ACK and window state and counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub rwin: Range,
    last: Option<(u32, u16)>,
    /// The other side's data in flight (octets).
    pub flight: Range,
    /// Zero windows, duplicate ACKs and SACKs: most directions have none,
    /// so they are kept apart, made at the first.
    events: Option<Box<WindowEvents>>,
}

/// A direction's zero windows, duplicate ACKs and SACKs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowEvents {
    pub zero_events: u32,
    pub zero_ns: i64,
    zero_since: OptI64,
    pub dup_acks: u32,
    pub sack_packets: u32,
    pub sack_blocks: u32,
    pub dsacks: u32,
    /// Zero-window probes d sent (tcpWindowProbeCount).
    pub probes: u32,
}

impl Window {
    /// The zero-window, duplicate-ACK and SACK counters.
    pub fn events(&self) -> WindowEvents {
        self.events.as_deref().copied().unwrap_or_default()
    }

    fn events_mut(&mut self) -> &mut WindowEvents {
        self.events.get_or_insert_with(Box::default)
    }

    /// d's packet at `ts_ns` advertised `window` octets (already scaled).
    pub fn advertised(&mut self, window: u64, ts_ns: i64) {
        self.rwin.add(window);
        if window == 0 {
            let e = self.events_mut();
            if e.zero_since.is_none() {
                e.zero_since = OptI64::some(ts_ns);
                // A zero window at d's first packet counts too.
                e.zero_events = e.zero_events.saturating_add(1);
            }
        } else if let Some(e) = self.events.as_deref_mut() {
            if let Some(since) = e.zero_since.get() {
                e.zero_since = OptI64::NONE;
                e.zero_ns = e.zero_ns.saturating_add(ts_ns.saturating_sub(since).max(0));
            }
        }
    }

    /// d sent a zero-window probe.
    pub fn probed(&mut self) {
        let e = self.events_mut();
        e.probes = e.probes.saturating_add(1);
    }

    /// Whether d's last window was zero.
    pub fn at_zero(&self) -> bool {
        self.events
            .as_deref()
            .is_some_and(|e| e.zero_since.is_some())
    }

    /// Close an open zero-window period at `ts_ns` (the record ends).
    pub fn close(&mut self, ts_ns: i64) {
        if let Some(e) = self.events.as_deref_mut() {
            if let Some(since) = e.zero_since.get() {
                e.zero_ns = e.zero_ns.saturating_add(ts_ns.saturating_sub(since).max(0));
                e.zero_since = OptI64::some(ts_ns);
            }
        }
    }

    /// d's ACK `ack` with raw `window`; `pure`: no data, SYN, FIN or RST;
    /// `in_order`: its sequence number is d's next expected (or that is
    /// unknown); `outstanding`: the other side has unacknowledged data.
    /// Whether it is a duplicate ACK, and whether it is pure and repeats
    /// d's last ACK (acknowledgment and window) whatever is outstanding.
    pub fn ack(
        &mut self,
        ack: u32,
        window: u16,
        pure: bool,
        in_order: bool,
        outstanding: bool,
    ) -> (bool, bool) {
        let repeat = pure && self.last == Some((ack, window));
        // Wireshark's rule (packet-tcp.c, "DUPLICATE ACK"): a zero window
        // repeated (answering zero-window probes) is not a duplicate.
        let dup = repeat && in_order && window != 0 && outstanding;
        if dup {
            let e = self.events_mut();
            e.dup_acks = e.dup_acks.saturating_add(1);
        }
        self.last = Some((ack, window));
        (dup, repeat)
    }

    /// d's SACK option with acknowledgment number `ack`: `sent` blocks,
    /// of which `blocks` were captured whole. True when the first is a
    /// DSACK.
    pub fn sack(&mut self, ack: u32, sent: u8, blocks: &[(u32, u32)]) -> bool {
        if sent == 0 {
            return false;
        }
        let e = self.events_mut();
        e.sack_blocks = e.sack_blocks.saturating_add(u32::from(sent));
        let Some(&(l0, r0)) = blocks.first() else {
            return false;
        };
        if blocks.iter().any(|&(_, r)| !seq_le(r, ack)) {
            e.sack_packets = e.sack_packets.saturating_add(1);
        }
        let dsack = seq_le(r0, ack)
            || blocks
                .get(1)
                .is_some_and(|&(l1, r1)| seq_le(l1, l0) && seq_le(r0, r1));
        if dsack {
            e.dsacks = e.dsacks.saturating_add(1);
        }
        dsack
    }

    /// Zero the counters (an active-timeout continuation).
    pub fn reset_counts(&mut self) {
        let zero_since = self.events.as_deref().map(|e| e.zero_since);
        *self = Window {
            last: self.last,
            events: zero_since.filter(|z| z.is_some()).map(|zero_since| {
                Box::new(WindowEvents {
                    zero_since,
                    ..WindowEvents::default()
                })
            }),
            ..Window::default()
        };
    }
}
