//! The record sink that builds Python objects: dicts keyed by IE name,
//! tuples of chosen columns, or (pen, id, value) field lists, optionally
//! with per-record metadata. Plans (which field fills which slot, the
//! interned key strings) are compiled once per template.

use std::collections::HashMap;
use std::sync::Arc as Rc;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::convert::{ConvertError, Converter};
use crate::columnar::RecordKind;
use crate::decode::{Policy, Record, RecordSink, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::session::FieldDecoder;

/// Shape of each record handed to Python.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Dict,
    Tuple,
    Fields,
}

/// A requested column: the IE's (pen, id) and occurrence
/// ([`crate::model::ColumnIe::key`]) and its interned name.
pub type Column = ((u32, u16, u16), Py<PyString>);

/// Output configuration.
pub struct Output {
    pub shape: Shape,
    pub kind: RecordKind,
    pub meta: bool,
    /// Requested columns as (pen, id, occurrence) with their names; `None`
    /// = all fields.
    pub columns: Option<Vec<Column>>,
    /// Drop records lacking any requested column.
    pub require_all: bool,
}

/// Compiled plans kept at once (more are recompiled on demand).
pub const MAX_PLANS: usize = 4096;

/// Per-template plan: for each output slot, the field index that fills it.
struct Plan {
    slots: Vec<Option<usize>>,
    keys: Vec<Py<PyString>>,
    complete: bool,
    /// No value can be a container (no RFC 6313 list field).
    atomic: bool,
    /// A dict with every key mapped to None: copying it and replacing values
    /// (`PyDict_SetItem` on keys it has) is cheaper than growing a new dict
    /// key by key.
    proto: Py<PyDict>,
}

fn proto_dict(py: Python<'_>, keys: &[Py<PyString>]) -> Py<PyDict> {
    let d = PyDict::new(py);
    for k in keys {
        // Inserting None under an interned str key cannot fail.
        let _ = d.set_item(k.bind(py), py.None());
    }
    d.unbind()
}

/// State kept across batches.
pub struct SinkState {
    pub conv: Converter,
    pub out: Output,
    plans: HashMap<u64, Rc<Plan>>,
    last: Option<(u64, Rc<Plan>)>,
    pub warnings: Vec<String>,
    pub malformed_values: u64,
    pub filtered_records: u64,
}

impl SinkState {
    /// Fresh state for an output configuration.
    pub fn new(conv: Converter, out: Output) -> Self {
        SinkState {
            conv,
            out,
            plans: HashMap::new(),
            last: None,
            warnings: Vec::new(),
            malformed_values: 0,
            filtered_records: 0,
        }
    }

    /// Change the output configuration (drops compiled plans).
    pub fn reconfigure(&mut self, out: Output) {
        self.out = out;
        self.plans.clear();
        self.last = None;
    }

    /// Number of compiled plans held (bounded by `MAX_PLANS`).
    pub fn plan_count(&self) -> usize {
        self.plans.len()
    }

