//! What an Arrow column may feed an IE, and its values as IPFIX values:
//! the type rules of the table writer ([`super::ColumnEncoder`]) and the
//! refusals that say what to give instead.

use std::net::{Ipv4Addr, Ipv6Addr};

use arrow_schema::{DataType as ArrowType, TimeUnit};

use super::value::Refusal;
use crate::decode::{DateTime, TimePrecision, Value};
use crate::model::DataType as IeType;
use crate::session::FieldDecoder;

/// Whether an Arrow type can feed an IE type.
pub(super) fn fits(t: &ArrowType, ie: IeType) -> bool {
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
        // Whole numbers into integers: pandas makes an integer column with a
        // missing value float64, NaN for the missing ones (nulls here).
        A::Float32 | A::Float64 => int || matches!(ie, IeType::Float32 | IeType::Float64),
        A::Boolean => ie == IeType::Boolean,
        A::Timestamp(..) => matches!(
            ie,
            IeType::DateTimeSeconds
                | IeType::DateTimeMilliseconds
                | IeType::DateTimeMicroseconds
                | IeType::DateTimeNanoseconds
        ),
        A::Utf8 | A::LargeUtf8 | A::Utf8View => matches!(
            ie,
            IeType::String | IeType::Ipv4Address | IeType::Ipv6Address | IeType::MacAddress
        ),
        A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => matches!(
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
        A::List(_) | A::LargeList(_) => ie.is_list(),
        _ => false,
    }
}

/// What a column for an IE of type `ie` may hold, for a refusal.
pub(super) fn how_to_feed(ie: IeType) -> &'static str {
    use IeType as T;
    match ie {
        T::Unsigned8
        | T::Unsigned16
        | T::Unsigned32
        | T::Unsigned64
        | T::Signed8
        | T::Signed16
        | T::Signed32
        | T::Signed64 => {
            "give integers (or floats holding whole numbers, NaN or null for a missing value)"
        }
        T::Float32 | T::Float64 => "give floats",
        T::Boolean => "give booleans",
        T::Ipv4Address | T::Ipv6Address => {
            "give addresses as text (\"192.0.2.1\", \"2001:db8::1\"), ipaddress objects, \
             packed bytes, or integers (IPv4)"
        }
        T::MacAddress => "give text (\"00:11:22:33:44:55\") or 6 bytes",
        T::DateTimeSeconds
        | T::DateTimeMilliseconds
        | T::DateTimeMicroseconds
        | T::DateTimeNanoseconds => {
            "give timestamps (pandas datetime64, with a time zone or UTC) or, for seconds, \
             integers since the epoch"
        }
        T::String => "give text",
        _ => "give bytes",
    }
}

/// A float that holds a whole number, as the integer value; why not.
pub(super) fn whole(x: f64) -> std::result::Result<Value<'static>, Refusal> {
    // 2^64 and -2^63: the bounds of the integers, exact in f64.
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    const MINUS_TWO_63: f64 = -9_223_372_036_854_775_808.0;
    if !x.is_finite() || x.fract() != 0.0 {
        return Err(format!(
            "{x} is not a whole number: round the column (df[col].round()) or write it \
             to a float IE"
        ));
    }
    // Exact: x is whole and within range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if (0.0..TWO_64).contains(&x) {
        Ok(Value::Unsigned(x as u64))
    } else if (MINUS_TWO_63..0.0).contains(&x) {
        Ok(Value::Signed(x as i64))
    } else {
        Err(format!("{x} is out of range for an integer"))
    }
}

pub(super) fn text_value(d: FieldDecoder, s: &str) -> std::result::Result<Value<'_>, Refusal> {
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
            let parts: std::result::Result<Vec<u8>, _> = s
                .split([':', '-'])
                .map(|p| u8::from_str_radix(p, 16))
                .collect();
            parts
                .ok()
                .and_then(|p| <[u8; 6]>::try_from(p).ok())
                .map(Value::Mac)
                .ok_or_else(|| format!("{s:?} is not a MAC address"))
        }
        _ => Ok(Value::String(s.as_bytes())),
    }
}

pub(super) fn bytes_value(d: FieldDecoder, b: &[u8]) -> Value<'_> {
    match d {
        FieldDecoder::Ipv4 => <[u8; 4]>::try_from(b).map_or(Value::Bytes(b), Value::Ipv4),
        FieldDecoder::Ipv6 => <[u8; 16]>::try_from(b).map_or(Value::Bytes(b), Value::Ipv6),
        FieldDecoder::Mac => <[u8; 6]>::try_from(b).map_or(Value::Bytes(b), Value::Mac),
        FieldDecoder::Unsigned256 => Value::Unsigned256(b),
        FieldDecoder::String => Value::String(b),
        _ => Value::Bytes(b),
    }
}

/// `v` units of `unit` since the UNIX epoch as a point in time.
pub(crate) fn time_of(v: i64, unit: TimeUnit) -> DateTime {
    let (per, scale) = match unit {
        TimeUnit::Second => (1, 1_000_000_000),
        TimeUnit::Millisecond => (1000, 1_000_000),
        TimeUnit::Microsecond => (1_000_000, 1000),
        TimeUnit::Nanosecond => (1_000_000_000, 1),
    };
    DateTime {
        secs: v.div_euclid(per),
        // rem < per, and per * scale = 10^9: fits, never saturates.
        nanos: v.rem_euclid(per).saturating_mul(scale) as u32,
        precision: TimePrecision::Nanoseconds,
    }
}
