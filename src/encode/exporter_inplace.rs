//! Records filled in place: room for fixed-length records reserved at the
//! end of the message being built, which the caller fills itself (no copy
//! through a buffer of its own), or takes back whole.

use std::io::Write;

use super::{encode_error, Exporter};
use crate::error::Result;

/// Where a message stood before [`Exporter::reserve_records`].
#[derive(Debug, Clone, Copy)]
pub struct RecordsMark {
    msg_len: usize,
    set: Option<(u16, usize)>,
    started: bool,
}

impl<W: Write> Exporter<W> {
    /// Room for up to `max` records of the fixed-length template `id` of
    /// `odid` (`len` octets each) at the end of the current message:
    /// the records are appended zeroed and counted as written, and the
    /// caller fills them in place (no copy through a buffer of its own),
    /// or takes them back with [`Exporter::cancel_records`]. Returns the
    /// slot, how many records it holds (at least 1), and a mark for
    /// cancelling.
    pub fn reserve_records(
        &mut self,
        odid: u32,
        id: u16,
        len: usize,
        max: usize,
    ) -> Result<(&mut [u8], usize, RecordsMark)> {
        let t = self.require(odid, id)?;
        if t.fixed_record_len != Some(len) || len == 0 || max == 0 {
            return Err(encode_error(format!(
                "records of {len} octets do not match template {id}"
            )));
        }
        if self.starts_message(odid, id, len) {
            self.resend_if_due(odid)?;
        }
        // Flush first, so that the mark describes the message the records
        // go into.
        self.make_room(odid, id, len)?;
        let mark = RecordsMark {
            msg_len: self.msg.len(),
            set: self.set,
            started: self.msg.is_empty(),
        };
        // Place the first record the usual way (message and set headers),
        // then as many more as fit.
        let zeros = vec![0u8; len];
        self.place(odid, id, &zeros)?;
        // len > 0 and max > 0 (checked above); the message holds at most
        // mtu <= 65535 octets, the record just placed among them: no
        // difference below goes negative and no product saturates.
        let fit = self
            .opts
            .mtu
            .saturating_sub(self.msg.len())
            .checked_div(len)
            .unwrap_or(0);
        let k = fit.min(max.saturating_sub(1)).saturating_add(1);
        let start = self.msg.len().saturating_sub(len);
        self.msg
            .resize(start.saturating_add(k.saturating_mul(len)), 0);
        self.msg_records = self.msg_records.wrapping_add(k as u32);
        self.stats.records = self.stats.records.saturating_add(k as u64);
        Ok((&mut self.msg[start..], k, mark))
    }

    /// Take back the `k` records of the last [`Exporter::reserve_records`]
    /// (a value in them was refused): the message is as it was before.
    pub fn cancel_records(&mut self, mark: RecordsMark, k: usize) {
        self.msg.truncate(mark.msg_len);
        self.set = mark.set;
        if mark.started {
            self.msg.clear();
            self.set = None;
            if let Some(d) = self.domains.get_mut(&self.msg_domain) {
                d.messages = d.messages.saturating_sub(1);
            }
        }
        self.msg_records = self.msg_records.wrapping_sub(k as u32);
        self.stats.records = self.stats.records.saturating_sub(k as u64);
    }
}
