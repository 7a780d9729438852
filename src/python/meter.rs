//! `_Meter`: the flow meter over captures given from Python (paths, bytes,
//! binary file objects), metered with the GIL released, its flows handed
//! out as Arrow batches (one at a time, or as an `__arrow_c_stream__`) or
//! written as IPFIX to a file, a file object or a collector.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict};
use pyo3_arrow::error::PyArrowResult;
use pyo3_arrow::{PyRecordBatch, PySchema};

use super::arrow::address_form;
use super::errors;
use super::guard;
use super::guard::Doing as _;
use super::meter_ipfix;
use super::meter_stats::{stats_dict, Counted};
use super::out::Out;
use super::source::Source;
use super::stream::arrow_stream;
use crate::columnar::ColumnarOptions;
use crate::encode::Exporter;
use crate::meter::batches::MeterBatches;
use crate::meter::export::{failed_capture, Selection};
use crate::meter::input::Captures;
use crate::meter::table::TableOptions;
use crate::meter::{Meter, MeterOptions, MeterStats};
use crate::model::bundled::{ferrofix_spec_at, FERROFIX_PEN};
use crate::model::InfoModel;

/// The meter's model: IANA, RFC 5103 reverse, CERT, QoF and ferrofix's
/// (bundled; ferrofix's moved to PEN `enterprise`), then the user's spec
/// files and specs.
fn meter_model(
    specs: Vec<String>,
    spec_files: Vec<PathBuf>,
    enterprise: u32,
) -> crate::Result<InfoModel> {
    let mut model = InfoModel::new();
    if enterprise != FERROFIX_PEN {
        model.add_spec_text(&ferrofix_spec_at(enterprise))?;
    }
    for f in spec_files {
        let text = std::fs::read_to_string(&f).map_err(|e| crate::Error::os(&e, &f))?;
        model.add_spec_text(&text)?;
    }
    for s in specs {
        model.add_spec(&s)?;
    }
    Ok(model)
}

fn seconds(name: &str, s: f64) -> PyResult<i64> {
    if !(s >= 0.0 && s.is_finite() && s < 1e9) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds from 0 to 1e9, not {s}"
        )));
    }
    Ok((s * 1e9).round() as i64)
}

/// The flow meter over one or several captures.
#[pyclass(module = "ferrofix._ferrofix", name = "_Meter")]
pub struct PyMeter {
    inner: Mutex<Option<MeterBatches>>,
    /// The counters once the batches were handed to a consumer: kept up
    /// to date by an Arrow consumer's stream ([`Counted`]) batch by batch.
    last_stats: Arc<Mutex<Option<(MeterStats, u64)>>>,
    label: String,
    /// The inputs' bytes when all are in memory.
    total: Option<u64>,
}

impl guard::Doing for PyMeter {
    fn doing(&self) -> String {
        let at = match self.inner.lock() {
            Ok(g) => g.as_ref().map(MeterBatches::bytes_read),
            Err(p) => p.into_inner().as_ref().map(MeterBatches::bytes_read),
        };
        match at {
            Some(o) => format!("metering {} at byte {o} of the input", self.label),
            None => format!("metering {}", self.label),
        }
    }
}

impl PyMeter {
    fn with<T>(
        &self,
        py: Python<'_>,
        point: &str,
        f: impl FnOnce(&mut MeterBatches) -> PyResult<T>,
    ) -> PyResult<T> {
        self.guarded(py, point, || {
            let mut g = self
                .inner
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the meter of {}", self.label)))?;
            match g.as_mut() {
                Some(m) => f(m),
                None => Err(PyRuntimeError::new_err(
                    "the meter's flows were already handed out (to an Arrow consumer or write_ipfix)",
                )),
            }
        })
    }

    pub(super) fn take(&self, py: Python<'_>) -> PyResult<MeterBatches> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| guard::poisoned(py, &format!("the meter of {}", self.label)))?;
        let m = g.take().ok_or_else(|| {
            PyRuntimeError::new_err(
                "the meter's flows were already handed out (to an Arrow consumer or write_ipfix)",
            )
        })?;
        self.keep_stats(&m);
        Ok(m)
    }

