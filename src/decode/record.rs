//! One data record as the decoder hands it to a sink: its bytes, where each
//! field lies in them, and the context needed to decode nested lists.

use std::sync::Arc;

use super::lists::ListContext;
use super::value::{decode_value, Value};
use crate::session::Template;
use crate::wire::{read_varlen, MessageHeader};

/// Where one field's value lies in its record: (offset, length).
pub type Span = (u32, u32);

/// Find the fields of the record starting at `pos` in `data`; fills
/// `spans` (relative to `pos`) and returns the end of the record, or `None`
/// when a field overruns `data` (RFC 7011 §7 varlen prefixes included).
pub fn split_record(t: &Template, data: &[u8], pos: usize, spans: &mut Vec<Span>) -> Option<usize> {
    spans.clear();
    let mut at = pos;
    for f in &t.fields {
        if f.is_varlen() {
            let (start, len) = read_varlen(data, at)?;
            // pos <= at <= start, and start + len <= data.len() (read_varlen).
            spans.push((start.saturating_sub(pos) as u32, len as u32));
            at = start.saturating_add(len);
        } else {
            let end = at.checked_add(f.length as usize)?;
            if end > data.len() {
                return None;
            }
            spans.push((at.saturating_sub(pos) as u32, u32::from(f.length)));
            at = end;
        }
    }
    Some(at)
}

/// A data record of a template, borrowed from its message.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub template: &'a Arc<Template>,
    /// The record's bytes.
    pub data: &'a [u8],
    /// Field positions within `data`, one per template field.
    pub spans: &'a [Span],
    pub header: &'a MessageHeader,
    pub message_index: u64,
    /// Absolute stream offset of the record's first byte.
    pub offset: u64,
    /// Template state for RFC 6313 sub-templates.
    pub lists: ListContext<'a>,
    /// Where a capture's record came from (`None`s for a plain stream).
    pub origin: Origin,
}

/// The sender and packet of a record read from a capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    pub exporter: Option<crate::source::Exporter>,
    /// Packet number in the capture, from 1.
    pub frame: Option<u64>,
}

impl<'a> Record<'a> {
    /// Raw bytes of field `i` (empty when out of range).
    // Measured (benches/decode.rs): inlining into the caller avoids returning
    // the Value through memory, 10M -> 20M records/s visiting every field.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn raw(&self, i: usize) -> &'a [u8] {
        match self.spans.get(i) {
            Some(&(o, l)) => self
                .data
                // A saturated end is out of range: `get` gives None.
                .get(o as usize..o.saturating_add(l) as usize)
                .unwrap_or_default(),
            None => &[],
        }
    }

    /// Decoded value of field `i` (lists as lazy views: decode them with
    /// [`super::lists::decode_list`] and [`Record::lists`]).
    // Measured (benches/decode.rs): inlining into the caller avoids returning
    // the Value through memory, 10M -> 20M records/s visiting every field.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub fn value(&self, i: usize) -> Value<'a> {
        match self.template.fields.get(i) {
            Some(f) => decode_value(f.decoder, self.raw(i)),
            None => Value::Bytes(&[]),
        }
    }

    /// Every field's value in template order (no index checks per field).
    #[inline]
    pub fn values(&self) -> impl ExactSizeIterator<Item = Value<'a>> + '_ {
        let data = self.data;
        self.template
            .fields
            .iter()
            .zip(self.spans)
            .map(move |(f, &(o, l))| {
                decode_value(
                    f.decoder,
                    data.get(o as usize..o.saturating_add(l) as usize)
                        .unwrap_or_default(),
                )
            })
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}
