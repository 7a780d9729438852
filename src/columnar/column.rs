//! One Arrow column being filled: a builder per [`ColumnKind`]. Values come
//! in as decoded [`Value`]s; a value of the wrong shape for the column (an
//! IPv4 address sent in 8 bytes, a boolean of 7) is refused so that the
//! caller can apply its bad-record policy before anything is appended.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv6Addr;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, PrimitiveBuilder, StringBuilder,
};
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, DictionaryArray};
use arrow_schema::TimeUnit;

use super::types::{AddressForm, ColumnKind};
use crate::decode::{be_uint, decode_value, DateTime, Value};
use crate::session::FieldDecoder;

/// Dictionary-encoded text addresses: each distinct address is formatted
/// once per batch.
pub(crate) struct AddressDict<K> {
    keys: PrimitiveBuilder<Int32Type>,
    index: HashMap<K, i32, BuildHasherDefault<AddrHasher>>,
    values: StringBuilder,
}

/// A multiplicative hasher for address keys: addresses are not chosen by
/// an attacker who can see the multiplier's effect on a per-batch map, and
/// SipHash costs more than the rest of the append.
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<K: std::hash::Hash + Eq + Copy> AddressDict<K> {
    fn new() -> Self {
        AddressDict {
            keys: PrimitiveBuilder::new(),
            index: HashMap::default(),
            values: StringBuilder::new(),
        }
    }

    #[inline]
    fn append(&mut self, k: K, fmt: impl FnOnce(&mut StringBuilder)) {
        let next = self.index.len() as i32;
        let key = *self.index.entry(k).or_insert_with(|| {
            fmt(&mut self.values);
            next
        });
        self.keys.append_value(key);
    }

    fn finish(&mut self) -> ArrayRef {
        self.index.clear();
        let keys = self.keys.finish();
        let values = Arc::new(self.values.finish());
        // Keys index values appended in the same batch: always valid.
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, values).unwrap_or_else(|_| {
                std::iter::empty::<Option<&str>>().collect::<DictionaryArray<Int32Type>>()
            }),
        )
    }
}

/// A column under construction.
pub(crate) enum Column {
    U8(PrimitiveBuilder<UInt8Type>),
    U16(PrimitiveBuilder<UInt16Type>),
    U32(PrimitiveBuilder<UInt32Type>),
    U64(PrimitiveBuilder<UInt64Type>),
    I8(PrimitiveBuilder<Int8Type>),
    I16(PrimitiveBuilder<Int16Type>),
    I32(PrimitiveBuilder<Int32Type>),
    I64(PrimitiveBuilder<Int64Type>),
    F32(PrimitiveBuilder<Float32Type>),
    F64(PrimitiveBuilder<Float64Type>),
    Bool(BooleanBuilder),
    Utf8(StringBuilder),
    Mac(StringBuilder),
    Binary(BinaryBuilder),
    U256(FixedSizeBinaryBuilder),
    TsS(PrimitiveBuilder<TimestampSecondType>),
    TsMs(PrimitiveBuilder<TimestampMillisecondType>),
    TsUs(PrimitiveBuilder<TimestampMicrosecondType>),
    TsNs(PrimitiveBuilder<TimestampNanosecondType>),
    V4Int(PrimitiveBuilder<UInt32Type>),
    V4Text(AddressDict<u32>),
    V6Bin(FixedSizeBinaryBuilder),
    V6Text(AddressDict<[u8; 16]>),
}

