//! The flow meter (DESIGN: meter/): packet captures in, flow records out.
//! Each packet goes once through the shared packet layer
//! ([`crate::packet::Dissector`], fragments assigned to their first
//! fragment's flow), into the flow table ([`table`]: biflows per RFC 5103,
//! timeouts, end reasons), and each ended record is encoded in its
//! template ([`record`]) for the columnar sink (Arrow) or the exporter
//! (IPFIX).
//!
//! - [`key`]: the flow key and its canonical biflow form;
//! - [`flow`]: per-flow state and the definitions of the counters;
//! - [`table`]: the table, timeouts, end reasons, eviction;
//! - [`record`]: templates and record encoding;
//! - [`input`]: captures merged in time order;
//! - [`batches`]: the meter as Arrow record batches;
//! - [`export`]: the meter as IPFIX messages;
//! - [`statsrec`]: its statistics as IPFIX options records.

pub mod batches;
pub mod export;
mod fill;
pub mod flow;
pub mod flowpacket;
mod ies;
pub mod input;
pub mod key;
pub mod parallel;
pub mod record;
pub mod statsrec;
pub mod table;
pub mod tcpfields;
pub mod tcpvalues;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use flowpacket::FlowPacket;
pub use parallel::ReadEnd;
use parallel::Workers;

use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
use crate::packet::{DissectOptions, DissectStats, Dissector, FragmentMode, NotIp};
use crate::pcap::Packet;
use crate::session::Template;
use crate::tcp::series::Series;
use record::Records;
use table::{Table, TableOptions, TableStats};

/// Options of a meter.
#[derive(Debug, Clone, Copy)]
pub struct MeterOptions {
    pub table: TableOptions,
    /// Records as RFC 5103 biflows (true), or each biflow's directions as
    /// uniflow records ([`record::Records::new`]): flows are metered as
    /// biflows either way.
    pub biflow: bool,
    /// Take GRE, VXLAN and IP-in-IP tunnels apart (the inner packet is
    /// metered).
    pub decapsulate: bool,
    /// Threads holding flow tables (0 and 1: the calling thread's own;
    /// more: see [`parallel`] for how their records differ).
    pub workers: usize,
}

impl Default for MeterOptions {
    fn default() -> Self {
        MeterOptions {
            table: TableOptions::default(),
            biflow: true,
            decapsulate: false,
            workers: 1,
        }
    }
}

/// Counters of a meter: every packet read counts once in
/// `dissect.packets`, and either in a flow or as a reason in
/// `dissect.not_ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterStats {
    pub dissect: DissectStats,
    pub table: TableStats,
    /// Records produced.
    pub records: u64,
    /// Packets accounted to flows.
    pub metered: u64,
    /// Captures that ended in an error (their flows up to it kept).
    pub failed_captures: u64,
}

impl MeterStats {
    /// Packets without an IP packet, by reason name.
    pub fn not_ip(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        NotIp::ALL
            .iter()
            .zip(self.dissect.not_ip)
            .map(|(w, n)| (w.name(), n))
    }
}

/// Encoded records of one template waiting to leave.
#[derive(Default)]
pub struct Pending {
    pub bytes: Vec<u8>,
    pub count: usize,
}

/// The meter: packets in, encoded records out.
pub struct Meter {
    dissector: Dissector,
    table: Table,
    /// Worker threads with the tables (then `table` stays empty).
    workers: Option<Workers>,
    records: Arc<Records>,
    /// Per template (as [`Records::template`] numbers them).
    pending: Vec<Pending>,
    pending_count: usize,
    stats: MeterStats,
    /// `finish_some` has begun.
    finishing: bool,
    /// The latest time of any frame so far.
    clock: i64,
    /// Series of ended connections: (flowId, the initiator's key side,
    /// the series).
    series: Vec<(u64, usize, Series)>,
    /// Each packet's summary, filled here in place
    /// ([`FlowPacket::fill`]).
    summary: FlowPacket,
}

