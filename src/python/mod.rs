//! The only pyo3 code (house rule 1): the `ferrofix._ferrofix` extension
//! module. `_Reader` drives a core [`MessageStream`] and [`Decoder`]: the
//! read of each message runs with the GIL released; building the Python
//! objects needs the GIL, so decoding into them runs with it held.

mod arrow;
mod convert;
mod errors;
mod filter;
mod guard;
mod health;
mod meter;
mod meter_ipfix;
mod meter_stats;
mod out;
mod pyvalue;
mod series;
mod sink;
mod source;
mod stream;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::columnar::RecordKind;
use crate::decode::{Decoder, DecoderOptions, Policy};
use crate::error::{Error, ErrorKind};
use crate::model::{parse_spec, InfoModel, IANA_REGISTRY_UPDATED};
use crate::session::Limits;
use crate::source::MessageStream;
use convert::Converter;
use guard::Doing as _;
use health::{capture_dict, health_dict};
use sink::{BatchSink, Output, Shape, SinkState};

/// Records per batch handed to Python (a batch ends at a message boundary
/// once it holds at least this many).
const BATCH_RECORDS: usize = 1024;

fn policy(s: &str) -> PyResult<Policy> {
    match s {
        "error" => Ok(Policy::Error),
        "warn" => Ok(Policy::Warn),
        "skip" => Ok(Policy::Skip),
        _ => Err(PyValueError::new_err(format!(
            "on_bad_records must be 'error', 'warn' or 'skip', not {s:?}"
        ))),
    }
}

/// Pauses CPython's cyclic GC while a batch is built: the batch creates
/// thousands of container objects and no cycles, and generation-0 collections
/// triggered by them would traverse the growing batch over and over.
struct GcPause {
    was_enabled: bool,
}

impl GcPause {
    fn new(_py: Python<'_>) -> Self {
        // SAFETY: called with the GIL held (the `Python` token proves it).
        let was = unsafe { pyo3::ffi::PyGC_Disable() };
        GcPause {
            was_enabled: was == 1,
        }
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: the GIL is still held: the guard lives inside a
            // function that holds a `Python` token.
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
    }
}

struct Inner {
    stream: MessageStream,
    decoder: Decoder,
    sink: SinkState,
    policy: Policy,
    pending: Option<Error>,
    finished: bool,
    /// `close()` was called: the source is released and reading raises.
    closed: bool,
}

/// Templates as `_Reader.templates()` gives them: (domain, id, scope count
/// or None, [(name, pen, id, length, type), ...]).
type TemplateRows = Vec<(
    u32,
    u16,
    Option<u16>,
    Vec<(String, u32, u16, u16, &'static str)>,
)>;

/// A reader of one IPFIX message stream (one transport session).
#[pyclass(module = "ferrofix._ferrofix", name = "_Reader")]
pub struct PyReader {
    inner: Mutex<Inner>,
    #[pyo3(get)]
    label: String,
}

impl PyReader {
    fn lock(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| guard::poisoned(py, &format!("the reader of {}", self.label)))
    }
}

fn model_from(specs: Vec<String>, spec_files: Vec<PathBuf>) -> Result<InfoModel, Error> {
    let mut model = InfoModel::iana();
    for f in spec_files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::os(&e, &f))?;
        model
            .add_spec_text(&text)
            .map_err(|e| Error::new(ErrorKind::BadSpec(format!("{}: {}", f.display(), e.kind))))?;
    }
    for s in specs {
        model.add_spec(&s)?;
    }
    Ok(model)
}

impl guard::Doing for PyReader {
    /// What the reader is doing, for an internal error: its input and the
    /// byte offset reached (read even from state a panic left behind).
    fn doing(&self) -> String {
        let offset = match self.inner.lock() {
            Ok(g) => g.stream.offset(),
            Err(p) => p.into_inner().stream.offset(),
        };
        format!("reading {} at byte offset {offset}", self.label)
    }
}

