//! The columnar sink: decodes records straight into Arrow column builders,
//! one schema across all templates (the union of the requested IEs, nulls
//! where a record's template lacks one). The plan that maps a template's
//! fields to columns is compiled once per template.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema, SchemaRef};

use super::column::Column;
use super::nested::{check_list, is_list, list_type, ListColumn, ListShape};
use super::origin::OriginColumns;
use super::plan::{fixed_field, Plan, Slot, MAX_PLANS};
use super::types::{field_for, ColumnKind};
use crate::decode::{decode_value, ListContext, Origin, Policy, Record, RecordSink};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ColumnIe, IeDef};
use crate::session::Template;

pub use super::options::{ColumnarOptions, ColumnarStats, RecordKind};

mod fixed;

/// Decodes records into Arrow batches.
pub struct ColumnarSink {
    schema: SchemaRef,
    /// Each column's IE and occurrence ([`ColumnIe::key`]).
    keys: Vec<(u32, u16, u16)>,
    /// Which columns are nested lists.
    nested: Vec<bool>,
    columns: Vec<Column>,
    opts: ColumnarOptions,
    kinds: Vec<ColumnKind>,
    plans: HashMap<u64, Arc<Plan>>,
    last: Option<(u64, Arc<Plan>)>,
    rows_in_batch: usize,
    /// The template of the batch in progress (with `by_template`).
    current: Option<(u32, u16)>,
    present: HashMap<(u32, u16), Vec<bool>>,
    done: Vec<(RecordBatch, Option<(u32, u16)>)>,
    refused: Vec<usize>,
    pub stats: ColumnarStats,
    /// Problems skipped under the warn policy, for the caller to report
    /// (and, with `partial_columns`, templates with IEs that are no column).
    pub warnings: Vec<String>,
    /// With `partial_columns`: the templates (domain, id) already warned of.
    uncovered: HashSet<(u32, u16)>,
    /// The exporter columns, for a capture.
    origin: Option<OriginColumns>,
    /// Where the exporter columns go among the others (ascending).
    origin_at: Vec<usize>,
}

impl ColumnarSink {
    /// A sink producing one column per IE occurrence in `columns`, in
    /// that order, each named by [`ColumnIe::name`].
    pub fn new(columns: &[ColumnIe], opts: ColumnarOptions) -> Self {
        let kinds: Vec<ColumnKind> = columns
            .iter()
            .map(|c| ColumnKind::for_ie(&c.ie, opts.addresses))
            .collect();
        let shapes: Vec<Option<&ListShape>> = columns
            .iter()
            .map(|ColumnIe { ie, .. }| {
                opts.list_shapes
                    .get(&(ie.pen, ie.id))
                    .filter(|_| is_list(ie))
            })
            .collect();
        let fields: Vec<_> = columns
            .iter()
            .zip(&kinds)
            .zip(&shapes)
            .map(|((c, k), shape)| {
                let f = field_for(&c.ie, *k).with_name(c.name());
                match shape {
                    Some(s) => f.with_data_type(list_type(s, opts.addresses)),
                    None => f,
                }
            })
            .collect();
        let built = kinds
            .iter()
            .zip(&shapes)
            .map(|(k, shape)| match shape {
                Some(s) => Column::List(Box::new(ListColumn::new((*s).clone(), opts.addresses))),
                None => Column::new(*k),
            })
            .collect();
        ColumnarSink {
            schema: Arc::new(Schema::new(fields)),
            nested: shapes.iter().map(Option::is_some).collect(),
            keys: columns.iter().map(ColumnIe::key).collect(),
            columns: built,
            kinds,
            opts,
            plans: HashMap::new(),
            last: None,
            rows_in_batch: 0,
            current: None,
            present: HashMap::new(),
            done: Vec::new(),
            refused: Vec::new(),
            stats: ColumnarStats::default(),
            warnings: Vec::new(),
            uncovered: HashSet::new(),
            origin: None,
            origin_at: Vec::new(),
        }
    }

    /// Add exporter columns (`ies`: any of exporterIPv4Address,
    /// exporterIPv6Address, exporterTransportPort), column `ies[k]` at
    /// index `at[k]` of the batches (ascending), the others in order
    /// around them.
    pub fn with_origin(mut self, ies: &[Arc<IeDef>], at: &[usize]) -> Self {
        let (cols, fields) = OriginColumns::new(ies, self.opts.addresses);
        let mut decoded = self.schema.fields().iter().map(|f| f.as_ref().clone());
        let mut origin = fields.into_iter();
        let total = self.schema.fields().len() + ies.len();
        let all: Vec<Field> = (0..total)
            .filter_map(|i| {
                if at.contains(&i) {
                    origin.next()
                } else {
                    decoded.next()
                }
            })
            .collect();
        self.schema = Arc::new(Schema::new(all));
        self.origin = Some(cols);
        self.origin_at = at.to_vec();
        self
    }

