//! Arrow record batches to IPFIX records. Every column becomes a field (see
//! `columns.rs`); a row whose columns are all set goes out under the
//! template of all columns, and a row with nulls under the template of its
//! set columns: one template per distinct null pattern, defined the first
//! time the pattern is met (or, with [`NullPolicy::Error`], a null is an
//! error naming the column and row). Rows keep their order.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;

use super::columns::{column_field, ColumnEncoder};
use super::exporter::Exporter;
use super::lists::SubTemplates;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{split_occurrence, InfoModel};
use crate::session::Template;
use crate::wire::FieldSpec;

/// What a null value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NullPolicy {
    /// The row goes under a template without the null columns.
    #[default]
    Template,
    /// A null is an error.
    Error,
}

/// Rows encoded column-wise at once.
const RUN: usize = 4096;

/// Scratch space of a writer.
#[derive(Default)]
struct Buffers {
    records: Vec<u8>,
    one: Vec<u8>,
}

/// Distinct null patterns (templates) one writer defines at most.
pub const MAX_PATTERNS: usize = 4096;

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Encode(msg))
}

/// Sub-templates of list elements, defined in the exporter as met.
struct Defs<'a, W: Write> {
    model: &'a mut InfoModel,
    ex: &'a mut Exporter<W>,
    odid: u32,
    next_id: &'a mut u16,
    known: &'a mut HashMap<Vec<FieldSpec>, u16>,
}

impl<W: Write> SubTemplates for Defs<'_, W> {
    fn model(&mut self) -> &mut InfoModel {
        self.model
    }

    fn define(&mut self, specs: Vec<FieldSpec>) -> Result<u16> {
        if let Some(&id) = self.known.get(&specs) {
            return Ok(id);
        }
        if self.known.len() >= MAX_PATTERNS || *self.next_id == u16::MAX {
            return Err(refuse(format!(
                "more than {MAX_PATTERNS} list element templates"
            )));
        }
        let id = *self.next_id;
        let t = Template::new(id, self.odid, None, specs.clone(), self.model);
        self.ex.add_template(Arc::new(t))?;
        // next_id < u16::MAX (checked above): never saturates.
        *self.next_id = self.next_id.saturating_add(1);
        self.known.insert(specs, id);
        Ok(id)
    }
}

/// Writes Arrow batches through an [`Exporter`].
pub struct TableWriter {
    model: InfoModel,
    mapping: HashMap<String, String>,
    odid: u32,
    next_id: u16,
    nulls: NullPolicy,
    schema: Option<SchemaRef>,
    specs: Vec<FieldSpec>,
    /// Template of every column set, by null pattern (bit per column).
    patterns: HashMap<Vec<u64>, u16>,
    /// Templates of RFC 6313 list elements, by their fields.
    sub_templates: HashMap<Vec<FieldSpec>, u16>,
    pub rows: u64,
}

impl TableWriter {
    /// A writer of batches into domain `odid`, defining templates from
    /// `first_id` on; `mapping` renames columns to IE names or IESpecs.
    pub fn new(
        model: InfoModel,
        mapping: HashMap<String, String>,
        odid: u32,
        first_id: u16,
        nulls: NullPolicy,
    ) -> Self {
        TableWriter {
            model,
            mapping,
            odid,
            next_id: first_id.max(256),
            nulls,
            schema: None,
            specs: Vec::new(),
            patterns: HashMap::new(),
            sub_templates: HashMap::new(),
            rows: 0,
        }
    }

    fn resolve(&mut self, schema: &SchemaRef) -> Result<()> {
        if let Some(s) = &self.schema {
            if s.fields() != schema.fields() {
                return Err(refuse(
                    "every batch must have the schema of the first".to_string(),
                ));
            }
            return Ok(());
        }
        if let Some(extra) = self
            .mapping
            .keys()
            .find(|k| schema.field_with_name(k).is_err())
        {
            return Err(refuse(format!(
                "columns= names {extra:?}, which the data lacks"
            )));
        }
        let specs = schema
            .fields()
            .iter()
            .map(|f| {
                let mapped = self.mapping.get(f.name()).map(String::as_str);
                column_field(&mut self.model, f, mapped)
            })
            .collect::<Result<Vec<_>>>()?;
        if specs.is_empty() {
            return Err(refuse("the data has no columns".into()));
        }
        self.specs = specs;
        self.schema = Some(schema.clone());
        Ok(())
    }

