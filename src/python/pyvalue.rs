//! Python values to wire bytes for the writer: the types the reader returns
//! (int, float, bool, str, bytes, `ipaddress` objects, `datetime`, MAC as
//! `str`) plus the obvious alternatives (addresses and MACs as text or
//! packed bytes, addresses as int, naive datetimes taken as UTC, unsigned256
//! as int). Each field's value is encoded through the core
//! [`encode_value`], so range checks and lengths are the core's.

use std::net::{Ipv4Addr, Ipv6Addr};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyByteArrayMethods, PyBytes, PyDateTime, PyDelta, PyDeltaAccess, PyDict,
    PyInt, PyList, PyString, PyType, PyTzInfo, PyTzInfoAccess,
};
use pyo3::types::{PyDateAccess, PyTimeAccess};

use crate::decode::{DateTime, TimePrecision, Value};
use crate::encode::{encode_value, put_basic_list_field, put_list, resolve_field, SubTemplates};
use crate::session::Template;
use crate::session::{FieldDecoder, TemplateField};

/// The Python classes the writer recognises by exact type (checked once per
/// value instead of attribute probing, which costs an exception per miss).
pub struct PyTypes {
    datetime: Py<PyType>,
    ipv4: Py<PyType>,
    ipv6: Py<PyType>,
}

impl PyTypes {
    pub fn new(py: Python<'_>) -> PyResult<Self> {
        let ip = py.import("ipaddress")?;
        Ok(PyTypes {
            datetime: py
                .import("datetime")?
                .getattr("datetime")?
                .cast_into::<PyType>()?
                .unbind(),
            ipv4: ip.getattr("IPv4Address")?.cast_into::<PyType>()?.unbind(),
            ipv6: ip.getattr("IPv6Address")?.cast_into::<PyType>()?.unbind(),
        })
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A datetime as seconds and nanoseconds since 1970 (UTC; naive = UTC).
fn datetime(obj: &Bound<'_, PyAny>, types: &PyTypes) -> Result<(i64, u32), String> {
    let dt = obj
        .cast::<PyDateTime>()
        .map_err(|_| format!("expected a datetime, not {}", type_name(obj)))?;
    let days = days_from_civil(
        i64::from(dt.get_year()),
        u32::from(dt.get_month()),
        u32::from(dt.get_day()),
    );
    let mut secs = days * 86_400
        + i64::from(dt.get_hour()) * 3600
        + i64::from(dt.get_minute()) * 60
        + i64::from(dt.get_second());
    if let Some(tz) = dt.get_tzinfo() {
        if !tz.is(PyTzInfo::utc(obj.py()).map_err(|e| e.to_string())?) {
            let off = dt
                .call_method0("utcoffset")
                .and_then(|o| o.cast_into::<PyDelta>().map_err(PyErr::from))
                .map_err(|e| format!("utcoffset() of the datetime failed: {e}"))?;
            secs -= i64::from(off.get_days()) * 86_400 + i64::from(off.get_seconds());
        }
    }
    // pandas Timestamps (a datetime subclass) carry nanoseconds beyond
    // the datetime's microseconds.
    let mut nanos = dt.get_microsecond() * 1000;
    if !obj.get_type().is(types.datetime.bind(obj.py())) {
        if let Ok(ns) = obj
            .getattr(intern!(obj.py(), "nanosecond"))
            .and_then(|n| n.extract::<u32>())
        {
            nanos += ns.min(999);
        }
    }
    Ok((secs, nanos))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

fn bytes_of(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    obj.cast::<PyByteArray>()
        .ok()
        .map(PyByteArrayMethods::to_vec)
}

fn address<const N: usize>(obj: &Bound<'_, PyAny>, types: &PyTypes) -> Result<[u8; N], String> {
    // ipaddress objects keep their value in `_ip` (an int): read it
    // directly rather than through the Python-level `__int__`.
    let class = if N == 4 { &types.ipv4 } else { &types.ipv6 };
    if obj.get_type().is(class.bind(obj.py())) {
        if let Ok(v) = obj
            .getattr(intern!(obj.py(), "_ip"))
            .and_then(|v| v.extract::<u128>())
        {
            return v.to_be_bytes()[16 - N..]
                .try_into()
                .map_err(|_| "bad address".to_string());
        }
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|e| e.to_string())?;
        let parsed = if N == 4 {
            text.parse::<Ipv4Addr>().map(|a| a.octets().to_vec())
        } else {
            text.parse::<Ipv6Addr>().map(|a| a.octets().to_vec())
        };
        return parsed
            .map_err(|_| {
                format!(
                    "{text:?} is not an IPv{} address",
                    if N == 4 { 4 } else { 6 }
                )
            })
            .and_then(|v| v.try_into().map_err(|_| "bad address".to_string()));
    }
    if let Some(b) = bytes_of(obj) {
        return b
            .try_into()
            .map_err(|b: Vec<u8>| format!("{} bytes for a {N}-byte address", b.len()));
    }
    // ipaddress objects and plain ints.
    let n = if obj.cast::<PyInt>().is_ok() {
        obj.clone()
    } else if obj.hasattr("packed").unwrap_or(false) {
        obj.call_method0("__int__").map_err(|e| e.to_string())?
    } else {
        return Err(format!("expected an address, not {}", type_name(obj)));
    };
    let v: u128 = n
        .extract()
        .map_err(|_| "an address integer must be non-negative".to_string())?;
    let full = v.to_be_bytes();
    if N == 4 && v >> 32 != 0 {
        return Err(format!("{v} is not an IPv4 address"));
    }
    full[16 - N..]
        .try_into()
        .map_err(|_| "bad address".to_string())
}

fn mac(obj: &Bound<'_, PyAny>) -> Result<[u8; 6], String> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|e| e.to_string())?;
        let parts: Vec<u8> = text
            .split([':', '-'])
            .map(|p| u8::from_str_radix(p, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{text:?} is not a MAC address"))?;
        return parts
            .try_into()
            .map_err(|_| format!("{text:?} is not a MAC address"));
    }
    bytes_of(obj)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("expected a MAC address, not {}", type_name(obj)))
}

/// A dict element of a list: its keys and values, in order.
type Element<'py> = Vec<(String, Bound<'py, PyAny>)>;

/// The keys of a dict element of a list, and their values.
fn element<'py>(obj: &Bound<'py, PyAny>) -> Result<Element<'py>, String> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| format!("list elements must be dicts, not {}", type_name(obj)))?;
    d.iter()
        .map(|(k, v)| {
            Ok((
                k.extract::<String>()
                    .map_err(|_| "dict keys must be IE names")?,
                v,
            ))
        })
        .collect()
}

