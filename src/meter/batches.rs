//! The meter as a stream of Arrow record batches: packets are read and
//! metered until a batch's worth of records has ended, and the records go
//! through the columnar sink's fixed-record path into Arrow columns (the
//! same path that reads IPFIX files), so `meter` and `read_ipfix` of the
//! meter's own output give the same table.
//!
//! A capture that fails part-way (a corrupt or truncated file) is handled
//! by the policy: `Error` ends metering there, gives every flow so far
//! (their records end as forced), then the error naming the capture and
//! the byte offset; `Warn` and `Skip` go on with the other captures,
//! counting (and for `Warn` reporting) the failure.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::export::failed_capture;
use super::input::{Captures, Next};
use super::record::DOMAIN;
use super::{Meter, ReadEnd};
use crate::columnar::{ColumnarOptions, ColumnarSink, ListShape, RecordKind};
use crate::decode::{ListContext, Origin, Policy, Record, RecordSink, Span};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ColumnIe, InfoModel};
use crate::session::{Limits, Template, TemplateStore};
use crate::wire::MessageHeader;

/// Packets metered between looks at how many records are ready.
const CHUNK: usize = 4096;

/// Metered flows as Arrow batches.
pub struct MeterBatches {
    meter: Meter,
    captures: Captures,
    labels: Vec<String>,
    sink: ColumnarSink,
    policy: Policy,
    batch_size: usize,
    ready: VecDeque<RecordBatch>,
    /// The input ended (or failed): the open flows are ending.
    ending: bool,
    finished: bool,
    /// An error to give once the flows before it are out.
    error: Option<Error>,
    /// Failures skipped under `Warn`, for the caller to report.
    pub warnings: Vec<String>,
    started: bool,
    /// The records kept (`where=`), for a caller writing IPFIX instead.
    filter: Option<crate::columnar::RecordFilter>,
}

impl MeterBatches {
    /// Meter `captures` (named by `labels`) into batches of the columns
    /// `columns` (None: every column of the meter's templates).
    pub fn new(
        meter: Meter,
        captures: Captures,
        labels: Vec<String>,
        columns: Option<Vec<ColumnIe>>,
        mut opts: ColumnarOptions,
    ) -> Self {
        opts.kind = RecordKind::Data;
        opts.exporter_columns = false;
        opts.batch_size = opts.batch_size.max(1);
        let columns = columns.unwrap_or_else(|| meter.records().columns().to_vec());
        opts.list_shapes
            .extend(list_shapes(meter.records().model()));
        MeterBatches {
            policy: opts.policy,
            batch_size: opts.batch_size,
            filter: opts.filter.clone(),
            sink: ColumnarSink::new(&columns, opts),
            meter,
            captures,
            labels,
            ready: VecDeque::new(),
            ending: false,
            finished: false,
            error: None,
            warnings: Vec::new(),
            started: false,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.sink.schema()
    }

    /// The records kept (`where=`): what the batches hold, and what a
    /// caller writing the meter's IPFIX instead must keep.
    pub fn record_filter(&self) -> Option<&crate::columnar::RecordFilter> {
        self.filter.as_ref()
    }

    /// The meter (for its statistics).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The meter, to set it up before the first batch or take its series.
    pub fn meter_mut(&mut self) -> &mut Meter {
        &mut self.meter
    }

    /// Whether metering has begun (a batch was asked for).
    pub fn started(&self) -> bool {
        self.started
    }

    /// The meter, its captures, their names and the policy, to meter into
    /// something else (IPFIX) instead of batches.
    pub fn into_parts(self) -> (Meter, Captures, Vec<String>, Policy) {
        (self.meter, self.captures, self.labels, self.policy)
    }

    /// Bytes of the captures read so far.
    pub fn bytes_read(&self) -> u64 {
        self.meter
            .position()
            .unwrap_or_else(|| self.captures.position())
    }

    /// The next batch; `Ok(None)` at the end.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.started = true;
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some(b));
            }
            if self.finished {
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            self.meter_some()?;
            let sink = &mut self.sink;
            let model = self.meter.records().model().clone();
            self.meter.drain(|t, bytes, n| {
                if sink.fixed_records(t, bytes, n)? {
                    Ok(())
                } else {
                    // A template with a list (the RTT histogram).
                    records_with_lists(sink, &model, t, bytes, n)
                }
            })?;
            if self.finished {
                self.sink.flush()?;
            }
            self.ready.extend(self.sink.take_batches());
        }
    }

    /// Meter packets until a batch's worth of records is ready or the
    /// input ends.
    fn meter_some(&mut self) -> Result<()> {
        if self.ending {
            return self.end_some();
        }
        if self.meter.reading() {
            // The workers read the one capture themselves.
            while self.meter.pending() < self.batch_size {
                match self.meter.read_round()? {
                    None => {}
                    Some(ReadEnd::End) => {
                        self.ending = true;
                        return self.end_some();
                    }
                    Some(ReadEnd::Failed(e)) => {
                        let label = self.labels.first().map_or("capture", String::as_str);
                        // The only capture: it ends here whatever the policy.
                        self.failed(e.in_input(label));
                        self.ending = true;
                        return self.end_some();
                    }
                }
            }
            return Ok(());
        }
        for _ in 0..CHUNK {
            if let Some(p) = self.captures.next_fast() {
                self.meter.packet(&p)?;
            } else {
                match self.captures.next_packet() {
                    Next::Packet(_, p) => self.meter.packet(&p)?,
                    Next::Failed(i, e) => {
                        let label = self.labels.get(i).map_or("capture", String::as_str);
                        if self.failed(e.in_input(label)) {
                            self.ending = true;
                            return self.end_some();
                        }
                    }
                    Next::End => {
                        self.ending = true;
                        return self.end_some();
                    }
                }
            }
            if self.meter.pending() >= self.batch_size {
                break;
            }
        }
        Ok(())
    }
}

