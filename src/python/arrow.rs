//! Arrow hand-off (house rule 7): `_Scanner` decodes a stream into Arrow
//! record batches (with the GIL released) and gives them out through the
//! Arrow PyCapsule interface: batch by batch (pyo3-arrow record batches,
//! which implement `__arrow_c_array__`) or as one `__arrow_c_stream__`
//! (`stream.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use arrow_array::{Array, RecordBatch};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::{PyRecordBatch, PySchema};

use super::errors;
use super::filter::{record_filter, FilterSpec};
use super::guard;
use super::guard::Doing as _;
use super::source::Source;
use super::stream::arrow_stream;
use crate::columnar::{
    discover_columns, discover_list_shapes, is_list, AddressForm, ColumnarOptions, ColumnarReader,
    PrescanLimit, RecordKind,
};
use crate::decode::DecoderOptions;
use crate::session::Limits;
use crate::source::{LiveHandle, LiveOptions, MessageStream};

/// Parse the `addresses=` option.
pub(super) fn address_form(s: &str) -> PyResult<AddressForm> {
    match s {
        "string" => Ok(AddressForm::Text),
        "int" => Ok(AddressForm::Integer),
        _ => Err(PyValueError::new_err(format!(
            "addresses must be 'string' or 'int', not {s:?}"
        ))),
    }
}

/// A listening address: "host:port", "[v6]:port" or ":port" (every IPv4
/// address).
fn parse_listen(a: &str) -> PyResult<std::net::SocketAddr> {
    let full = if a.starts_with(':') {
        format!("0.0.0.0{a}")
    } else {
        a.to_string()
    };
    full.parse().map_err(|_| {
        PyValueError::new_err(format!(
            "cannot listen on {a:?}: give \"host:port\", \"[v6 address]:port\" or \":port\""
        ))
    })
}

/// Parse the `records=` option.
pub(super) fn kind_of(s: &str) -> PyResult<RecordKind> {
    match s {
        "data" => Ok(RecordKind::Data),
        "options" => Ok(RecordKind::Options),
        "all" => Ok(RecordKind::All),
        _ => Err(PyValueError::new_err(format!(
            "records must be 'data', 'options' or 'all', not {s:?}"
        ))),
    }
}

/// A lazy stream of Arrow batches from one IPFIX stream.
#[pyclass(module = "ferrofix._ferrofix", name = "_Scanner")]
pub struct PyScanner {
    reader: Mutex<Option<ColumnarReader>>,
    /// Data-buffer addresses of the last batch handed out (for the
    /// zero-copy test: pyarrow must see the same memory).
    last_addresses: Mutex<Vec<usize>>,
    /// For a live collector: what other threads may use without the lock.
    live: Option<LiveHandle>,
    /// The input, for errors.
    label: String,
}

impl PyScanner {
    /// Run a method's body on the reader through the panic guard.
    fn with<T>(
        &self,
        py: Python<'_>,
        point: &str,
        f: impl FnOnce(&mut ColumnarReader) -> PyResult<T>,
    ) -> PyResult<T> {
        self.guarded(
            py,
            point,
            || {
                let mut g = self
                    .reader
                    .lock()
                    .map_err(|_| guard::poisoned(py, &format!("the scan of {}", self.label)))?;
                match g.as_mut() {
                Some(r) => f(r),
                None => Err(PyRuntimeError::new_err(
                    "the stream was handed to an Arrow consumer (__arrow_c_stream__) and is consumed",
                )),
            }
            },
        )
    }
}

impl guard::Doing for PyScanner {
    /// What the scan is doing, for an internal error: its input and the
    /// byte offset reached (read even from state a panic left behind).
    fn doing(&self) -> String {
        let offset = match self.reader.lock() {
            Ok(g) => g.as_ref().map(|r| r.stream().offset()),
            Err(p) => p.into_inner().as_ref().map(|r| r.stream().offset()),
        };
        match offset {
            Some(o) => format!("reading {} at byte offset {o}", self.label),
            None => format!("reading {}", self.label),
        }
    }
}