/// A subTemplateList (one template for every element) or a
/// subTemplateMultiList (a block per run of elements with the same keys; a
/// list of lists keeps the given blocks) from dicts keyed by IE name, the
/// reader's form (RFC 6313 §4.5.2-4.5.3, semantic "undefined").
fn encode_records_list(
    multi: bool,
    list: &Bound<'_, PyList>,
    types: &PyTypes,
    subs: &mut Option<&mut dyn SubTemplates>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut blocks: Vec<Vec<Element<'_>>> = Vec::new();
    for item in list.iter() {
        if let Ok(inner) = item.cast::<PyList>() {
            if !multi {
                return Err("a subTemplateList holds dicts, not lists".into());
            }
            blocks.push(
                inner
                    .iter()
                    .map(|e| element(&e))
                    .collect::<Result<_, _>>()?,
            );
            continue;
        }
        let e = element(&item)?;
        let keys =
            |x: &[(String, Bound<'_, PyAny>)]| x.iter().map(|k| k.0.clone()).collect::<Vec<_>>();
        match blocks.last_mut() {
            Some(b) if b.first().is_some_and(|f| keys(f) == keys(&e)) => b.push(e),
            Some(_) if !multi => {
                return Err("elements of a subTemplateList must have the same keys \
                            (use subTemplateMultiList)"
                    .into())
            }
            _ => blocks.push(vec![e]),
        }
    }
    out.push(0xFF);
    if blocks.is_empty() {
        if !multi {
            return Err("an empty subTemplateList has no template: write None".into());
        }
        return Ok(());
    }
    for block in &blocks {
        let (tid, fields) = {
            let Some(defs) = subs.as_deref_mut() else {
                return Err("lists of records cannot be written here".into());
            };
            let first = block.first().map(Vec::as_slice).unwrap_or_default();
            let specs = first
                .iter()
                .map(|(k, _)| {
                    resolve_field(defs.model(), k).map_err(|e| format!("{k}: {}", e.kind))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let tid = defs.define(specs.clone()).map_err(|e| e.to_string())?;
            (tid, Template::new(tid, 0, None, specs, defs.model()).fields)
        };
        let start = out.len();
        out.extend_from_slice(&tid.to_be_bytes());
        if multi {
            out.extend_from_slice(&[0, 0]);
        }
        for e in block {
            if e.len() != fields.len() {
                return Err("elements of one block must have the same keys".into());
            }
            for (f, (k, v)) in fields.iter().zip(e) {
                encode_py(f, v, types, subs, out).map_err(|why| format!("{k}: {why}"))?;
            }
        }
        if multi {
            let len = u16::try_from(out.len() - start)
                .map_err(|_| "a subTemplateMultiList block over 65535 octets".to_string())?;
            out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// A basicList (RFC 6313 §4.5.1) from a `ferrofix.BasicList`: the
/// semantic, the element IE (its `ie`, a name or IESpec with a length) and
/// each item encoded as that IE. A plain list is refused: it does not say
/// what its items are.
fn encode_basic_list(
    list: &Bound<'_, PyList>,
    types: &PyTypes,
    subs: &mut Option<&mut dyn SubTemplates>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let py = list.py();
    let Ok(ie) = list.getattr(intern!(py, "ie")) else {
        return Err("a basicList needs its element IE: give \
                    ferrofix.BasicList(ie, values), not a plain list"
            .into());
    };
    let ie: String = ie
        .extract()
        .map_err(|_| "BasicList.ie must be an IE name or IESpec".to_string())?;
    let semantic: u8 = list
        .getattr(intern!(py, "semantic_code"))
        .and_then(|s| s.extract())
        .unwrap_or(0xFF);
    let (spec, item) = {
        let Some(defs) = subs.as_deref_mut() else {
            return Err("lists cannot be written here".into());
        };
        let spec = resolve_field(defs.model(), &ie).map_err(|e| format!("{ie}: {}", e.kind))?;
        let item = Template::new(0, 0, None, vec![spec], defs.model())
            .fields
            .remove(0);
        (spec, item)
    };
    out.push(semantic);
    put_basic_list_field(spec, out);
    for (i, v) in list.iter().enumerate() {
        encode_py(&item, &v, types, subs, out).map_err(|why| format!("item {i}: {why}"))?;
    }
    Ok(())
}

/// Encode one Python value for a field, appending to `out` (nothing is
/// appended on error; the reason names what was wrong).
pub fn encode_py(
    f: &TemplateField,
    obj: &Bound<'_, PyAny>,
    types: &PyTypes,
    subs: &mut Option<&mut dyn SubTemplates>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use FieldDecoder as F;
    if obj.is_none() {
        return Err("None: use a template without this field".into());
    }
    if matches!(f.decoder, F::SubTemplateList | F::SubTemplateMultiList) {
        if let Ok(list) = obj.cast::<PyList>() {
            let mut raw = Vec::new();
            encode_records_list(
                f.decoder == F::SubTemplateMultiList,
                list,
                types,
                subs,
                &mut raw,
            )?;
            return put_list(&raw, f.length, out);
        }
    }
    if f.decoder == F::BasicList {
        if let Ok(list) = obj.cast::<PyList>() {
            let mut raw = Vec::new();
            encode_basic_list(list, types, subs, &mut raw)?;
            return put_list(&raw, f.length, out);
        }
    }
    let d = f.decoder;
    // i64 first: the common case converts without raising.
    let int = |obj: &Bound<'_, PyAny>| -> Result<Value<'static>, String> {
        if let Ok(x) = obj.cast::<PyInt>() {
            if obj.cast::<PyBool>().is_ok() {
                return Err("expected an int, not bool".into());
            }
            if let Ok(v) = x.extract::<i64>() {
                return Ok(u64::try_from(v).map_or(Value::Signed(v), Value::Unsigned));
            }
            return x
                .extract::<u64>()
                .map(Value::Unsigned)
                .map_err(|_| format!("{x} does not fit 64 bits"));
        }
        Err(format!("expected an int, not {}", type_name(obj)))
    };
    let text;
    let raw;
    let value = match d {
        F::Unsigned | F::Signed => int(obj)?,
        F::Float32 | F::Float64 | F::Float64As32 => Value::Float(
            obj.extract::<f64>()
                .map_err(|_| format!("expected a float, not {}", type_name(obj)))?,
        ),
        F::Boolean => Value::Bool(
            obj.cast::<PyBool>()
                .map_err(|_| format!("expected a bool, not {}", type_name(obj)))?
                .is_true(),
        ),
        F::Mac => Value::Mac(mac(obj)?),
        F::Ipv4 => Value::Ipv4(address::<4>(obj, types)?),
        F::Ipv6 => Value::Ipv6(address::<16>(obj, types)?),
        F::String => {
            if let Ok(s) = obj.cast::<PyString>() {
                text = s.to_str().map_err(|e| e.to_string())?.to_owned();
                Value::String(text.as_bytes())
            } else {
                raw = bytes_of(obj)
                    .ok_or_else(|| format!("expected a str, not {}", type_name(obj)))?;
                Value::String(&raw)
            }
        }
        F::Bytes | F::BasicList | F::SubTemplateList | F::SubTemplateMultiList => {
            raw = bytes_of(obj).ok_or_else(|| format!("expected bytes, not {}", type_name(obj)))?;
            Value::Bytes(&raw)
        }
        F::Unsigned256 => {
            raw = match bytes_of(obj) {
                Some(b) => b,
                None => obj
                    .call_method1("to_bytes", (32, "big"))
                    .and_then(|b| b.extract::<Vec<u8>>())
                    .map_err(|_| {
                        "expected a non-negative int below 2**256, or bytes".to_string()
                    })?,
            };
            Value::Unsigned256(&raw)
        }
        F::DateTimeSeconds
        | F::DateTimeMilliseconds
        | F::DateTimeMicroseconds
        | F::DateTimeNanoseconds => {
            let (secs, nanos) = datetime(obj, types)?;
            Value::DateTime(DateTime {
                secs,
                nanos,
                precision: TimePrecision::Nanoseconds,
            })
        }
    };
    encode_value(d, f.length, &value, out)
}
