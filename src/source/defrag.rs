//! IP fragments put back together (RFC 791 §3.2 for IPv4, RFC 8200 §4.5
//! for IPv6): a NetFlow v9 or IPFIX datagram larger than the path MTU
//! reaches the capture as fragments, of which only the first carries the
//! UDP header. Fragments are keyed by source, destination, protocol and
//! identification; they may come in any order and overlap (the later copy
//! wins). Bounded: at most [`MAX_PENDING`] datagrams in progress (the
//! oldest is dropped, its fragments counted), each at most 65535 bytes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::packet::Ip;

/// Datagrams being reassembled at once.
pub const MAX_PENDING: usize = 1024;
const MAX_LEN: usize = 65_535;

type Key = (IpAddr, IpAddr, u8, u32);

/// A datagram put together again.
pub struct Whole {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// The transport header and data.
    pub bytes: Vec<u8>,
    /// Where the first fragment's payload is in the input, and its packet.
    pub offset: u64,
    pub frame: u64,
}

struct Pending {
    bytes: Vec<u8>,
    /// Byte ranges received, sorted and merged.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
    fragments: u64,
    first: Option<(u64, u64)>,
}

/// Counters of reassembly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Fragments of datagrams never completed (evicted, impossible, or
    /// still incomplete at the end of the capture).
    pub dropped: u64,
}

/// The datagrams in progress.
#[derive(Default)]
pub struct Defrag {
    pending: HashMap<Key, Pending>,
    order: VecDeque<Key>,
    pub stats: DefragStats,
}

impl Defrag {
    /// Take a fragment (its payload at `offset` of the input, in packet
    /// `frame`); the datagram when this fragment completes it.
    pub fn add(&mut self, ip: &Ip<'_>, offset: u64, frame: u64) -> Option<Whole> {
        let key = (ip.src, ip.dst, ip.protocol, ip.frag.id);
        let (start, data) = (ip.frag.offset, ip.payload);
        // A saturated end is over MAX_LEN and dropped just below.
        let end = start.saturating_add(data.len());
        if end > MAX_LEN {
            self.stats.dropped = self.stats.dropped.saturating_add(1);
            return None;
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING {
                self.evict();
            }
            self.order.push_back(key);
            self.pending.insert(
                key,
                Pending {
                    bytes: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    fragments: 0,
                    first: None,
                },
            );
        }
        let p = self.pending.get_mut(&key)?;
        p.fragments = p.fragments.saturating_add(1);
        if p.bytes.len() < end {
            p.bytes.resize(end, 0);
        }
        p.bytes[start..end].copy_from_slice(data);
        merge(&mut p.have, (start, end));
        if start == 0 {
            p.first = Some((offset, frame));
        }
        if !ip.frag.more {
            p.total = Some(end);
        }
        let total = p.total?;
        if p.have.len() != 1 || p.have[0] != (0, total) {
            if p.have.last().is_some_and(|r| r.1 > total) {
                // Data beyond the last fragment's end: not a datagram.
                self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
                self.forget(&key);
            }
            return None;
        }
        let p = self.forget(&key)?;
        let (offset, frame) = p.first.unwrap_or((offset, frame));
        let mut bytes = p.bytes;
        bytes.truncate(total);
        self.stats.reassembled = self.stats.reassembled.saturating_add(1);
        Some(Whole {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            bytes,
            offset,
            frame,
        })
    }

    fn forget(&mut self, key: &Key) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        if let Some(i) = self.order.iter().position(|k| k == key) {
            self.order.remove(i);
        }
        Some(p)
    }

    fn evict(&mut self) {
        if let Some(key) = self.order.pop_front() {
            if let Some(p) = self.pending.remove(&key) {
                self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
            }
        }
    }

    /// The capture ended: what is still incomplete is dropped.
    pub fn finish(&mut self) {
        while !self.order.is_empty() {
            self.evict();
        }
    }
}

/// Add range `r` to the sorted, merged ranges `have`.
fn merge(have: &mut Vec<(usize, usize)>, r: (usize, usize)) {
    have.push(r);
    have.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    *have = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Frag;

    fn frag(id: u32, offset: usize, more: bool, payload: &[u8]) -> Ip<'_> {
        Ip {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            protocol: 17,
            payload,
            fragment: true,
            frag: Frag { id, offset, more },
        }
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let parts: Vec<(usize, &[u8])> = data
            .chunks(1480)
            .enumerate()
            .map(|(i, c)| (i * 1480, c))
            .collect();
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let mut d = Defrag::default();
            let mut got = None;
            for (n, &i) in order.iter().enumerate() {
                let (off, c) = parts[i];
                let more = i != 2;
                let w = d.add(&frag(7, off, more, c), 100 * i as u64, i as u64);
                assert_eq!(w.is_some(), n == 2);
                got = got.or(w);
            }
            let w = got.unwrap();
            assert_eq!((w.bytes, w.offset, w.frame), (data.clone(), 0, 0));
        }
    }

    #[test]
    fn missing_or_impossible_fragments_are_counted() {
        let mut d = Defrag::default();
        assert!(d.add(&frag(1, 0, true, &[1; 8]), 0, 0).is_none());
        assert!(d.add(&frag(1, 16, false, &[1; 8]), 0, 0).is_none());
        // Data past the last fragment's end.
        assert!(d.add(&frag(2, 64, true, &[1; 8]), 0, 0).is_none());
        assert!(d.add(&frag(2, 0, false, &[1; 8]), 0, 0).is_none());
        assert_eq!(d.stats.dropped, 2);
        d.finish();
        assert_eq!(
            d.stats,
            DefragStats {
                reassembled: 0,
                dropped: 4
            }
        );
        for id in 0..(MAX_PENDING as u32 + 10) {
            d.add(&frag(100 + id, 0, true, &[0; 8]), 0, 0);
        }
        assert_eq!(d.pending.len(), MAX_PENDING);
        assert_eq!(d.stats.dropped, 14);
        assert!(d.add(&frag(9, 65_530, false, &[0; 8]), 0, 0).is_none());
    }
}
