//! A lazy stream of Arrow batches from an IPFIX message stream, and the
//! pre-scan that finds the columns of a stream when none were requested (the
//! union of the IEs of its templates, in order of first appearance; only
//! template sets are parsed, data sets are skipped).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use super::origin::EXPORTER_IES;
use super::sink::{ColumnarOptions, ColumnarSink, RecordKind};
use crate::decode::{Decoder, DecoderOptions, Health};
use crate::error::{Error, Result};
use crate::model::{occurrences, ColumnIe, IeDef, InfoModel, ENTERPRISE_BIT};
use crate::source::MessageStream;
use crate::wire::{
    parse_template_set, SetIter, TemplateItem, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VARLEN,
};

/// How far a pre-scan reads: to the end of the stream, or until it has
/// seen at least `records` records of the kind read (a lower bound: it
/// counts the records of fixed-length templates exactly and one per data
/// set of a variable-length one), enough for a decoding pass that stops
/// after `n_rows` or for the first batch of a stream read once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrescanLimit {
    pub records: Option<u64>,
}

/// The columns a pre-scan found, and whether it read the whole stream
/// (`false`: it stopped at its [`PrescanLimit`], so a template met later
/// may carry an IE that is not among them).
#[derive(Debug, Clone)]
pub struct Discovered {
    pub columns: Vec<ColumnIe>,
    pub complete: bool,
}

/// What the column pre-scan keeps of a template: whether it is an options
/// template, its shortest record and its length when fixed.
type Shape = (bool, usize, Option<usize>);