    /// The plan for a record's template, moved out of `last` (the sink puts
    /// it back when the record is built: no reference count touched for a
    /// record of the same template as the one before).
    fn take_plan(&mut self, py: Python<'_>, rec: &Record<'_>) -> Rc<Plan> {
        let serial = rec.template.serial;
        if let Some((s, _)) = &self.last {
            if *s == serial {
                if let Some((_, p)) = self.last.take() {
                    return p;
                }
            }
        }
        // Plans are keyed by template instance; a stream that keeps
        // redefining templates must not grow this map without bound.
        if self.plans.len() >= MAX_PLANS && !self.plans.contains_key(&serial) {
            self.plans.clear();
        }
        let p = self
            .plans
            .entry(serial)
            .or_insert_with(|| {
                let fields = &rec.template.fields;
                let (slots, keys): (Vec<Option<usize>>, Vec<Py<PyString>>) = match &self.out.columns
                {
                    None => {
                        // Every field, an IE repeated in the template under
                        // one key per occurrence (`name`, `name.1`, ...).
                        // python-ipfix (`ferrofix.compat`) fills its dicts
                        // field by field: one key per IE, the last
                        // occurrence's value in the first one's place.
                        let compat = self.out.shape == Shape::Dict && self.conv.compat;
                        let last = |i: usize| {
                            let k = (fields[i].ie.pen, fields[i].ie.id);
                            (i..fields.len())
                                .rev()
                                .find(|&j| (fields[j].ie.pen, fields[j].ie.id) == k)
                                .unwrap_or(i)
                        };
                        let first: Vec<usize> = (0..fields.len())
                            .filter(|&i| !compat || fields[i].nth == 0)
                            .collect();
                        let keys = first
                            .iter()
                            .map(|&i| {
                                let name = if compat {
                                    fields[i].ie.name.as_ref().into()
                                } else {
                                    fields[i].column_name()
                                };
                                PyString::intern(py, &name).unbind()
                            })
                            .collect();
                        let slots = first
                            .into_iter()
                            .map(|i| Some(if compat { last(i) } else { i }))
                            .collect();
                        (slots, keys)
                    }
                    Some(cols) => (
                        cols.iter()
                            .map(|(k, _)| fields.iter().position(|f| f.column_key() == *k))
                            .collect(),
                        cols.iter().map(|(_, n)| n.clone_ref(py)).collect(),
                    ),
                };
                // Records whose values are all immutable atoms (numbers,
                // strings, bytes, datetimes, address objects) cannot be part
                // of a reference cycle: they need not burden the cyclic GC.
                let atomic = slots.iter().flatten().all(|&i| {
                    !matches!(
                        fields[i].decoder,
                        FieldDecoder::BasicList
                            | FieldDecoder::SubTemplateList
                            | FieldDecoder::SubTemplateMultiList
                    )
                });
                let proto = proto_dict(py, &keys);
                Rc::new(Plan {
                    complete: slots.iter().all(Option::is_some),
                    atomic,
                    proto,
                    slots,
                    keys,
                })
            })
            .clone();
        p
    }
}

/// Take a tuple whose items are all immutable atoms off the cyclic GC's
/// lists, as CPython's collector itself does for such tuples (it only
/// finds them during a collection, paying a traversal per batch first).
/// A tuple is immutable, so it can never join a cycle later. Dicts are
/// left tracked (see [`BatchSink`]'s dict path).
fn untrack(o: &Bound<'_, PyAny>) {
    // SAFETY: GIL held; `o` is a live GC object (a tuple);
    // PyObject_GC_UnTrack ignores objects that are not tracked.
    unsafe { ffi::PyObject_GC_UnTrack(o.as_ptr().cast()) };
}

/// A sink filling one Python list for one batch.
pub struct BatchSink<'a, 'py> {
    pub py: Python<'py>,
    pub st: &'a mut SinkState,
    pub list: Bound<'py, PyList>,
    pub policy: Policy,
    /// A Python exception raised while converting; it wins over the core
    /// error used to stop the decoder.
    pub py_err: Option<PyErr>,
    pub count: usize,
}

