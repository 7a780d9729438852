//! Arrow columns to IPFIX field values: each column of a batch is mapped to
//! an IE (by name, IESpec, or the `ipfix.pen`/`ipfix.id` field metadata the
//! reader writes) and checked against the IE's type once; values are then
//! encoded row by row through the core [`encode_value`], so ranges, widths
//! and lengths are checked as for any other input. Text columns feed
//! address and MAC IEs (parsed), dictionary columns are encoded once per
//! dictionary entry.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};

use super::value::{encode_value, Refusal};
use crate::decode::{DateTime, TimePrecision, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DataType as IeType, InfoModel};
use crate::session::{FieldDecoder, TemplateField};
use crate::wire::FieldSpec;

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Encode(msg))
}

/// The IE field a column becomes: from the `columns=` mapping, else the
/// reader's field metadata, else the column's name as an IE name/IESpec.
pub fn column_field(
    model: &mut InfoModel,
    field: &Field,
    mapped: Option<&str>,
) -> Result<FieldSpec> {
    if let Some(m) = mapped {
        return super::resolve_field(model, m).map_err(|e| name_column(field.name(), &e));
    }
    let md = field.metadata();
    if let (Some(pen), Some(id)) = (md.get("ipfix.pen"), md.get("ipfix.id")) {
        if let (Ok(pen), Ok(id)) = (pen.parse::<u32>(), id.parse::<u16>()) {
            let ie = model.lookup(pen, id);
            let length = ie.length.or(ie.data_type.native_length());
            return Ok(FieldSpec {
                id,
                length: length.unwrap_or(crate::wire::VARLEN),
                pen,
            });
        }
    }
    super::resolve_field(model, field.name()).map_err(|e| name_column(field.name(), &e))
}

fn name_column(column: &str, e: &Error) -> Error {
    refuse(format!("column {column:?}: {}", e.kind))
}

/// How one column's values are read.
enum Source {
    U(ArrayRef),
    S(ArrayRef),
    F(ArrayRef),
    Bool(ArrayRef),
    Time(ArrayRef, TimeUnit),
    Text(ArrayRef),
    Bin(ArrayRef),
    /// Dictionary: the keys, and each dictionary value encoded once (or
    /// why it could not be).
    Dict(ArrayRef, Vec<std::result::Result<Vec<u8>, Refusal>>),
}

/// One column of a batch ready to be encoded into its field.
pub struct ColumnEncoder {
    pub name: String,
    pub field: TemplateField,
    source: Source,
    array: ArrayRef,
}

fn text_value(d: FieldDecoder, s: &str) -> std::result::Result<Value<'_>, Refusal> {
    match d {
        FieldDecoder::Ipv4 => s
            .parse::<Ipv4Addr>()
            .map(|a| Value::Ipv4(a.octets()))
            .map_err(|_| format!("{s:?} is not an IPv4 address")),
        FieldDecoder::Ipv6 => s
            .parse::<Ipv6Addr>()
            .map(|a| Value::Ipv6(a.octets()))
            .map_err(|_| format!("{s:?} is not an IPv6 address")),
        FieldDecoder::Mac => {
            let parts: std::result::Result<Vec<u8>, _> =
                s.split([':', '-']).map(|p| u8::from_str_radix(p, 16)).collect();
            parts
                .ok()
                .and_then(|p| <[u8; 6]>::try_from(p).ok())
                .map(Value::Mac)
                .ok_or_else(|| format!("{s:?} is not a MAC address"))
        }
        _ => Ok(Value::String(s.as_bytes())),
    }
}

fn bytes_value(d: FieldDecoder, b: &[u8]) -> Value<'_> {
    match d {
        FieldDecoder::Ipv4 => <[u8; 4]>::try_from(b).map_or(Value::Bytes(b), Value::Ipv4),
        FieldDecoder::Ipv6 => <[u8; 16]>::try_from(b).map_or(Value::Bytes(b), Value::Ipv6),
        FieldDecoder::Mac => <[u8; 6]>::try_from(b).map_or(Value::Bytes(b), Value::Mac),
        FieldDecoder::Unsigned256 => Value::Unsigned256(b),
        FieldDecoder::String => Value::String(b),
        _ => Value::Bytes(b),
    }
}

fn time_of(v: i64, unit: TimeUnit) -> DateTime {
    let (per, scale) = match unit {
        TimeUnit::Second => (1, 1_000_000_000),
        TimeUnit::Millisecond => (1000, 1_000_000),
        TimeUnit::Microsecond => (1_000_000, 1000),
        TimeUnit::Nanosecond => (1_000_000_000, 1),
    };
    DateTime {
        secs: v.div_euclid(per),
        nanos: (v.rem_euclid(per) * scale) as u32,
        precision: TimePrecision::Nanoseconds,
    }
}