    /// Where the exporter columns are in the batches.
    pub fn origin_at(&self) -> &[usize] {
        &self.origin_at
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Whether `n_rows` has been reached.
    pub fn full(&self) -> bool {
        self.opts.n_rows.is_some_and(|n| self.stats.rows >= n)
    }

    /// Take the batches completed so far.
    pub fn take_batches(&mut self) -> Vec<RecordBatch> {
        self.take_tagged_batches()
            .into_iter()
            .map(|b| b.0)
            .collect()
    }

    /// Take the batches completed so far, each with its (observation
    /// domain, template id) when `by_template` is on.
    pub fn take_tagged_batches(&mut self) -> Vec<(RecordBatch, Option<(u32, u16)>)> {
        std::mem::take(&mut self.done)
    }

    /// Complete the batch in progress (if it has rows).
    pub fn flush(&mut self) -> Result<()> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let mut arrays: Vec<_> = self.columns.iter_mut().map(Column::finish).collect();
        if let Some(o) = &mut self.origin {
            for (&at, a) in self.origin_at.iter().zip(o.finish()) {
                arrays.insert(at.min(arrays.len()), a);
            }
        }
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)
            .map_err(|e| Error::new(ErrorKind::BadRecord(format!("building a batch: {e}"))))?;
        self.rows_in_batch = 0;
        self.done.push((batch, self.current));
        Ok(())
    }

    fn plan(&mut self, rec: &Record<'_>) -> Arc<Plan> {
        self.plan_for(rec.template)
    }

    fn plan_for(&mut self, t: &Template) -> Arc<Plan> {
        let serial = t.serial;
        if let Some((s, p)) = &self.last {
            if *s == serial {
                return p.clone();
            }
        }
        if self.plans.len() >= MAX_PLANS {
            self.plans.clear();
        }
        if self.opts.partial_columns.is_some() && !self.plans.contains_key(&serial) {
            self.warn_uncovered(t);
        }
        let p = self
            .plans
            .entry(serial)
            .or_insert_with(|| Arc::new(Plan::compile(t, &self.keys, &self.kinds, &self.nested)))
            .clone();
        self.last = Some((serial, p.clone()));
        p
    }

    /// With columns learned from part of the stream: warn (once per
    /// template) of the IEs of `t` that are no column, whose values are
    /// not read.
    fn warn_uncovered(&mut self, t: &Template) {
        let key = (t.observation_domain_id, t.id);
        if self.uncovered.contains(&key) || self.uncovered.len() >= MAX_PLANS {
            return;
        }
        let missing: Vec<&str> = t
            .fields
            .iter()
            .filter(|f| !self.keys.contains(&(f.ie.pen, f.ie.id, f.nth)))
            .map(|f| &*f.ie.name)
            .collect();
        if missing.is_empty() {
            return;
        }
        self.uncovered.insert(key);
        self.warnings.push(format!(
            "template {} of observation domain {} carries {}, not among the columns \
             (learned from the templates before the first {} records: the first batch \
             of a stream read once, or the n_rows asked for): not read; pass columns= \
             to read them",
            t.id,
            t.observation_domain_id,
            missing.join(", "),
            self.opts.partial_columns.unwrap_or_default(),
        ));
    }

    /// Start the rows of `t`'s records: with `by_template`, a batch holds
    /// the records of one template (of one observation domain) only.
    fn enter(&mut self, t: &Template, plan: &Plan) -> Result<()> {
        if !self.opts.by_template {
            return Ok(());
        }
        let key = (t.observation_domain_id, t.id);
        if self.current != Some(key) {
            self.flush()?;
            self.current = Some(key);
        }
        let present = self
            .present
            .entry(key)
            .or_insert_with(|| vec![false; plan.slots.len()]);
        for (p, s) in present.iter_mut().zip(&plan.slots) {
            *p |= !matches!(s, Slot::Missing);
        }
        Ok(())
    }

    /// For each (observation domain, template id) met with `by_template`,
    /// which columns its templates carry.
    pub fn template_columns(&self) -> &HashMap<(u32, u16), Vec<bool>> {
        &self.present
    }
}

