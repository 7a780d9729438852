//! A template resolved against the information model, with its decode plan
//! compiled once: each field's decoder, and for templates without
//! variable-length fields the fixed offset of every field.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::model::{occurrence_name, occurrences, DataType, IeDef, InfoModel, ENTERPRISE_BIT};
use crate::wire::{FieldSpec, VARLEN};

/// How one field's bytes become a value; chosen once per template from the
/// IE's type and the length the template gives (RFC 7011 §6, §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDecoder {
    /// Unsigned integer of 1..=8 bytes (reduced-size encoding included).
    Unsigned,
    /// Signed integer of 1..=8 bytes, sign-extended.
    Signed,
    Float32,
    Float64,
    /// float64 sent as a 4-byte float32 (RFC 7011 §6.2).
    Float64As32,
    Boolean,
    Mac,
    String,
    Bytes,
    Ipv4,
    Ipv6,
    DateTimeSeconds,
    /// dateTimeMilliseconds, 1..=8 bytes.
    DateTimeMilliseconds,
    DateTimeMicroseconds,
    DateTimeNanoseconds,
    /// unsigned256 of 1..=32 bytes.
    Unsigned256,
    BasicList,
    SubTemplateList,
    SubTemplateMultiList,
}

impl FieldDecoder {
    /// Pick the decoder for an IE type and a template length; lengths that
    /// the type does not allow fall back to raw bytes.
    pub fn for_type(t: DataType, length: u16) -> FieldDecoder {
        use DataType as D;
        let varlen = length == VARLEN;
        if !varlen && !t.accepts_length(length) {
            // An integer wider than its type (NetFlow v9 exporters send
            // samplerId, an unsigned8, in 2 or 4 bytes; RFC 7011 §6.2
            // allows only narrower): read as the integer it is; a column
            // of the type checks that the value fits. A zero-length one
            // holds no integer: its (empty) bytes.
            return match t {
                D::Unsigned8 | D::Unsigned16 | D::Unsigned32 if (1..=8).contains(&length) => {
                    FieldDecoder::Unsigned
                }
                D::Signed8 | D::Signed16 | D::Signed32 if (1..=8).contains(&length) => {
                    FieldDecoder::Signed
                }
                _ => FieldDecoder::Bytes,
            };
        }
        match t {
            D::Unsigned8 | D::Unsigned16 | D::Unsigned32 | D::Unsigned64 => {
                if varlen {
                    FieldDecoder::Bytes
                } else {
                    FieldDecoder::Unsigned
                }
            }
            D::Signed8 | D::Signed16 | D::Signed32 | D::Signed64 => {
                if varlen {
                    FieldDecoder::Bytes
                } else {
                    FieldDecoder::Signed
                }
            }
            D::Float32 if !varlen => FieldDecoder::Float32,
            D::Float64 if length == 8 => FieldDecoder::Float64,
            D::Float64 if length == 4 => FieldDecoder::Float64As32,
            D::Boolean if !varlen => FieldDecoder::Boolean,
            D::MacAddress if !varlen => FieldDecoder::Mac,
            D::String => FieldDecoder::String,
            D::Ipv4Address if !varlen => FieldDecoder::Ipv4,
            D::Ipv6Address if !varlen => FieldDecoder::Ipv6,
            D::DateTimeSeconds if !varlen => FieldDecoder::DateTimeSeconds,
            D::DateTimeMilliseconds if !varlen => FieldDecoder::DateTimeMilliseconds,
            D::DateTimeMicroseconds if !varlen => FieldDecoder::DateTimeMicroseconds,
            D::DateTimeNanoseconds if !varlen => FieldDecoder::DateTimeNanoseconds,
            D::Unsigned256 if !varlen => FieldDecoder::Unsigned256,
            D::BasicList => FieldDecoder::BasicList,
            D::SubTemplateList => FieldDecoder::SubTemplateList,
            D::SubTemplateMultiList => FieldDecoder::SubTemplateMultiList,
            _ => FieldDecoder::Bytes,
        }
    }
}

