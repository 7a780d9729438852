//! Records that count what the exporter wrote before them: RFC 7011 §4's
//! statistics, whose counters IANA defines to exclude the message
//! carrying them (exportedMessageTotalCount, exportedOctetTotalCount,
//! exportedFlowRecordTotalCount), and of messages "successfully sent":
//! a writer says which it did not send ([`NotSent`]).

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

/// A writer's word that it did not send a message and that the export
/// goes on (over UDP, a datagram with no route or no buffer space:
/// [`crate::encode::NetOut`]), carried in the `io::Error` it returns: the exporter
/// leaves the message out of its counts ([`crate::encode::ExportStats`], which RFC 7011
/// §4's statistics count as "successfully sent") and carries on.
#[derive(Debug)]
pub struct NotSent;

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the message was not sent")
    }
}

impl std::error::Error for NotSent {}

impl NotSent {
    /// The error a writer returns for a message it did not send.
    pub fn error(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, NotSent)
    }

    /// Whether `e` is a writer's [`NotSent`].
    pub fn is(e: &std::io::Error) -> bool {
        e.get_ref()
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<NotSent>)
    }
}
