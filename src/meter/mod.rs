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
//! - [`export`]: the meter as IPFIX messages.

pub mod batches;
pub mod export;
pub mod flow;
pub mod flowpacket;
pub mod input;
pub mod key;
pub mod record;
pub mod table;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::error::Result;
use crate::model::InfoModel;
use crate::packet::{DissectOptions, DissectStats, Dissector, FragmentMode, NotIp, Step};
use crate::pcap::Packet;
use crate::session::Template;
use record::Records;
use table::{Table, TableOptions, TableStats};

/// Options of a meter.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeterOptions {
    pub table: TableOptions,
    /// Take GRE, VXLAN and IP-in-IP tunnels apart (the inner packet is
    /// metered).
    pub decapsulate: bool,
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
    records: Records,
    /// Per template (as [`Records::template`] numbers them).
    pending: Vec<Pending>,
    pending_count: usize,
    stats: MeterStats,
}

impl Meter {
    /// A meter whose templates take their IEs from `model`.
    pub fn new(opts: MeterOptions, model: &InfoModel) -> Result<Self> {
        let records = Records::new(model, opts.table.biflow)?;
        let n = records.templates().count();
        Ok(Meter {
            dissector: Dissector::new(DissectOptions {
                fragments: FragmentMode::Assign,
                decapsulate: opts.decapsulate,
            }),
            table: Table::new(opts.table),
            records,
            pending: (0..n).map(|_| Pending::default()).collect(),
            pending_count: 0,
            stats: MeterStats::default(),
        })
    }

    /// The record layouts.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Meter one captured packet.
    pub fn packet(&mut self, p: &Packet<'_>) -> Result<()> {
        if let Step::Packet(ref d) = self.dissector.frame(p) {
            self.stats.metered = self.stats.metered.saturating_add(1);
            self.table.packet(d);
        }
        while let Some(d) = self.dissector.next_released() {
            self.stats.metered = self.stats.metered.saturating_add(1);
            self.table.packet(&d);
        }
        self.encode_ended()
    }

    /// The input ended: every open flow ends, held fragments are metered.
    pub fn finish(&mut self) -> Result<()> {
        self.dissector.finish();
        while let Some(d) = self.dissector.next_released() {
            self.stats.metered = self.stats.metered.saturating_add(1);
            self.table.packet(&d);
        }
        self.table.finish();
        self.encode_ended()
    }

    fn encode_ended(&mut self) -> Result<()> {
        if self.table.ended.is_empty() {
            return Ok(());
        }
        let ended = std::mem::take(&mut self.table.ended);
        for e in &ended {
            let i = self.records.layout_of(&e.flow);
            let Some(p) = self.pending.get_mut(i) else {
                continue;
            };
            self.records.encode(i, &e.flow, e.reason, &mut p.bytes)?;
            p.count = p.count.saturating_add(1);
            self.pending_count = self.pending_count.saturating_add(1);
            self.stats.records = self.stats.records.saturating_add(1);
        }
        // Give the buffer back (its capacity is reused).
        let mut ended = ended;
        ended.clear();
        self.table.ended = ended;
        Ok(())
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
                f(t, &p.bytes, p.count)?;
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

    /// Flows open now.
    pub fn open_flows(&self) -> usize {
        self.table.len()
    }

    /// The counters so far.
    pub fn stats(&self) -> MeterStats {
        let mut s = self.stats.clone();
        s.dissect = self.dissector.stats();
        s.table = self.table.stats.clone();
        s
    }
}
