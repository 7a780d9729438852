//! Field values (RFC 7011 §6.1): integers of every legal reduced size,
//! floats, booleans, addresses, strings, octet arrays and the four
//! dateTime types, borrowed from the message bytes where possible.

use crate::session::FieldDecoder;

/// Seconds between the NTP era-0 epoch (1900) and the UNIX epoch.
pub const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Precision of a timestamp, from its IE's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePrecision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// A point in time: seconds since the UNIX epoch plus nanoseconds, so that
/// dateTimeNanoseconds keeps every bit it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub secs: i64,
    pub nanos: u32,
    pub precision: TimePrecision,
}

/// A decoded field value. `Copy` and free of heap data: RFC 6313 lists are
/// lazy views ([`ListKind`] + raw bytes) decoded on demand with
/// [`super::lists::decode_list`], so visiting values costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Mac([u8; 6]),
    Ipv4([u8; 4]),
    Ipv6([u8; 16]),
    /// UTF-8 as sent; invalid sequences are the consumer's to replace.
    String(&'a [u8]),
    Bytes(&'a [u8]),
    DateTime(DateTime),
    /// unsigned256 (RFC 9740), big-endian, 1..=32 bytes.
    Unsigned256(&'a [u8]),
    /// An RFC 6313 list, not decoded yet.
    List(ListKind, &'a [u8]),
    /// Bytes that are not a valid value of the field's type, kept raw.
    Invalid(&'a [u8], Invalid),
}

/// Which RFC 6313 structure a lazy list value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Basic,
    SubTemplate,
    SubTemplateMulti,
}

/// Why a scalar value is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// RFC 7011 §6.1.5: a boolean is 1 (true) or 2 (false).
    Boolean,
}

impl Invalid {
    /// A description for error messages.
    pub const fn reason(self) -> &'static str {
        match self {
            Invalid::Boolean => "boolean must be 1 (true) or 2 (false)",
        }
    }
}

/// Big-endian unsigned integer of 0..=8 bytes.
#[inline]
pub fn be_uint(b: &[u8]) -> u64 {
    // The native widths first: one load each instead of a byte loop.
    match b.len() {
        8 => return u64::from_be_bytes(b.try_into().unwrap_or_default()),
        4 => return u64::from(u32::from_be_bytes(b.try_into().unwrap_or_default())),
        2 => return u64::from(u16::from_be_bytes(b.try_into().unwrap_or_default())),
        1 => return u64::from(b[0]),
        _ => {}
    }
    let mut v = 0u64;
    for &x in b.iter().take(8) {
        v = (v << 8) | u64::from(x);
    }
    v
}

/// Big-endian two's complement integer of 1..=8 bytes, sign-extended
/// (RFC 7011 §6.2: reduced-size signed values keep their sign bit).
#[inline]
pub fn be_int(b: &[u8]) -> i64 {
    let n = b.len().min(8);
    if n == 0 {
        return 0;
    }
    // 1 <= n <= 8, so shift <= 56: the wrapping shifts (which only mask
    // the shift amount) are the plain shifts, with no check.
    let shift = 8u32.saturating_sub(n as u32).saturating_mul(8);
    (be_uint(b).wrapping_shl(shift) as i64).wrapping_shr(shift)
}

fn ntp(b: &[u8], precision: TimePrecision) -> DateTime {
    let secs = be_uint(b.get(0..4).unwrap_or_default());
    let mut frac = be_uint(b.get(4..8).unwrap_or_default());
    if precision == TimePrecision::Microseconds {
        // RFC 7011 §6.1.9: the low 11 bits of a dateTimeMicroseconds
        // fraction carry no information.
        frac &= !0x7ff;
    }
    // frac < 2^32 (four bytes): frac * 10^9 < 2^62, and the scaled
    // fraction is below 10^6 (10^9): no product below saturates.
    let nanos = if precision == TimePrecision::Microseconds {
        ((frac.saturating_mul(1_000_000) >> 32) as u32).saturating_mul(1000)
    } else {
        (frac.saturating_mul(1_000_000_000) >> 32) as u32
    };
    DateTime {
        // secs < 2^32: no overflow.
        secs: (secs as i64).saturating_sub(NTP_UNIX_OFFSET),
        nanos,
        precision,
    }
}

/// Decode one field; lists come back as lazy [`Value::List`] views.
// Measured (benches/decode.rs): inlining into the caller avoids returning
// the Value through memory, 10M -> 20M records/s visiting every field.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn decode_value(d: FieldDecoder, b: &[u8]) -> Value<'_> {
    match d {
        FieldDecoder::Unsigned => Value::Unsigned(be_uint(b)),
        FieldDecoder::Signed => Value::Signed(be_int(b)),
        FieldDecoder::Float32 | FieldDecoder::Float64As32 => {
            Value::Float(f64::from(f32::from_bits(be_uint(b) as u32)))
        }
        FieldDecoder::Float64 => Value::Float(f64::from_bits(be_uint(b))),
        FieldDecoder::Boolean => match b.first() {
            Some(1) => Value::Bool(true),
            Some(2) => Value::Bool(false),
            _ => Value::Invalid(b, Invalid::Boolean),
        },
        FieldDecoder::Mac => match <[u8; 6]>::try_from(b) {
            Ok(m) => Value::Mac(m),
            Err(_) => Value::Bytes(b),
        },
        FieldDecoder::Ipv4 => match <[u8; 4]>::try_from(b) {
            Ok(a) => Value::Ipv4(a),
            Err(_) => Value::Bytes(b),
        },
        FieldDecoder::Ipv6 => match <[u8; 16]>::try_from(b) {
            Ok(a) => Value::Ipv6(a),
            Err(_) => Value::Bytes(b),
        },
        FieldDecoder::String => Value::String(b),
        FieldDecoder::DateTimeSeconds => Value::DateTime(DateTime {
            secs: be_uint(b) as i64,
            nanos: 0,
            precision: TimePrecision::Seconds,
        }),
        FieldDecoder::DateTimeMilliseconds => {
            let ms = be_uint(b);
            Value::DateTime(DateTime {
                secs: (ms / 1000) as i64,
                // Below 1000 * 10^6: fits, never saturates.
                nanos: ((ms % 1000) as u32).saturating_mul(1_000_000),
                precision: TimePrecision::Milliseconds,
            })
        }
        FieldDecoder::DateTimeMicroseconds => Value::DateTime(ntp(b, TimePrecision::Microseconds)),
        FieldDecoder::DateTimeNanoseconds => Value::DateTime(ntp(b, TimePrecision::Nanoseconds)),
        FieldDecoder::Unsigned256 => Value::Unsigned256(b),
        FieldDecoder::Bytes => Value::Bytes(b),
        FieldDecoder::BasicList => Value::List(ListKind::Basic, b),
        FieldDecoder::SubTemplateList => Value::List(ListKind::SubTemplate, b),
        FieldDecoder::SubTemplateMultiList => Value::List(ListKind::SubTemplateMulti, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_size_integers() {
        assert_eq!(be_uint(&[1, 2, 3]), 0x010203);
        assert_eq!(be_int(&[0xff, 0xfe]), -2);
        assert_eq!(be_int(&[0x80, 0, 0, 0, 0, 0, 0]), -(1 << 55));
        assert_eq!(be_int(&[0x7f, 0xff, 0xff]), 0x7fffff);
        assert_eq!(be_int(&[0xff; 8]), -1);
    }

    #[test]
    fn ntp_times() {
        // 2208988800 + 1 s, fraction 0x80000000 = 0.5 s
        let b = [0x83, 0xaa, 0x7e, 0x81, 0x80, 0, 0, 0];
        let Value::DateTime(t) = decode_value(FieldDecoder::DateTimeNanoseconds, &b) else {
            panic!()
        };
        assert_eq!((t.secs, t.nanos), (1, 500_000_000));
        // Smallest fraction step survives in nanoseconds but not microseconds.
        let b = [0x83, 0xaa, 0x7e, 0x80, 0, 0, 0x10, 0x00];
        let Value::DateTime(n) = decode_value(FieldDecoder::DateTimeNanoseconds, &b) else {
            panic!()
        };
        let Value::DateTime(u) = decode_value(FieldDecoder::DateTimeMicroseconds, &b) else {
            panic!()
        };
        assert_eq!(n.nanos, 953);
        assert_eq!(u.nanos, 0);
        // 0.75 s in NTP fraction: both keep it.
        let b = [0x83, 0xaa, 0x7e, 0x80, 0xc0, 0, 0, 0];
        let Value::DateTime(u) = decode_value(FieldDecoder::DateTimeMicroseconds, &b) else {
            panic!()
        };
        assert_eq!(u.nanos, 750_000_000);
    }

    #[test]
    fn boolean_values() {
        assert_eq!(decode_value(FieldDecoder::Boolean, &[1]), Value::Bool(true));
        assert_eq!(
            decode_value(FieldDecoder::Boolean, &[2]),
            Value::Bool(false)
        );
        assert!(matches!(
            decode_value(FieldDecoder::Boolean, &[0]),
            Value::Invalid(_, Invalid::Boolean)
        ));
    }
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`). Day counts beyond those of any `i64`
/// of seconds (about ±2.9e11 years) are clamped to them.
// The one `allow` of the lint in decode/: after the clamp |days| <= 1.07e14,
// so z < 1.1e14, |era| < 7.4e8, era * 146_097 < 1.1e14 and era * 400 < 3e11
// stay far inside i64; doe is in 0..146_097, so every u64 term is under
// 10^6 and no subtraction goes below zero (the algorithm's invariants).
#[allow(clippy::arithmetic_side_effects)]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_OF_I64_SECS: i64 = i64::MAX / 86_400 + 1;
    let days = days.clamp(-DAYS_OF_I64_SECS, DAYS_OF_I64_SECS);
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe as i64 + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod civil_tests {
    use super::civil_from_days;

    #[test]
    fn known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn value_stays_small() {
        assert!(std::mem::size_of::<super::Value<'_>>() <= 24);
    }
}
