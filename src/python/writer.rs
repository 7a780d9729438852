//! `_Writer`: the core [`Exporter`] for Python. Records come as tuples or
//! lists (one value per template field) or dicts (keyed by IE name); the
//! destination is a path (gzip or zstd by extension), a binary file object,
//! or memory. All writing happens with the GIL held (values are Python
//! objects); a message reaches the destination only whole.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use super::errors;
use super::guard;
use super::guard::Doing as _;
use super::out::Out;
use super::pyvalue::{encode_py, PyTypes};
use crate::encode::{
    resolve_field, ExportOptions, ExportStats, Exporter, NullPolicy, SubTemplates, TableWriter,
};
use crate::error::{Error, ErrorKind};
use crate::model::InfoModel;
use crate::session::Template;
use crate::wire::FieldSpec;

/// Templates of the records inside lists of Python records: ids counted
/// down from 65535 (the ids users pick count up from 256), skipping any
/// the domain already uses, one per (domain, fields).
struct RecordDefs<'a> {
    model: &'a mut InfoModel,
    ex: &'a mut Exporter<Out>,
    odid: u32,
    known: &'a mut HashMap<(u32, Vec<FieldSpec>), u16>,
}

impl SubTemplates for RecordDefs<'_> {
    fn model(&mut self) -> &mut InfoModel {
        self.model
    }

    fn define(&mut self, specs: Vec<FieldSpec>) -> crate::Result<u16> {
        let key = (self.odid, specs);
        if let Some(&id) = self.known.get(&key) {
            return Ok(id);
        }
        let id = (256..=u16::MAX)
            .rev()
            .find(|&id| self.ex.template(self.odid, id).is_none())
            .ok_or_else(|| Error::new(ErrorKind::Encode("no template id left".into())))?;
        let t = Template::new(id, self.odid, None, key.1.clone(), self.model);
        self.ex.add_template(Arc::new(t))?;
        self.known.insert(key, id);
        Ok(id)
    }
}

/// Writes IPFIX from Python records.
#[pyclass(name = "_Writer", module = "ferrofix._ferrofix")]
pub struct PyWriter {
    inner: Mutex<Option<Exporter<Out>>>,
    model: Mutex<InfoModel>,
    sub_templates: Mutex<HashMap<(u32, Vec<FieldSpec>), u16>>,
    /// The Python classes values are recognised by, looked up once (a
    /// lookup per `write` call cost more than encoding the record).
    types: PyTypes,
    /// Where it writes, for errors.
    label: String,
}

fn closed() -> PyErr {
    PyValueError::new_err("the writer is closed")
}

