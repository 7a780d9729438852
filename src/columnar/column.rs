//! One Arrow column being filled: a builder per [`ColumnKind`]. Values come
//! in as decoded [`Value`]s; a value of the wrong shape for the column (an
//! IPv4 address sent in 8 bytes, a boolean of 7) is refused so that the
//! caller can apply its bad-record policy before anything is appended.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, StringBuilder};
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::ArrayRef;
use arrow_schema::TimeUnit;

use super::dict::AddressDict;
use super::nested::ListColumn;
use super::prim::{fill_uints, sign_extend, Prim, Strided};
use super::types::{AddressForm, ColumnKind};
use crate::decode::{decode_value, DateTime, ListContext, Value};
use crate::session::FieldDecoder;

/// A column under construction.
pub(crate) enum Column {
    U8(Prim<UInt8Type>),
    U16(Prim<UInt16Type>),
    U32(Prim<UInt32Type>),
    U64(Prim<UInt64Type>),
    I8(Prim<Int8Type>),
    I16(Prim<Int16Type>),
    I32(Prim<Int32Type>),
    I64(Prim<Int64Type>),
    F32(Prim<Float32Type>),
    F64(Prim<Float64Type>),
    Bool(BooleanBuilder),
    Utf8(StringBuilder),
    Mac(StringBuilder),
    Binary(BinaryBuilder),
    U256(FixedSizeBinaryBuilder),
    TsS(Prim<TimestampSecondType>),
    TsMs(Prim<TimestampMillisecondType>),
    TsUs(Prim<TimestampMicrosecondType>),
    TsNs(Prim<TimestampNanosecondType>),
    V4Int(Prim<UInt32Type>),
    V4Text(AddressDict<u32>),
    V6Bin(FixedSizeBinaryBuilder),
    V6Text(AddressDict<[u8; 16]>),
    /// RFC 6313 lists (see `nested`).
    List(Box<ListColumn>),
}

/// A value in a column's unit, or why it does not fit.
fn ts_in(t: &DateTime, unit: TimeUnit) -> Option<i64> {
    let n = i64::from(t.nanos);
    match unit {
        TimeUnit::Second => Some(t.secs),
        TimeUnit::Millisecond => t.secs.checked_mul(1000)?.checked_add(n / 1_000_000),
        TimeUnit::Microsecond => t.secs.checked_mul(1_000_000)?.checked_add(n / 1000),
        TimeUnit::Nanosecond => t.secs.checked_mul(1_000_000_000)?.checked_add(n),
    }
}

impl Column {
    /// An empty column of a kind.
    pub fn new(kind: ColumnKind) -> Column {
        use AddressForm::{Integer, Text};
        match kind {
            ColumnKind::UInt8 => Column::U8(Prim::new()),
            ColumnKind::UInt16 => Column::U16(Prim::new()),
            ColumnKind::UInt32 => Column::U32(Prim::new()),
            ColumnKind::UInt64 => Column::U64(Prim::new()),
            ColumnKind::Int8 => Column::I8(Prim::new()),
            ColumnKind::Int16 => Column::I16(Prim::new()),
            ColumnKind::Int32 => Column::I32(Prim::new()),
            ColumnKind::Int64 => Column::I64(Prim::new()),
            ColumnKind::Float32 => Column::F32(Prim::new()),
            ColumnKind::Float64 => Column::F64(Prim::new()),
            ColumnKind::Boolean => Column::Bool(BooleanBuilder::new()),
            ColumnKind::Utf8 => Column::Utf8(StringBuilder::new()),
            ColumnKind::Mac => Column::Mac(StringBuilder::new()),
            ColumnKind::Binary => Column::Binary(BinaryBuilder::new()),
            ColumnKind::Unsigned256 => Column::U256(FixedSizeBinaryBuilder::new(32)),
            ColumnKind::Timestamp(TimeUnit::Second) => Column::TsS(Prim::new()),
            ColumnKind::Timestamp(TimeUnit::Millisecond) => Column::TsMs(Prim::new()),
            ColumnKind::Timestamp(TimeUnit::Microsecond) => Column::TsUs(Prim::new()),
            ColumnKind::Timestamp(TimeUnit::Nanosecond) => Column::TsNs(Prim::new()),
            ColumnKind::Ipv4(Integer) => Column::V4Int(Prim::new()),
            ColumnKind::Ipv4(Text) => Column::V4Text(AddressDict::new()),
            ColumnKind::Ipv6(Integer) => Column::V6Bin(FixedSizeBinaryBuilder::new(16)),
            ColumnKind::Ipv6(Text) => Column::V6Text(AddressDict::new()),
        }
    }