#[pymethods]
impl PyScanner {
    #[new]
    #[pyo3(signature = (source, *, columns=None, require_all=false, records="data", batch_size=65_536, n_rows=None, addresses="string", on_bad_records="error", specs=Vec::new(), spec_files=Vec::new(), max_templates=65_536, max_list_depth=16, by_template=false, template_lifetime=Some(1800), export_ports=None, filter=None))]
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)] // pyo3 extracts owned arguments
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        columns: Option<Vec<String>>,
        require_all: bool,
        records: &str,
        batch_size: usize,
        n_rows: Option<u64>,
        addresses: &str,
        on_bad_records: &str,
        specs: Vec<String>,
        spec_files: Vec<PathBuf>,
        max_templates: usize,
        max_list_depth: u32,
        by_template: bool,
        template_lifetime: Option<u32>,
        export_ports: Option<Vec<u16>>,
        filter: Option<FilterSpec>,
    ) -> PyResult<Self> {
        let doing = || format!("opening {}", super::source_repr(source));
        guard::guarded(py, "scanner.new", doing, || {
            let ports = export_ports.as_deref();
            let policy = super::policy(on_bad_records)?;
            let kind = kind_of(records)?;
            let addresses = address_form(addresses)?;
            if batch_size == 0 {
                return Err(PyValueError::new_err("batch_size must be at least 1"));
            }
            let mut model =
                super::model_from(specs, spec_files).map_err(|e| errors::to_py(py, &e))?;
            let (src, label) = Source::from_py(py, source)?;
            let explicit = columns.is_some();
            let (src, cols, partial) = match columns {
                Some(names) => {
                    let cols = names
                        .iter()
                        .map(|n| model.resolve_column(n))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| errors::to_py(py, &e))?;
                    (src, cols, None)
                }
                None => {
                    // No columns asked for: read the templates first, then
                    // decode; only as far as the rows asked for (n_rows), and
                    // for a file object that cannot seek, the first batch.
                    let src = src.reopenable(py)?;
                    let limit = PrescanLimit {
                        records: prescan_records(&src, n_rows, require_all, batch_size),
                    };
                    let r = src.open(py, &label, ports)?;
                    let m = &model;
                    let found = py.detach(|| discover_columns(&mut { r }, m, kind, limit));
                    let partial = limit.records.filter(|_| !found.complete);
                    (src, found.columns, partial)
                }
            };
            let limits = Limits {
                max_templates,
                max_list_depth,
                template_lifetime,
                ..Limits::default()
            };
            let dopts = DecoderOptions {
                policy,
                limits,
                session: 0,
            };
            // RFC 6313 list columns: their element types are in the data, so
            // the lists are read once first (as far as the columns' pre-scan).
            let (src, list_shapes) = if cols.iter().any(|c| is_list(&c.ie)) {
                let src = src.reopenable(py)?;
                let limit = PrescanLimit {
                    records: prescan_records(&src, n_rows, require_all, batch_size),
                };
                let r = src.open(py, &label, ports)?;
                let m = model.clone();
                let mut shapes =
                    py.detach(|| discover_list_shapes(&mut { r }, m, &dopts, &cols, kind, limit));
                // A list the data did not show (a file of the meter's with
                // no RTT sample) takes the shape the meter gives it, so
                // that its files read alike.
                for (k, known) in crate::meter::batches::list_shapes(&model) {
                    if let Some(s) = shapes.get_mut(&k).filter(|s| !s.seen) {
                        *s = known;
                    }
                }
                (src, shapes)
            } else {
                (src, HashMap::new())
            };
            src.done_prescanning();
            let opts = ColumnarOptions {
                batch_size,
                n_rows,
                require_all,
                kind,
                addresses,
                policy,
                list_shapes,
                by_template,
                // Columns asked for by name are exactly those (the exporter
                // columns of a capture when named among them).
                exporter_columns: !explicit,
                partial_columns: partial,
                filter: filter.map(record_filter).transpose()?,
            };
            Self::build(py, &src, &label, ports, model, &cols, &dopts, opts)
        })
    }
    /// A live collector: UDP and TCP listeners ("host:port"; port 0 picks
    /// a free one) decoded into batches of the IEs `columns` plus the
    /// exporter columns; a partial batch comes out after `interval`
    /// seconds without data.
    #[staticmethod]
    #[pyo3(signature = (udp, tcp, columns, *, batch_size=65_536, interval=1.0, addresses="string", on_bad_records="skip", specs=Vec::new(), spec_files=Vec::new(), queue=8192, recv_buffer=33_554_432, template_lifetime=Some(1800), template_clock="export"))]
    // pyo3 hands extracted arguments over by value.
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
    fn listen(
        py: Python<'_>,
        udp: Vec<String>,
        tcp: Vec<String>,
        columns: Vec<String>,
        batch_size: usize,
        interval: f64,
        addresses: &str,
        on_bad_records: &str,
        specs: Vec<String>,
        spec_files: Vec<PathBuf>,
        queue: usize,
        recv_buffer: usize,
        template_lifetime: Option<u32>,
        template_clock: &str,
    ) -> PyResult<Self> {
        guard::guarded(
            py,
            "scanner.listen",
            || "starting a collector".into(),
            || {
                let wall_clock = match template_clock {
                    "export" => false,
                    "wall" => true,
                    _ => {
                        return Err(PyValueError::new_err(format!(
                            "template_clock must be 'export' or 'wall', not {template_clock:?}"
                        )))
                    }
                };
                let policy = super::policy(on_bad_records)?;
                let addresses = address_form(addresses)?;
                if batch_size == 0 || !(interval > 0.0 && interval.is_finite()) {
                    return Err(PyValueError::new_err(
                        "batch_size must be at least 1 and interval a positive number of seconds",
                    ));
                }
                let parse = |list: &[String]| -> PyResult<Vec<std::net::SocketAddr>> {
                    list.iter().map(|a| parse_listen(a)).collect()
                };
                let lopts = LiveOptions {
                    udp: parse(&udp)?,
                    tcp: parse(&tcp)?,
                    queue: queue.max(1),
                    recv_buffer,
                    interval: std::time::Duration::from_secs_f64(interval),
                };
                let mut model =
                    super::model_from(specs, spec_files).map_err(|e| errors::to_py(py, &e))?;
                let cols = columns
                    .iter()
                    .map(|n| model.resolve_column(n))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| errors::to_py(py, &e))?;
                let stream = MessageStream::listen(&lopts)?;
                let live = stream.live();
                let dopts = DecoderOptions {
                    policy,
                    limits: Limits {
                        template_lifetime,
                        wall_clock,
                        ..Limits::default()
                    },
                    session: 0,
                };
                let opts = ColumnarOptions {
                    batch_size,
                    addresses,
                    policy,
                    ..ColumnarOptions::default()
                };
                let reader = ColumnarReader::new(stream, model, &dopts, &cols, opts);
                let label = lopts
                    .udp
                    .iter()
                    .map(|a| format!("udp {a}"))
                    .chain(lopts.tcp.iter().map(|a| format!("tcp {a}")))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(PyScanner {
                    reader: Mutex::new(Some(reader)),
                    last_addresses: Mutex::new(Vec::new()),
                    live,
                    label: format!("the collector on {label}"),
                })
            },
        )
    }
    /// The listeners of a live collector: [(transport, host, port)].
    fn local_addresses(&self, py: Python<'_>) -> PyResult<Vec<(&'static str, String, u16)>> {
        self.guarded(py, "scanner.local_addresses", || {
            Ok(self.live.as_ref().map_or_else(Vec::new, |l| {
                l.local
                    .iter()
                    .map(|(t, a)| (*t, a.ip().to_string(), a.port()))
                    .collect()
            }))
        })
    }

    /// Stop a live collector's listeners (from any thread); the batches of
    /// what was received still come out.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.guarded(py, "scanner.stop", || {
            if let Some(l) = &self.live {
                l.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(())
        })
    }

    /// Whether every batch has been handed out (a live collector: stopped
    /// and drained).
    fn finished(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, "scanner.finished", |r| Ok(r.is_finished()))
    }

    /// A live collector's counters: datagrams and TCP messages of flow
    /// export received, their bytes, other datagrams, TCP connections.
    fn live_counters(&self, py: Python<'_>) -> PyResult<Option<(u64, u64, u64, u64)>> {
        use std::sync::atomic::Ordering::Relaxed;
        self.guarded(py, "scanner.live_counters", || {
            Ok(self.live.as_ref().map(|l| {
                let c = &l.counters;
                (
                    c.datagrams.load(Relaxed),
                    c.bytes.load(Relaxed),
                    c.other.load(Relaxed),
                    c.connections.load(Relaxed),
                )
            }))
        })
    }

    /// The schema, as an Arrow PyCapsule-compatible object.
    #[getter]
    fn schema(&self, py: Python<'_>) -> PyResult<PySchema> {
        self.with(py, "scanner.schema", |r| Ok(PySchema::new(r.schema_ref())))
    }

    /// The next batch (an object with `__arrow_c_array__`), or None.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<PyRecordBatch>> {
        let step = self.with(py, "scanner.next_batch", |r| {
            Ok(py.detach(|| {
                crate::testhook::panic_point("scanner.decode");
                r.next_batch()
            }))
        })?;
        match step {
            None => Ok(None),
            Some(Err(e)) => Err(errors::to_py(py, &e)),
            Some(Ok(batch)) => {
                self.remember(&batch);
                Ok(Some(PyRecordBatch::new(batch)))
            }
        }
    }

    /// (observation domain, template id) of the batch last returned, with
    /// `by_template`.
    fn last_template(&self, py: Python<'_>) -> PyResult<Option<(u32, u16)>> {
        self.with(py, "scanner.last_template", |r| Ok(r.last_template()))
    }

    /// For each (observation domain, template id) met so far with
    /// `by_template`, the indices of the columns its templates carry.
    fn template_columns(&self, py: Python<'_>) -> PyResult<HashMap<(u32, u16), Vec<usize>>> {
        self.with(py, "scanner.template_columns", |r| {
            Ok(r.template_columns()
                .iter()
                .map(|(k, present)| {
                    let cols = present
                        .iter()
                        .enumerate()
                        .filter_map(|(i, &p)| p.then_some(i))
                        .collect();
                    (*k, cols)
                })
                .collect())
        })
    }

    /// Data-buffer addresses of the last batch's columns (first buffer of
    /// each column's array data; 0 for a column without buffers).
    fn last_buffer_addresses(&self) -> PyResult<Vec<usize>> {
        Ok(self
            .last_addresses
            .lock()
            .map_err(|_| PyRuntimeError::new_err("scanner state poisoned"))?
            .clone())
    }

    /// Transport health and the columnar counters so far.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (h, stats, capture) = self.with(py, "scanner.health", |r| {
            Ok((r.health(), r.stats(), r.stream().capture_stats()))
        })?;
        let d = super::health_dict(py, &h)?;
        d.set_item("malformed_values", stats.malformed_values)?;
        d.set_item("records_filtered", stats.filtered)?;
        if let Some(c) = capture {
            d.set_item("capture", super::capture_dict(py, &c)?)?;
        }
        Ok(d)
    }

    /// Problems skipped under on_bad_records="warn" since the last call.
    fn take_warnings(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, "scanner.take_warnings", |r| Ok(r.take_warnings()))
    }

    /// Hand the rest of the stream to an Arrow consumer (pyarrow, polars,
    /// DuckDB). Errors in the stream reach the consumer as its own error.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyArrowResult<Bound<'py, PyCapsule>> {
        let reader = self.guarded(py, "scanner.arrow_c_stream", || {
            self.reader
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the scan of {}", self.label)))?
                .take()
                .ok_or_else(|| PyRuntimeError::new_err("the stream was already consumed"))
        })?;
        arrow_stream(py, reader, self.label.clone(), requested_schema)
    }
}

