//! The flow table: flows by key, in least-recently-seen order, with the
//! timeouts and end reasons of IANA's flowEndReason (RFC 7011 §5.11
//! registry, values 1-5):
//!
//! 1. idle timeout: no packet for more than `idle_timeout` (the table's
//!    clock is the latest packet time seen);
//! 2. active timeout: a packet more than `active_timeout` after the
//!    record's start ends the record before it; the packet starts the
//!    continuation, which keeps the flowId;
//! 3. end of flow detected: a TCP RST, or FIN both ways and both
//!    acknowledged (a flow whose FINs are both seen but not both
//!    acknowledged ends so at its idle timeout, or when a new SYN reuses
//!    its key); or a SYN (or SYN/ACK) whose sequence number differs from
//!    the SYN its sender sent before (a new connection on the key of one
//!    whose end was not seen);
//! 4. forced end: the end of the capture;
//! 5. lack of resources: a new flow when `max_flows` are open evicts the
//!    least recently seen.
//!
//! Memory is proportional to the flows open at once (at most `max_flows`):
//! slots of ended flows are reused.

use std::collections::HashSet;

use hashbrown::HashTable;
use std::sync::Arc;

use super::flow::{Flow, Phase};
use super::flowpacket::FlowPacket;
use super::key::FlowKey;
use crate::packet::{Dissected, ACK, SYN};
use crate::tcp::series::Series;

/// IANA flowEndReason values.
pub mod reason {
    pub const IDLE: u8 = 1;
    pub const ACTIVE: u8 = 2;
    pub const END_OF_FLOW: u8 = 3;
    pub const FORCED: u8 = 4;
    pub const LACK_OF_RESOURCES: u8 = 5;
}

const NIL: u32 = u32::MAX;

/// Options of a flow table.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    pub idle_ns: i64,
    pub active_ns: i64,
    pub max_flows: usize,
    /// Analyse TCP performance ([`crate::tcp`]).
    pub tcp_metrics: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            idle_ns: 30_000_000_000,
            active_ns: 300_000_000_000,
            max_flows: 1 << 20,
            tcp_metrics: true,
        }
    }
}

/// A record ended.
#[derive(Debug, Clone)]
pub struct Ended {
    pub flow: Flow,
    /// flowEndReason.
    pub reason: u8,
}

/// Counters of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Flows begun (continuations not counted).
    pub flows: u64,
    /// Records ended, by flowEndReason (index 1-5).
    pub by_reason: [u64; 6],
    /// Most flows open at once.
    pub peak_flows: u64,
    /// Packets whose time was before the latest seen (kept, counted).
    pub out_of_order: u64,
}

struct Slot {
    flow: Flow,
    prev: u32,
    next: u32,
}

/// The flow table.
pub struct Table {
    opts: TableOptions,
    /// Slot numbers by their flow's key ([`FlowKey::spread`] its hash):
    /// the keys stay in the slots, so a million flows cost 4 octets a
    /// bucket here rather than a key's 48.
    map: HashTable<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Least recently seen first.
    head: u32,
    tail: u32,
    next_id: u64,
    /// flowIds go up by this (a worker's table of several, see
    /// [`Table::number_flows`]).
    id_step: u64,
    now: Option<i64>,
    /// The slot of the last packet's flow (packets come in trains: on
    /// real traffic most packets belong to the flow of the one before),
    /// checked before the map; `NIL` when that flow ended.
    last: u32,
    /// Records ended, in the order they ended; the caller drains them.
    pub ended: Vec<Ended>,
    pub stats: TableStats,
    /// Connections (by flowId) whose per-packet series are kept, and the
    /// packets a direction keeps at most.
    series: Option<(Arc<HashSet<u64>>, usize)>,
}

impl Table {
    /// Keep the per-packet series ([`crate::tcp::series`]) of the TCP
    /// connections numbered `flow_ids`, at most `cap` packets a direction.
    pub fn keep_series(&mut self, flow_ids: Arc<HashSet<u64>>, cap: usize) {
        self.series = Some((flow_ids, cap));
    }

    pub fn new(opts: TableOptions) -> Self {
        Table {
            opts: TableOptions {
                max_flows: opts.max_flows.max(1),
                ..opts
            },
            map: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            next_id: 1,
            id_step: 1,
            now: None,
            last: NIL,
            ended: Vec::new(),
            stats: TableStats::default(),
            series: None,
        }
    }