#[pymethods]
impl PyReader {
    #[new]
    #[pyo3(signature = (source, *, on_bad_records="error", specs=Vec::new(), spec_files=Vec::new(), max_templates=65_536, max_list_depth=16, template_lifetime=Some(1800), export_ports=None, compat=false))]
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)] // pyo3 extracts owned arguments
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        on_bad_records: &str,
        specs: Vec<String>,
        spec_files: Vec<PathBuf>,
        max_templates: usize,
        max_list_depth: u32,
        template_lifetime: Option<u32>,
        export_ports: Option<Vec<u16>>,
        compat: bool,
    ) -> PyResult<Self> {
        let doing = || format!("opening {}", source_repr(source));
        guard::guarded(py, "reader.new", doing, || {
            let policy = policy(on_bad_records)?;
            let model = model_from(specs, spec_files).map_err(|e| errors::to_py(py, &e))?;
            let (r, label) = source::open(py, source, export_ports.as_deref())?;
            let mut conv = Converter::new(py)?;
            conv.compat = compat;
            let opts = DecoderOptions {
                policy,
                limits: Limits {
                    max_templates,
                    max_list_depth,
                    template_lifetime,
                    ..Limits::default()
                },
                session: 0,
            };
            let out = Output {
                shape: Shape::Dict,
                kind: RecordKind::All,
                meta: false,
                columns: None,
                require_all: false,
            };
            Ok(PyReader {
                inner: Mutex::new(Inner {
                    stream: r,
                    decoder: Decoder::new(model, &opts),
                    sink: SinkState::new(conv, out),
                    policy,
                    pending: None,
                    finished: false,
                    closed: false,
                }),
                label,
            })
        })
    }

    /// Set the shape of records for the following batches; returns the
    /// resolved column names (IANA/enterprise names), or None for all.
    #[pyo3(signature = (shape="dict", columns=None, require_all=false, kind="all", meta=false))]
    fn configure(
        &self,
        py: Python<'_>,
        shape: &str,
        columns: Option<Vec<String>>,
        require_all: bool,
        kind: &str,
        meta: bool,
    ) -> PyResult<Option<Vec<String>>> {
        self.guarded(py, "reader.configure", || {
            let mut inner = self.lock(py)?;
            let shape = match shape {
                "dict" => Shape::Dict,
                "tuple" => Shape::Tuple,
                "fields" => Shape::Fields,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "as_ must be 'dict' or 'tuple', not {shape:?}"
                    )))
                }
            };
            let kind = arrow::kind_of(kind)?;
            let mut names = None;
            let columns = match columns {
                None => None,
                Some(cols) => {
                    let mut out = Vec::with_capacity(cols.len());
                    let mut ns = Vec::with_capacity(cols.len());
                    for c in &cols {
                        let d = inner
                            .decoder
                            .model
                            .resolve_column(c)
                            .map_err(|e| errors::to_py(py, &e))?;
                        ns.push(d.name().into_owned());
                        out.push((d.key(), PyString::intern(py, &d.name()).unbind()));
                    }
                    names = Some(ns);
                    Some(out)
                }
            };
            inner.sink.reconfigure(Output {
                shape,
                kind,
                meta,
                columns,
                require_all,
            });
            Ok(names)
        })
    }

    /// The next batch of records (a list), or None at the end of the stream.
    fn next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.guarded(py, "reader.next_batch", || self.next_batch_now(py))
    }

    /// Release the source (a file opened by path is closed, a mapping
    /// unmapped); iterators already made raise `ValueError` from then on.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.guarded(py, "reader.close", || {
            let mut inner = self.lock(py)?;
            inner.stream = MessageStream::from_shared(Arc::from(Vec::new()))
                .map_err(|e| errors::to_py(py, &Error::from(e)))?;
            inner.closed = true;
            Ok(())
        })
    }

    /// Sizes of the reader's internal caches, and their caps (for tests).
    fn cache_sizes(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        self.guarded(py, "reader.cache_sizes", || {
            Ok((self.lock(py)?.sink.plan_count(), sink::MAX_PLANS))
        })
    }

    /// Problems skipped under on_bad_records="warn" since the last call.
    fn take_warnings(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.guarded(py, "reader.take_warnings", || {
            Ok(std::mem::take(&mut self.lock(py)?.sink.warnings))
        })
    }

    /// The templates held now: (domain, id, scope count or None,
    /// [(name, pen, id, length, type), ...]).
    fn templates(&self, py: Python<'_>) -> PyResult<TemplateRows> {
        self.guarded(py, "reader.templates", || self.templates_now(py))
    }

    /// The transport-health counters as a dict.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.guarded(py, "reader.health", || self.health_now(py))
    }
}

/// How a source is named in an error before it is opened.
pub(super) fn source_repr(source: &Bound<'_, PyAny>) -> String {
    source
        .repr()
        .map_or_else(|_| "the source".to_string(), |r| r.to_string())
        .chars()
        .take(200)
        .collect()
}