impl PyScanner {
    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        src: &Source,
        label: &str,
        ports: Option<&[u16]>,
        model: crate::model::InfoModel,
        cols: &[crate::model::ColumnIe],
        dopts: &DecoderOptions,
        opts: ColumnarOptions,
    ) -> PyResult<Self> {
        let r = src.open(py, label, ports)?;
        let reader = ColumnarReader::new(r, model, dopts, cols, opts);
        Ok(PyScanner {
            reader: Mutex::new(Some(reader)),
            last_addresses: Mutex::new(Vec::new()),
            live: None,
            label: label.to_string(),
        })
    }

    fn remember(&self, batch: &RecordBatch) {
        let addrs = batch
            .columns()
            .iter()
            .map(|c| {
                let d = c.to_data();
                d.buffers().first().map_or(0, |b| b.as_ptr() as usize)
            })
            .collect();
        if let Ok(mut g) = self.last_addresses.lock() {
            *g = addrs;
        }
    }
}

/// How many records a pre-scan of `src` must see: all (`None`), or those of
/// the `n_rows` asked for (unless `require_all` drops some), and for a file
/// object read once no more than the first batch holds.
fn prescan_records(
    src: &Source,
    n_rows: Option<u64>,
    require_all: bool,
    batch_size: usize,
) -> Option<u64> {
    let rows = n_rows.filter(|_| !require_all);
    let first_batch = src.read_once().then_some(batch_size as u64);
    match (rows, first_batch) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