/// Dotted-quad text of an IPv4 address, without the `fmt` machinery (this
/// runs once per distinct address per batch).
struct Ipv4Text {
    buf: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

fn ipv4_text(a: [u8; 4]) -> Ipv4Text {
    let mut t = Ipv4Text {
        buf: [0; 15],
        len: 0,
    };
    for (i, &x) in a.iter().enumerate() {
        if i > 0 {
            t.buf[t.len] = b'.';
            t.len += 1;
        }
        if x >= 100 {
            t.buf[t.len] = b'0' + x / 100;
            t.len += 1;
        }
        if x >= 10 {
            t.buf[t.len] = b'0' + x / 10 % 10;
            t.len += 1;
        }
        t.buf[t.len] = b'0' + x % 10;
        t.len += 1;
    }
    t
}

/// Append `f(row)` for every row, a chunk at a time.
#[inline]
fn fill<'a, T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    rows: impl Iterator<Item = &'a [u8]>,
    f: impl Fn(&[u8]) -> T::Native,
) {
    let mut buf = [T::Native::default(); 256];
    let mut n = 0;
    for r in rows {
        buf[n] = f(r);
        n += 1;
        if n == buf.len() {
            b.append_slice(&buf);
            n = 0;
        }
    }
    b.append_slice(&buf[..n]);
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
            ColumnKind::UInt8 => Column::U8(PrimitiveBuilder::new()),
            ColumnKind::UInt16 => Column::U16(PrimitiveBuilder::new()),
            ColumnKind::UInt32 => Column::U32(PrimitiveBuilder::new()),
            ColumnKind::UInt64 => Column::U64(PrimitiveBuilder::new()),
            ColumnKind::Int8 => Column::I8(PrimitiveBuilder::new()),
            ColumnKind::Int16 => Column::I16(PrimitiveBuilder::new()),
            ColumnKind::Int32 => Column::I32(PrimitiveBuilder::new()),
            ColumnKind::Int64 => Column::I64(PrimitiveBuilder::new()),
            ColumnKind::Float32 => Column::F32(PrimitiveBuilder::new()),
            ColumnKind::Float64 => Column::F64(PrimitiveBuilder::new()),
            ColumnKind::Boolean => Column::Bool(BooleanBuilder::new()),
            ColumnKind::Utf8 => Column::Utf8(StringBuilder::new()),
            ColumnKind::Mac => Column::Mac(StringBuilder::new()),
            ColumnKind::Binary => Column::Binary(BinaryBuilder::new()),
            ColumnKind::Unsigned256 => Column::U256(FixedSizeBinaryBuilder::new(32)),
            ColumnKind::Timestamp(TimeUnit::Second) => Column::TsS(PrimitiveBuilder::new()),
            ColumnKind::Timestamp(TimeUnit::Millisecond) => Column::TsMs(PrimitiveBuilder::new()),
            ColumnKind::Timestamp(TimeUnit::Microsecond) => Column::TsUs(PrimitiveBuilder::new()),
            ColumnKind::Timestamp(TimeUnit::Nanosecond) => Column::TsNs(PrimitiveBuilder::new()),
            ColumnKind::Ipv4(Integer) => Column::V4Int(PrimitiveBuilder::new()),
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
            | (Column::V6Bin(_) | Column::V6Text(_), Value::Ipv6(_)) => true,
            (Column::U256(_), Value::Unsigned256(b)) => b.len() <= 32,
            _ => false,
        }
    }

    /// Append a value that [`Column::accepts`]; anything else appends null.
    #[inline]
    pub fn append(&mut self, v: &Value<'_>) {
        match (self, v) {
            (Column::U8(b), Value::Unsigned(x)) => b.append_value(*x as u8),
            (Column::U16(b), Value::Unsigned(x)) => b.append_value(*x as u16),
            (Column::U32(b), Value::Unsigned(x)) => b.append_value(*x as u32),
            (Column::U64(b), Value::Unsigned(x)) => b.append_value(*x),
            (Column::I8(b), Value::Signed(x)) => b.append_value(*x as i8),
            (Column::I16(b), Value::Signed(x)) => b.append_value(*x as i16),
            (Column::I32(b), Value::Signed(x)) => b.append_value(*x as i32),
            (Column::I64(b), Value::Signed(x)) => b.append_value(*x),
            (Column::F32(b), Value::Float(x)) => b.append_value(*x as f32),
            (Column::F64(b), Value::Float(x)) => b.append_value(*x),
            (Column::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Column::Utf8(b), Value::String(s)) => b.append_value(String::from_utf8_lossy(s)),
            (Column::Mac(b), Value::Mac(m)) => {
                for (i, x) in m.iter().enumerate() {
                    let _ = if i == 0 {
                        write!(b, "{x:02x}")
                    } else {
                        write!(b, ":{x:02x}")
                    };
                }
                b.append_value("");
            }
            (Column::Binary(b), Value::Bytes(x) | Value::List(_, x)) => b.append_value(x),
            (Column::U256(b), Value::Unsigned256(x)) if x.len() <= 32 => {
                let mut full = [0u8; 32];
                full[32 - x.len()..].copy_from_slice(x);
                let _ = b.append_value(full);
            }
            (Column::TsS(b), Value::DateTime(t)) => b.append_value(t.secs),
            (Column::TsMs(b), Value::DateTime(t)) => {
                b.append_option(ts_in(t, TimeUnit::Millisecond));
            }
            (Column::TsUs(b), Value::DateTime(t)) => {
                b.append_option(ts_in(t, TimeUnit::Microsecond));
            }
            (Column::TsNs(b), Value::DateTime(t)) => {
                b.append_option(ts_in(t, TimeUnit::Nanosecond));
            }
            (Column::V4Int(b), Value::Ipv4(a)) => b.append_value(u32::from_be_bytes(*a)),
            (Column::V4Text(d), Value::Ipv4(a)) => {
                d.append(u32::from_be_bytes(*a), |s| {
                    s.append_value(ipv4_text(*a).as_str());
                });
            }
            (Column::V6Bin(b), Value::Ipv6(a)) => {
                let _ = b.append_value(a);
            }
            (Column::V6Text(d), Value::Ipv6(a)) => d.append(*a, |s| {
                let _ = write!(s, "{}", Ipv6Addr::from(*a));
                s.append_value("");
            }),
            (col, _) => col.append_null(),
        }
    }

    /// Append one value per raw field of a column of records, decoded with
    /// `d` (each field [`always fits`](super::sink) the column). The hot
    /// kinds run as tight loops over the bytes; the rest go value by value.
    pub fn append_rows<'a>(&mut self, d: FieldDecoder, rows: impl Iterator<Item = &'a [u8]>) {
        match (self, d) {
            (Column::U8(b), FieldDecoder::Unsigned) => fill(b, rows, |r| be_uint(r) as u8),
            (Column::U16(b), FieldDecoder::Unsigned) => fill(b, rows, |r| be_uint(r) as u16),
            (Column::U32(b) | Column::V4Int(b), FieldDecoder::Unsigned | FieldDecoder::Ipv4) => {
                fill(b, rows, |r| be_uint(r) as u32);
            }
            (Column::U64(b), FieldDecoder::Unsigned) => fill(b, rows, be_uint),
            (Column::TsMs(b), FieldDecoder::DateTimeMilliseconds) => {
                fill(b, rows, |r| be_uint(r) as i64);
            }
            (Column::TsS(b), FieldDecoder::DateTimeSeconds) => fill(b, rows, |r| be_uint(r) as i64),
            (Column::V4Text(dict), FieldDecoder::Ipv4) => {
                for r in rows {
                    let a: [u8; 4] = r.try_into().unwrap_or_default();
                    dict.append(u32::from_be_bytes(a), |s| {
                        s.append_value(ipv4_text(a).as_str());
                    });
                }
            }
            (col, d) => {
                for r in rows {
                    col.append(&decode_value(d, r));
                }
            }
        }
    }

    /// Append `n` nulls.
    pub fn append_nulls(&mut self, n: usize) {
        for _ in 0..n {
            self.append_null();
        }
    }

    /// Append a null.
    pub fn append_null(&mut self) {
        match self {
            Column::U8(b) => b.append_null(),
            Column::U16(b) => b.append_null(),
            Column::U32(b) | Column::V4Int(b) => b.append_null(),
            Column::U64(b) => b.append_null(),
            Column::I8(b) => b.append_null(),
            Column::I16(b) => b.append_null(),
            Column::I32(b) => b.append_null(),
            Column::I64(b) => b.append_null(),
            Column::F32(b) => b.append_null(),
            Column::F64(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::Utf8(b) | Column::Mac(b) => b.append_null(),
            Column::Binary(b) => b.append_null(),
            Column::U256(b) | Column::V6Bin(b) => b.append_null(),
            Column::TsS(b) => b.append_null(),
            Column::TsMs(b) => b.append_null(),
            Column::TsUs(b) => b.append_null(),
            Column::TsNs(b) => b.append_null(),
            Column::V4Text(d) => d.keys.append_null(),
            Column::V6Text(d) => d.keys.append_null(),
        }
    }

    /// Finish the batch's array; the builder is left empty for the next one.
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ipv4_text;

    #[test]
    fn ipv4_text_matches_std() {
        for a in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 0, 99, 100],
            [192, 168, 1, 9],
        ] {
            assert_eq!(
                ipv4_text(a).as_str(),
                std::net::Ipv4Addr::from(a).to_string()
            );
        }
    }
}