impl PyWriter {
    fn with<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Exporter<Out>) -> crate::Result<T>,
    ) -> PyResult<T> {
        let mut g = self.lock(py)?;
        let ex = g.as_mut().ok_or_else(closed)?;
        f(ex).map_err(|e| errors::to_py(py, &e))
    }

    fn lock(&self, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'_, Option<Exporter<Out>>>> {
        self.inner
            .lock()
            .map_err(|_| guard::poisoned(py, &format!("the writer of {}", self.label)))
    }

    fn template(&self, py: Python<'_>, odid: u32, id: u16) -> PyResult<Arc<Template>> {
        self.with(py, |ex| {
            ex.template(odid, id).cloned().ok_or_else(|| {
                Error::new(ErrorKind::Encode(format!(
                    "no template {id} in observation domain {odid}: add it first"
                )))
            })
        })
    }

    /// Encode and write records of template `template_id` of `odid`;
    /// `numbered`: a refusal names the record's index.
    fn write_each<'py>(
        &self,
        py: Python<'py>,
        template_id: u16,
        odid: u32,
        records: impl Iterator<Item = PyResult<Bound<'py, PyAny>>>,
        numbered: bool,
    ) -> PyResult<u64> {
        let t = self.template(py, odid, template_id)?;
        let types = &self.types;
        let poisoned = || guard::poisoned(py, &format!("the writer of {}", self.label));
        let mut g = self.inner.lock().map_err(|_| poisoned())?;
        let mut model = self.model.lock().map_err(|_| poisoned())?;
        let mut known = self.sub_templates.lock().map_err(|_| poisoned())?;
        let ex = g.as_mut().ok_or_else(closed)?;
        let mut buf = Vec::with_capacity(256);
        let mut n = 0u64;
        for rec in records {
            let rec = rec?;
            let mut defs = RecordDefs {
                model: &mut model,
                ex: &mut *ex,
                odid,
                known: &mut known,
            };
            let mut subs: Option<&mut dyn SubTemplates> = Some(&mut defs);
            Self::encode(&t, &rec, types, &mut subs, &mut buf).map_err(|why| {
                encode_err(
                    py,
                    if numbered {
                        format!("record {n}: {why}")
                    } else {
                        why
                    },
                )
            })?;
            ex.write_record(odid, template_id, &buf)
                .map_err(|e| errors::to_py(py, &e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Encode one record (tuple, list or dict) of template `t`.
    fn encode(
        t: &Template,
        rec: &Bound<'_, PyAny>,
        types: &PyTypes,
        subs: &mut Option<&mut dyn SubTemplates>,
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        buf.clear();
        if let Ok(d) = rec.cast::<PyDict>() {
            for f in &t.fields {
                let v = d
                    .get_item(f.ie.name.as_ref())
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("the record has no {}", f.ie.name))?;
                encode_py(f, &v, types, subs, buf)
                    .map_err(|why| format!("{}: {why}", f.ie.name))?;
            }
            return Ok(());
        }
        let n = rec
            .len()
            .map_err(|_| "a record must be a tuple, a list or a dict".to_string())?;
        if n != t.fields.len() {
            return Err(format!(
                "template {} has {} fields, the record has {n} values",
                t.id,
                t.fields.len()
            ));
        }
        let mut put =
            |f: &crate::session::TemplateField, v: &Bound<'_, PyAny>, buf: &mut Vec<u8>| {
                encode_py(f, v, types, subs, buf).map_err(|why| format!("{}: {why}", f.ie.name))
            };
        if let Ok(tup) = rec.cast::<PyTuple>() {
            for (f, v) in t.fields.iter().zip(tup.iter_borrowed()) {
                put(f, &v, buf)?;
            }
        } else if let Ok(l) = rec.cast::<PyList>() {
            for (f, v) in t.fields.iter().zip(l.iter()) {
                put(f, &v, buf)?;
            }
        } else {
            return Err("a record must be a tuple, a list or a dict".into());
        }
        Ok(())
    }
}

fn encode_err(py: Python<'_>, msg: String) -> PyErr {
    errors::to_py(py, &Error::new(ErrorKind::Encode(msg)))
}

impl guard::Doing for PyWriter {
    /// What the writer is doing, for an internal error: where it writes
    /// and how many bytes it has written.
    fn doing(&self) -> String {
        let bytes = match self.inner.lock() {
            Ok(g) => g.as_ref().map(|ex| ex.stats.bytes),
            Err(p) => p.into_inner().as_ref().map(|ex| ex.stats.bytes),
        };
        match bytes {
            Some(b) => format!("writing {} after {b} bytes", self.label),
            None => format!("writing {}", self.label),
        }
    }
}

#[pymethods]
impl PyWriter {
    #[new]
    #[pyo3(signature = (dest=None, *, mtu=65_535, export_time=None, template_refresh=None, compression=None, specs=Vec::new(), spec_files=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dest: Option<&Bound<'_, PyAny>>,
        mtu: usize,
        export_time: Option<u32>,
        template_refresh: Option<u64>,
        compression: Option<&str>,
        specs: Vec<String>,
        spec_files: Vec<PathBuf>,
    ) -> PyResult<Self> {
        let label = dest.map_or_else(|| "IPFIX to memory".to_string(), super::source_repr);
        let doing = || format!("opening {label}");
        guard::guarded(py, "writer.new", doing, || {
            let model = super::model_from(specs, spec_files).map_err(|e| errors::to_py(py, &e))?;
            let out = match dest {
                None => Out::Memory(Vec::new()),
                Some(d) if d.hasattr("write")? => Out::Py(d.clone().unbind()),
                Some(d) => {
                    let path: PathBuf = d.extract().map_err(|_| {
                        pyo3::exceptions::PyTypeError::new_err(
                            "dest must be a path, a binary file object or None",
                        )
                    })?;
                    Out::open(&path, compression)?
                }
            };
            let opts = ExportOptions {
                mtu,
                template_refresh,
                template_refresh_secs: None,
                export_time,
            };
            let ex = Exporter::new(out, opts).map_err(|e| errors::to_py(py, &e))?;
            Ok(PyWriter {
                inner: Mutex::new(Some(ex)),
                model: Mutex::new(model),
                sub_templates: Mutex::new(HashMap::new()),
                types: PyTypes::new(py)?,
                label: label.clone(),
            })
        })
    }

    /// Define a template (options template with `scope` > 0) from column
    /// names or IESpecs; returns the IE names of its fields.
    #[pyo3(signature = (fields, template_id, observation_domain_id=0, scope=0))]
    #[allow(clippy::needless_pass_by_value)] // pyo3 extracts arguments by value
    fn add_template(
        &self,
        py: Python<'_>,
        fields: Vec<String>,
        template_id: u16,
        observation_domain_id: u32,
        scope: u16,
    ) -> PyResult<Vec<String>> {
        self.guarded(py, "writer.add_template", || {
            let mut model = self
                .model
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the writer of {}", self.label)))?;
            let specs = fields
                .iter()
                .map(|c| resolve_field(&mut model, c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| errors::to_py(py, &e))?;
            if specs.is_empty() {
                return Err(encode_err(py, "a template needs at least one field".into()));
            }
            if usize::from(scope) > specs.len() {
                return Err(encode_err(
                    py,
                    format!("scope {scope} is more than the {} fields", specs.len()),
                ));
            }
            let t = Template::new(
                template_id,
                observation_domain_id,
                (scope > 0).then_some(scope),
                specs,
                &model,
            );
            let names = t.fields.iter().map(|f| f.ie.name.to_string()).collect();
            self.with(py, |ex| ex.add_template(Arc::new(t)))?;
            Ok(names)
        })
    }

    /// Write one record of a template.
    #[pyo3(signature = (template_id, record, observation_domain_id=0))]
    fn write(
        &self,
        py: Python<'_>,
        template_id: u16,
        record: &Bound<'_, PyAny>,
        observation_domain_id: u32,
    ) -> PyResult<()> {
        self.guarded(py, "writer.write", || {
            let one = std::iter::once(Ok(record.clone()));
            self.write_each(py, template_id, observation_domain_id, one, false)
                .map(|_| ())
        })
    }

    /// Write every record of an iterable; returns how many. A record that
    /// cannot be encoded raises, naming its index; the ones before it are
    /// written.
    #[pyo3(signature = (template_id, records, observation_domain_id=0))]
    fn write_many(
        &self,
        py: Python<'_>,
        template_id: u16,
        records: &Bound<'_, PyAny>,
        observation_domain_id: u32,
    ) -> PyResult<u64> {
        self.guarded(py, "writer.write_many", || {
            self.write_each(
                py,
                template_id,
                observation_domain_id,
                records.try_iter()?,
                true,
            )
        })
    }

    /// Write Arrow data (anything with `__arrow_c_stream__` or
    /// `__arrow_c_array__`): each column an IE (`columns` maps other names
    /// to IE names or IESpecs), one template per null pattern defined from
    /// `first_template_id` on. Returns (rows written, next free template id).
    #[pyo3(signature = (data, columns=None, observation_domain_id=0, first_template_id=256, nulls="template"))]
    fn write_arrow(
        &self,
        py: Python<'_>,
        data: pyo3_arrow::input::AnyRecordBatch,
        columns: Option<HashMap<String, String>>,
        observation_domain_id: u32,
        first_template_id: u16,
        nulls: &str,
    ) -> PyResult<(u64, u16)> {
        self.guarded(py, "writer.write_arrow", || {
            let policy = match nulls {
                "template" => NullPolicy::Template,
                "error" => NullPolicy::Error,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "nulls must be 'template' or 'error', not {other:?}"
                    )))
                }
            };
            let model = self
                .model
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the writer of {}", self.label)))?
                .clone();
            let mut tw = TableWriter::new(
                model,
                columns.unwrap_or_default(),
                observation_domain_id,
                first_template_id,
                policy,
            );
            let reader = data.into_reader()?;
            let mut g = self
                .inner
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the writer of {}", self.label)))?;
            let ex = g.as_mut().ok_or_else(closed)?;
            let r: crate::Result<()> = py.detach(|| {
                for batch in reader {
                    let batch = batch.map_err(|e| {
                        Error::new(ErrorKind::Encode(format!("reading the Arrow data: {e}")))
                    })?;
                    tw.write_batch(ex, &batch)?;
                }
                Ok(())
            });
            r.map_err(|e| errors::to_py(py, &e))?;
            Ok((tw.rows, tw.next_template_id()))
        })
    }

    /// Withdraw a template (RFC 7011 §8.1).
    #[pyo3(signature = (template_id, observation_domain_id=0))]
    fn withdraw(
        &self,
        py: Python<'_>,
        template_id: u16,
        observation_domain_id: u32,
    ) -> PyResult<()> {
        self.guarded(py, "writer.withdraw", || {
            self.with(py, |ex| ex.withdraw(observation_domain_id, template_id))
        })
    }

    /// Withdraw every template of a domain.
    #[pyo3(signature = (observation_domain_id=0))]
    fn withdraw_all(&self, py: Python<'_>, observation_domain_id: u32) -> PyResult<()> {
        self.guarded(py, "writer.withdraw_all", || {
            self.with(py, |ex| ex.withdraw_all(observation_domain_id))
        })
    }

    /// Write the message being built.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.guarded(py, "writer.flush", || self.with(py, Exporter::flush))
    }

    /// Counters: messages, records, templates, withdrawals, bytes.
    fn stats(&self, py: Python<'_>) -> PyResult<(u64, u64, u64, u64, u64)> {
        self.guarded(py, "writer.stats", || {
            self.with(py, |ex| {
                let ExportStats {
                    messages,
                    records,
                    templates,
                    withdrawals,
                    bytes,
                } = ex.stats;
                Ok((messages, records, templates, withdrawals, bytes))
            })
        })
    }

    /// Finish: pending messages written, compressed output completed; the
    /// bytes when writing to memory.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.guarded(py, "writer.close", || {
            let ex = self
                .inner
                .lock()
                .map_err(|_| guard::poisoned(py, &format!("the writer of {}", self.label)))?
                .take();
            let Some(ex) = ex else {
                return Ok(None);
            };
            let out = ex.finish().map_err(|e| errors::to_py(py, &e))?;
            Ok(out.close()?.map(|v| PyBytes::new(py, &v)))
        })
    }
}
