//! The columnar sink's bulk path: a run of fixed-length records of one
//! template decoded column by column (each column's type decided once),
//! after the filter, if any, has kept its records.

use std::sync::Arc;

use super::{
    decode_value, fixed_field, ColumnarSink, ListContext, RecordKind, Result, Slot, Template,
};

impl ColumnarSink {
    /// [`crate::decode::RecordSink::fixed_records`] for a template with list fields of a
    /// fixed length: the other columns column by column, each list
    /// decoded in `lists`' context (the meter's RTT histograms).
    pub fn fixed_records_with_lists(
        &mut self,
        template: &Arc<Template>,
        records: &[u8],
        count: usize,
        lists: &ListContext<'_>,
    ) -> Result<bool> {
        self.fixed_run(template, records, count, Some(lists))
    }

    /// `count` fixed-length records of `template` back to back, column by
    /// column; list columns too when `lists` gives their context (each
    /// record's list decoded on its own), else such a template is refused
    /// (`Ok(false)`: the caller goes record by record).
    pub(super) fn fixed_run(
        &mut self,
        template: &Arc<Template>,
        records: &[u8],
        count: usize,
        lists: Option<&ListContext<'_>>,
    ) -> Result<bool> {
        let (Some(filter), Some(len)) = (&self.opts.filter, template.fixed_record_len) else {
            return self.fixed_run_all(template, records, count, lists);
        };
        // The records the filter keeps, back to back, then in bulk.
        let compiled = filter.compile(template);
        let mut kept = Vec::new();
        let mut n = 0usize;
        for rec in records.chunks_exact(len.max(1)).take(count) {
            if compiled.keeps(template, rec) {
                kept.extend_from_slice(rec);
                n += 1;
            }
        }
        let done = self.fixed_run_all(template, &kept, n, lists)?;
        if done {
            self.stats.filtered += count.saturating_sub(n) as u64;
        }
        Ok(done)
    }

    fn fixed_run_all(
        &mut self,
        template: &Arc<Template>,
        records: &[u8],
        count: usize,
        lists: Option<&ListContext<'_>>,
    ) -> Result<bool> {
        let options = template.is_options();
        match self.opts.kind {
            RecordKind::Data if options => return Ok(true),
            RecordKind::Options if !options => return Ok(true),
            _ => {}
        }
        let Some(len) = template.fixed_record_len else {
            return Ok(false);
        };
        let plan = self.plan_for(template);
        if plan.nested && lists.is_none() {
            return Ok(false);
        }
        // Columns whose values might not fit are checked in bulk first; if
        // any value does not fit, the set goes record by record.
        for &column in &plan.checked {
            let Slot::Checked(index) = plan.slots[column] else {
                continue;
            };
            if self.nested[column] {
                // Lists are checked as they are decoded.
                continue;
            }
            let (field, strided) = fixed_field(template, index, records, len);
            let fits = self.columns[column].fixed_fit(field.decoder, strided);
            if !fits {
                return Ok(false);
            }
        }
        if self.opts.require_all && !plan.complete {
            self.stats.filtered += count as u64;
            return Ok(true);
        }
        self.enter(template, &plan)?;
        let mut start = 0;
        while start < count && !self.full() {
            let room = self.opts.batch_size - self.rows_in_batch;
            let left = self.opts.n_rows.map_or(u64::MAX, |n| n - self.stats.rows);
            let take = (count - start)
                .min(room)
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let chunk = records
                .get(start * len..(start + take) * len)
                .unwrap_or_default();
            for ((slot, col), &nested) in plan
                .slots
                .iter()
                .zip(self.columns.iter_mut())
                .zip(&self.nested)
            {
                match *slot {
                    Slot::Checked(index) if nested => {
                        let (field, strided) = fixed_field(template, index, chunk, len);
                        if let Some(ctx) = lists {
                            for bytes in strided.fields() {
                                col.append_nested(&decode_value(field.decoder, bytes), ctx, 0);
                            }
                        }
                    }
                    Slot::Fast(index) | Slot::Checked(index) => {
                        let (field, strided) = fixed_field(template, index, chunk, len);
                        col.append_fixed(field.decoder, strided);
                    }
                    Slot::Missing => col.append_nulls(take),
                }
            }
            if let Some(o) = &mut self.origin {
                o.append(take);
            }
            self.rows_in_batch += take;
            self.stats.rows += take as u64;
            start += take;
            if self.rows_in_batch >= self.opts.batch_size {
                self.flush()?;
            }
        }
        Ok(true)
    }
}