impl Meter {
    /// A meter whose templates take their IEs from `model`.
    pub fn new(opts: MeterOptions, model: &InfoModel) -> Result<Self> {
        let records = Arc::new(Records::new(model, opts.biflow, opts.table.tcp_metrics)?);
        let n = records.templates().len();
        let dissect = DissectOptions {
            fragments: FragmentMode::Assign,
            decapsulate: opts.decapsulate,
        };
        let workers = if opts.workers > 1 {
            Some(Workers::new(opts.workers, opts.table, dissect, &records)?)
        } else {
            None
        };
        Ok(Meter {
            dissector: Dissector::new(dissect),
            table: Table::new(opts.table),
            workers,
            records,
            pending: (0..n).map(|_| Pending::default()).collect(),
            pending_count: 0,
            stats: MeterStats::default(),
            finishing: false,
            clock: i64::MIN,
            series: Vec::new(),
            summary: FlowPacket::default(),
        })
    }

    /// The record layouts.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Meter one captured packet.
    #[inline]
    pub fn packet(&mut self, p: &Packet<'_>) -> Result<()> {
        if let Some(w) = &mut self.workers {
            let n = w.frame(p, &mut self.pending)?;
            self.count(n);
            return Ok(());
        }
        // The table's clock is the capture's, every frame's (as each
        // worker's is, [`parallel`]): a packet is out of order when a
        // frame before it is later, and records idle by then end before
        // it (without a packet after it, at the end of the input).
        if self.clock > p.ts_ns {
            self.table.tick(self.clock);
        } else {
            self.clock = p.ts_ns;
        }
        let (table, metered, summary) =
            (&mut self.table, &mut self.stats.metered, &mut self.summary);
        // Metered where the packet view is, on the stack: the summary is
        // filled in place, not moved.
        self.dissector.frame_with(
            p,
            #[inline(always)]
            |d| {
                *metered = metered.saturating_add(1);
                summary.fill(d);
                table.observe(summary);
            },
        );
        while let Some(d) = self.dissector.next_released() {
            self.summary.fill(&d);
            self.stats.metered = self.stats.metered.saturating_add(1);
            self.table.observe(&self.summary);
        }
        self.encode_ended()
    }

