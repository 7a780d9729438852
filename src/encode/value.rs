//! Field values to wire bytes (RFC 7011 §6.1 encodings, §6.2 reduced-size
//! encoding, §7 variable-length fields), the inverse of
//! [`crate::decode::decode_value`]: for every value the decoder can return
//! from a field, encoding it with the same codec and length gives bytes that
//! decode back to it. Values that do not fit the field (out of range for a
//! reduced size, a string longer than a fixed field, the wrong kind) are
//! refused with the reason; nothing is written then.

use crate::decode::{DateTime, Value};
use crate::session::FieldDecoder;
use crate::wire::VARLEN;

/// Seconds from the NTP era (1900) to the Unix epoch (RFC 7011 §6.1.10).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Why a value cannot be encoded in a field.
pub type Refusal = String;

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(why.into())
}

/// Append a variable-length field's length prefix (RFC 7011 §7: one octet
/// below 255, else 255 and two octets).
pub fn put_varlen_len(n: usize, out: &mut Vec<u8>) -> Result<(), Refusal> {
    if n < 255 {
        out.push(n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(255);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        return refuse(format!("{n} octets do not fit a variable-length field"));
    }
    Ok(())
}

/// Append `bytes` as the content of a field of `length` (VARLEN or fixed).
fn put_octets(bytes: &[u8], length: u16, pad: bool, out: &mut Vec<u8>) -> Result<(), Refusal> {
    if length == VARLEN {
        put_varlen_len(bytes.len(), out)?;
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let want = usize::from(length);
    if bytes.len() > want {
        return refuse(format!(
            "{} octets do not fit a {want}-octet field",
            bytes.len()
        ));
    }
    if bytes.len() < want && !pad {
        return refuse(format!("{} octets for a {want}-octet field", bytes.len()));
    }
    out.extend_from_slice(bytes);
    // bytes.len() <= want (checked above).
    out.resize(
        out.len().saturating_add(want.saturating_sub(bytes.len())),
        0,
    );
    Ok(())
}

/// The width of an integer field: its length, or 8 when variable-length.
#[inline]
fn width(length: u16, max: u16) -> Result<usize, Refusal> {
    match length {
        VARLEN => Ok(usize::from(max)),
        1..=8 if length <= max => Ok(usize::from(length)),
        _ => refuse(format!("a {length}-octet field cannot hold this type")),
    }
}

/// Append the low `n` bytes of `v`, big-endian; a variable-length field
/// gets its prefix.
#[allow(clippy::inline_always)]
#[inline(always)]
fn put_be(v: u64, n: usize, length: u16, out: &mut Vec<u8>) -> Result<(), Refusal> {
    if length == VARLEN {
        put_varlen_len(n, out)?;
    }
    let b = v.to_be_bytes();
    // n <= 8 (`width`). The common widths as copies of a known size
    // (a call to memcpy per field otherwise).
    match n {
        1 => out.push(b[7]),
        2 => out.extend_from_slice(&[b[6], b[7]]),
        4 => out.extend_from_slice(&[b[4], b[5], b[6], b[7]]),
        8 => out.extend_from_slice(&b),
        _ => out.extend_from_slice(&b[8usize.saturating_sub(n)..]),
    }
    Ok(())
}

/// An unsigned integer in a field of `length` octets (reduced size,
/// RFC 7011 §6.2), refused if it does not fit.
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn put_unsigned(x: u64, length: u16, out: &mut Vec<u8>) -> Result<(), Refusal> {
    let n = width(length, 8)?;
    put_be(unsigned_word(x, n)?, n, length, out)
}

/// `x` checked to fit `n` octets (1 to 8), unsigned.
#[inline]
pub(crate) fn unsigned_word(x: u64, n: usize) -> Result<u64, Refusal> {
    if n < 8 && x >> n.saturating_mul(8) != 0 {
        return refuse(format!("{x} does not fit {n} octets (unsigned)"));
    }
    Ok(x)
}

/// A signed integer in a field of `length` octets, refused if it does
/// not fit.
pub(crate) fn put_signed(x: i64, length: u16, out: &mut Vec<u8>) -> Result<(), Refusal> {
    let n = width(length, 8)?;
    put_be(signed_word(x, n)?, n, length, out)
}

/// `x` checked to fit `n` octets (1 to 8), signed, as the word whose low
/// `n` octets are its two's complement.
#[inline]
pub(crate) fn signed_word(x: i64, n: usize) -> Result<u64, Refusal> {
    if n < 8 {
        // 1 <= n < 8: half = 2^(8n - 1) is at most 2^55, so neither the
        // shift nor the negation and subtraction below can overflow.
        let half = 1i64 << (n as u32).saturating_mul(8).saturating_sub(1);
        let (lo, hi) = (half.saturating_neg(), half.saturating_sub(1));
        if x < lo || x > hi {
            return refuse(format!("{x} does not fit {n} octets (signed)"));
        }
    }
    Ok(x as u64)
}

/// A time as an NTP timestamp (RFC 7011 §6.1.9-10), microseconds
/// (`micro`) or nanoseconds.
pub(crate) fn put_ntp(
    t: &DateTime,
    micro: bool,
    length: u16,
    out: &mut Vec<u8>,
) -> Result<(), Refusal> {
    if length != 8 && length != VARLEN {
        return refuse(format!("NTP timestamps take 8 octets, not {length}"));
    }
    put_be(ntp_word(t, micro)?, 8, length, out)
}

/// A time as the 64-bit NTP timestamp (RFC 7011 §6.1.9-10) of
/// [`put_ntp`], refused outside NTP era 0.
#[inline]
pub(crate) fn ntp_word(t: &DateTime, micro: bool) -> Result<u64, Refusal> {
    // t.secs may be any i64 (an Arrow timestamp): checked, not a panic.
    let secs = t
        .secs
        .checked_add(NTP_UNIX_OFFSET)
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| format!("{} s since 1970 is outside the NTP era", t.secs))?;
    let nanos = u64::from(t.nanos.min(999_999_999));
    // The smallest fraction that decodes back to the same nanoseconds
    // (the decoder floors); for microseconds, on a 2^11 boundary, as
    // RFC 7011 §6.1.9 wants the low 11 bits zero.
    let frac = if micro {
        let us = nanos / 1000;
        // us < 10^6, so (us << 32) / 10^6 < 2^32: the sum cannot saturate.
        (us << 32).div_ceil(1_000_000).saturating_add(0x7ff) & !0x7ff
    } else {
        (nanos << 32).div_ceil(1_000_000_000)
    };
    Ok((u64::from(secs) << 32) | frac.min(u64::from(u32::MAX)))
}

/// Write the low octets of `v`, big-endian, at `at` of a record being
/// filled, as one 8-octet store: the octets past the field are scratch
/// that the next field overwrites, so `buf` holds 8 octets of slack past
/// the record (no branch on the width, which varies field to field).
/// `shift` is the field's [`word_shift`], worked out once per field of a
/// layout. `false` when `buf` is too short (the caller's layout is wrong).
/// The shift of a word field of `n` octets for [`put_word_at`] (64 - 8n),
/// or `None` outside 1 to 8.
pub(crate) fn word_shift(n: usize) -> Option<u8> {
    // 1 <= n <= 8: 0 to 56, nothing wraps.
    (1..=8)
        .contains(&n)
        .then(|| 64u8.wrapping_sub((n as u8).wrapping_mul(8)))
}

#[inline]
pub(crate) fn put_word_at(buf: &mut [u8], at: usize, v: u64, shift: u8) -> bool {
    let Some(w) = buf.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<8>) else {
        return false;
    };
    *w = v.checked_shl(u32::from(shift)).unwrap_or(0).to_be_bytes();
    true
}