/// The IEs used by the templates of a stream, in order of first appearance,
/// restricted to the templates whose records `kind` keeps: every
/// occurrence of an IE some template repeats is a column of its own
/// ([`ColumnIe`]). Only template sets are parsed; data sets are counted
/// (for `limit`), never decoded. Malformed input ends the scan quietly: the
/// decoding pass reports it.
pub fn discover_columns(
    stream: &mut MessageStream,
    model: &InfoModel,
    kind: RecordKind,
    limit: PrescanLimit,
) -> Discovered {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    // (session, observation domain, template id) -> shape
    let mut shapes: HashMap<(u64, u32, u16), Shape> = HashMap::new();
    let mut records = 0u64;
    let keeps = |options: bool| match kind {
        RecordKind::All => true,
        RecordKind::Data => !options,
        RecordKind::Options => options,
    };
    while stream.advance_past_errors() {
        let m = stream.current();
        let domain = m
            .bytes
            .get(12..16)
            .map_or(0, |d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
        for set in SetIter::new(m.bytes) {
            let Ok(set) = set else { break };
            if set.id >= 256 {
                if let Some(&(options, min, fixed)) = shapes.get(&(m.session, domain, set.id)) {
                    let n = match fixed {
                        Some(len) if len > 0 => set.body.len() / len,
                        _ => usize::from(set.body.len() >= min.max(1)),
                    };
                    if keeps(options) {
                        records = records.saturating_add(n as u64);
                    }
                }
                continue;
            }
            if set.id != TEMPLATE_SET_ID && set.id != OPTIONS_TEMPLATE_SET_ID {
                continue;
            }
            let options = set.id == OPTIONS_TEMPLATE_SET_ID;
            for item in parse_template_set(set.id, set.body) {
                let (id, fields) = match item {
                    Ok(TemplateItem::Template { id, fields, .. }) => (id, fields),
                    Ok(TemplateItem::Withdraw { id }) => {
                        shapes.remove(&(m.session, domain, id));
                        continue;
                    }
                    Ok(TemplateItem::WithdrawAll) => {
                        shapes.retain(|&(s, d, _), v| {
                            (s, d) != (m.session, domain) || v.0 != options
                        });
                        continue;
                    }
                    Err(_) => continue,
                };
                let varlen = fields.iter().any(|f| f.length == VARLEN);
                let min = fields
                    .iter()
                    .map(|f| {
                        if f.length == VARLEN {
                            1
                        } else {
                            usize::from(f.length)
                        }
                    })
                    .sum::<usize>();
                shapes.insert(
                    (m.session, domain, id),
                    (options, min, (!varlen).then_some(min)),
                );
                if !keeps(options) {
                    continue;
                }
                let ids: Vec<(u32, u16)> = fields
                    .iter()
                    .map(|f| (f.pen, f.id & !ENTERPRISE_BIT))
                    .collect();
                for (&(pen, id), nth) in ids.iter().zip(occurrences(&ids)) {
                    if seen.insert((pen, id, nth)) {
                        out.push(ColumnIe {
                            ie: model.lookup(pen, id),
                            nth,
                        });
                    }
                }
            }
        }
        // Checked before reading on: a pipe may not have its next message yet.
        if limit.records.is_some_and(|n| records >= n) {
            return Discovered {
                columns: out,
                complete: false,
            };
        }
    }
    Discovered {
        columns: out,
        complete: true,
    }
}

/// Batches of a stream, decoded on demand.
pub struct ColumnarReader {
    stream: MessageStream,
    decoder: Decoder,
    sink: ColumnarSink,
    ready: std::collections::VecDeque<(RecordBatch, Option<(u32, u16)>)>,
    /// The template of the batch last returned (with `by_template`).
    last_template: Option<(u32, u16)>,
    pending: Option<Error>,
    finished: bool,
}

impl ColumnarReader {
    /// Decode `stream` into batches with the columns `columns`.
    pub fn new(
        stream: MessageStream,
        model: InfoModel,
        decoder_opts: &DecoderOptions,
        columns: &[ColumnIe],
        opts: ColumnarOptions,
    ) -> Self {
        let transport = stream.capture_stats().is_some() || stream.live().is_some();
        let is_exporter =
            |c: &ColumnIe| c.nth == 0 && c.ie.pen == 0 && EXPORTER_IES.contains(&c.ie.id);
        let sink = if !transport {
            ColumnarSink::new(columns, opts)
        } else if columns.iter().any(is_exporter) {
            // The exporter columns asked for, where they were asked for,
            // from the transport (the packet's sender).
            let (at, ies): (Vec<usize>, Vec<Arc<IeDef>>) = columns
                .iter()
                .enumerate()
                .filter(|(_, c)| is_exporter(c))
                .map(|(i, c)| (i, c.ie.clone()))
                .unzip();
            let rest: Vec<ColumnIe> = columns
                .iter()
                .filter(|c| !is_exporter(c))
                .cloned()
                .collect();
            ColumnarSink::new(&rest, opts).with_origin(&ies, &at)
        } else if opts.exporter_columns {
            // The exporter of each record is a column too, after the others.
            let ies: Vec<_> = EXPORTER_IES.iter().map(|&id| model.lookup(0, id)).collect();
            let at: Vec<usize> = (columns.len()..columns.len() + ies.len()).collect();
            ColumnarSink::new(columns, opts).with_origin(&ies, &at)
        } else {
            ColumnarSink::new(columns, opts)
        };
        ColumnarReader {
            stream,
            decoder: Decoder::new(model, decoder_opts),
            sink,
            ready: std::collections::VecDeque::new(),
            last_template: None,
            pending: None,
            finished: false,
        }
    }

    /// The schema of every batch.
    pub fn schema_ref(&self) -> SchemaRef {
        self.sink.schema()
    }

    /// Transport health so far, with the sink's counters folded in.
    pub fn health(&self) -> Health {
        let mut h = self.decoder.health();
        h.bytes = self.stream.offset();
        self.stream.add_translator_health(&mut h);
        h
    }

    /// The (observation domain, template id) of the batch last returned,
    /// when batches are split by template.
    pub fn last_template(&self) -> Option<(u32, u16)> {
        self.last_template
    }

    /// For each (observation domain, template id) met so far with
    /// `by_template`, which columns its templates carry.
    pub fn template_columns(&self) -> std::collections::HashMap<(u32, u16), Vec<bool>> {
        // The exporter columns are not a template's.
        let at = self.sink.origin_at();
        self.sink
            .template_columns()
            .iter()
            .map(|(k, present)| {
                let mut p = present.clone();
                for &i in at {
                    p.insert(i.min(p.len()), false);
                }
                (*k, p)
            })
            .collect()
    }

    /// The sink's counters.
    pub fn stats(&self) -> super::sink::ColumnarStats {
        self.sink.stats
    }

    /// Whether every batch has been returned (a live stream: stopped and
    /// drained).
    pub fn is_finished(&self) -> bool {
        self.finished && self.ready.is_empty() && self.pending.is_none()
    }

    /// The message stream read.
    pub fn stream(&self) -> &MessageStream {
        &self.stream
    }

    /// Warnings collected under the warn policy since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sink.warnings)
    }

    /// Decode messages until a batch is complete or the stream ends.
    fn fill(&mut self) {
        while self.ready.is_empty() && !self.finished {
            let step = self.stream.advance();
            let err = match step.map(|got| got.then(|| self.stream.current())) {
                Ok(Some(m)) => self.decoder.decode(&m, &mut self.sink).err(),
                Ok(None) if !self.stream.is_done() => {
                    // A live stream with nothing for a while: hand over what
                    // there is.
                    if let Err(e) = self.sink.flush() {
                        self.pending.get_or_insert(e);
                    }
                    self.ready.extend(self.sink.take_tagged_batches());
                    return;
                }
                Ok(None) => {
                    self.finished = true;
                    None
                }
                Err(e) => {
                    self.finished = self.stream.is_done();
                    self.decoder.skip_problem(e, &mut self.sink).err()
                }
            };
            if let Some(e) = err {
                self.finished = true;
                self.pending = Some(e);
            }
            if self.sink.full() {
                self.finished = true;
            }
            if self.finished {
                if let Err(e) = self.sink.flush() {
                    self.pending.get_or_insert(e);
                }
            }
            self.ready.extend(self.sink.take_tagged_batches());
        }
    }

    /// The next batch, an error (after the batches decoded before it), or
    /// `None` at the end.
    pub fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        self.fill();
        if let Some((b, template)) = self.ready.pop_front() {
            self.last_template = template;
            return Some(Ok(b));
        }
        self.pending.take().map(Err)
    }
}

impl Iterator for ColumnarReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for ColumnarReader {
    fn schema(&self) -> SchemaRef {
        self.sink.schema()
    }
}