/// The shapes of the meter's list columns: the RTT histograms, lists of
/// tcpRttBinCount (for a columnar reader of the meter's IPFIX too).
pub fn list_shapes(model: &InfoModel) -> Vec<((u32, u16), ListShape)> {
    let Some(bin) = model.by_name("tcpRttBinCount") else {
        return Vec::new();
    };
    ["tcpRttHistogram", "reverseTcpRttHistogram"]
        .iter()
        .filter_map(|name| model.by_name(name))
        .map(|ie| {
            let shape = ListShape {
                fields: vec![(ColumnIe::first(bin.clone()), None)],
                basic_only: true,
                seen: true,
            };
            ((ie.pen, ie.id), shape)
        })
        .collect()
}

/// Hand `n` records of template `t` (fixed length, `bytes` back to back,
/// list fields among them) to `sink`, with the context a list needs.
fn records_with_lists(
    sink: &mut ColumnarSink,
    model: &InfoModel,
    t: &Arc<Template>,
    bytes: &[u8],
    n: usize,
) -> Result<()> {
    let Some(len) = t.fixed_record_len.filter(|&l| l > 0) else {
        return Err(Error::new(ErrorKind::Internal(
            "a meter template without a fixed record length".into(),
        )));
    };
    let store = TemplateStore::default();
    let limits = Limits::default();
    let lists = ListContext {
        model,
        store: &store,
        session: 0,
        observation_domain_id: DOMAIN,
        limits: &limits,
    };
    // Column by column, each list on its own; record by record only when
    // some value does not fit its column.
    if sink.fixed_records_with_lists(t, bytes, n, &lists)? {
        return Ok(());
    }
    let spans: Vec<Span> = t
        .fixed_offsets
        .iter()
        .zip(&t.fields)
        .map(|(&o, f)| (o, u32::from(f.length)))
        .collect();
    let header = MessageHeader {
        version: 10,
        length: 0,
        export_time: 0,
        sequence: 0,
        observation_domain_id: DOMAIN,
    };
    for data in bytes.chunks_exact(len).take(n) {
        let rec = Record {
            template: t,
            data,
            spans: &spans,
            header: &header,
            message_index: 0,
            offset: 0,
            lists: ListContext {
                model,
                store: &store,
                session: 0,
                observation_domain_id: DOMAIN,
                limits: &limits,
            },
            origin: Origin::default(),
        };
        sink.record(&rec)?;
    }
    Ok(())
}

impl MeterBatches {
    /// A capture failed ([`failed_capture`]): true if metering ends here.
    fn failed(&mut self, e: Error) -> bool {
        failed_capture(
            &mut self.meter,
            e,
            self.policy,
            &mut self.warnings,
            &mut self.error,
        )
    }

    /// The input ended: a batch's worth of the open flows ends (all of
    /// them, the last time).
    fn end_some(&mut self) -> Result<()> {
        self.finished = self.meter.finish_some(self.batch_size)?;
        Ok(())
    }
}

impl Iterator for MeterBatches {
    type Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => Some(Err(arrow_schema::ArrowError::ExternalError(Box::new(e)))),
        }
    }
}

impl arrow_array::RecordBatchReader for MeterBatches {
    fn schema(&self) -> SchemaRef {
        self.sink.schema()
    }
}