    /// Keep the counters of `m` for `stats` once `m` is gone.
    pub(super) fn keep_stats(&self, m: &MeterBatches) {
        if let Ok(mut s) = self.last_stats.lock() {
            *s = Some((m.meter().stats(), m.bytes_read()));
        }
    }
}

#[pymethods]
impl PyMeter {
    #[new]
    #[pyo3(signature = (sources, *, idle_timeout=30.0, active_timeout=300.0, biflow=true, max_flows=1_048_576, decapsulate=false, tcp_metrics=true, workers=1, columns=None, batch_size=65_536, addresses="string", on_bad_records="error", specs=Vec::new(), spec_files=Vec::new(), enterprise=32473, filter=None))]
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)] // pyo3 extracts owned arguments
    fn new(
        py: Python<'_>,
        sources: Vec<Bound<'_, PyAny>>,
        idle_timeout: f64,
        active_timeout: f64,
        biflow: bool,
        max_flows: usize,
        decapsulate: bool,
        tcp_metrics: bool,
        workers: usize,
        columns: Option<Vec<String>>,
        batch_size: usize,
        addresses: &str,
        on_bad_records: &str,
        specs: Vec<String>,
        spec_files: Vec<PathBuf>,
        enterprise: u32,
        filter: Option<super::filter::FilterSpec>,
    ) -> PyResult<Self> {
        guard::guarded(
            py,
            "meter.new",
            || "opening captures".into(),
            || {
                let policy = super::policy(on_bad_records)?;
                let addresses = address_form(addresses)?;
                if batch_size == 0 || max_flows == 0 {
                    return Err(PyValueError::new_err(
                        "batch_size and max_flows must be at least 1",
                    ));
                }
                if !(1..=256).contains(&workers) {
                    return Err(PyValueError::new_err(format!(
                        "workers must be from 1 to 256, not {workers}"
                    )));
                }
                let table = TableOptions {
                    idle_ns: seconds("idle_timeout", idle_timeout)?,
                    active_ns: seconds("active_timeout", active_timeout)?,
                    max_flows,
                    tcp_metrics,
                };
                if enterprise == 0 || enterprise == crate::model::REVERSE_PEN {
                    return Err(PyValueError::new_err(format!(
                        "enterprise must be a private enterprise number, not {enterprise} \
                         (0 is IANA's, 29305 RFC 5103's reverse)"
                    )));
                }
                let mut model = meter_model(specs, spec_files, enterprise)
                    .map_err(|e| errors::to_py(py, &e))?;
                let mut meter = Meter::new(
                    MeterOptions {
                        table,
                        biflow,
                        decapsulate,
                        workers,
                    },
                    &model,
                )
                .map_err(|e| errors::to_py(py, &e))?;
                let cols = match columns {
                    Some(names) => Some(meter_columns(py, &meter, &mut model, &names)?),
                    None => None,
                };
                // A capture that is not one, or cut short in its header:
                // under "warn"/"skip" passed over as one cut short later
                // is (counted, and said under "warn"), else raised.
                let mut early_warnings: Vec<String> = Vec::new();
                let mut header_failed =
                    |py: Python<'_>, meter: &mut Meter, e: crate::Error| -> PyResult<()> {
                        let mut failed = None;
                        failed_capture(meter, e, policy, &mut early_warnings, &mut failed);
                        match failed {
                            Some(e) => Err(errors::to_py(py, &e)),
                            None => Ok(()),
                        }
                    };
                let mut readers = Vec::with_capacity(sources.len());
                let mut labels = Vec::with_capacity(sources.len());
                // The inputs' size when every one is in memory (a progress
                // bar's total); a stream's size is not known ahead.
                let mut total: Option<u64> = Some(0);
                for s in &sources {
                    let (src, label) = Source::from_py(py, s)?;
                    if let (Source::Path(path), [_], true) = (&src, sources.as_slice(), workers > 1)
                    {
                        // One capture file (a regular one: it is opened
                        // again) and workers: they read it themselves,
                        // walking it in turns (checked here once, as a
                        // capture). A mapped file's size is the total its
                        // position goes to; a compressed one's is not.
                        // (A pipe's bytes read here would be lost to
                        // the stream opened below.)
                        let file_len = path
                            .metadata()
                            .ok()
                            .filter(std::fs::Metadata::is_file)
                            .map(|m| m.len());
                        let opened = match file_len {
                            Some(_) => Some(src.opened(py, &label)?),
                            None => None,
                        };
                        if let Some(opened) = opened.filter(|o| o.capture) {
                            let size = file_len.filter(|_| opened.mapped());
                            if let Err(e) = py.detach(|| opened.into_capture()) {
                                header_failed(py, &mut meter, e.in_input(&label))?;
                                continue;
                            }
                            if meter.read_file(path).map_err(|e| errors::to_py(py, &e))? {
                                total = total.zip(size).map(|(t, n)| t.saturating_add(n));
                                labels.push(label);
                                continue;
                            }
                        }
                    }
                    let (opened, size) = src.opened_streamed(py, &label)?;
                    let reader = match py.detach(|| opened.into_capture()) {
                        Ok(r) => r,
                        Err(e) => {
                            header_failed(py, &mut meter, e.in_input(&label))?;
                            continue;
                        }
                    };
                    total = total.zip(size).map(|(t, n)| t.saturating_add(n));
                    readers.push(reader);
                    labels.push(label);
                }
                let label = match labels.as_slice() {
                    [one] => one.clone(),
                    all => format!("{} captures", all.len()),
                };
                let opts = ColumnarOptions {
                    batch_size,
                    addresses,
                    policy,
                    filter: filter.map(super::filter::record_filter).transpose()?,
                    ..ColumnarOptions::default()
                };
                let mut batches =
                    MeterBatches::new(meter, Captures::new(readers), labels, cols, opts);
                batches.warnings = early_warnings;
                Ok(PyMeter {
                    inner: Mutex::new(Some(batches)),
                    last_stats: Arc::new(Mutex::new(None)),
                    total,
                    label,
                })
            },
        )
    }

    /// The schema, as an Arrow PyCapsule-compatible object.
    #[getter]
    fn schema(&self, py: Python<'_>) -> PyResult<PySchema> {
        self.with(py, "meter.schema", |m| Ok(PySchema::new(m.schema())))
    }

    /// The next batch of flows, or None at the end.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<PyRecordBatch>> {
        let step = self.with(py, "meter.next_batch", |m| {
            Ok(py.detach(|| {
                crate::testhook::panic_point("meter.packets");
                m.next_batch()
            }))
        })?;
        match step {
            Ok(b) => Ok(b.map(PyRecordBatch::new)),
            Err(e) => Err(errors::to_py(py, &e)),
        }
    }

    /// The captures' size in bytes when every one is in memory (files not
    /// compressed, bytes); None when one is read as a stream.
    fn total_bytes(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.guarded(py, "meter.total_bytes", || Ok(self.total))
    }

    /// Bytes of the captures read so far (decompressed).
    fn position(&self, py: Python<'_>) -> PyResult<u64> {
        if let Ok(Some((_, at))) = self.last_stats.lock().map(|g| g.clone()) {
            return Ok(at);
        }
        self.with(py, "meter.position", |m| Ok(m.bytes_read()))
    }

    /// Problems skipped under on_bad_records="warn" since the last call.
    fn take_warnings(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, "meter.take_warnings", |m| {
            Ok(std::mem::take(&mut m.warnings))
        })
    }

    /// The meter's counters so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let kept = self.last_stats.lock().ok().and_then(|g| g.clone());
        let (s, at) = match kept {
            Some(k) => k,
            None => self.with(py, "meter.stats", |m| {
                Ok((m.meter().stats(), m.bytes_read()))
            })?,
        };
        stats_dict(py, &s, at)
    }

    /// Meter into IPFIX: to `dest` (a path, a binary file object, or None
    /// for bytes returned) or, with `export`, to a collector
    /// ("udp://host:port", "tcp://host:port"). `progress(bytes_read)` is
    /// called now and then; `stats`: the meter's statistics as options
    /// records too; `observation_domain_id`: every message's domain.
    /// Returns the bytes for `dest=None`.
    #[pyo3(signature = (dest=None, *, export=None, compression=None, mtu=None, progress=None, template_refresh=None, template_refresh_timeout=None, stats=true, observation_domain_id=0))]
    #[allow(clippy::too_many_arguments)] // the Python method's keywords
    fn write_ipfix<'py>(
        &self,
        py: Python<'py>,
        dest: Option<&Bound<'py, PyAny>>,
        export: Option<&str>,
        compression: Option<&str>,
        mtu: Option<usize>,
        progress: Option<Bound<'py, PyAny>>,
        template_refresh: Option<u64>,
        template_refresh_timeout: Option<u32>,
        stats: bool,
        observation_domain_id: u32,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.guarded(py, "meter.write_ipfix", || {
            {
                let g = self
                    .inner
                    .lock()
                    .map_err(|_| guard::poisoned(py, &format!("the meter of {}", self.label)))?;
                if g.as_ref().is_some_and(MeterBatches::started) {
                    return Err(PyRuntimeError::new_err(
                        "write_ipfix needs a meter whose batches were not read",
                    ));
                }
            }
            let (out, opts) = Out::for_ipfix(
                py,
                dest,
                export,
                compression,
                mtu,
                template_refresh,
                template_refresh_timeout,
            )?;
            let exporter = Exporter::new(out, opts).map_err(|e| errors::to_py(py, &e))?;
            let batches = self.take(py)?;
            let stats_at = Arc::clone(&self.last_stats);
            let sel = Selection {
                filter: None,
                eager: export.is_some(),
                stats,
                domain: observation_domain_id,
            };
            let bytes = meter_ipfix::run(py, batches, exporter, sel, progress, |m, c| {
                if let Ok(mut s) = stats_at.lock() {
                    *s = Some((m.stats(), m.position().unwrap_or_else(|| c.position())));
                }
            })?;
            Ok(bytes.map(|b| PyBytes::new(py, &b)))
        })
    }

    /// Hand the flows to an Arrow consumer (pyarrow, polars, DuckDB).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyArrowResult<Bound<'py, PyCapsule>> {
        let batches = self.guarded(py, "meter.arrow_c_stream", || self.take(py))?;
        let counted = Counted {
            batches,
            stats: Arc::clone(&self.last_stats),
        };
        arrow_stream(py, counted, self.label.clone(), requested_schema)
    }
}

