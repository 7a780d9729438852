//! Arrow columns to IPFIX field values: each column of a batch is mapped to
//! an IE (by name, IESpec, or the `ipfix.pen`/`ipfix.id` field metadata the
//! reader writes) and checked against the IE's type once; values are then
//! encoded row by row through the core [`encode_value`], so ranges, widths
//! and lengths are checked as for any other input. Text columns feed
//! address and MAC IEs (parsed), dictionary columns are encoded once per
//! dictionary entry.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};

use super::arrowtypes::{bytes_value, fits, how_to_feed, text_value, time_of, whole};
use super::lists::{put_list, ListEncoder, SubTemplates};
use super::value::{encode_value, Refusal};
use crate::decode::{DateTime, TimePrecision, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
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

/// Store `x` in `slot` (`width` octets) when it fits. Inlined into each
/// column loop: as a call per value it cost a third of the writing time.
#[allow(clippy::inline_always)]
#[inline(always)]
fn put_be(slot: Option<&mut [u8]>, width: usize, x: u64) -> bool {
    match slot {
        // width < 8 in the shift: at most 56 bits (the multiplication is
        // loop-invariant, hoisted out of the column loops).
        Some(dst) if width >= 8 || x >> width.saturating_mul(8) == 0 => store_be(dst, x),
        _ => false,
    }
}

/// Store the low `dst.len()` octets of `x`, big-endian, with a fixed-size
/// store for the common widths (a copy of a run-time length would be a
/// call to memmove per value).
#[allow(clippy::inline_always)]
#[inline(always)]
fn store_be(dst: &mut [u8], x: u64) -> bool {
    match dst.len() {
        1 => dst[0] = x as u8,
        2 => dst.copy_from_slice(&(x as u16).to_be_bytes()),
        4 => dst.copy_from_slice(&(x as u32).to_be_bytes()),
        8 => dst.copy_from_slice(&x.to_be_bytes()),
        n if n < 8 => dst.copy_from_slice(&x.to_be_bytes()[8usize.saturating_sub(n)..]),
        _ => return false,
    }
    true
}

/// `v[lo..hi]`, or None when the rows are not all there.
fn part<T>(v: &[T], lo: usize, hi: usize) -> Option<&[T]> {
    v.get(lo..hi)
}

/// Integer values of any Arrow width, read without a downcast per value.
enum Ints {
    U8(ScalarBuffer<u8>),
    U16(ScalarBuffer<u16>),
    U32(ScalarBuffer<u32>),
    U64(ScalarBuffer<u64>),
    I8(ScalarBuffer<i8>),
    I16(ScalarBuffer<i16>),
    I32(ScalarBuffer<i32>),
    I64(ScalarBuffer<i64>),
}

impl Ints {
    fn of(a: &dyn Array) -> Option<Ints> {
        Some(if let Some(x) = a.as_primitive_opt::<UInt8Type>() {
            Ints::U8(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<UInt16Type>() {
            Ints::U16(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<UInt32Type>() {
            Ints::U32(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<UInt64Type>() {
            Ints::U64(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<Int8Type>() {
            Ints::I8(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<Int16Type>() {
            Ints::I16(x.values().clone())
        } else if let Some(x) = a.as_primitive_opt::<Int32Type>() {
            Ints::I32(x.values().clone())
        } else {
            Ints::I64(a.as_primitive_opt::<Int64Type>()?.values().clone())
        })
    }

    /// The value at `i`: unsigned when not negative.
    #[inline]
    pub fn value(&self, i: usize) -> Value<'static> {
        let signed = |x: i64| u64::try_from(x).map_or(Value::Signed(x), Value::Unsigned);
        match self {
            Ints::U8(v) => Value::Unsigned(u64::from(v[i])),
            Ints::U16(v) => Value::Unsigned(u64::from(v[i])),
            Ints::U32(v) => Value::Unsigned(u64::from(v[i])),
            Ints::U64(v) => Value::Unsigned(v[i]),
            Ints::I8(v) => signed(i64::from(v[i])),
            Ints::I16(v) => signed(i64::from(v[i])),
            Ints::I32(v) => signed(i64::from(v[i])),
            Ints::I64(v) => signed(v[i]),
        }
    }

    /// The value at `i` as an index (dictionary keys).
    fn index(&self, i: usize) -> usize {
        match self.value(i) {
            Value::Unsigned(x) => usize::try_from(x).unwrap_or(usize::MAX),
            _ => usize::MAX,
        }
    }
}

/// How one column's values are read.
enum Source {
    Int(Ints),
    F32(ScalarBuffer<f32>),
    F64(ScalarBuffer<f64>),
    Bool(ArrayRef),
    Time(ScalarBuffer<i64>, TimeUnit),
    Text(ArrayRef),
    Bin(ArrayRef),
    /// Dictionary: the keys, and each dictionary value encoded once (or
    /// why it could not be).
    Dict(Ints, Vec<std::result::Result<Vec<u8>, Refusal>>),
    /// RFC 6313 lists from nested columns.
    List(Box<ListEncoder>),
}

/// One column of a batch ready to be encoded into its field.
pub struct ColumnEncoder {
    pub name: String,
    pub field: TemplateField,
    source: Source,
    array: ArrayRef,
}

impl ColumnEncoder {
    /// The encoder of `array` (column `name`) into `field`, or why the
    /// column's type cannot feed the IE.
    pub fn new(
        name: &str,
        field: TemplateField,
        array: ArrayRef,
        defs: &mut dyn SubTemplates,
    ) -> Result<Self> {
        let t = array.data_type().clone();
        if !fits(&t, field.ie.data_type) {
            return Err(refuse(format!(
                "column {name:?} of type {t} cannot be written as {} ({}): {}",
                field.ie.name,
                field.ie.data_type.name(),
                how_to_feed(field.ie.data_type)
            )));
        }
        let mismatch = || refuse(format!("column {name:?}: unexpected Arrow array for {t}"));
        let source = match &t {
            ArrowType::Float32 => Source::F32(
                array
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(mismatch)?
                    .values()
                    .clone(),
            ),
            ArrowType::Float64 => Source::F64(
                array
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(mismatch)?
                    .values()
                    .clone(),
            ),
            ArrowType::Boolean => Source::Bool(array.clone()),
            ArrowType::Timestamp(u, _) => {
                Source::Time(time_values(&array).ok_or_else(mismatch)?, *u)
            }
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
                Source::Text(array.clone())
            }
            ArrowType::Dictionary(..) => {
                let (keys, values) = dictionary_parts(&array).ok_or_else(mismatch)?;
                let enc = Self::new(name, field.clone(), values.clone(), defs)?;
                let encoded = (0..values.len())
                    .map(|i| {
                        let mut out = Vec::new();
                        enc.encode(i, &mut out).map(|()| out)
                    })
                    .collect();
                Source::Dict(keys, encoded)
            }
            ArrowType::List(_) | ArrowType::LargeList(_) => {
                Source::List(Box::new(ListEncoder::new(name, &field, &array, defs)?))
            }
            t if t.is_integer() => Source::Int(Ints::of(array.as_ref()).ok_or_else(mismatch)?),
            _ => Source::Bin(array.clone()),
        };
        Ok(ColumnEncoder {
            name: name.to_string(),
            field,
            source,
            array,
        })
    }

    /// Write row `row` (not null) into `dst`, exactly the field's fixed
    /// length, through [`Self::encode`] (the kinds `fill_column` does not
    /// handle itself).
    fn put_fixed(
        &self,
        row: usize,
        dst: &mut [u8],
        tmp: &mut Vec<u8>,
    ) -> std::result::Result<(), Refusal> {
        tmp.clear();
        self.encode(row, tmp)?;
        if tmp.len() != dst.len() {
            return Err(format!(
                "{} octets for a {}-octet field",
                tmp.len(),
                dst.len()
            ));
        }
        dst.copy_from_slice(tmp);
        Ok(())
    }

    /// Write the field of every row of `rows` into `buf`, a run of records
    /// `stride` octets long, at offset `at` (the field's fixed width): one
    /// loop per column with the type decided once. `false` when some value
    /// is refused (the buffer is then partly written).
    pub fn fill_column(
        &self,
        rows: std::ops::Range<usize>,
        buf: &mut [u8],
        stride: usize,
        at: usize,
        tmp: &mut Vec<u8>,
    ) -> bool {
        self.fill(rows, buf, stride, at, tmp).unwrap_or(false)
    }

    fn fill(
        &self,
        rows: std::ops::Range<usize>,
        buf: &mut [u8],
        stride: usize,
        at: usize,
        tmp: &mut Vec<u8>,
    ) -> Option<bool> {
        let width = usize::from(self.field.length);
        let slots = buf
            .chunks_exact_mut(stride.max(1))
            .map(|r| r.get_mut(at..at.saturating_add(width)));
        let be = |slot: Option<&mut [u8]>, x: u64| put_be(slot, width, x);
        let (lo, hi) = (rows.start, rows.end);
        Some(match (&self.source, self.field.decoder) {
            (Source::Int(ints), FieldDecoder::Unsigned | FieldDecoder::Ipv4) if width <= 8 => {
                match ints {
                    Ints::U8(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| be(d, u64::from(x))),
                    Ints::U16(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| be(d, u64::from(x))),
                    Ints::U32(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| be(d, u64::from(x))),
                    Ints::U64(v) => slots.zip(part(v, lo, hi)?).all(|(d, &x)| be(d, x)),
                    Ints::I8(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| u64::try_from(x).is_ok_and(|x| be(d, x))),
                    Ints::I16(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| u64::try_from(x).is_ok_and(|x| be(d, x))),
                    Ints::I32(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| u64::try_from(x).is_ok_and(|x| be(d, x))),
                    Ints::I64(v) => slots
                        .zip(part(v, lo, hi)?)
                        .all(|(d, &x)| u64::try_from(x).is_ok_and(|x| be(d, x))),
                }
            }
            (Source::Time(v, TimeUnit::Millisecond), FieldDecoder::DateTimeMilliseconds) => slots
                .zip(part(v, lo, hi)?)
                .all(|(d, &x)| u64::try_from(x).is_ok_and(|x| be(d, x))),
            (Source::Dict(keys, encoded), _) => {
                slots
                    .zip(lo..hi)
                    .all(|(d, row)| match (d, encoded.get(keys.index(row))) {
                        (Some(dst), Some(Ok(b))) if b.len() == width => {
                            dst.copy_from_slice(b);
                            true
                        }
                        _ => false,
                    })
            }
            _ => slots
                .zip(lo..hi)
                .all(|(d, row)| d.is_some_and(|dst| self.put_fixed(row, dst, tmp).is_ok())),
        })
    }

    /// Whether row `i` is null (or NaN in a float column written as
    /// integers: pandas' missing value).
    pub fn is_null(&self, i: usize) -> bool {
        if self.array.is_null(i) {
            return true;
        }
        let int = matches!(
            self.field.decoder,
            FieldDecoder::Unsigned | FieldDecoder::Signed
        );
        match &self.source {
            Source::F32(v) if int => v.get(i).is_some_and(|x| x.is_nan()),
            Source::F64(v) if int => v.get(i).is_some_and(|x| x.is_nan()),
            _ => false,
        }
    }

    /// Encode row `i` (not null) into `out`; nothing is appended on error.
    pub fn encode(&self, row: usize, out: &mut Vec<u8>) -> std::result::Result<(), Refusal> {
        let (codec, len) = (self.field.decoder, self.field.length);
        let v = match &self.source {
            Source::Int(ints) => ints.value(row),
            Source::F32(v) if matches!(codec, FieldDecoder::Unsigned | FieldDecoder::Signed) => {
                whole(f64::from(v[row]))?
            }
            Source::F64(v) if matches!(codec, FieldDecoder::Unsigned | FieldDecoder::Signed) => {
                whole(v[row])?
            }
            Source::F32(v) => Value::Float(f64::from(v[row])),
            Source::F64(v) => Value::Float(v[row]),
            Source::Bool(a) => Value::Bool(a.as_boolean_opt().is_some_and(|b| b.value(row))),
            Source::Time(v, unit) => Value::DateTime(time_of(v[row], *unit)),
            Source::Text(a) => text_value(codec, text_at(a, row))?,
            Source::Bin(a) => bytes_value(codec, binary_at(a, row)),
            Source::List(list) => {
                let mut raw = Vec::new();
                list.encode(row, &mut raw)?;
                return put_list(&raw, len, out);
            }
            Source::Dict(keys, encoded) => {
                let k = keys.index(row);
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

fn time_values(a: &ArrayRef) -> Option<ScalarBuffer<i64>> {
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    if let Some(x) = a.as_primitive_opt::<TimestampSecondType>() {
        Some(x.values().clone())
    } else if let Some(x) = a.as_primitive_opt::<TimestampMillisecondType>() {
        Some(x.values().clone())
    } else if let Some(x) = a.as_primitive_opt::<TimestampMicrosecondType>() {
        Some(x.values().clone())
    } else {
        a.as_primitive_opt::<TimestampNanosecondType>()
            .map(|x| x.values().clone())
    }
}

fn text_at(a: &ArrayRef, i: usize) -> &str {
    if let Some(x) = a.as_string_opt::<i32>() {
        x.value(i)
    } else if let Some(x) = a.as_string_view_opt() {
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
    } else if let Some(x) = a.as_binary_view_opt() {
        x.value(i)
    } else {
        a.as_fixed_size_binary_opt().map_or(&[], |x| x.value(i))
    }
}

/// The keys and the values of a dictionary array of any key type.
fn dictionary_parts(a: &ArrayRef) -> Option<(Ints, ArrayRef)> {
    macro_rules! parts {
        ($($k:ty),*) => {
            $(if let Some(d) = a.as_dictionary_opt::<$k>() {
                return Some((Ints::of(d.keys())?, d.values().clone()));
            })*
        };
    }
    parts!(
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    None
}