    /// The next template id this writer would define.
    pub fn next_template_id(&self) -> u16 {
        self.next_id
    }

    /// The template for the columns flagged in `pattern`, defined on first
    /// use.
    fn template_for<W: Write>(&mut self, ex: &mut Exporter<W>, pattern: &[u64]) -> Result<u16> {
        if let Some(&id) = self.patterns.get(pattern) {
            return Ok(id);
        }
        if self.patterns.len() >= MAX_PATTERNS || self.next_id == u16::MAX {
            return Err(refuse(format!(
                "more than {MAX_PATTERNS} distinct patterns of null columns"
            )));
        }
        let columns: Vec<usize> = (0..self.specs.len())
            .filter(|c| pattern[c / 64] >> (c % 64) & 1 == 1)
            .collect();
        let specs: Vec<FieldSpec> = columns
            .iter()
            .filter_map(|&c| self.specs.get(c).copied())
            .collect();
        let id = self.next_id;
        let t = Template::new(id, self.odid, None, specs, &self.model);
        self.check_occurrences(&t, &columns)?;
        ex.add_template(Arc::new(t))?;
        // next_id < u16::MAX (checked above): never saturates.
        self.next_id = self.next_id.saturating_add(1);
        self.patterns.insert(pattern.to_vec(), id);
        Ok(id)
    }

