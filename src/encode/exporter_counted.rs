//! Records that count what the exporter wrote before them: RFC 7011 §4's
//! statistics, whose counters IANA defines to exclude the message
//! carrying them (exportedMessageTotalCount, exportedOctetTotalCount,
//! exportedFlowRecordTotalCount).

use std::io::Write;

use super::{encode_error, ExportStats, Exporter};
use crate::decode::Value;
use crate::error::Result;

impl<W: Write> Exporter<W> {
    /// Write a data record of the fixed-length template `id` of `odid`
    /// whose values `values` makes from the counts of every message
    /// written before the record's own: what is pending is written first,
    /// then any template refresh due (RFC 7011 §8.4; in the record's
    /// message if the record fits after it, else in messages before it),
    /// and only then are the counts read.
    pub fn encode_counted_record<'v>(
        &mut self,
        odid: u32,
        id: u16,
        values: impl FnOnce(&ExportStats) -> Vec<Value<'v>>,
    ) -> Result<()> {
        let t = self.require(odid, id)?;
        let len = t.fixed_record_len.ok_or_else(|| {
            encode_error(format!(
                "template {id} does not describe fixed-length records"
            ))
        })?;
        self.flush()?;
        self.resend_if_due(odid)?;
        self.make_room(odid, id, len)?;
        let buf = self.encode_values(&t, &values(&self.stats))?;
        let r = self.place(odid, id, &buf);
        self.scratch = buf;
        r?;
        self.msg_records = self.msg_records.wrapping_add(1);
        self.stats.records = self.stats.records.saturating_add(1);
        Ok(())
    }
}
