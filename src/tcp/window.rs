//! A direction's acknowledgments and advertised window, and the data in
//! flight towards it.
//!
//! Definitions (per direction d, the sender of the ACKs and windows):
//! - receiver window: each packet's window field shifted by d's window
//!   scale (RFC 7323 §2.3) when both SYNs offered the option and the
//!   packet is not a SYN (SYN windows are never scaled); min, mean and max
//!   over d's packets other than RSTs, packet-weighted
//!   (min/mean/maxTcpRwin);
//! - zero-window events: d's window going to 0 from non-zero or at d's
//!   first packet (tcpReceiverStallCount), and the time from each such
//!   packet to d's next packet with a non-zero window (or d's last packet);
//! - duplicate ACK: a packet of d with ACK and no data, SYN, FIN or RST,
//!   whose acknowledgment number and window equal d's previous packet's,
//!   while the other side has data outstanding (Wireshark's rule);
//! - SACK: packets of d with a SACK block whose right edge is past the
//!   acknowledgment number (tcpSelAckCount); DSACK (RFC 2883 §4): a first
//!   block at or below the acknowledgment number, or inside the second
//!   block;
//! - flight (of the other side's data, sampled at each of its data
//!   segments): its highest octet sent minus d's highest cumulative
//!   acknowledgment; max and mean.

use super::stats::Range;
use crate::tcpseq::seq_le;

/// A direction's ACK and window state and counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub rwin: Range,
    pub zero_events: u32,
    pub zero_ns: i64,
    zero_since: Option<i64>,
    last: Option<(u32, u16)>,
    pub dup_acks: u32,
    pub sack_packets: u32,
    pub sack_blocks: u32,
    pub dsacks: u32,
    /// The other side's data in flight (octets).
    pub flight: Range,
}

impl Window {
    /// d's packet at `ts_ns` advertised `window` octets (already scaled).
    pub fn advertised(&mut self, window: u64, ts_ns: i64) {
        self.rwin.add(window);
        if window == 0 {
            if self.zero_since.is_none() {
                self.zero_since = Some(ts_ns);
                // A zero window at d's first packet counts too.
                self.zero_events = self.zero_events.saturating_add(1);
            }
        } else if let Some(since) = self.zero_since.take() {
            self.zero_ns = self
                .zero_ns
                .saturating_add(ts_ns.saturating_sub(since).max(0));
        }
    }

    /// Whether d's last window was zero.
    pub fn at_zero(&self) -> bool {
        self.zero_since.is_some()
    }

    /// Close an open zero-window period at `ts_ns` (the record ends).
    pub fn close(&mut self, ts_ns: i64) {
        if let Some(since) = self.zero_since {
            self.zero_ns = self
                .zero_ns
                .saturating_add(ts_ns.saturating_sub(since).max(0));
            self.zero_since = Some(ts_ns);
        }
    }

    /// d's ACK `ack` with raw `window`; `pure`: no data, SYN, FIN or RST;
    /// `outstanding`: the other side has unacknowledged data.
    pub fn ack(&mut self, ack: u32, window: u16, pure: bool, outstanding: bool) {
        if pure && outstanding && self.last == Some((ack, window)) {
            self.dup_acks = self.dup_acks.saturating_add(1);
        }
        self.last = Some((ack, window));
    }

    /// d's SACK blocks with acknowledgment number `ack`.
    pub fn sack(&mut self, ack: u32, blocks: &[(u32, u32)]) {
        if blocks.is_empty() {
            return;
        }
        self.sack_blocks = self
            .sack_blocks
            .saturating_add(u32::try_from(blocks.len()).unwrap_or(u32::MAX));
        if blocks.iter().any(|&(_, r)| !seq_le(r, ack)) {
            self.sack_packets = self.sack_packets.saturating_add(1);
        }
        let (l0, r0) = blocks[0];
        let dsack = seq_le(r0, ack)
            || blocks
                .get(1)
                .is_some_and(|&(l1, r1)| seq_le(l1, l0) && seq_le(r0, r1));
        if dsack {
            self.dsacks = self.dsacks.saturating_add(1);
        }
    }

    /// Zero the counters (an active-timeout continuation).
    pub fn reset_counts(&mut self) {
        let (zero_since, last) = (self.zero_since, self.last);
        *self = Window {
            zero_since,
            last,
            ..Window::default()
        };
    }
}