    /// A reader tells the occurrences of a repeated IE apart by their order
    /// in the template (RFC 7011 §8): column `name.k` must be occurrence k
    /// of its IE among the columns set in the row, or it would read back
    /// under another name.
    fn check_occurrences(&self, t: &Template, columns: &[usize]) -> Result<()> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        for (f, &c) in t.fields.iter().zip(columns) {
            let Some(field) = schema.fields().get(c) else {
                continue;
            };
            let name = field.name();
            let (ie, nth) = split_occurrence(name);
            if ie == &*f.ie.name && nth != f.nth {
                return Err(refuse(format!(
                    "column {name:?} would read back as {:?}: an earlier occurrence of {ie} \
                     is null or after it (occurrences of an IE are told apart by their order)",
                    f.column_name()
                )));
            }
        }
        Ok(())
    }

    fn row_error(&self, enc: &ColumnEncoder, row: usize, why: &str) -> Error {
        refuse(format!(
            "column {:?} ({}), row {}: {why}",
            enc.name,
            enc.field.ie.name,
            self.rows.saturating_add(row as u64)
        ))
    }

    /// A run of rows of a fixed-length template, filled column by column
    /// in place in the messages; from the first chunk holding a refused
    /// value on, the row-by-row path writes the rows before it and reports
    /// it.
    #[allow(clippy::too_many_arguments)]
    fn fill_fixed<W: Write>(
        &self,
        ex: &mut Exporter<W>,
        id: u16,
        encoders: &[ColumnEncoder],
        columns: &[usize],
        rows: std::ops::Range<usize>,
        len: usize,
        bufs: &mut Buffers,
    ) -> Result<()> {
        let mut row = rows.start;
        while row < rows.end {
            let (slot, k, mark) =
                ex.reserve_records(self.odid, id, len, rows.end.saturating_sub(row))?;
            let mut at = 0;
            let mut ok = true;
            for &c in columns {
                let enc = &encoders[c];
                if !enc.fill_column(row..row.saturating_add(k), slot, len, at, &mut bufs.one) {
                    ok = false;
                    break;
                }
                at = at.saturating_add(usize::from(enc.field.length));
            }
            if !ok {
                // The row-by-row path writes the rows before the refused
                // value and reports it.
                ex.cancel_records(mark, k);
                return self.rows_one_by_one(ex, id, encoders, columns, row..rows.end, bufs);
            }
            row = row.saturating_add(k);
        }
        Ok(())
    }

    fn rows_one_by_one<W: Write>(
        &self,
        ex: &mut Exporter<W>,
        id: u16,
        encoders: &[ColumnEncoder],
        columns: &[usize],
        rows: std::ops::Range<usize>,
        bufs: &mut Buffers,
    ) -> Result<()> {
        for row in rows {
            bufs.records.clear();
            for &c in columns {
                let enc = &encoders[c];
                enc.encode(row, &mut bufs.records)
                    .map_err(|why| self.row_error(enc, row, &why))?;
            }
            ex.write_record(self.odid, id, &bufs.records)?;
        }
        Ok(())
    }

    /// Write every row of `batch`; the number written. On an error the
    /// rows before the bad one are written.
    pub fn write_batch<W: Write>(
        &mut self,
        ex: &mut Exporter<W>,
        batch: &RecordBatch,
    ) -> Result<u64> {
        let schema = batch.schema();
        self.resolve(&schema)?;
        let full = Template::new(0, self.odid, None, self.specs.clone(), &self.model);
        let encoders = {
            let mut defs = Defs {
                model: &mut self.model,
                ex: &mut *ex,
                odid: self.odid,
                next_id: &mut self.next_id,
                known: &mut self.sub_templates,
            };
            schema
                .fields()
                .iter()
                .zip(batch.columns())
                .zip(&full.fields)
                .map(|((f, a), tf)| ColumnEncoder::new(f.name(), tf.clone(), a.clone(), &mut defs))
                .collect::<Result<Vec<_>>>()?
        };
        let nullable: Vec<usize> = (0..encoders.len())
            .filter(|&c| batch.column(c).null_count() > 0)
            .collect();
        if self.nulls == NullPolicy::Error {
            if let Some(&c) = nullable.first() {
                let row = (0..batch.num_rows())
                    .find(|&r| encoders[c].is_null(r))
                    .unwrap_or(0);
                return Err(refuse(format!(
                    "column {:?}, row {}: null (null policy \"error\")",
                    encoders[c].name,
                    self.rows.saturating_add(row as u64)
                )));
            }
        }
        let words = encoders.len().div_ceil(64);
        let mut pattern = vec![u64::MAX; words];
        if let (true, Some(last)) = (encoders.len() % 64 != 0, pattern.last_mut()) {
            // 1 << (len % 64) >= 1.
            *last = (1u64 << (encoders.len() % 64)).saturating_sub(1);
        }
        let all = pattern.clone();
        if self.patterns.is_empty() && batch.num_rows() > 0 {
            // The template of every column first, used or not: a reader
            // that takes its columns from the templates in order of first
            // appearance (ferrofix's, pandas') reads the table back with
            // its columns in their order, whatever rows have nulls.
            self.template_for(ex, &all)?;
        }
        let rows = batch.num_rows();
        let pattern_of = |row: usize, p: &mut Vec<u64>| {
            p.copy_from_slice(&all);
            for &c in &nullable {
                if encoders[c].is_null(row) {
                    p[c / 64] &= !(1u64 << (c % 64));
                }
            }
        };
        let mut next = pattern.clone();
        let mut bufs = Buffers::default();
        let mut row = 0;
        while row < rows {
            pattern_of(row, &mut pattern);
            if pattern.iter().all(|&w| w == 0) {
                return Err(refuse(format!(
                    "row {}: every column is null",
                    self.rows.saturating_add(row as u64)
                )));
            }
            // The run of rows with the same nulls, at most RUN long.
            // row < end <= rows: no sum or difference below saturates.
            let mut end = row.saturating_add(1);
            while end < rows && end.saturating_sub(row) < RUN && !nullable.is_empty() {
                pattern_of(end, &mut next);
                if next != pattern {
                    break;
                }
                end = end.saturating_add(1);
            }
            if nullable.is_empty() {
                end = rows.min(row.saturating_add(RUN));
            }
            let id = self.template_for(ex, &pattern)?;
            let columns: Vec<usize> = (0..encoders.len())
                .filter(|&c| pattern[c / 64] >> (c % 64) & 1 == 1)
                .collect();
            let fixed = ex.template(self.odid, id).and_then(|t| t.fixed_record_len);
            match fixed {
                Some(len) => {
                    self.fill_fixed(ex, id, &encoders, &columns, row..end, len, &mut bufs)?;
                }
                None => self.rows_one_by_one(ex, id, &encoders, &columns, row..end, &mut bufs)?,
            }
            row = end;
        }
        let n = batch.num_rows() as u64;
        self.rows = self.rows.saturating_add(n);
        Ok(n)
    }
}