impl<'py> BatchSink<'_, 'py> {
    fn stop(&mut self, e: PyErr) -> Error {
        self.py_err = Some(e);
        Error::new(ErrorKind::Io(Box::new(crate::error::OsFailure::other(
            std::io::ErrorKind::Other,
            "Python error",
        ))))
    }

    /// Convert field `i`, applying the policy to malformed values.
    #[inline]
    fn field(
        &mut self,
        rec: &Record<'_>,
        i: usize,
    ) -> std::result::Result<Bound<'py, PyAny>, Error> {
        let v = rec.value(i);
        match self.st.conv.value(self.py, &v, &rec.lists, 0) {
            Ok(o) => Ok(o),
            Err(e) => self.unconverted(rec, i, v, e),
        }
    }

    /// A value that did not convert: the Python error, or the policy's
    /// answer to a malformed value (an error, or its raw bytes).
    #[cold]
    #[inline(never)]
    fn unconverted(
        &mut self,
        rec: &Record<'_>,
        i: usize,
        v: Value<'_>,
        e: ConvertError,
    ) -> std::result::Result<Bound<'py, PyAny>, Error> {
        let py = self.py;
        match e {
            ConvertError::Py(e) => Err(self.stop(e)),
            ConvertError::Malformed(why) => {
                let name = rec
                    .template
                    .fields
                    .get(i)
                    .map_or_else(|| "?".to_string(), |f| f.column_name().into_owned());
                let at = rec.offset + rec.spans.get(i).map_or(0, |s| u64::from(s.0));
                let e = Error::new(ErrorKind::BadRecord(format!(
                    "field {name} of template {}: {why}",
                    rec.template.id
                )))
                .at(at, rec.message_index);
                match self.policy {
                    Policy::Error => Err(e),
                    Policy::Warn | Policy::Skip => {
                        self.st.malformed_values += 1;
                        if self.policy == Policy::Warn && self.st.warnings.len() < 1000 {
                            self.st.warnings.push(e.to_string());
                        }
                        let raw = match v {
                            Value::List(_, b) | Value::Invalid(b, _) => b,
                            _ => rec.raw(i),
                        };
                        Ok(pyo3::types::PyBytes::new(py, raw).into_any())
                    }
                }
            }
        }
    }

    fn build(&mut self, rec: &Record<'_>) -> std::result::Result<Option<Bound<'py, PyAny>>, Error> {
        let plan = self.st.take_plan(self.py, rec);
        let out = self.build_with(rec, &plan);
        self.st.last = Some((rec.template.serial, plan));
        out
    }

    fn build_with(
        &mut self,
        rec: &Record<'_>,
        plan: &Plan,
    ) -> std::result::Result<Option<Bound<'py, PyAny>>, Error> {
        let py = self.py;
        if self.st.out.require_all && !plan.complete {
            self.st.filtered_records += 1;
            return Ok(None);
        }
        let obj = match self.st.out.shape {
            Shape::Dict => {
                let d = plan.proto.bind(py).copy().map_err(|e| self.stop(e))?;
                for (slot, key) in plan.slots.iter().zip(&plan.keys) {
                    if let Some(i) = slot {
                        let v = self.field(rec, *i)?;
                        // SAFETY: d, key and v are live objects under the GIL;
                        // PyDict_SetItem does not steal references.
                        let r =
                            unsafe { ffi::PyDict_SetItem(d.as_ptr(), key.as_ptr(), v.as_ptr()) };
                        if r != 0 {
                            return Err(self.stop(PyErr::fetch(py)));
                        }
                    }
                }
                // The dict stays tracked by the cyclic GC: a user may put a
                // container in it later, and from CPython 3.14 a dict no
                // longer re-tracks itself when one is inserted.
                d.into_any()
            }
            Shape::Tuple => {
                let n = plan.slots.len();
                // SAFETY: PyTuple_New returns a new reference or NULL; items
                // are set once each with owned references (SET_ITEM steals),
                // and a tuple freed with unset (NULL) items is valid.
                let t = unsafe {
                    Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(n as ffi::Py_ssize_t))
                }
                .map_err(|e| self.stop(e))?;
                for (j, slot) in plan.slots.iter().enumerate() {
                    let v = match slot {
                        Some(i) => self.field(rec, *i)?,
                        None => py.None().into_bound(py),
                    };
                    // SAFETY: j < n; SET_ITEM steals the owned reference.
                    unsafe {
                        ffi::PyTuple_SET_ITEM(t.as_ptr(), j as ffi::Py_ssize_t, v.into_ptr());
                    }
                }
                if plan.atomic {
                    untrack(&t);
                }
                t
            }
            Shape::Fields => {
                let out = PyList::empty(py);
                for slot in plan.slots.iter().flatten() {
                    let f = &rec.template.fields[*slot];
                    let v = self.field(rec, *slot)?;
                    let t = (f.ie.pen, f.ie.id, v)
                        .into_pyobject(py)
                        .map_err(|e| self.stop(e))?;
                    out.append(t).map_err(|e| self.stop(e))?;
                }
                out.into_any()
            }
        };
        Ok(Some(obj))
    }
}

impl RecordSink for BatchSink<'_, '_> {
    fn record(&mut self, rec: &Record<'_>) -> Result<()> {
        let options = rec.template.is_options();
        match self.st.out.kind {
            RecordKind::Data if options => return Ok(()),
            RecordKind::Options if !options => return Ok(()),
            _ => {}
        }
        let Some(obj) = self.build(rec)? else {
            return Ok(());
        };
        let py = self.py;
        let item = if self.st.out.meta {
            let h = rec.header;
            let exporter = rec.origin.exporter.map(|e| (e.addr.to_string(), e.port));
            let meta = (
                rec.message_index,
                rec.offset,
                h.observation_domain_id,
                rec.template.id,
                h.export_time,
                exporter,
                rec.origin.frame,
            );
            (meta, obj)
                .into_pyobject(py)
                .map_err(|e| self.stop(e))?
                .into_any()
        } else {
            obj
        };
        self.list.append(item).map_err(|e| self.stop(e))?;
        self.count += 1;
        Ok(())
    }

    fn skipped(&mut self, e: &Error, policy: Policy) {
        if policy == Policy::Warn && self.st.warnings.len() < 1000 {
            self.st.warnings.push(e.to_string());
        }
    }
}
