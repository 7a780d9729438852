//! A dissector's counters, and how the counters of dissectors that shared
//! the frames (the meter's workers) add up.

use std::collections::BTreeMap;

use super::defrag::{DefragStats, IndexStats};

/// Counters of a dissector. Every frame counts once in `packets`, and as
/// exactly one of: an IP packet (whole or a fragment), or a reason in
/// `not_ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DissectStats {
    pub packets: u64,
    /// Frames per LINKTYPE_* value.
    pub by_linktype: BTreeMap<u16, u64>,
    /// Frames without an IP packet, per reason (in [`super::NotIp::ALL`] order).
    pub not_ip: [u64; 4],
    /// IP fragments.
    pub fragments: u64,
    /// IP packets whose header declared no length (TSO captures).
    pub length_from_frame: u64,
    /// Packets whose transport header was cut by the capture.
    pub transport_cut: u64,
    /// Packets taken out of a tunnel.
    pub decapsulated: u64,
    /// The IP packets whose header could not be read (`not_ip`'s
    /// [`super::NotIp::BadIp`]): their octets and times.
    pub ignored: Ignored,
    pub defrag: DefragStats,
    pub index: IndexStats,
}

/// IP packets observed and not processed (RFC 7011 §4.2): their octets on
/// the wire (the frame's original length less its link-layer header:
/// the IP packet as it was sent, whatever its header says), and the
/// earliest and latest of their capture times (ns since the epoch; none
/// without such a packet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored {
    pub octets: u64,
    pub span: Option<(i64, i64)>,
}

impl Ignored {
    /// One more such packet.
    pub fn packet(&mut self, octets: u64, ts_ns: i64) {
        self.add(&Ignored {
            octets,
            span: Some((ts_ns, ts_ns)),
        });
    }

    /// Those of another dissector of the same input as well.
    pub fn add(&mut self, o: &Ignored) {
        self.octets = self.octets.saturating_add(o.octets);
        self.span = match (self.span, o.span) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (a, b) => a.or(b),
        };
    }
}

impl DissectStats {
    /// Add the counters of `o`, a dissector given other frames of the
    /// same input (a meter worker's: all the fragments of a datagram go
    /// to one worker, so their handling adds up too).
    pub fn add(&mut self, o: &DissectStats) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.packets, o.packets);
        for (t, n) in &o.by_linktype {
            add(self.by_linktype.entry(*t).or_insert(0), *n);
        }
        for (a, b) in self.not_ip.iter_mut().zip(o.not_ip) {
            add(a, b);
        }
        add(&mut self.fragments, o.fragments);
        add(&mut self.length_from_frame, o.length_from_frame);
        add(&mut self.transport_cut, o.transport_cut);
        add(&mut self.decapsulated, o.decapsulated);
        self.ignored.add(&o.ignored);
        add(&mut self.defrag.reassembled, o.defrag.reassembled);
        add(&mut self.defrag.dropped, o.defrag.dropped);
        add(&mut self.index.fragments, o.index.fragments);
        add(&mut self.index.held, o.index.held);
        add(&mut self.index.orphaned, o.index.orphaned);
    }
}
