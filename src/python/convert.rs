//! Core values to Python objects: int, float, bool, str, bytes, MAC as
//! `str`, `ipaddress` objects, timezone-aware UTC `datetime`, lists for
//! RFC 6313 structures. Addresses repeat in flow data, so they come from a
//! small direct-mapped cache; the hot scalar types go straight through the
//! CPython C API.

use std::fmt::Write as _;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTzInfo};

use crate::decode::{civil_from_days, decode_list, DateTime, List, ListContext, Value};
use crate::session::Template;

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

/// Where `IPv4Address._ip` is in an instance, in pointer-sized words, if an
/// instance made by [`new_ipv4`] there is verified to equal one made by the
/// class (same value, text and hash); None otherwise (the class is then
/// called).
fn ipv4_slot_offset(py: Python<'_>, cls: &Bound<'_, PyAny>) -> Option<usize> {
    let descr = cls.getattr("_ip").ok()?;
    if descr.get_type().name().ok()? != "member_descriptor" {
        return None;
    }
    // The slots follow the object header in declaration order; `_ip` is
    // the first of IPv4Address's own: check where it is.
    let probe = cls.call1((0x0A01_0203u32,)).ok()?;
    let ip = probe.getattr("_ip").ok()?;
    let word = std::mem::size_of::<*mut ffi::PyObject>();
    let header = std::mem::size_of::<ffi::PyObject>() / word;
    // SAFETY: GIL held; `probe` is a live instance of `tp_basicsize`
    // bytes; only whole words inside it are read.
    let words = unsafe { (*ffi::Py_TYPE(probe.as_ptr())).tp_basicsize } as usize / word;
    let base = probe.as_ptr().cast::<*mut ffi::PyObject>();
    let at = (header..words).find(|&i| unsafe { *base.add(i) } == ip.as_ptr())?;
    let made = new_ipv4(py, cls, at, 0xC000_0201).ok()?;
    let want = cls.call1((0xC000_0201u32,)).ok()?;
    let same = made.eq(&want).ok()?
        && made.str().ok()? == "192.0.2.1"
        && made.getattr("_ip").ok()?.extract::<u32>().ok()? == 0xC000_0201
        && made.hash().ok()? == want.hash().ok()?;
    same.then_some(at)
}

/// An `IPv4Address` holding `n`, made by allocating the instance and
/// setting its `_ip` slot (word `at`, see [`ipv4_slot_offset`]).
fn new_ipv4<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyAny>,
    at: usize,
    n: u32,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: GIL held; `cls` is the IPv4Address type, whose tp_alloc
    // zero-fills the instance; word `at` was verified to be the `_ip`
    // slot, inside the instance; the slot takes the new reference to the
    // int, as setting the attribute would.
    unsafe {
        let tp = cls.as_ptr().cast::<ffi::PyTypeObject>();
        let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
        let obj = owned(py, alloc(tp, 0))?;
        let v = ffi::PyLong_FromUnsignedLong(std::os::raw::c_ulong::from(n));
        if v.is_null() {
            return Err(PyErr::fetch(py));
        }
        *obj.as_ptr().cast::<*mut ffi::PyObject>().add(at) = v;
        Ok(obj)
    }
}