    /// Whether `v` can be appended (checked before a row is appended, so a
    /// refused value never leaves a half-written row).
    pub fn accepts(&self, v: &Value<'_>) -> bool {
        match (self, v) {
            (Column::U8(_), Value::Unsigned(x)) => u8::try_from(*x).is_ok(),
            (Column::U16(_), Value::Unsigned(x)) => u16::try_from(*x).is_ok(),
            (Column::U32(_), Value::Unsigned(x)) => u32::try_from(*x).is_ok(),
            (Column::I8(_), Value::Signed(x)) => i8::try_from(*x).is_ok(),
            (Column::I16(_), Value::Signed(x)) => i16::try_from(*x).is_ok(),
            (Column::I32(_), Value::Signed(x)) => i32::try_from(*x).is_ok(),
            (Column::TsMs(_), Value::DateTime(t)) => ts_in(t, TimeUnit::Millisecond).is_some(),
            (Column::TsUs(_), Value::DateTime(t)) => ts_in(t, TimeUnit::Microsecond).is_some(),
            (Column::TsNs(_), Value::DateTime(t)) => ts_in(t, TimeUnit::Nanosecond).is_some(),
            (Column::U64(_), Value::Unsigned(_))
            | (Column::TsS(_), Value::DateTime(_))
            | (Column::I64(_), Value::Signed(_))
            | (Column::F32(_) | Column::F64(_), Value::Float(_))
            | (Column::Bool(_), Value::Bool(_))
            | (Column::Utf8(_), Value::String(_))
            | (Column::Mac(_), Value::Mac(_))
            | (Column::Binary(_), Value::Bytes(_) | Value::List(..))
            | (Column::V4Int(_) | Column::V4Text(_), Value::Ipv4(_))
            | (Column::V6Bin(_) | Column::V6Text(_), Value::Ipv6(_))
            | (Column::List(_), Value::List(..)) => true,
            (Column::U256(_), Value::Unsigned256(b)) => b.len() <= 32,
            _ => false,
        }
    }

    /// Append `v` `n` times (the exporter columns of a data set).
    pub fn append_n(&mut self, v: &Value<'_>, n: usize) {
        use std::iter::repeat_n;
        match (&mut *self, v) {
            (Column::U16(b), Value::Unsigned(x)) => b.extend(repeat_n(*x as u16, n)),
            (Column::V4Int(b), Value::Ipv4(a)) => b.extend(repeat_n(u32::from_be_bytes(*a), n)),
            (Column::V4Text(d), Value::Ipv4(a)) => d.append_n(u32::from_be_bytes(*a), n),
            (Column::V6Text(d), Value::Ipv6(a)) => d.append_n(*a, n),
            _ => (0..n).for_each(|_| self.append(v)),
        }
    }

    /// Append a value that [`Column::accepts`]; anything else appends null.
    #[inline]
    pub fn append(&mut self, v: &Value<'_>) {
        match (self, v) {
            (Column::U8(b), Value::Unsigned(x)) => b.push(*x as u8),
            (Column::U16(b), Value::Unsigned(x)) => b.push(*x as u16),
            (Column::U32(b), Value::Unsigned(x)) => b.push(*x as u32),
            (Column::U64(b), Value::Unsigned(x)) => b.push(*x),
            (Column::I8(b), Value::Signed(x)) => b.push(*x as i8),
            (Column::I16(b), Value::Signed(x)) => b.push(*x as i16),
            (Column::I32(b), Value::Signed(x)) => b.push(*x as i32),
            (Column::I64(b), Value::Signed(x)) => b.push(*x),
            (Column::F32(b), Value::Float(x)) => b.push(*x as f32),
            (Column::F64(b), Value::Float(x)) => b.push(*x),
            (Column::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Column::Utf8(b), Value::String(s)) => b.append_value(String::from_utf8_lossy(s)),
            (Column::Mac(b), Value::Mac(m)) => {
                let text = mac_text(*m);
                b.append_value(std::str::from_utf8(&text).unwrap_or_default());
            }
            (Column::Binary(b), Value::Bytes(x) | Value::List(_, x)) => b.append_value(x),
            (Column::U256(b), Value::Unsigned256(x)) if x.len() <= 32 => {
                let mut full = [0u8; 32];
                full[32 - x.len()..].copy_from_slice(x);
                let _ = b.append_value(full);
            }
            (Column::TsS(b), Value::DateTime(t)) => b.push(t.secs),
            (Column::TsMs(b), Value::DateTime(t)) => {
                b.push_option(ts_in(t, TimeUnit::Millisecond));
            }
            (Column::TsUs(b), Value::DateTime(t)) => {
                b.push_option(ts_in(t, TimeUnit::Microsecond));
            }
            (Column::TsNs(b), Value::DateTime(t)) => {
                b.push_option(ts_in(t, TimeUnit::Nanosecond));
            }
            (Column::V4Int(b), Value::Ipv4(a)) => b.push(u32::from_be_bytes(*a)),
            (Column::V4Text(d), Value::Ipv4(a)) => d.append(u32::from_be_bytes(*a)),
            (Column::V6Bin(b), Value::Ipv6(a)) => {
                let _ = b.append_value(a);
            }
            (Column::V6Text(d), Value::Ipv6(a)) => d.append(*a),
            (col, _) => col.append_null(),
        }
    }