/// Whether an Arrow type can feed an IE type.
fn fits(t: &ArrowType, ie: IeType) -> bool {
    use ArrowType as A;
    let int = matches!(
        ie,
        IeType::Unsigned8
            | IeType::Unsigned16
            | IeType::Unsigned32
            | IeType::Unsigned64
            | IeType::Signed8
            | IeType::Signed16
            | IeType::Signed32
            | IeType::Signed64
    );
    match t {
        A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64 | A::Int8 | A::Int16 | A::Int32 | A::Int64 => {
            int || ie == IeType::Ipv4Address || ie == IeType::DateTimeSeconds
        }
        A::Float32 | A::Float64 => matches!(ie, IeType::Float32 | IeType::Float64),
        A::Boolean => ie == IeType::Boolean,
        A::Timestamp(..) => matches!(
            ie,
            IeType::DateTimeSeconds
                | IeType::DateTimeMilliseconds
                | IeType::DateTimeMicroseconds
                | IeType::DateTimeNanoseconds
        ),
        A::Utf8 | A::LargeUtf8 => matches!(
            ie,
            IeType::String | IeType::Ipv4Address | IeType::Ipv6Address | IeType::MacAddress
        ),
        A::Binary | A::LargeBinary | A::FixedSizeBinary(_) => matches!(
            ie,
            IeType::OctetArray
                | IeType::Ipv4Address
                | IeType::Ipv6Address
                | IeType::MacAddress
                | IeType::Unsigned256
                | IeType::String
                | IeType::BasicList
                | IeType::SubTemplateList
                | IeType::SubTemplateMultiList
        ),
        A::Dictionary(_, v) => fits(v, ie),
        _ => false,
    }
}

impl ColumnEncoder {
    /// The encoder of `array` (column `name`) into `field`, or why the
    /// column's type cannot feed the IE.
    pub fn new(name: &str, field: TemplateField, array: ArrayRef) -> Result<Self> {
        let t = array.data_type().clone();
        if !fits(&t, field.ie.data_type) {
            return Err(refuse(format!(
                "column {name:?} of type {t} cannot be written as {} ({})",
                field.ie.name,
                field.ie.data_type.name()
            )));
        }
        let source = match &t {
            ArrowType::UInt8 | ArrowType::UInt16 | ArrowType::UInt32 | ArrowType::UInt64 => {
                Source::U(array.clone())
            }
            ArrowType::Int8 | ArrowType::Int16 | ArrowType::Int32 | ArrowType::Int64 => {
                Source::S(array.clone())
            }
            ArrowType::Float32 | ArrowType::Float64 => Source::F(array.clone()),
            ArrowType::Boolean => Source::Bool(array.clone()),
            ArrowType::Timestamp(u, _) => Source::Time(array.clone(), *u),
            ArrowType::Utf8 | ArrowType::LargeUtf8 => Source::Text(array.clone()),
            ArrowType::Dictionary(..) => {
                let values = dictionary_values(&array);
                let enc = Self::new(name, field.clone(), values.clone())?;
                let encoded = (0..values.len())
                    .map(|i| {
                        let mut out = Vec::new();
                        enc.encode(i, &mut out).map(|()| out)
                    })
                    .collect();
                Source::Dict(array.clone(), encoded)
            }
            _ => Source::Bin(array.clone()),
        };
        Ok(ColumnEncoder {
            name: name.to_string(),
            field,
            source,
            array,
        })
    }

    /// Whether row `i` is null.
    pub fn is_null(&self, i: usize) -> bool {
        self.array.is_null(i)
    }