impl PyReader {
    fn next_batch_now<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let mut guard = self.lock(py)?;
        let inner = &mut *guard;
        if inner.closed {
            // As a closed Python file's iterator does.
            return Err(PyValueError::new_err(format!(
                "I/O operation on a closed reader ({})",
                self.label
            )));
        }
        crate::testhook::panic_point("reader.decode");
        if let Some(e) = inner.pending.take() {
            return Err(errors::to_py(py, &e));
        }
        let list = PyList::empty(py);
        let _gc = GcPause::new(py);
        let mut sink = BatchSink {
            py,
            st: &mut inner.sink,
            list: list.clone(),
            policy: inner.policy,
            py_err: None,
            count: 0,
        };
        while !inner.finished && sink.count < BATCH_RECORDS {
            let stream = &mut inner.stream;
            let step = py.detach(|| stream.advance());
            let err = match step {
                Ok(false) => {
                    inner.finished = true;
                    None
                }
                Ok(true) => {
                    let m = inner.stream.current();
                    inner.decoder.decode(&m, &mut sink).err()
                }
                Err(e) => {
                    inner.finished = inner.stream.is_done();
                    inner.decoder.skip_problem(e, &mut sink).err()
                }
            };
            if let Some(py_err) = sink.py_err.take() {
                inner.finished = true;
                return Err(py_err);
            }
            if let Some(e) = err {
                inner.finished = true;
                if sink.count == 0 {
                    return Err(errors::to_py(py, &e));
                }
                inner.pending = Some(e);
                break;
            }
        }
        if sink.count == 0 && inner.finished && inner.pending.is_none() {
            return Ok(None);
        }
        Ok(Some(list))
    }

    fn templates_now(&self, py: Python<'_>) -> PyResult<TemplateRows> {
        let inner = self.lock(py)?;
        Ok(inner
            .decoder
            .templates()
            .into_iter()
            .map(|(k, t)| {
                let fields = t
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            f.ie.name.to_string(),
                            f.ie.pen,
                            f.ie.id,
                            f.length,
                            f.ie.data_type.name(),
                        )
                    })
                    .collect();
                (
                    k.observation_domain_id,
                    k.template_id,
                    t.scope_count,
                    fields,
                )
            })
            .collect())
    }

    fn health_now<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.lock(py)?;
        let mut h = inner.decoder.health();
        h.bytes = inner.stream.offset();
        inner.stream.add_translator_health(&mut h);
        let d = health_dict(py, &h)?;
        d.set_item("malformed_values", inner.sink.malformed_values)?;
        d.set_item("records_filtered", inner.sink.filtered_records)?;
        if let Some(c) = inner.stream.capture_stats() {
            d.set_item("capture", capture_dict(py, &c)?)?;
        }
        Ok(d)
    }
}

/// Parse an IESpec into (name, pen, id, type, length); parts may be None.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn parse_iespec(
    py: Python<'_>,
    spec: &str,
) -> PyResult<(
    Option<String>,
    Option<u32>,
    Option<u16>,
    Option<&'static str>,
    Option<u16>,
)> {
    guard::guarded(
        py,
        "parse_iespec",
        || format!("parsing the IESpec {spec:?}"),
        || {
            let p = parse_spec(spec).map_err(|e| errors::to_py(py, &e))?;
            Ok((
                p.name,
                p.pen,
                p.id,
                p.data_type.map(crate::model::DataType::name),
                p.length,
            ))
        },
    )
}

/// Describe IEs of a model built from specs: [(name, pen, id, type,
/// semantics, units, length)] for the given names/specs, or all when None.
#[pyfunction]
#[pyo3(signature = (names=None, *, specs=Vec::new(), spec_files=Vec::new()))]
#[allow(clippy::type_complexity)]
fn describe_ies(
    py: Python<'_>,
    names: Option<Vec<String>>,
    specs: Vec<String>,
    spec_files: Vec<PathBuf>,
) -> PyResult<
    Vec<(
        String,
        u32,
        u16,
        &'static str,
        &'static str,
        String,
        Option<u16>,
    )>,
> {
    guard::guarded(
        py,
        "describe_ies",
        || "describing IEs".into(),
        || {
            let mut model = model_from(specs, spec_files).map_err(|e| errors::to_py(py, &e))?;
            let defs = match names {
                None => model.all(),
                Some(ns) => ns
                    .iter()
                    .map(|n| model.resolve(n))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| errors::to_py(py, &e))?,
            };
            Ok(defs
                .into_iter()
                .map(|d| {
                    (
                        d.name.to_string(),
                        d.pen,
                        d.id,
                        d.data_type.name(),
                        d.semantics.name(),
                        d.units.to_string(),
                        d.length,
                    )
                })
                .collect())
        },
    )
}

/// The module runs without the GIL on free-threaded CPython (3.13t): its
/// objects' state is behind PyO3's borrow checks (a second thread using a
/// reader or meter at once gets an error, not a race), the shared caches are
/// `PyOnceLock`s, and the records are built only through the C API on
/// objects not yet shared (`make test-matrix` runs the suite there).
#[pymodule(gil_used = false)]
fn _ferrofix(m: &Bound<'_, PyModule>) -> PyResult<()> {
    #[cfg(feature = "mimalloc")]
    crate::tune_allocator();
    m.add_class::<PyReader>()?;
    m.add_class::<arrow::PyScanner>()?;
    m.add_class::<writer::PyWriter>()?;
    m.add_class::<meter::PyMeter>()?;
    m.add_function(wrap_pyfunction!(series::meter_tcp_series, m)?)?;
    m.add_function(wrap_pyfunction!(parse_iespec, m)?)?;
    m.add_function(wrap_pyfunction!(describe_ies, m)?)?;
    m.add_function(wrap_pyfunction!(guard::arm_test_panic, m)?)?;
    m.add_function(wrap_pyfunction!(guard::allocator_options, m)?)?;
    m.add("IANA_REGISTRY_UPDATED", IANA_REGISTRY_UPDATED)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
