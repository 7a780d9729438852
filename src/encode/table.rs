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
use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
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

/// Distinct null patterns (templates) one writer defines at most.
pub const MAX_PATTERNS: usize = 4096;

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Encode(msg))
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
            return Err(refuse(format!("columns= names {extra:?}, which the data lacks")));
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
        let specs: Vec<FieldSpec> = self
            .specs
            .iter()
            .enumerate()
            .filter(|(c, _)| pattern[c / 64] >> (c % 64) & 1 == 1)
            .map(|(_, s)| *s)
            .collect();
        let id = self.next_id;
        let t = Template::new(id, self.odid, None, specs, &self.model);
        ex.add_template(Arc::new(t))?;
        self.next_id += 1;
        self.patterns.insert(pattern.to_vec(), id);
        Ok(id)
    }

    /// Write every row of `batch`; the number written. On an error the
    /// rows before the bad one are written.
    pub fn write_batch<W: Write>(&mut self, ex: &mut Exporter<W>, batch: &RecordBatch) -> Result<u64> {
        let schema = batch.schema();
        self.resolve(&schema)?;
        let full = Template::new(0, self.odid, None, self.specs.clone(), &self.model);
        let encoders = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .zip(&full.fields)
            .map(|((f, a), tf)| ColumnEncoder::new(f.name(), tf.clone(), a.clone()))
            .collect::<Result<Vec<_>>>()?;
        let nullable: Vec<usize> = (0..encoders.len())
            .filter(|&c| batch.column(c).null_count() > 0)
            .collect();
        if self.nulls == NullPolicy::Error {
            if let Some(&c) = nullable.first() {
                let row = (0..batch.num_rows()).find(|&r| encoders[c].is_null(r)).unwrap_or(0);
                return Err(refuse(format!(
                    "column {:?}, row {}: null (null policy \"error\")",
                    encoders[c].name,
                    self.rows + row as u64
                )));
            }
        }
        let words = encoders.len().div_ceil(64);
        let mut pattern = vec![u64::MAX; words];
        if encoders.len() % 64 != 0 {
            pattern[words - 1] = (1u64 << (encoders.len() % 64)) - 1;
        }
        let all = pattern.clone();
        let mut buf = Vec::with_capacity(256);
        let mut last: Option<(Vec<u64>, u16)> = None;
        for row in 0..batch.num_rows() {
            pattern.copy_from_slice(&all);
            for &c in &nullable {
                if encoders[c].is_null(row) {
                    pattern[c / 64] &= !(1u64 << (c % 64));
                }
            }
            if pattern.iter().all(|&w| w == 0) {
                return Err(refuse(format!(
                    "row {}: every column is null",
                    self.rows + row as u64
                )));
            }
            let id = match &last {
                Some((p, id)) if *p == pattern => *id,
                _ => {
                    let id = self.template_for(ex, &pattern)?;
                    last = Some((pattern.clone(), id));
                    id
                }
            };
            buf.clear();
            for (c, enc) in encoders.iter().enumerate() {
                if pattern[c / 64] >> (c % 64) & 1 == 0 {
                    continue;
                }
                enc.encode(row, &mut buf).map_err(|why| {
                    refuse(format!(
                        "column {:?} ({}), row {}: {why}",
                        enc.name,
                        enc.field.ie.name,
                        self.rows + row as u64
                    ))
                })?;
            }
            ex.write_record(self.odid, id, &buf)?;
        }
        let n = batch.num_rows() as u64;
        self.rows += n;
        Ok(n)
    }
}