    /// Encode row `i` (not null) into `out`; nothing is appended on error.
    pub fn encode(&self, row: usize, out: &mut Vec<u8>) -> std::result::Result<(), Refusal> {
        let (codec, len) = (self.field.decoder, self.field.length);
        let v = match &self.source {
            Source::U(a) => Value::Unsigned(unsigned_at(a, row)),
            Source::S(a) => {
                let x = signed_at(a, row);
                match (codec, u64::try_from(x)) {
                    (FieldDecoder::Unsigned | FieldDecoder::Ipv4, Ok(u)) => Value::Unsigned(u),
                    _ => Value::Signed(x),
                }
            }
            Source::F(a) => Value::Float(float_at(a, row)),
            Source::Bool(a) => Value::Bool(a.as_boolean_opt().is_some_and(|b| b.value(row))),
            Source::Time(a, unit) => Value::DateTime(time_of(time_at(a, row), *unit)),
            Source::Text(a) => text_value(codec, text_at(a, row))?,
            Source::Bin(a) => bytes_value(codec, binary_at(a, row)),
            Source::Dict(keys, encoded) => {
                let k = dictionary_key(keys, row);
                return match encoded.get(k) {
                    Some(Ok(b)) => {
                        out.extend_from_slice(b);
                        Ok(())
                    }
                    Some(Err(why)) => Err(why.clone()),
                    None => Err(format!("dictionary key {k} out of range")),
                };
            }
        };
        // Integers into an address or a seconds time: the integer form.
        let v = match (codec, v) {
            (FieldDecoder::Ipv4, Value::Unsigned(x)) => match u32::try_from(x) {
                Ok(a) => Value::Ipv4(a.to_be_bytes()),
                Err(_) => return Err(format!("{x} is not an IPv4 address")),
            },
            (FieldDecoder::DateTimeSeconds, Value::Unsigned(x)) => Value::DateTime(DateTime {
                secs: i64::try_from(x).unwrap_or(i64::MAX),
                nanos: 0,
                precision: TimePrecision::Seconds,
            }),
            (_, v) => v,
        };
        encode_value(codec, len, &v, out)
    }
}

// The accessors below are only called for arrays whose type `new` matched
// to the source kind; a mismatch would read as zero/empty, never panic.

fn unsigned_at(a: &ArrayRef, i: usize) -> u64 {
    if let Some(x) = a.as_primitive_opt::<UInt8Type>() {
        u64::from(x.value(i))
    } else if let Some(x) = a.as_primitive_opt::<UInt16Type>() {
        u64::from(x.value(i))
    } else if let Some(x) = a.as_primitive_opt::<UInt32Type>() {
        u64::from(x.value(i))
    } else {
        a.as_primitive_opt::<UInt64Type>().map_or(0, |x| x.value(i))
    }
}

fn signed_at(a: &ArrayRef, i: usize) -> i64 {
    if let Some(x) = a.as_primitive_opt::<Int8Type>() {
        i64::from(x.value(i))
    } else if let Some(x) = a.as_primitive_opt::<Int16Type>() {
        i64::from(x.value(i))
    } else if let Some(x) = a.as_primitive_opt::<Int32Type>() {
        i64::from(x.value(i))
    } else {
        a.as_primitive_opt::<Int64Type>().map_or(0, |x| x.value(i))
    }
}

fn float_at(a: &ArrayRef, i: usize) -> f64 {
    if let Some(x) = a.as_primitive_opt::<Float32Type>() {
        f64::from(x.value(i))
    } else {
        a.as_primitive_opt::<Float64Type>().map_or(0.0, |x| x.value(i))
    }
}

fn time_at(a: &ArrayRef, i: usize) -> i64 {
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    if let Some(x) = a.as_primitive_opt::<TimestampSecondType>() {
        x.value(i)
    } else if let Some(x) = a.as_primitive_opt::<TimestampMillisecondType>() {
        x.value(i)
    } else if let Some(x) = a.as_primitive_opt::<TimestampMicrosecondType>() {
        x.value(i)
    } else {
        a.as_primitive_opt::<TimestampNanosecondType>()
            .map_or(0, |x| x.value(i))
    }
}

fn text_at(a: &ArrayRef, i: usize) -> &str {
    if let Some(x) = a.as_string_opt::<i32>() {
        x.value(i)
    } else {
        a.as_string_opt::<i64>().map_or("", |x| x.value(i))
    }
}

fn binary_at(a: &ArrayRef, i: usize) -> &[u8] {
    if let Some(x) = a.as_binary_opt::<i32>() {
        x.value(i)
    } else if let Some(x) = a.as_binary_opt::<i64>() {
        x.value(i)
    } else {
        a.as_fixed_size_binary_opt().map_or(&[], |x| x.value(i))
    }
}

fn dictionary_values(a: &ArrayRef) -> ArrayRef {
    macro_rules! values {
        ($($k:ty),*) => {
            $(if let Some(d) = a.as_dictionary_opt::<$k>() {
                return d.values().clone();
            })*
        };
    }
    values!(Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);
    Arc::new(arrow_array::NullArray::new(0))
}

fn dictionary_key(a: &ArrayRef, i: usize) -> usize {
    macro_rules! key {
        ($($k:ty),*) => {
            $(if let Some(d) = a.as_dictionary_opt::<$k>() {
                return usize::try_from(d.keys().value(i)).unwrap_or(usize::MAX);
            })*
        };
    }
    key!(Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);
    usize::MAX
}