    /// Number the flows `first`, `first + step`, ... (flowIds 1, 2, ... by
    /// default).
    pub fn number_flows(&mut self, first: u64, step: u64) {
        self.next_id = first;
        self.id_step = step.max(1);
    }

    /// Flows open.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Account a packet to its flow, ending records as the rules say.
    #[inline]
    pub fn packet(&mut self, d: &Dissected<'_>) {
        self.observe(&FlowPacket::of(d));
    }

    /// The table's clock: the latest packet time seen.
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// Advance the clock to `now` (a packet of another table's flows was
    /// seen then, [`super::parallel`]): records idle at `now` end, as they
    /// would have at that packet in a table of every flow.
    pub fn tick(&mut self, now: i64) {
        if self.now.is_none_or(|t| now > t) {
            self.now = Some(now);
            self.expire(now);
        }
    }

    /// Account a packet (as [`FlowPacket::of`] summed it up) to its flow.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn observe(&mut self, p: &FlowPacket) {
        let in_order = match self.now {
            Some(now) if p.ts_ns < now => {
                self.stats.out_of_order = self.stats.out_of_order.saturating_add(1);
                false
            }
            _ => {
                self.now = Some(p.ts_ns);
                self.expire(p.ts_ns);
                true
            }
        };
        let cached = self
            .slots
            .get(self.last as usize)
            .is_some_and(|s| s.flow.key == p.key);
        let found = if cached {
            Some(self.last)
        } else {
            let slots = &self.slots;
            self.map
                .find(p.key.spread(), |&i| slots[i as usize].flow.key == p.key)
                .copied()
        };
        let at = match found {
            Some(i) => {
                let f = &mut self.slots[i as usize].flow;
                let closing = f.phase == Phase::Closing && p.tcp_flags() & (SYN | ACK) == SYN;
                if closing || f.reused_by(p) {
                    // A new connection (a SYN without ACK) on the key of
                    // one that closed, or (a SYN or SYN/ACK) of one whose
                    // SYN from that side had another number.
                    self.end(i, reason::END_OF_FLOW);
                    self.insert(p)
                } else {
                    if p.ts_ns.saturating_sub(f.start_ns) > self.opts.active_ns {
                        let mut flow = f.clone();
                        // The series goes on with the connection.
                        if let Some(b) = flow.tcp.as_mut() {
                            b.series = None;
                        }
                        f.continuation(p.ts_ns);
                        self.record(flow, reason::ACTIVE);
                    }
                    if in_order {
                        // Its packet is the latest of all: the tail.
                        self.touch(i);
                    }
                    i
                }
            }
            None => self.insert(p),
        };
        let f = &mut self.slots[at as usize].flow;
        f.account(p);
        self.last = at;
        let (end_ns, closed) = (f.end_ns, f.phase == Phase::Closed);
        if !in_order {
            self.place(at, end_ns);
        }
        if closed {
            self.end(at, reason::END_OF_FLOW);
        }
    }

    /// End the records idle for more than the idle timeout at `now`.
    pub fn expire(&mut self, now: i64) {
        while self.head != NIL {
            let f = &self.slots[self.head as usize].flow;
            if now.saturating_sub(f.end_ns) <= self.opts.idle_ns {
                break;
            }
            let why = if f.phase == Phase::Closing {
                reason::END_OF_FLOW
            } else {
                reason::IDLE
            };
            self.end(self.head, why);
        }
    }

    /// The capture ended: every open record ends (forced, or end of flow
    /// for one closing).
    pub fn finish(&mut self) {
        while !self.finish_some(usize::MAX) {}
    }

    /// End at most `n` of the open records, least recently seen first, as
    /// [`Table::finish`] does; true once none is left (so the records of a
    /// large table can leave in batches rather than all at once).
    pub fn finish_some(&mut self, n: usize) -> bool {
        for _ in 0..n {
            if self.head == NIL {
                break;
            }
            let why = if self.slots[self.head as usize].flow.phase == Phase::Closing {
                reason::END_OF_FLOW
            } else {
                reason::FORCED
            };
            self.end(self.head, why);
        }
        self.head == NIL
    }

    fn insert(&mut self, p: &FlowPacket) -> u32 {
        if self.map.len() >= self.opts.max_flows && self.head != NIL {
            self.end(self.head, reason::LACK_OF_RESOURCES);
        }
        let mut flow = Flow::new(self.next_id, p, self.opts.tcp_metrics);
        if let (Some((ids, cap)), Some(b)) = (&self.series, flow.tcp.as_mut()) {
            if b.conn.is_some() && ids.contains(&flow.flow_id) {
                b.series = Some(Box::new(Series::new(*cap)));
            }
        }
        self.next_id = self.next_id.saturating_add(self.id_step);
        self.stats.flows = self.stats.flows.saturating_add(1);
        let slot = Slot {
            flow,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len().saturating_sub(1)).unwrap_or(NIL)
            }
        };
        let slots = &self.slots;
        self.map
            .insert_unique(p.key.spread(), i, |&j| slots[j as usize].flow.key.spread());
        self.link_tail(i);
        self.stats.peak_flows = self.stats.peak_flows.max(self.map.len() as u64);
        i
    }

    /// End slot `i`'s record and free the slot.
    fn end(&mut self, i: u32, why: u8) {
        if i == self.last {
            self.last = NIL;
        }
        self.unlink(i);
        let key = self.slots[i as usize].flow.key;
        if let Ok(e) = self.map.find_entry(key.spread(), |&j| j == i) {
            e.remove();
        }
        self.free.push(i);
        // The slot keeps a stale flow until reused; the record leaves
        // with a copy's worth of move.
        let flow = std::mem::replace(&mut self.slots[i as usize].flow, placeholder());
        self.record(flow, why);
    }

    fn record(&mut self, mut flow: Flow, why: u8) {
        flow.close();
        if let Some(n) = self.stats.by_reason.get_mut(usize::from(why)) {
            *n = n.saturating_add(1);
        }
        self.ended.push(Ended { flow, reason: why });
    }

    /// A packet in time order: its flow's is the latest packet time of
    /// all, so the flow goes to the tail of the list.
    fn touch(&mut self, i: u32) {
        if self.tail != i {
            self.unlink(i);
            self.link_tail(i);
        }
    }

    /// Keep the list in the order of the flows' last packet times (its
    /// head the flow idle longest, which [`Table::expire`] and eviction
    /// take first) after a packet whose timestamp went backwards made
    /// slot `i`'s `end_ns` (a packet in order goes to the tail,
    /// [`Table::touch`]). Left at the tail, such a flow would sit behind
    /// newer ones and outlive its idle timeout, by an amount that would
    /// depend on which other flows share the table (the workers' hold
    /// fewer).
    fn place(&mut self, i: u32, end_ns: i64) {
        let tail_end = |me: &Self, j: u32| me.slots[j as usize].flow.end_ns;
        if self.tail == i {
            let prev = self.slots[i as usize].prev;
            if prev == NIL || tail_end(self, prev) <= end_ns {
                return;
            }
        } else if self.tail == NIL || tail_end(self, self.tail) <= end_ns {
            self.unlink(i);
            self.link_tail(i);
            return;
        }
        self.unlink(i);
        let mut after = self.tail;
        while after != NIL && tail_end(self, after) > end_ns {
            after = self.slots[after as usize].prev;
        }
        self.link_after(i, after);
    }

    /// Link slot `i` after slot `after` (`NIL`: at the head).
    fn link_after(&mut self, i: u32, after: u32) {
        let next = if after == NIL {
            self.head
        } else {
            self.slots[after as usize].next
        };
        {
            let s = &mut self.slots[i as usize];
            s.prev = after;
            s.next = next;
        }
        if after == NIL {
            self.head = i;
        } else {
            self.slots[after as usize].next = i;
        }
        if next == NIL {
            self.tail = i;
        } else {
            self.slots[next as usize].prev = i;
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[i as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn link_tail(&mut self, i: u32) {
        let old = self.tail;
        {
            let s = &mut self.slots[i as usize];
            s.prev = old;
            s.next = NIL;
        }
        if old == NIL {
            self.head = i;
        } else {
            self.slots[old as usize].next = i;
        }
        self.tail = i;
    }
}

/// What a freed slot holds until reused.
fn placeholder() -> Flow {
    Flow {
        key: FlowKey::default(),
        flow_id: 0,
        initiator: 0,
        start_ns: 0,
        end_ns: 0,
        dir: Default::default(),
        phase: Phase::Open,
        tcp: None,
    }
}