    /// Append a value inside a list element: lists go one level deeper,
    /// values that do not fit the column become null.
    pub fn append_nested(&mut self, v: &Value<'_>, ctx: &ListContext<'_>, depth: u32) {
        match self {
            Column::List(l) => l.append(v, ctx, depth),
            col if col.accepts(v) => col.append(v),
            col => col.append_null(),
        }
    }

    /// Whether every field of a run of fixed-length records fits the
    /// column (the bulk form of [`Column::accepts`]).
    pub fn fixed_fit(&self, d: FieldDecoder, s: Strided<'_>) -> bool {
        match (self, d, s.len) {
            // Milliseconds since 1970 as 8 bytes fit i64 below 2^63.
            (Column::TsMs(_), FieldDecoder::DateTimeMilliseconds, 8) => s
                .records
                .chunks_exact(s.stride.max(1))
                .all(|r| r.get(s.at).is_none_or(|b| b & 0x80 == 0)),
            _ => s.fields().all(|f| self.accepts(&decode_value(d, f))),
        }
    }

    /// Append the field of every record of a run of fixed-length records,
    /// decoded with `d` (each field fits: see [`Column::fixed_fit`]). The
    /// integer-like kinds run as tight loops over the bytes, one load per
    /// value; the rest go value by value.
    pub fn append_fixed(&mut self, d: FieldDecoder, s: Strided<'_>) {
        use FieldDecoder as F;
        let len = s.len;
        let done = match (&mut *self, d) {
            (Column::U8(b), F::Unsigned) => fill_uints(b, s, |v| v as u8),
            (Column::U16(b), F::Unsigned) => fill_uints(b, s, |v| v as u16),
            (Column::U32(b) | Column::V4Int(b), F::Unsigned | F::Ipv4) => {
                fill_uints(b, s, |v| v as u32)
            }
            (Column::U64(b), F::Unsigned) => fill_uints(b, s, |v| v),
            (Column::I8(b), F::Signed) => fill_uints(b, s, |v| sign_extend(v, len) as i8),
            (Column::I16(b), F::Signed) => fill_uints(b, s, |v| sign_extend(v, len) as i16),
            (Column::I32(b), F::Signed) => fill_uints(b, s, |v| sign_extend(v, len) as i32),
            (Column::I64(b), F::Signed) => fill_uints(b, s, |v| sign_extend(v, len)),
            (Column::F64(b), F::Float64) if len == 8 => fill_uints(b, s, f64::from_bits),
            (Column::F64(b), F::Float32 | F::Float64As32) if len == 4 => {
                fill_uints(b, s, |v| f64::from(f32::from_bits(v as u32)))
            }
            (Column::TsS(b), F::DateTimeSeconds) => fill_uints(b, s, |v| v as i64),
            (Column::TsMs(b), F::DateTimeMilliseconds) => fill_uints(b, s, |v| v as i64),
            (Column::V4Text(dict), F::Ipv4) if len == 4 => {
                dict.extend(
                    s.fields()
                        .map(|f| u32::from_be_bytes(f.try_into().unwrap_or_default())),
                );
                true
            }
            _ => false,
        };
        if !done {
            for f in s.fields() {
                self.append(&decode_value(d, f));
            }
        }
    }