/// Append `v` encoded for a field of codec `d` and `length`.
pub fn encode_value(
    d: FieldDecoder,
    length: u16,
    v: &Value<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Refusal> {
    let start = out.len();
    let r = encode_into(d, length, v, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn encode_into(
    d: FieldDecoder,
    length: u16,
    v: &Value<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Refusal> {
    use FieldDecoder as F;
    match (d, v) {
        (F::Unsigned, Value::Unsigned(x)) => put_unsigned(*x, length, out),
        (F::Unsigned, Value::Signed(x)) => match u64::try_from(*x) {
            Ok(x) => put_unsigned(x, length, out),
            Err(_) => refuse(format!("{x} is negative (unsigned field)")),
        },
        (F::Signed, Value::Signed(x)) => put_signed(*x, length, out),
        (F::Signed, Value::Unsigned(x)) => match i64::try_from(*x) {
            Ok(x) => put_signed(x, length, out),
            Err(_) => refuse(format!("{x} does not fit a signed field")),
        },
        (F::Float64, Value::Float(x)) if length == 8 || length == VARLEN => {
            put_be(x.to_bits(), 8, length, out)
        }
        (F::Float32 | F::Float64As32, Value::Float(x)) if length == 4 || length == VARLEN => {
            put_be(u64::from((*x as f32).to_bits()), 4, length, out)
        }
        (F::Boolean, Value::Bool(b)) => put_octets(&[if *b { 1 } else { 2 }], length, false, out),
        (F::Mac, Value::Mac(m)) => put_octets(m, length, false, out),
        (F::Ipv4, Value::Ipv4(a)) => put_octets(a, length, false, out),
        (F::Ipv6, Value::Ipv6(a)) => put_octets(a, length, false, out),
        // RFC 7011 §6.1.6: a string shorter than a fixed field is padded
        // with NULs (readers that trim them get the same text back).
        (F::String, Value::String(s)) => put_octets(s, length, true, out),
        (F::Unsigned256, Value::Unsigned256(b) | Value::Bytes(b)) => {
            let digits = &b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..];
            if length == VARLEN {
                return put_octets(b, length, false, out);
            }
            let want = usize::from(length);
            if digits.len() > want || want > 32 {
                return refuse(format!(
                    "{} octets do not fit {want} (unsigned256)",
                    b.len()
                ));
            }
            // digits.len() <= want <= 32 (checked above).
            out.resize(
                out.len().saturating_add(want.saturating_sub(digits.len())),
                0,
            );
            out.extend_from_slice(digits);
            Ok(())
        }
        (F::DateTimeSeconds, Value::DateTime(t)) => match u32::try_from(t.secs) {
            Ok(s) if length == 4 || length == VARLEN => put_be(u64::from(s), 4, length, out),
            Ok(s) => put_unsigned(u64::from(s), length, out),
            Err(_) => refuse(format!("{} s since 1970 does not fit 32 bits", t.secs)),
        },
        (F::DateTimeMilliseconds, Value::DateTime(t)) => {
            let ms = u64::try_from(t.secs)
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .and_then(|ms| ms.checked_add(u64::from(t.nanos / 1_000_000)))
                .ok_or_else(|| {
                    format!("{} s since 1970 is not a valid millisecond time", t.secs)
                })?;
            put_unsigned(ms, length, out)
        }
        (F::DateTimeMicroseconds, Value::DateTime(t)) => put_ntp(t, true, length, out),
        (F::DateTimeNanoseconds, Value::DateTime(t)) => put_ntp(t, false, length, out),
        (
            F::BasicList | F::SubTemplateList | F::SubTemplateMultiList,
            Value::List(_, raw) | Value::Bytes(raw),
        ) => put_octets(raw, length, false, out),
        // A field the decoder could only read as bytes (a wrongly sized
        // address, say) goes back as those bytes.
        (_, Value::Bytes(b) | Value::Invalid(b, _)) => put_octets(b, length, false, out),
        (_, v) => refuse(format!(
            "a {} value cannot be encoded as {}",
            kind(v),
            codec_name(d)
        )),
    }
}

/// What a field holds, for messages.
fn codec_name(d: FieldDecoder) -> &'static str {
    use FieldDecoder as F;
    match d {
        F::Unsigned => "an unsigned integer",
        F::Signed => "a signed integer",
        F::Float32 | F::Float64 | F::Float64As32 => "a float",
        F::Boolean => "a boolean",
        F::Mac => "a MAC address",
        F::String => "a string",
        F::Bytes => "octets",
        F::Ipv4 => "an IPv4 address",
        F::Ipv6 => "an IPv6 address",
        F::DateTimeSeconds
        | F::DateTimeMilliseconds
        | F::DateTimeMicroseconds
        | F::DateTimeNanoseconds => "a time",
        F::Unsigned256 => "an unsigned256",
        F::BasicList | F::SubTemplateList | F::SubTemplateMultiList => "a list",
    }
}

/// A short name of a value's kind, for messages.
pub fn kind(v: &Value<'_>) -> &'static str {
    match v {
        Value::Unsigned(_) => "unsigned",
        Value::Signed(_) => "signed",
        Value::Float(_) => "float",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Mac(_) => "MAC address",
        Value::Ipv4(_) => "IPv4 address",
        Value::Ipv6(_) => "IPv6 address",
        Value::DateTime(_) => "time",
        Value::Unsigned256(_) => "unsigned256",
        Value::List(..) => "list",
        Value::Invalid(..) => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TimePrecision;

    /// An Arrow timestamp may hold any i64 of seconds: an NTP field
    /// refuses the ones outside its era instead of overflowing (issue 13).
    #[test]
    fn ntp_seconds_out_of_range_are_refused() {
        for secs in [i64::MAX, i64::MAX - 1, i64::MIN, -2_208_988_801] {
            let t = Value::DateTime(DateTime {
                secs,
                nanos: 0,
                precision: TimePrecision::Nanoseconds,
            });
            for d in [
                FieldDecoder::DateTimeMicroseconds,
                FieldDecoder::DateTimeNanoseconds,
            ] {
                let mut out = vec![1];
                let r = encode_value(d, 8, &t, &mut out);
                assert!(r.is_err(), "{secs}: {r:?}");
                assert_eq!(out, [1], "nothing is written");
            }
        }
        let mut out = Vec::new();
        let t = Value::DateTime(DateTime {
            secs: 0,
            nanos: 0,
            precision: TimePrecision::Nanoseconds,
        });
        encode_value(FieldDecoder::DateTimeNanoseconds, 8, &t, &mut out).unwrap();
        assert_eq!(out, [0x83, 0xAA, 0x7E, 0x80, 0, 0, 0, 0]);
    }

    /// A word written in place is the field `put_unsigned` appends, at any
    /// width, and the slack past it is only scratch; widths outside 1-8
    /// and buffers without 8 octets at the place are refused.
    #[test]
    fn words_in_place_are_the_appended_fields() {
        for n in 1..=8usize {
            for v in [0u64, 1, 0xA5, 0x1234, 0xDEAD_BEEF, u64::MAX] {
                let Ok(v) = unsigned_word(v, n) else {
                    continue;
                };
                let mut want = Vec::new();
                put_unsigned(v, n as u16, &mut want).unwrap();
                let mut buf = [0xEEu8; 3 + 8];
                assert!(put_word_at(&mut buf, 3, v, word_shift(n).unwrap()));
                assert_eq!(&buf[3..3 + n], &want[..], "{v:#x} in {n}");
                assert_eq!(&buf[..3], &[0xEE; 3]);
            }
        }
        let mut buf = [0u8; 8];
        assert_eq!(word_shift(0), None);
        assert_eq!(word_shift(9), None);
        assert!(!put_word_at(&mut buf, 1, 1, word_shift(1).unwrap()));
        assert_eq!(
            unsigned_word(256, 1),
            Err("256 does not fit 1 octets (unsigned)".into())
        );
        assert_eq!(
            signed_word(-129, 1),
            Err("-129 does not fit 1 octets (signed)".into())
        );
        assert_eq!(signed_word(-1, 2), Ok(u64::MAX));
    }
}
