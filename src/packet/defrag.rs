//! IP fragments (RFC 791 §3.2 for IPv4, RFC 8200 §4.5 for IPv6), keyed by
//! source, destination, protocol and identification; they may come in any
//! order and overlap. Two uses, one table discipline:
//!
//! - [`Defrag`] puts datagrams back together (the later copy of an
//!   overlapping byte wins): a NetFlow v9 or IPFIX datagram larger than the
//!   path MTU reaches a capture as fragments, of which only the first
//!   carries the UDP header.
//! - [`FragmentIndex`] assigns each fragment to its datagram's flow without
//!   reassembling: the first fragment's transport ports are remembered for
//!   the later ones, and a later fragment that comes before its first is
//!   held until the first arrives. A flow meter counts every fragment as a
//!   packet, and header-only captures (whose fragments' data is cut) have
//!   nothing to reassemble.
//!
//! Both are bounded by count ([`MAX_PENDING`] datagrams; the oldest goes
//! first, its fragments counted) and by time: a datagram whose first
//! fragment is [`MAX_AGE_NS`] older than the newest packet is given up, as
//! a host gives up reassembly (Linux `ipfrag_time`, 30 s; RFC 791 §3.2
//! suggests 15 s as a lower bound). Reassembled datagrams are at most
//! 65,535 bytes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::Ip;

/// Datagrams being reassembled (or indexed) at once.
pub const MAX_PENDING: usize = 1024;
/// How long a datagram's fragments are waited for, from its first one.
pub const MAX_AGE_NS: i64 = 30_000_000_000;
const MAX_LEN: usize = 65_535;

type Key = (IpAddr, IpAddr, u8, u32);

fn key_of(ip: &Ip<'_>) -> Key {
    (ip.src, ip.dst, ip.protocol, ip.frag.id)
}

/// The datagrams in progress, oldest first, with their first packet's
/// time: the count bound and the time bound both take from the front. A
/// place in `order` counts only while its key maps to an entry begun at
/// that time (a removed key's place is skipped when reached).
struct Table<V> {
    map: HashMap<Key, (i64, V)>,
    order: VecDeque<(Key, i64)>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V> Table<V> {
    /// The entry of `key`, made with `new` (after making room) if absent.
    fn entry(
        &mut self,
        key: Key,
        ts_ns: i64,
        new: impl FnOnce() -> V,
        evicted: &mut Vec<V>,
    ) -> &mut V {
        if !self.map.contains_key(&key) {
            while self.map.len() >= MAX_PENDING {
                match self.pop_oldest() {
                    Some(v) => evicted.push(v),
                    None => break,
                }
            }
            self.order.push_back((key, ts_ns));
        }
        &mut self.map.entry(key).or_insert_with(|| (ts_ns, new())).1
    }

    fn live(&self, key: &Key, ts: i64) -> bool {
        self.map.get(key).is_some_and(|e| e.0 == ts)
    }

    fn pop_oldest(&mut self) -> Option<V> {
        while let Some((key, ts)) = self.order.pop_front() {
            if self.live(&key, ts) {
                return self.map.remove(&key).map(|e| e.1);
            }
        }
        None
    }

    /// An entry begun more than [`MAX_AGE_NS`] before `now`.
    fn pop_expired(&mut self, now_ns: i64) -> Option<V> {
        loop {
            let &(key, ts) = self.order.front()?;
            if !self.live(&key, ts) {
                self.order.pop_front();
                continue;
            }
            if now_ns.saturating_sub(ts) <= MAX_AGE_NS {
                return None;
            }
            self.order.pop_front();
            return self.map.remove(&key).map(|e| e.1);
        }
    }

    fn remove(&mut self, key: &Key) -> Option<V> {
        let v = self.map.remove(key)?.1;
        if self.order.len() > self.map.len().saturating_mul(2).saturating_add(64) {
            let map = &self.map;
            self.order
                .retain(|(k, ts)| map.get(k).is_some_and(|e| e.0 == *ts));
        }
        Some(v)
    }
}

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
    /// Fragments it was made of.
    pub fragments: u64,
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
    /// Fragments of datagrams never completed (evicted, timed out,
    /// impossible, or still incomplete at the end of the capture).
    pub dropped: u64,
}

/// The datagrams being reassembled.
#[derive(Default)]
pub struct Defrag {
    table: Table<Pending>,
    evicted: Vec<Pending>,
    pub stats: DefragStats,
}

impl Defrag {
    /// Take a fragment captured at `ts_ns` (its payload at `offset` of the
    /// input, in packet `frame`); the datagram when this fragment
    /// completes it.
    pub fn add(&mut self, ip: &Ip<'_>, ts_ns: i64, offset: u64, frame: u64) -> Option<Whole> {
        self.expire(ts_ns);
        let key = key_of(ip);
        let (start, data) = (ip.frag.offset, ip.payload);
        // A saturated end is over MAX_LEN and dropped just below.
        let end = start.saturating_add(data.len());
        if end > MAX_LEN {
            self.stats.dropped = self.stats.dropped.saturating_add(1);
            return None;
        }
        let p = self.table.entry(
            key,
            ts_ns,
            || Pending {
                bytes: Vec::new(),
                have: Vec::new(),
                total: None,
                fragments: 0,
                first: None,
            },
            &mut self.evicted,
        );
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
        let total = p.total;
        let done = total.is_some_and(|t| p.have.len() == 1 && p.have[0] == (0, t));
        let impossible = total.is_some_and(|t| p.have.last().is_some_and(|r| r.1 > t));
        self.count_evicted();
        if impossible {
            // Data beyond the last fragment's end: not a datagram.
            if let Some(p) = self.table.remove(&key) {
                self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
            }
            return None;
        }
        if !done {
            return None;
        }
        let p = self.table.remove(&key)?;
        let (offset, frame) = p.first.unwrap_or((offset, frame));
        let mut bytes = p.bytes;
        bytes.truncate(total.unwrap_or(0));
        self.stats.reassembled = self.stats.reassembled.saturating_add(1);
        Some(Whole {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            bytes,
            offset,
            frame,
            fragments: p.fragments,
        })
    }

