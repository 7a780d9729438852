//! Data sets (RFC 7011 §3.4.3): a set's records split by their template
//! and handed to the sink, whole fixed-length sets at once when the sink
//! takes them; split from the decoder's message loop.

use std::sync::Arc;

use super::{Decoder, Place, RecordSink};
use crate::decode::lists::ListContext;
use crate::decode::record::{split_record, Record, Span};
use crate::error::{Error, ErrorKind};
use crate::session::Template;
use crate::wire::MessageHeader;

impl Decoder {
    /// Decode the records of one data set. On trouble returns the records
    /// delivered so far, the error, and whether it came from the sink
    /// (fatal, not subject to the policy).
    pub(super) fn data_set<S: RecordSink>(
        &mut self,
        t: &Arc<Template>,
        body: &[u8],
        header: &MessageHeader,
        place: &Place,
        body_at: usize,
        sink: &mut S,
    ) -> std::result::Result<u32, (u32, Error, bool)> {
        let mut n = 0u32;
        if t.min_record_len == 0 {
            let e = Error::new(ErrorKind::BadRecord(format!(
                "template {} describes zero-length records; its data set cannot be split",
                t.id
            )));
            return Err((0, place.at(e, body_at), false));
        }
        let mut spans = std::mem::take(&mut self.spans);
        let result = self.split_set(t, body, header, place, body_at, &mut spans, &mut n, sink);
        self.spans = spans;
        if t.is_options() {
            self.health.options_records = self.health.options_records.saturating_add(u64::from(n));
            self.note_sampling(t, body, header.observation_domain_id);
        } else {
            self.health.data_records = self.health.data_records.saturating_add(u64::from(n));
        }
        result.map(|()| n).map_err(|(e, fatal)| (n, e, fatal))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn split_set<S: RecordSink>(
        &self,
        t: &Arc<Template>,
        body: &[u8],
        header: &MessageHeader,
        place: &Place,
        body_at: usize,
        spans: &mut Vec<Span>,
        n: &mut u32,
        sink: &mut S,
    ) -> std::result::Result<(), (Error, bool)> {
        let lists = ListContext {
            model: &self.model,
            store: &self.store,
            session: self.session,
            observation_domain_id: header.observation_domain_id,
            limits: self.store.limits(),
        };
        let mut pos = 0usize;
        // Offsets in the input: far from u64::MAX, never saturate.
        let offset_of = |pos: usize| {
            place
                .msg_offset
                .saturating_add(body_at.saturating_add(pos) as u64)
        };
        if let Some(len) = t.fixed_record_len {
            spans.clear();
            spans.extend(
                t.fixed_offsets
                    .iter()
                    .zip(&t.fields)
                    .map(|(&o, f)| (o, u32::from(f.length))),
            );
            let mut rec = Record {
                template: t,
                data: &[],
                spans,
                header,
                message_index: place.msg_index,
                offset: 0,
                lists,
                origin: self.origin,
            };
            // len >= min_record_len > 0 (checked in data_set); a set
            // holds under 2^16 records, so the counts never saturate.
            let count = body.len().checked_div(len).unwrap_or(0);
            let whole = body.get(..count.saturating_mul(len)).unwrap_or_default();
            if sink.fixed_records(t, whole, count).map_err(|e| (e, true))? {
                *n = n.saturating_add(count as u32);
                return Ok(());
            }
            for data in whole.chunks_exact(len) {
                rec.data = data;
                rec.offset = offset_of(pos);
                sink.record(&rec).map_err(|e| (e, true))?;
                *n = n.saturating_add(1);
                pos = pos.saturating_add(len);
            }
        } else {
            // pos <= body.len(): it only moves to a record's end.
            while body.len().saturating_sub(pos) >= t.min_record_len {
                let Some(end) = split_record(t, body, pos, spans) else {
                    let e = Error::new(ErrorKind::BadRecord(format!(
                        "a variable-length field of template {} overruns its set",
                        t.id
                    )));
                    return Err((place.at(e, body_at.saturating_add(pos)), false));
                };
                let rec = Record {
                    template: t,
                    data: &body[pos..end],
                    spans,
                    header,
                    message_index: place.msg_index,
                    offset: offset_of(pos),
                    lists,
                    origin: self.origin,
                };
                sink.record(&rec).map_err(|e| (e, true))?;
                *n = n.saturating_add(1);
                pos = end;
            }
        }
        // Whatever is left is shorter than a record: set padding (§3.3.1).
        Ok(())
    }
}