/// The columns `names` of a meter's table: an error for a name that is no
/// IE, or that none of the meter's templates has with its options (rather
/// than a column of nulls), or a name given twice.
fn meter_columns(
    py: Python<'_>,
    meter: &Meter,
    model: &mut crate::model::InfoModel,
    names: &[String],
) -> PyResult<Vec<crate::model::ColumnIe>> {
    let has = meter.records().columns();
    let mut out: Vec<crate::model::ColumnIe> = Vec::with_capacity(names.len());
    for n in names {
        let c = model.resolve_column(n).map_err(|e| errors::to_py(py, &e))?;
        if !has.iter().any(|h| h.ie.name == c.ie.name) {
            let why = if c.ie.name.starts_with("reverse") {
                " (uniflow records, biflow=False, have no reverse columns)"
            } else if c.ie.pen != 0 && !has.iter().any(|h| h.ie.pen == c.ie.pen) {
                " (the TCP metrics are off, or the IE is not one the meter writes)"
            } else {
                ""
            };
            return Err(PyValueError::new_err(format!(
                "columns: the meter writes no {n} column with these options{why}"
            )));
        }
        if out.iter().any(|o| o.ie.name == c.ie.name && o.nth == c.nth) {
            return Err(PyValueError::new_err(format!(
                "columns: {n} is asked for twice"
            )));
        }
        out.push(c);
    }
    Ok(out)
}