impl RecordSink for ColumnarSink {
    fn record(&mut self, rec: &Record<'_>) -> Result<()> {
        let options = rec.template.is_options();
        match self.opts.kind {
            RecordKind::Data if options => return Ok(()),
            RecordKind::Options if !options => return Ok(()),
            _ => {}
        }
        if self.full() {
            return Ok(());
        }
        if self.opts.filter.as_ref().is_some_and(|f| !f.keeps(rec)) {
            self.stats.filtered += 1;
            return Ok(());
        }
        let plan = self.plan(rec);
        if self.opts.require_all && !plan.complete {
            self.stats.filtered += 1;
            return Ok(());
        }
        self.enter(rec.template, &plan)?;
        // Check the fields that may not fit first: a refused value must not
        // leave a half-appended row behind.
        self.refused.clear();
        for &c in &plan.checked {
            let Slot::Checked(i) = plan.slots[c] else {
                continue;
            };
            let v = rec.value(i);
            let problem = match &self.columns[c] {
                Column::List(_) => check_list(&v, &rec.lists, 0).err(),
                col if col.accepts(&v) => None,
                _ => Some(String::new()),
            };
            let Some(problem) = problem else {
                continue;
            };
            let f = &rec.template.fields[i];
            let at = rec.offset + rec.spans.get(i).map_or(0, |s| u64::from(s.0));
            let what = if problem.is_empty() {
                format!(
                    "({} bytes) does not fit a {} column",
                    rec.raw(i).len(),
                    f.ie.data_type.name()
                )
            } else {
                format!("is a malformed {}: {problem}", f.ie.data_type.name())
            };
            let e = Error::new(ErrorKind::BadRecord(format!(
                "field {} of template {} {what}",
                f.column_name(),
                rec.template.id
            )))
            .at(at, rec.message_index);
            match self.opts.policy {
                Policy::Error => return Err(e),
                Policy::Warn | Policy::Skip => {
                    self.stats.malformed_values += 1;
                    if self.opts.policy == Policy::Warn && self.warnings.len() < 1000 {
                        self.warnings.push(e.to_string());
                    }
                    self.refused.push(c);
                }
            }
        }
        for (c, (slot, col)) in plan.slots.iter().zip(self.columns.iter_mut()).enumerate() {
            match *slot {
                Slot::Fast(i) => col.append(&rec.value(i)),
                Slot::Checked(i) if !self.refused.contains(&c) => {
                    col.append_nested(&rec.value(i), &rec.lists, 0);
                }
                _ => col.append_null(),
            }
        }
        if let Some(o) = &mut self.origin {
            o.append(1);
        }
        self.rows_in_batch += 1;
        self.stats.rows += 1;
        if self.rows_in_batch >= self.opts.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Whole data sets of fixed-length templates, column by column: each
    /// column's loop runs over one field of every record, so the per-value
    /// dispatch is decided once per set.
    fn fixed_records(
        &mut self,
        template: &Arc<Template>,
        records: &[u8],
        count: usize,
    ) -> Result<bool> {
        self.fixed_run(template, records, count, None)
    }

    fn skipped(&mut self, e: &Error, policy: Policy) {
        if policy == Policy::Warn && self.warnings.len() < 1000 {
            self.warnings.push(e.to_string());
        }
    }

    fn origin(&mut self, origin: Origin) {
        if let Some(o) = &mut self.origin {
            o.set(origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, DecoderOptions};
    use crate::model::InfoModel;
    use arrow_array::Array;

    /// One message: template 256 with one field (IE `ie`, 8 bytes), then a
    /// data set of one record.
    fn message(ie: u16, value: u64) -> Vec<u8> {
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1]);
        m.extend_from_slice(&ie.to_be_bytes());
        m.extend_from_slice(&[0, 8, 1, 0, 0, 12]);
        m.extend_from_slice(&value.to_be_bytes());
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn plan_cache_is_capped_and_values_land_in_their_columns() {
        let model = InfoModel::iana();
        let cols = vec![
            ColumnIe::first(model.lookup(0, 1)),
            ColumnIe::first(model.lookup(0, 2)),
        ];
        let mut sink = ColumnarSink::new(&cols, ColumnarOptions::default());
        let mut dec = Decoder::new(model, &DecoderOptions::default());
        let n = MAX_PLANS + 100;
        for i in 0..n {
            // Alternate octetDeltaCount (1) and packetDeltaCount (2): every
            // message replaces template 256, so every record has a new plan.
            let m = message(1 + (i % 2) as u16, i as u64);
            dec.decode_message(&m, 0, i as u64, &mut sink).unwrap();
            assert!(sink.plans.len() <= MAX_PLANS);
        }
        sink.flush().unwrap();
        let batch = &sink.take_batches()[0];
        assert_eq!(batch.num_rows(), n);
        let octets = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::UInt64Array>()
            .unwrap();
        assert_eq!(
            (octets.value(0), octets.is_null(1), octets.value(2)),
            (0, true, 2)
        );
    }
}
