//! The columnar sink: decodes records straight into Arrow column builders,
//! one schema across all templates (the union of the requested IEs, nulls
//! where a record's template lacks one). The plan that maps a template's
//! fields to columns is compiled once per template.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{Schema, SchemaRef};

use super::column::Column;
use super::types::{field_for, AddressForm, ColumnKind};
use crate::decode::{Policy, Record, RecordSink, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::model::IeDef;

/// Which records become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordKind {
    /// Records of (non-options) templates: the flows.
    #[default]
    Data,
    /// Records of options templates: what the exporter says about itself.
    Options,
    /// Both.
    All,
}

/// How the sink builds its table.
#[derive(Debug, Clone)]
pub struct ColumnarOptions {
    /// Rows per batch.
    pub batch_size: usize,
    /// Stop after this many rows.
    pub n_rows: Option<u64>,
    /// Keep only records that carry every column.
    pub require_all: bool,
    pub kind: RecordKind,
    pub addresses: AddressForm,
    pub policy: Policy,
}

impl Default for ColumnarOptions {
    fn default() -> Self {
        ColumnarOptions {
            batch_size: 65_536,
            n_rows: None,
            require_all: false,
            kind: RecordKind::Data,
            addresses: AddressForm::Text,
            policy: Policy::Error,
        }
    }
}

/// For each column, the template field that fills it.
struct Plan {
    slots: Vec<Option<usize>>,
    complete: bool,
}

/// Compiled plans kept at once (more are recompiled on demand).
const MAX_PLANS: usize = 4096;

/// Counters of the sink (added to the reader's transport health).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnarStats {
    pub rows: u64,
    /// Records dropped by `require_all`.
    pub filtered: u64,
    /// Values that did not fit their column, stored as null (skip/warn).
    pub malformed_values: u64,
}

/// Decodes records into Arrow batches.
pub struct ColumnarSink {
    schema: SchemaRef,
    keys: Vec<(u32, u16)>,
    columns: Vec<Column>,
    opts: ColumnarOptions,
    plans: HashMap<u64, Arc<Plan>>,
    rows_in_batch: usize,
    done: Vec<RecordBatch>,
    scratch: Vec<u8>,
    pub stats: ColumnarStats,
    /// Problems skipped under the warn policy, for the caller to report.
    pub warnings: Vec<String>,
}

impl ColumnarSink {
    /// A sink producing one column per IE in `columns`, in that order.
    pub fn new(columns: &[Arc<IeDef>], opts: ColumnarOptions) -> Self {
        let kinds: Vec<ColumnKind> = columns
            .iter()
            .map(|ie| ColumnKind::for_ie(ie, opts.addresses))
            .collect();
        let fields: Vec<_> = columns
            .iter()
            .zip(&kinds)
            .map(|(ie, k)| field_for(ie, *k))
            .collect();
        ColumnarSink {
            schema: Arc::new(Schema::new(fields)),
            keys: columns.iter().map(|ie| (ie.pen, ie.id)).collect(),
            columns: kinds.into_iter().map(Column::new).collect(),
            opts,
            plans: HashMap::new(),
            rows_in_batch: 0,
            done: Vec::new(),
            scratch: Vec::new(),
            stats: ColumnarStats::default(),
            warnings: Vec::new(),
        }
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
        std::mem::take(&mut self.done)
    }

    /// Complete the batch in progress (if it has rows).
    pub fn flush(&mut self) -> Result<()> {
        if self.rows_in_batch == 0 {
            return Ok(());
        }
        let arrays = self.columns.iter_mut().map(Column::finish).collect();
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)
            .map_err(|e| Error::new(ErrorKind::BadRecord(format!("building a batch: {e}"))))?;
        self.rows_in_batch = 0;
        self.done.push(batch);
        Ok(())
    }

    fn plan(&mut self, rec: &Record<'_>) -> Arc<Plan> {
        let serial = rec.template.serial;
        if let Some(p) = self.plans.get(&serial) {
            return p.clone();
        }
        if self.plans.len() >= MAX_PLANS {
            self.plans.clear();
        }
        let fields = &rec.template.fields;
        let slots: Vec<Option<usize>> = self
            .keys
            .iter()
            .map(|k| fields.iter().position(|f| (f.ie.pen, f.ie.id) == *k))
            .collect();
        let p = Arc::new(Plan {
            complete: slots.iter().all(Option::is_some),
            slots,
        });
        self.plans.insert(serial, p.clone());
        p
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
        let plan = self.plan(rec);
        if self.opts.require_all && !plan.complete {
            self.stats.filtered += 1;
            return Ok(());
        }
        // Check every value first: a refused value must not leave a
        // half-appended row behind.
        self.scratch.clear();
        for (c, slot) in plan.slots.iter().enumerate() {
            if let Some(i) = *slot {
                if !self.columns[c].accepts(&rec.value(i)) {
                    let f = &rec.template.fields[i];
                    let at = rec.offset + rec.spans.get(i).map_or(0, |s| u64::from(s.0));
                    let e = Error::new(ErrorKind::BadRecord(format!(
                        "field {} of template {} ({} bytes) does not fit a {} column",
                        f.ie.name,
                        rec.template.id,
                        rec.raw(i).len(),
                        f.ie.data_type.name()
                    )))
                    .at(at, rec.message_index);
                    match self.opts.policy {
                        Policy::Error => return Err(e),
                        Policy::Warn | Policy::Skip => {
                            self.stats.malformed_values += 1;
                            if self.opts.policy == Policy::Warn && self.warnings.len() < 1000 {
                                self.warnings.push(e.to_string());
                            }
                            self.scratch.push(1);
                            continue;
                        }
                    }
                }
            }
            self.scratch.push(0);
        }
        for (c, slot) in plan.slots.iter().enumerate() {
            match *slot {
                Some(i) if self.scratch[c] == 0 => {
                    let v: Value<'_> = rec.value(i);
                    self.columns[c].append(&v);
                }
                _ => self.columns[c].append_null(),
            }
        }
        self.rows_in_batch += 1;
        self.stats.rows += 1;
        if self.rows_in_batch >= self.opts.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    fn skipped(&mut self, e: &Error, policy: Policy) {
        if policy == Policy::Warn && self.warnings.len() < 1000 {
            self.warnings.push(e.to_string());
        }
    }
}