    fn count_evicted(&mut self) {
        for p in self.evicted.drain(..) {
            self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
        }
    }

    /// Give up the datagrams begun more than [`MAX_AGE_NS`] before `now_ns`.
    pub fn expire(&mut self, now_ns: i64) {
        while let Some(p) = self.table.pop_expired(now_ns) {
            self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
        }
    }

    /// The capture ended: what is still incomplete is dropped.
    pub fn finish(&mut self) {
        while let Some(p) = self.table.pop_oldest() {
            self.stats.dropped = self.stats.dropped.saturating_add(p.fragments);
        }
    }

    /// Datagrams in progress.
    pub fn pending(&self) -> usize {
        self.table.map.len()
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

/// Bytes of a first fragment's transport header remembered for the later
/// fragments (enough for the ports, or ICMP's type and code).
pub const HEADER_KEPT: usize = 8;
/// Later fragments held per datagram while its first fragment is awaited.
pub const MAX_HELD: usize = 64;

/// What [`FragmentIndex::add`] says of a fragment.
pub enum Assigned<H> {
    /// The first fragment: the fragments held for it, to account now.
    First(Vec<H>),
    /// A later fragment whose first was seen: the first fragment's
    /// transport header bytes (up to [`HEADER_KEPT`]).
    Later([u8; HEADER_KEPT], usize),
    /// A later fragment before its first: held (given back by a later
    /// `add` of the first fragment, or by [`FragmentIndex::expire`]).
    Held,
}

struct Indexed<H> {
    header: Option<([u8; HEADER_KEPT], usize)>,
    held: Vec<H>,
}

/// Counters of the fragment index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Fragments seen.
    pub fragments: u64,
    /// Later fragments that came before their first fragment and were
    /// held until it came.
    pub held: u64,
    /// Fragments whose first fragment never came (given back without a
    /// transport header: evicted, timed out, past [`MAX_HELD`], or at the
    /// end of the capture).
    pub orphaned: u64,
}

/// Fragments assigned to their datagrams (see the module docs); `H` is
/// what the caller keeps of a held fragment.
pub struct FragmentIndex<H> {
    table: Table<Indexed<H>>,
    evicted: Vec<Indexed<H>>,
    pub stats: IndexStats,
}

impl<H> Default for FragmentIndex<H> {
    fn default() -> Self {
        FragmentIndex {
            table: Table::default(),
            evicted: Vec::new(),
            stats: IndexStats::default(),
        }
    }
}

impl<H> FragmentIndex<H> {
    /// Take a fragment captured at `ts_ns`; `hold` makes what is kept of
    /// it should it have to wait for its first fragment. Fragments given
    /// up (evicted to make room, or held past [`MAX_HELD`]) go to
    /// `orphans`, to be accounted without a transport header.
    pub fn add(
        &mut self,
        ip: &Ip<'_>,
        ts_ns: i64,
        hold: impl FnOnce() -> H,
        orphans: &mut Vec<H>,
    ) -> Assigned<H> {
        self.stats.fragments = self.stats.fragments.saturating_add(1);
        let key = key_of(ip);
        let e = self.table.entry(
            key,
            ts_ns,
            || Indexed {
                header: None,
                held: Vec::new(),
            },
            &mut self.evicted,
        );
        let out = if ip.frag.offset == 0 {
            let mut h = [0u8; HEADER_KEPT];
            let n = ip.payload.len().min(HEADER_KEPT);
            h[..n].copy_from_slice(&ip.payload[..n]);
            e.header = Some((h, n));
            Assigned::First(std::mem::take(&mut e.held))
        } else if let Some((h, n)) = e.header {
            Assigned::Later(h, n)
        } else if e.held.len() >= MAX_HELD {
            self.stats.orphaned = self.stats.orphaned.saturating_add(1);
            orphans.push(hold());
            Assigned::Held
        } else {
            self.stats.held = self.stats.held.saturating_add(1);
            e.held.push(hold());
            Assigned::Held
        };
        for ev in self.evicted.drain(..) {
            self.stats.orphaned = self.stats.orphaned.saturating_add(ev.held.len() as u64);
            orphans.extend(ev.held);
        }
        out
    }

    /// Give back, as orphans, the fragments held for datagrams begun more
    /// than [`MAX_AGE_NS`] before `now_ns` (their first fragment is not
    /// coming); `None` when there is no more.
    pub fn expire(&mut self, now_ns: i64, orphans: &mut Vec<H>) {
        while let Some(e) = self.table.pop_expired(now_ns) {
            self.stats.orphaned = self.stats.orphaned.saturating_add(e.held.len() as u64);
            orphans.extend(e.held);
        }
    }

    /// The capture ended: every fragment still held, as an orphan.
    pub fn finish(&mut self, orphans: &mut Vec<H>) {
        while let Some(e) = self.table.pop_oldest() {
            self.stats.orphaned = self.stats.orphaned.saturating_add(e.held.len() as u64);
            orphans.extend(e.held);
        }
    }

    /// Datagrams indexed.
    pub fn pending(&self) -> usize {
        self.table.map.len()
    }
}

#[cfg(test)]
#[path = "defrag_tests.rs"]
mod tests;