/// One field of a template.
#[derive(Debug, Clone)]
pub struct TemplateField {
    /// The IE, as the reader's model names it.
    pub ie: Arc<IeDef>,
    /// Field length from the template; 65535 = variable length.
    pub length: u16,
    pub decoder: FieldDecoder,
    /// Which occurrence of its IE in the template this field is (0: the
    /// first; RFC 7011 §8 lets a template repeat an IE). Names the field's
    /// dict key and column ([`crate::model::occurrence_name`]).
    pub nth: u16,
}

impl TemplateField {
    /// Whether the field is variable-length.
    pub fn is_varlen(&self) -> bool {
        self.length == VARLEN
    }

    /// The field's dict key and column name: the IE's name, `.k` added
    /// for its k-th repetition in the template.
    pub fn column_name(&self) -> std::borrow::Cow<'_, str> {
        occurrence_name(&self.ie.name, self.nth)
    }

    /// The identity a column is matched by: (pen, id, occurrence).
    pub fn column_key(&self) -> (u32, u16, u16) {
        (self.ie.pen, self.ie.id, self.nth)
    }
}

/// A template or options template, resolved and compiled.
#[derive(Debug)]
pub struct Template {
    pub id: u16,
    pub observation_domain_id: u32,
    /// Scope field count for options templates, `None` for templates.
    pub scope_count: Option<u16>,
    pub fields: Vec<TemplateField>,
    /// Shortest possible record: fixed lengths plus one byte per varlen field.
    pub min_record_len: usize,
    /// Record length when no field is variable-length.
    pub fixed_record_len: Option<usize>,
    /// Offsets of the fields when `fixed_record_len` is set.
    pub fixed_offsets: Vec<u32>,
    /// Unique per template instance, for caches of plans derived from it.
    pub serial: u64,
    /// The field specifiers as received, for re-encoding and display.
    pub specs: Vec<FieldSpec>,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

impl Template {
    /// Resolve field specifiers against `model` and compile the plan.
    pub fn new(
        id: u16,
        observation_domain_id: u32,
        scope_count: Option<u16>,
        specs: Vec<FieldSpec>,
        model: &InfoModel,
    ) -> Template {
        let mut fields = Vec::with_capacity(specs.len());
        let mut min = 0usize;
        let mut fixed = true;
        let mut offsets = Vec::with_capacity(specs.len());
        let ids: Vec<(u32, u16)> = specs
            .iter()
            .map(|s| (s.pen, s.id & !ENTERPRISE_BIT))
            .collect();
        for (s, nth) in specs.iter().zip(occurrences(&ids)) {
            let ie = model.lookup(s.pen, s.id & !ENTERPRISE_BIT);
            let decoder = FieldDecoder::for_type(ie.data_type, s.length);
            offsets.push(min as u32);
            if s.length == VARLEN {
                fixed = false;
                min += 1;
            } else {
                min += s.length as usize;
            }
            fields.push(TemplateField {
                ie,
                length: s.length,
                decoder,
                nth,
            });
        }
        Template {
            id,
            observation_domain_id,
            scope_count,
            fields,
            min_record_len: min,
            fixed_record_len: fixed.then_some(min),
            fixed_offsets: if fixed { offsets } else { Vec::new() },
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            specs,
        }
    }

    /// Whether this is an options template.
    pub fn is_options(&self) -> bool {
        self.scope_count.is_some()
    }

    /// Same wire definition (kind and field specifiers) as `other`.
    pub fn same_definition(&self, other: &Template) -> bool {
        self.scope_count == other.scope_count && self.specs == other.specs
    }
}

impl PartialEq for Template {
    /// Templates are equal when they have the same id, domain and definition.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.observation_domain_id == other.observation_domain_id
            && self.same_definition(other)
    }
}
