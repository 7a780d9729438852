//! Core values to Python objects: int, float, bool, str, bytes, MAC as
//! `str`, `ipaddress` objects, timezone-aware UTC `datetime`, lists for
//! RFC 6313 structures. Objects that repeat (addresses, timestamps) come from
//! small direct-mapped caches so that a stream of records does not rebuild
//! them.

use std::fmt::Write as _;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDateTime, PyDict, PyList, PyString, PyTzInfo};

use crate::decode::{civil_from_days, DateTime, List, Value};

/// A direct-mapped cache: one slot per hash bucket, newest wins.
struct SlotCache<K> {
    slots: Vec<Option<(K, Py<PyAny>)>>,
    mask: usize,
}

impl<K: PartialEq + Copy> SlotCache<K> {
    fn new(bits: u32) -> Self {
        let n = 1usize << bits;
        SlotCache {
            slots: (0..n).map(|_| None).collect(),
            mask: n - 1,
        }
    }

    #[inline]
    fn get_or<'py>(
        &mut self,
        py: Python<'py>,
        hash: u64,
        key: K,
        make: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let i = (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & self.mask;
        if let Some((k, v)) = &self.slots[i] {
            if *k == key {
                return Ok(v.bind(py).clone());
            }
        }
        let v = make()?;
        self.slots[i] = Some((key, v.clone().unbind()));
        Ok(v)
    }
}

/// Converts values, holding the Python objects it needs and its caches.
pub struct Converter {
    ipv4_cls: Py<PyAny>,
    ipv6_cls: Py<PyAny>,
    utc: Py<PyTzInfo>,
    int_from_bytes: Py<PyAny>,
    v4: SlotCache<[u8; 4]>,
    v6: SlotCache<[u8; 16]>,
    times: SlotCache<(i64, u32)>,
}

/// Why a value could not become a Python object (reported by the caller
/// under its bad-record policy).
pub enum ConvertError {
    Py(PyErr),
    Malformed(String),
}

impl From<std::convert::Infallible> for ConvertError {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

impl From<PyErr> for ConvertError {
    fn from(e: PyErr) -> Self {
        ConvertError::Py(e)
    }
}

type CResult<T> = Result<T, ConvertError>;

impl Converter {
    /// Look up the classes used for addresses and times.
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let ip = PyModule::import(py, "ipaddress")?;
        Ok(Converter {
            ipv4_cls: ip.getattr("IPv4Address")?.unbind(),
            ipv6_cls: ip.getattr("IPv6Address")?.unbind(),
            utc: PyTzInfo::utc(py)?.to_owned().unbind(),
            int_from_bytes: py
                .get_type::<pyo3::types::PyInt>()
                .getattr("from_bytes")?
                .unbind(),
            v4: SlotCache::new(14),
            v6: SlotCache::new(12),
            times: SlotCache::new(12),
        })
    }

    /// A timezone-aware UTC datetime (microseconds; nanoseconds are cut,
    /// Python's datetime cannot hold them).
    pub fn datetime<'py>(&mut self, py: Python<'py>, t: DateTime) -> CResult<Bound<'py, PyAny>> {
        let key = (t.secs, t.nanos / 1000);
        let hash = (t.secs as u64) ^ u64::from(t.nanos) << 32;
        let utc = &self.utc;
        let mut bad = None;
        let r = self.times.get_or(py, hash, key, || {
            let days = t.secs.div_euclid(86_400);
            let sod = t.secs.rem_euclid(86_400) as u32;
            let (y, m, d) = civil_from_days(days);
            if !(1..=9999).contains(&y) {
                bad = Some(format!(
                    "time {}s since 1970 is outside datetime's years 1-9999",
                    t.secs
                ));
                return Ok(py.None().into_bound(py));
            }
            let dt = PyDateTime::new(
                py,
                y as i32,
                m as u8,
                d as u8,
                (sod / 3600) as u8,
                (sod / 60 % 60) as u8,
                (sod % 60) as u8,
                t.nanos / 1000,
                Some(utc.bind(py)),
            )?;
            Ok(dt.into_any())
        });
        match bad {
            Some(why) => {
                self.times = SlotCache::new(12);
                Err(ConvertError::Malformed(why))
            }
            None => Ok(r?),
        }
    }

    /// Convert one value.
    pub fn value<'py>(&mut self, py: Python<'py>, v: &Value<'_>) -> CResult<Bound<'py, PyAny>> {
        Ok(match v {
            Value::Unsigned(x) => x.into_pyobject(py)?.into_any(),
            Value::Signed(x) => x.into_pyobject(py)?.into_any(),
            Value::Float(x) => x.into_pyobject(py)?.into_any(),
            Value::Bool(x) => x.into_pyobject(py)?.to_owned().into_any(),
            Value::Mac(m) => {
                let mut s = String::with_capacity(17);
                for (i, b) in m.iter().enumerate() {
                    if i > 0 {
                        s.push(':');
                    }
                    let _ = write!(s, "{b:02x}");
                }
                PyString::new(py, &s).into_any()
            }
            Value::Ipv4(a) => {
                let cls = &self.ipv4_cls;
                self.v4
                    .get_or(py, u64::from(u32::from_be_bytes(*a)), *a, || {
                        cls.bind(py).call1((u32::from_be_bytes(*a),))
                    })?
            }
            Value::Ipv6(a) => {
                let cls = &self.ipv6_cls;
                let n = u128::from_be_bytes(*a);
                self.v6.get_or(py, (n as u64) ^ (n >> 64) as u64, *a, || {
                    cls.bind(py).call1((n,))
                })?
            }
            Value::String(b) => PyString::new(py, &String::from_utf8_lossy(b)).into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::DateTime(t) => self.datetime(py, *t)?,
            Value::Unsigned256(b) => self
                .int_from_bytes
                .bind(py)
                .call1((PyBytes::new(py, b), "big"))?,
            Value::List(l) => self.list(py, l)?,
            Value::Malformed(_, why) => return Err(ConvertError::Malformed(why.clone())),
        })
    }

    fn records<'py>(
        &mut self,
        py: Python<'py>,
        t: &crate::session::Template,
        recs: &[Vec<Value<'_>>],
    ) -> CResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for r in recs {
            let d = PyDict::new(py);
            for (f, v) in t.fields.iter().zip(r) {
                d.set_item(PyString::new(py, &f.ie.name), self.value(py, v)?)?;
            }
            out.append(d)?;
        }
        Ok(out)
    }

    /// basicList -> list of values; subTemplateList -> list of dicts;
    /// subTemplateMultiList -> list of lists of dicts (one per entry).
    fn list<'py>(&mut self, py: Python<'py>, l: &List<'_>) -> CResult<Bound<'py, PyAny>> {
        Ok(match l {
            List::Basic { values, .. } => {
                let out = PyList::empty(py);
                for v in values {
                    out.append(self.value(py, v)?)?;
                }
                out.into_any()
            }
            List::SubTemplate {
                template, records, ..
            } => self.records(py, template, records)?.into_any(),
            List::SubTemplateMulti { entries, .. } => {
                let out = PyList::empty(py);
                for (t, recs) in entries {
                    out.append(self.records(py, t, recs)?)?;
                }
                out.into_any()
            }
        })
    }
}