    /// Append `n` nulls.
    pub fn append_nulls(&mut self, n: usize) {
        match self {
            Column::U8(b) => b.push_nulls(n),
            Column::U16(b) => b.push_nulls(n),
            Column::U32(b) | Column::V4Int(b) => b.push_nulls(n),
            Column::U64(b) => b.push_nulls(n),
            Column::I8(b) => b.push_nulls(n),
            Column::I16(b) => b.push_nulls(n),
            Column::I32(b) => b.push_nulls(n),
            Column::I64(b) => b.push_nulls(n),
            Column::F32(b) => b.push_nulls(n),
            Column::F64(b) => b.push_nulls(n),
            Column::TsS(b) => b.push_nulls(n),
            Column::TsMs(b) => b.push_nulls(n),
            Column::TsUs(b) => b.push_nulls(n),
            Column::TsNs(b) => b.push_nulls(n),
            Column::V4Text(d) => d.append_nulls(n),
            Column::V6Text(d) => d.append_nulls(n),
            _ => {
                for _ in 0..n {
                    self.append_null();
                }
            }
        }
    }

    /// Append a null.
    pub fn append_null(&mut self) {
        match self {
            Column::U8(b) => b.push_null(),
            Column::U16(b) => b.push_null(),
            Column::U32(b) | Column::V4Int(b) => b.push_null(),
            Column::U64(b) => b.push_null(),
            Column::I8(b) => b.push_null(),
            Column::I16(b) => b.push_null(),
            Column::I32(b) => b.push_null(),
            Column::I64(b) => b.push_null(),
            Column::F32(b) => b.push_null(),
            Column::F64(b) => b.push_null(),
            Column::Bool(b) => b.append_null(),
            Column::Utf8(b) | Column::Mac(b) => b.append_null(),
            Column::Binary(b) => b.append_null(),
            Column::U256(b) | Column::V6Bin(b) => b.append_null(),
            Column::TsS(b) => b.push_null(),
            Column::TsMs(b) => b.push_null(),
            Column::TsUs(b) => b.push_null(),
            Column::TsNs(b) => b.push_null(),
            Column::V4Text(d) => d.append_null(),
            Column::V6Text(d) => d.append_null(),
            Column::List(l) => l.append_null(),
        }
    }

    /// Finish the batch's array; the column is left empty for the next one.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Column::U8(b) => Arc::new(b.finish()),
            Column::U16(b) => Arc::new(b.finish()),
            Column::U32(b) | Column::V4Int(b) => Arc::new(b.finish()),
            Column::U64(b) => Arc::new(b.finish()),
            Column::I8(b) => Arc::new(b.finish()),
            Column::I16(b) => Arc::new(b.finish()),
            Column::I32(b) => Arc::new(b.finish()),
            Column::I64(b) => Arc::new(b.finish()),
            Column::F32(b) => Arc::new(b.finish()),
            Column::F64(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Utf8(b) | Column::Mac(b) => Arc::new(b.finish()),
            Column::Binary(b) => Arc::new(b.finish()),
            Column::U256(b) | Column::V6Bin(b) => Arc::new(b.finish()),
            Column::TsS(b) => Arc::new(b.finish().with_timezone("UTC")),
            Column::TsMs(b) => Arc::new(b.finish().with_timezone("UTC")),
            Column::TsUs(b) => Arc::new(b.finish().with_timezone("UTC")),
            Column::TsNs(b) => Arc::new(b.finish().with_timezone("UTC")),
            Column::V4Text(d) => d.finish(),
            Column::V6Text(d) => d.finish(),
            Column::List(l) => l.finish(),
        }
    }
}

/// A MAC address as text, `aa:bb:cc:dd:ee:ff` (lower-case hex, as
/// `{:02x}` with colons writes it, without the formatter's cost).
fn mac_text(m: [u8; 6]) -> [u8; 17] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [b':'; 17];
    for (pair, x) in t.chunks_mut(3).zip(m) {
        pair[0] = HEX[usize::from(x >> 4)];
        pair[1] = HEX[usize::from(x & 0x0F)];
    }
    t
}

#[cfg(test)]
mod mac_tests {
    #[test]
    fn mac_text_is_what_the_formatter_writes() {
        for m in [[0u8; 6], [0xff; 6], [0x00, 0x1b, 0x21, 0xa0, 0x0f, 0x9e]] {
            let want = m
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            assert_eq!(std::str::from_utf8(&super::mac_text(m)).unwrap(), want);
        }
    }
}
