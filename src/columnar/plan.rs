//! Decode plans: for a template, which of its fields fills each column and
//! whether its values can be appended unchecked (known from the field's
//! decoder and length, RFC 7011 §6.2) or must be checked first. Compiled
//! once per template instance and cached by the sink.

use arrow_schema::TimeUnit;

use super::prim::Strided;
use super::types::ColumnKind;
use crate::session::{FieldDecoder, Template, TemplateField};

/// For each column, the template field that fills it.
pub(crate) struct Plan {
    pub slots: Vec<Slot>,
    /// Columns whose slot must be checked before the row is appended.
    pub checked: Vec<usize>,
    pub complete: bool,
    /// Some column is a nested list (never filled column-wise).
    pub nested: bool,
}

/// How one column is filled from a template's record.
#[derive(Clone, Copy)]
pub(crate) enum Slot {
    /// The template lacks the IE: null.
    Missing,
    /// Field `i` always fits the column (known from its decoder and length).
    Fast(usize),
    /// Field `i` may not fit (a boolean of 7, a wrongly sized address):
    /// checked first, then appended or nulled by the policy.
    Checked(usize),
}

/// Compiled plans kept at once (more are recompiled on demand).
pub(crate) const MAX_PLANS: usize = 4096;

impl Plan {
    /// The plan of template `t` for the columns `keys` (IE identities and
    /// occurrences, [`crate::model::ColumnIe::key`]), of kinds `kinds`,
    /// nested lists where `nested`.
    pub fn compile(
        t: &Template,
        keys: &[(u32, u16, u16)],
        kinds: &[ColumnKind],
        nested: &[bool],
    ) -> Plan {
        let fields = &t.fields;
        let slots: Vec<Slot> = keys
            .iter()
            .zip(kinds)
            .zip(nested)
            .map(
                |((k, kind), &nested)| match fields.iter().position(|f| f.column_key() == *k) {
                    None => Slot::Missing,
                    Some(i)
                        if !nested && always_fits(*kind, fields[i].decoder, fields[i].length) =>
                    {
                        Slot::Fast(i)
                    }
                    Some(i) => Slot::Checked(i),
                },
            )
            .collect();
        Plan {
            nested: slots
                .iter()
                .zip(nested)
                .any(|(s, &n)| n && !matches!(s, Slot::Missing)),
            complete: slots.iter().all(|s| !matches!(s, Slot::Missing)),
            checked: (0..slots.len())
                .filter(|&c| matches!(slots[c], Slot::Checked(_)))
                .collect(),
            slots,
        }
    }
}

/// Field `index` of a fixed-length template and where it lies in each of
/// `records` (a run of records `stride` bytes long).
pub(crate) fn fixed_field<'a, 't>(
    t: &'t Template,
    index: usize,
    records: &'a [u8],
    stride: usize,
) -> (&'t TemplateField, Strided<'a>) {
    let field = &t.fields[index];
    let strided = Strided {
        records,
        stride,
        at: t.fixed_offsets.get(index).map_or(0, |&o| o as usize),
        len: field.length as usize,
    };
    (field, strided)
}

/// Whether every value a field can carry fits the column, from the field's
/// decoder and length alone (RFC 7011 §6.2: a reduced-size integer is never
/// wider than its type; NTP times always fit nanoseconds in i64).
pub(crate) fn always_fits(kind: ColumnKind, d: FieldDecoder, len: u16) -> bool {
    use FieldDecoder as F;
    let native = |n: u16| len <= n;
    match (kind, d) {
        (ColumnKind::UInt8, F::Unsigned) | (ColumnKind::Int8, F::Signed) => native(1),
        (ColumnKind::UInt16, F::Unsigned) | (ColumnKind::Int16, F::Signed) => native(2),
        (ColumnKind::UInt32, F::Unsigned) | (ColumnKind::Int32, F::Signed) => native(4),
        (ColumnKind::UInt64, F::Unsigned) | (ColumnKind::Int64, F::Signed) => native(8),
        // ms since 1970 in at most 7 bytes is below 2^63.
        (ColumnKind::Timestamp(TimeUnit::Millisecond), F::DateTimeMilliseconds) => native(7),
        (ColumnKind::Float32 | ColumnKind::Float64, F::Float32 | F::Float64 | F::Float64As32)
        | (ColumnKind::Utf8, F::String)
        | (ColumnKind::Mac, F::Mac)
        | (
            ColumnKind::Binary,
            F::Bytes | F::BasicList | F::SubTemplateList | F::SubTemplateMultiList,
        )
        | (ColumnKind::Unsigned256, F::Unsigned256)
        | (ColumnKind::Timestamp(TimeUnit::Second), F::DateTimeSeconds)
        | (
            ColumnKind::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond),
            F::DateTimeMicroseconds | F::DateTimeNanoseconds,
        )
        | (ColumnKind::Ipv4(_), F::Ipv4)
        | (ColumnKind::Ipv6(_), F::Ipv6) => true,
        _ => false,
    }
}