/// An address object made here, taken off the cyclic GC's lists: an
/// `IPv4Address`/`IPv6Address` holds only an int (and a scope id string or
/// None) in its `__slots__` and takes no other attribute, so it cannot be
/// part of a reference cycle. At millions of distinct addresses, tracked
/// ones made the GC traverse every address of the batches kept (a third of
/// a dict read's time). `PyObject_GC_UnTrack` is the public API for this.
fn acyclic(o: Bound<'_, PyAny>) -> Bound<'_, PyAny> {
    // SAFETY: GIL held (the Bound proves it); `o` is a live object of a
    // GC type. PyObject_GC_UnTrack is the documented public API (stable
    // ABI) on every CPython we support (3.11-3.14, free-threaded builds
    // included); it ignores objects that are not tracked, so the type's
    // own deallocator untracking it again is safe. Tested by
    // test_dict_records.py::test_address_objects_are_off_the_cyclic_gc_and_behave.
    unsafe { ffi::PyObject_GC_UnTrack(o.as_ptr().cast()) };
    o
}

/// CPython's datetime C API (the capsule `datetime.datetime_CAPI`).
struct DateTimeApi(*const ffi::PyDateTime_CAPI);

// SAFETY: the capsule's struct is static for the interpreter's lifetime and
// is only used with the GIL held (every use takes a `Python` token).
unsafe impl Send for DateTimeApi {}
// SAFETY: as above; it is never written through.
unsafe impl Sync for DateTimeApi {}

/// Converts values, holding the Python objects it needs and its caches.
pub struct Converter {
    ipv4_cls: Py<PyAny>,
    /// Where (in words) an `IPv4Address` keeps its `_ip` (its first
    /// `__slots__` member), when verified: addresses are then made without
    /// calling the class (its `__init__` costs more than the rest of a
    /// record).
    ipv4_ip_offset: Option<usize>,
    ipv6_cls: Py<PyAny>,
    utc: Py<PyTzInfo>,
    int_from_bytes: Py<PyAny>,
    datetime: DateTimeApi,
    v4: SlotCache<[u8; 4]>,
    v6: SlotCache<[u8; 16]>,
    /// The last day converted (days since 1970) and its civil date.
    day: (i64, (i64, u32, u32)),
    /// python-ipfix's value forms (`ferrofix.compat`): naive UTC
    /// datetimes, MAC addresses as bytes, booleans other than 1 False.
    pub compat: bool,
}

/// Why a value could not become a Python object (reported by the caller
/// under its bad-record policy).
pub enum ConvertError {
    Py(PyErr),
    Malformed(String),
}

impl From<PyErr> for ConvertError {
    fn from(e: PyErr) -> Self {
        ConvertError::Py(e)
    }
}

type CResult<T> = Result<T, ConvertError>;

/// Wrap a new reference returned by the C API (NULL = exception set).
#[inline]
fn owned(py: Python<'_>, ptr: *mut ffi::PyObject) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: `ptr` is a new reference or NULL with an exception set, as
    // returned by the CPython call just made with the GIL held.
    unsafe { Bound::from_owned_ptr_or_err(py, ptr) }
}

impl Converter {
    /// Look up the classes used for addresses and times.
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let ip = PyModule::import(py, "ipaddress")?;
        let utc = PyTzInfo::utc(py)?.to_owned().unbind();
        // SAFETY: GIL held; PyDateTime_IMPORT sets the API pointer or leaves
        // it NULL with an exception set.
        let api = unsafe {
            ffi::PyDateTime_IMPORT();
            ffi::PyDateTimeAPI()
        };
        if api.is_null() {
            return Err(PyErr::fetch(py));
        }
        Ok(Converter {
            ipv4_cls: ip.getattr("IPv4Address")?.unbind(),
            ipv4_ip_offset: ipv4_slot_offset(py, &ip.getattr("IPv4Address")?),
            ipv6_cls: ip.getattr("IPv6Address")?.unbind(),
            utc,
            int_from_bytes: py
                .get_type::<pyo3::types::PyInt>()
                .getattr("from_bytes")?
                .unbind(),
            datetime: DateTimeApi(api),
            v4: SlotCache::new(16),
            v6: SlotCache::new(12),
            day: (0, civil_from_days(0)),
            compat: false,
        })
    }

    /// A timezone-aware UTC datetime (microseconds; nanoseconds are cut,
    /// Python's datetime cannot hold them).
    #[inline]
    pub fn datetime<'py>(&mut self, py: Python<'py>, t: DateTime) -> CResult<Bound<'py, PyAny>> {
        let days = t.secs.div_euclid(86_400);
        let sod = t.secs.rem_euclid(86_400) as i32;
        // Flow times cluster on a few days: the last day's date is kept.
        let (y, m, d) = if self.day.0 == days {
            self.day.1
        } else {
            let ymd = civil_from_days(days);
            self.day = (days, ymd);
            ymd
        };
        if !(1..=9999).contains(&y) {
            return Err(ConvertError::Malformed(format!(
                "time {}s since 1970 is outside datetime's years 1-9999",
                t.secs
            )));
        }
        let api = self.datetime.0;
        // SAFETY: GIL held; `api` is the live datetime C API; all arguments
        // are in range (checked year, civil month/day, seconds of day).
        let ptr = unsafe {
            ((*api).DateTime_FromDateAndTime)(
                y as i32,
                m as i32,
                d as i32,
                sod / 3600,
                sod / 60 % 60,
                sod % 60,
                (t.nanos / 1000) as i32,
                if self.compat {
                    ffi::Py_None()
                } else {
                    self.utc.as_ptr()
                },
                (*api).DateTimeType,
            )
        };
        Ok(owned(py, ptr)?)
    }

    /// Convert one value; `ctx` and `depth` serve nested RFC 6313 lists.
    #[inline]
    pub fn value<'py>(
        &mut self,
        py: Python<'py>,
        v: &Value<'_>,
        ctx: &ListContext<'_>,
        depth: u32,
    ) -> CResult<Bound<'py, PyAny>> {
        // SAFETY (ffi calls below): GIL held; each returns a new reference
        // or NULL with an exception set, which `owned` turns into an error.
        Ok(match *v {
            Value::Unsigned(x) => owned(py, unsafe { ffi::PyLong_FromUnsignedLongLong(x) })?,
            Value::Signed(x) => owned(py, unsafe { ffi::PyLong_FromLongLong(x) })?,
            Value::Float(x) => owned(py, unsafe { ffi::PyFloat_FromDouble(x) })?,
            Value::Bool(x) => owned(py, unsafe { ffi::PyBool_FromLong(i64::from(x) as _) })?,
            Value::Mac(m) if self.compat => PyBytes::new(py, &m).into_any(),
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
                let n = u32::from_be_bytes(a);
                let at = self.ipv4_ip_offset;
                self.v4.get_or(py, u64::from(n), a, || {
                    match at {
                        Some(at) => new_ipv4(py, cls.bind(py), at, n),
                        None => cls.bind(py).call1((n,)),
                    }
                    .map(acyclic)
                })?
            }
            Value::Ipv6(a) => {
                let cls = &self.ipv6_cls;
                let n = u128::from_be_bytes(a);
                self.v6.get_or(py, (n as u64) ^ (n >> 64) as u64, a, || {
                    cls.bind(py).call1((n,)).map(acyclic)
                })?
            }
            Value::String(b) => PyString::new(py, &String::from_utf8_lossy(b)).into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::DateTime(t) => self.datetime(py, t)?,
            Value::Unsigned256(b) => self
                .int_from_bytes
                .bind(py)
                .call1((PyBytes::new(py, b), "big"))?,
            Value::List(kind, raw) => {
                let list = decode_list(kind, raw, ctx, depth).map_err(ConvertError::Malformed)?;
                self.list(py, &list, ctx, depth + 1)?
            }
            Value::Invalid(_, crate::decode::Invalid::Boolean) if self.compat => {
                owned(py, unsafe { ffi::PyBool_FromLong(0) })?
            }
            Value::Invalid(_, why) => return Err(ConvertError::Malformed(why.reason().into())),
        })
    }

    fn records<'py>(
        &mut self,
        py: Python<'py>,
        t: &Template,
        recs: &[Vec<Value<'_>>],
        ctx: &ListContext<'_>,
        depth: u32,
    ) -> CResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for r in recs {
            let d = PyDict::new(py);
            for (f, v) in t.fields.iter().zip(r) {
                d.set_item(
                    PyString::new(py, &f.column_name()),
                    self.value(py, v, ctx, depth)?,
                )?;
            }
            out.append(d)?;
        }
        Ok(out)
    }

    /// basicList -> `ferrofix.BasicList` (a list of values naming its IE); subTemplateList -> list of dicts;
    /// subTemplateMultiList -> list of lists of dicts (one per entry).
    fn list<'py>(
        &mut self,
        py: Python<'py>,
        l: &List<'_>,
        ctx: &ListContext<'_>,
        depth: u32,
    ) -> CResult<Bound<'py, PyAny>> {
        Ok(match l {
            List::Basic {
                semantic,
                ie,
                values,
            } => {
                let out = PyList::empty(py);
                for v in values {
                    out.append(self.value(py, v, ctx, depth)?)?;
                }
                basic_list_class(py)?.call1((&*ie.name, out, *semantic))?
            }
            List::SubTemplate {
                template, records, ..
            } => self.records(py, template, records, ctx, depth)?.into_any(),
            List::SubTemplateMulti { entries, .. } => {
                let out = PyList::empty(py);
                for (t, recs) in entries {
                    out.append(self.records(py, t, recs, ctx, depth)?)?;
                }
                out.into_any()
            }
        })
    }
}

/// `ferrofix._lists.BasicList`, imported once.
fn basic_list_class(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    CLASS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                PyModule::import(py, "ferrofix._lists")?
                    .getattr("BasicList")?
                    .unbind(),
            )
        })
        .map(|c| c.bind(py))
}