    /// With workers, have each read the capture file `path` itself (see
    /// [`parallel`]): then the input is read with [`Meter::read_round`],
    /// not handed over with [`Meter::packet`]. Call it before any packet;
    /// false (nothing done) without workers.
    pub fn read_file(&mut self, path: &std::path::Path) -> Result<bool> {
        match &mut self.workers {
            Some(w) => {
                w.read_file(path)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether the workers read the input themselves.
    pub fn reading(&self) -> bool {
        self.workers.as_ref().is_some_and(Workers::reading)
    }

    /// The workers read their next round of the file: its records are
    /// pending; how the file ended, if it did.
    pub fn read_round(&mut self) -> Result<Option<ReadEnd>> {
        let Some(w) = &mut self.workers else {
            return Ok(Some(ReadEnd::End));
        };
        let (n, end) = w.read_round(&mut self.pending)?;
        self.count(n);
        Ok(end)
    }

    /// Where the workers reading the input are in it.
    pub fn position(&self) -> Option<u64> {
        self.workers
            .as_ref()
            .filter(|w| w.reading())
            .map(Workers::position)
    }

    /// The input ended: every open flow ends, held fragments are metered.
    pub fn finish(&mut self) -> Result<()> {
        while !self.finish_some(usize::MAX)? {}
        Ok(())
    }

    /// The input ended: end at most `n` open flows (the first call meters
    /// the held fragments first); true once every flow has ended. Between
    /// calls the caller takes the records ([`Meter::drain`]), so a table of
    /// a million flows leaves in batches instead of all at once (with
    /// workers, each worker's flows end at once).
    pub fn finish_some(&mut self, n: usize) -> Result<bool> {
        if let Some(w) = &mut self.workers {
            let n = w.finish(&mut self.pending)?;
            self.count(n);
            return Ok(true);
        }
        if !self.finishing {
            self.finishing = true;
            // Records idle by the capture's last frame end as idle, not
            // forced (as with workers).
            if self.clock != i64::MIN {
                self.table.tick(self.clock);
            }
            self.dissector.finish();
            while let Some(d) = self.dissector.next_released() {
                let fp = FlowPacket::of(&d);
                self.stats.metered = self.stats.metered.saturating_add(1);
                self.table.observe(&fp);
            }
        }
        let done = self.table.finish_some(n);
        self.encode_ended()?;
        Ok(done)
    }

    fn count(&mut self, records: usize) {
        self.pending_count = self.pending_count.saturating_add(records);
        self.stats.records = self.stats.records.saturating_add(records as u64);
    }

    fn encode_ended(&mut self) -> Result<()> {
        if self.table.ended.is_empty() {
            return Ok(());
        }
        for e in &mut self.table.ended {
            if let Some(s) = e.flow.tcp.as_mut().and_then(|b| b.series.take()) {
                self.series.push((e.flow.flow_id, e.flow.initiator, *s));
            }
        }
        let n = encode_ended(&self.records, &mut self.table.ended, &mut self.pending)?;
        self.count(n);
        Ok(())
    }

    /// Keep the per-packet series ([`crate::tcp::series`]) of the TCP
    /// connections numbered `flow_ids` (their records' flowIds), at most
    /// `cap` packets a direction; taken with [`Meter::take_series`] as
    /// their records end. One thread only (flowIds depend on the workers).
    pub fn keep_series(&mut self, flow_ids: HashSet<u64>, cap: usize) -> Result<()> {
        if self.workers.is_some() {
            return Err(Error::new(ErrorKind::Internal(
                "per-packet series need workers=1".into(),
            )));
        }
        self.table.keep_series(Arc::new(flow_ids), cap);
        Ok(())
    }

    /// The series of the connections ended so far: (flowId, the key side
    /// of its initiator, the series).
    pub fn take_series(&mut self) -> Vec<(u64, usize, Series)> {
        std::mem::take(&mut self.series)
    }

    /// Records encoded and not yet taken.
    pub fn pending(&self) -> usize {
        self.pending_count
    }

    /// Hand every pending record to `f`, template by template (the bytes
    /// are `count` records of the template's fixed length).
    pub fn drain(
        &mut self,
        mut f: impl FnMut(&Arc<Template>, &[u8], usize) -> Result<()>,
    ) -> Result<()> {
        for (i, p) in self.pending.iter_mut().enumerate() {
            if p.count == 0 {
                continue;
            }
            if let Some(t) = self.records.template(i) {
                f(&t, &p.bytes, p.count)?;
            }
            p.bytes.clear();
            p.count = 0;
        }
        self.pending_count = 0;
        Ok(())
    }

    /// A capture failed part-way: counted (its flows so far stay).
    pub fn capture_failed(&mut self) {
        self.stats.failed_captures = self.stats.failed_captures.saturating_add(1);
    }

    /// Flows open now (with workers: as of their last answers).
    pub fn open_flows(&self) -> usize {
        match &self.workers {
            Some(w) => w.open_flows(),
            None => self.table.len(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> MeterStats {
        let mut s = self.stats.clone();
        match &self.workers {
            Some(w) => {
                s.dissect = w.dissect_stats();
                s.table = w.stats();
                s.metered = w.metered();
            }
            None => {
                s.dissect = self.dissector.stats();
                s.table = self.table.stats.clone();
            }
        }
        s
    }
}

/// Encode the records in `ended` (emptied, its capacity kept) into
/// `pending`, per template; the count encoded.
pub(crate) fn encode_ended(
    records: &Records,
    ended: &mut Vec<table::Ended>,
    pending: &mut Vec<Pending>,
) -> Result<usize> {
    let mut n = 0usize;
    for e in ended.drain(..) {
        for fwd in records.sides(&e.flow).into_iter().flatten() {
            let l = records.layout_of(&e.flow, fwd)?;
            let i = l.index;
            if pending.len() <= i {
                pending.resize_with(i.saturating_add(1), Pending::default);
            }
            let Some(p) = pending.get_mut(i) else {
                return Err(Error::new(ErrorKind::Internal(format!(
                    "no pending buffer for meter template {i}"
                ))));
            };
            records.encode(&l, &e.flow, fwd, e.reason, &mut p.bytes)?;
            p.count = p.count.saturating_add(1);
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}
