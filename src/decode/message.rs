//! The message decoder: walks the sets of a message, keeps template state
//! (learn, replace, withdraw in wire order, RFC 7011 §8), splits data sets
//! into records for a [`RecordSink`], counts sequence numbers (§3.1), and
//! applies the bad-input policy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::health::Health;
use super::lists::ListContext;
use super::pending::{Held, Pending};
use super::record::{split_record, Origin, Record, Span};
use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
use crate::netflow::Version;
use crate::session::{
    Limits, SequenceTracker, StoreEvent, Template, TemplateField, TemplateKey, TemplateStore,
};
use crate::source::{Exporter, RawMessage};
use crate::wire::{
    parse_template_set, MessageHeader, SetIter, TemplateItem, MIN_DATA_SET_ID,
    OPTIONS_TEMPLATE_SET_ID, SET_HEADER_LEN, TEMPLATE_SET_ID,
};

/// IANA IEs of sampling parameters: samplingInterval (34),
/// samplingAlgorithm (35), samplerId (48), samplerMode (49),
/// samplerRandomInterval (50), selectorId (302), selectorAlgorithm (304),
/// samplingPacketInterval (305), samplingPacketSpace (306), samplingSize
/// (309), samplingPopulation (310). NetFlow v9's FLOW_SAMPLER_* share the
/// numbers 48-50.
const SAMPLING_IES: [u16; 11] = [34, 35, 48, 49, 50, 302, 304, 305, 306, 309, 310];
/// Most samplers remembered.
const MAX_SAMPLERS: usize = 4096;

/// What to do with recoverable trouble: a data set without its template, a
/// malformed set, template or record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Stop with the error (records before it were already delivered).
    #[default]
    Error,
    /// Skip, count, and tell the sink (which may warn).
    Warn,
    /// Skip and count.
    Skip,
}

/// Receives decoded records.
pub trait RecordSink {
    /// One data record. An error stops the decoder and is returned as is.
    fn record(&mut self, rec: &Record<'_>) -> Result<()>;

    /// A problem skipped under [`Policy::Warn`] or [`Policy::Skip`].
    fn skipped(&mut self, _e: &Error, _policy: Policy) {}

    /// Where the records of the message about to be decoded come from
    /// (a capture's exporter and packet; `None`s for a plain stream).
    fn origin(&mut self, _origin: Origin) {}

    /// Offered first, for a data set of a template without variable-length
    /// fields: `records` holds `count` records of `template.fixed_record_len`
    /// bytes each. A sink that takes them all at once (column by column)
    /// returns `Ok(true)`; `Ok(false)` makes the decoder call [`Self::record`]
    /// for each.
    fn fixed_records(
        &mut self,
        _template: &Arc<Template>,
        _records: &[u8],
        _count: usize,
    ) -> Result<bool> {
        Ok(false)
    }
}

/// Options of a decoder.
#[derive(Debug, Clone, Default)]
pub struct DecoderOptions {
    pub policy: Policy,
    pub limits: Limits,
    /// Transport session id, part of every template key.
    pub session: u64,
}

/// Decodes the messages of one transport session.
pub struct Decoder {
    pub model: InfoModel,
    store: TemplateStore,
    /// Sequence accounting per session (the decoder's own, and each of a
    /// capture's, from 1).
    seqs: BTreeMap<u64, SequenceTracker>,
    /// Where the message being decoded came from.
    origin: Origin,
    /// Data sets of capture sessions waiting for their template.
    pending: Pending,
    /// The message being decoded came over UDP, and its export time.
    udp: bool,
    now: u32,
    received: Option<u32>,
    /// The message was read from a capture: a TCP stream there may have
    /// been joined mid-way or lost segments, so a missing template is
    /// counted, not raised.
    captured: bool,
    /// Export time each UDP template was last received at.
    learned_at: HashMap<TemplateKey, u32>,
    template_lifetime: Option<u32>,
    wall_clock: bool,
    /// The sender of each capture session.
    exporters: BTreeMap<u64, Exporter>,
    /// The decoder's own session (its options'); a capture's messages
    /// switch to theirs while they are decoded.
    base_session: u64,
    health: Health,
    policy: Policy,
    session: u64,
    spans: Vec<Span>,
}

struct Place {
    msg_offset: u64,
    msg_index: u64,
    /// Offsets within the message are the input's (false for a NetFlow
    /// packet's IPFIX translation: errors then point at the packet).
    exact: bool,
}

impl Place {
    fn at(&self, e: Error, within: usize) -> Error {
        let within = if self.exact { within as u64 } else { 0 };
        e.at(self.msg_offset.saturating_add(within), self.msg_index)
    }
}

impl Decoder {
    /// A decoder using `model` to name and type IEs.
    pub fn new(model: InfoModel, opts: &DecoderOptions) -> Self {
        Decoder {
            model,
            store: TemplateStore::new(opts.limits),
            seqs: BTreeMap::new(),
            exporters: BTreeMap::new(),
            base_session: opts.session,
            origin: Origin::default(),
            pending: Pending::default(),
            udp: false,
            captured: false,
            now: 0,
            received: None,
            learned_at: HashMap::new(),
            template_lifetime: opts.limits.template_lifetime,
            wall_clock: opts.limits.wall_clock,
            health: Health::default(),
            policy: opts.policy,
            session: opts.session,
            spans: Vec::with_capacity(64),
        }
    }

    /// The transport-health counters so far.
    pub fn health(&self) -> Health {
        let mut h = self.health.clone();
        if let Some(seq) = self.seqs.get(&self.base_session) {
            h.sequence = seq.domains().clone();
        }
        // Sets still waiting for their template are missing it, so far.
        h.sets_held = self.pending.len() as u64;
        for (k, n) in self.pending.held() {
            h.sets_missing_template = h.sets_missing_template.saturating_add(n as u64);
            let key = (k.observation_domain_id, k.template_id);
            let m = h.missing_templates.entry(key).or_default();
            *m = m.saturating_add(n as u64);
        }
        h.sessions = self
            .seqs
            .iter()
            .filter(|(&id, _)| id != self.base_session)
            .map(|(id, seq)| {
                let name = self.exporters.get(id).map(ToString::to_string);
                (*id, (name.unwrap_or_default(), seq.domains().clone()))
            })
            .collect();
        h
    }

    /// Count a problem found outside message decoding (by the stream reader)
    /// under the policy.
    pub fn skip_problem<S: RecordSink>(&mut self, e: Error, sink: &mut S) -> Result<()> {
        self.problem(e, sink)
    }

    /// The templates held now.
    pub fn templates(&self) -> Vec<(TemplateKey, Arc<Template>)> {
        self.store.all()
    }

    /// The template store.
    pub fn store(&self) -> &TemplateStore {
        &self.store
    }

    fn problem<S: RecordSink>(&mut self, e: Error, sink: &mut S) -> Result<()> {
        match self.policy {
            Policy::Error => Err(e),
            Policy::Warn | Policy::Skip => {
                self.health.skipped(&e);
                sink.skipped(&e, self.policy);
                Ok(())
            }
        }
    }

    /// Decode one whole message (`msg` holds exactly the header's length).
    /// `offset` is the message's position in the stream, `index` its number.
    pub fn decode_message<S: RecordSink>(
        &mut self,
        msg: &[u8],
        offset: u64,
        index: u64,
        sink: &mut S,
    ) -> Result<()> {
        self.origin = Origin::default();
        self.udp = false;
        self.captured = false;
        self.received = None;
        self.decode_as(msg, offset, index, Version::Ipfix, sink)
    }

    /// Decode a message of a [`crate::source::MessageStream`]: IPFIX, or
    /// a NetFlow packet's translation, whose sequence numbers count packets
    /// (v9, RFC 3954 §5.1) or records (v5, as IPFIX).
    pub fn decode<S: RecordSink>(&mut self, m: &RawMessage<'_>, sink: &mut S) -> Result<()> {
        self.origin = Origin {
            exporter: m.exporter,
            frame: m.frame,
        };
        self.udp = m.udp;
        self.captured = m.frame.is_some();
        self.received = m.received;
        sink.origin(self.origin);
        if m.session == 0 {
            return self.decode_as(m.bytes, m.offset, m.index, m.version, sink);
        }
        // A capture's session: its own templates and sequence numbers, both
        // keyed by the session.
        if let Some(e) = m.exporter {
            if self.exporters.len() < crate::source::MAX_SESSIONS {
                self.exporters.entry(m.session).or_insert(e);
            }
        }
        self.session = m.session;
        let r = self.decode_as(m.bytes, m.offset, m.index, m.version, sink);
        self.session = self.base_session;
        r
    }

    fn decode_as<S: RecordSink>(
        &mut self,
        msg: &[u8],
        offset: u64,
        index: u64,
        version: Version,
        sink: &mut S,
    ) -> Result<()> {
        let place = Place {
            msg_offset: offset,
            msg_index: index,
            exact: version == Version::Ipfix,
        };
        let header = MessageHeader::parse(msg).map_err(|e| place.at(e, 0))?;
        if header.length as usize != msg.len() {
            return Err(place.at(
                Error::new(ErrorKind::BadMessageHeader(format!(
                    "header says {} bytes, message has {}",
                    header.length,
                    msg.len()
                ))),
                0,
            ));
        }
        let odid = header.observation_domain_id;
        // The clock, when asked: the time the listener received the
        // message (decoding may come later).
        self.now = match (self.wall_clock, self.received) {
            (true, Some(t)) => t,
            (true, None) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32),
            (false, _) => header.export_time,
        };
        self.health.bytes = self.health.bytes.saturating_add(msg.len() as u64);
        self.health.messages = self.health.messages.saturating_add(1);
        self.seqs
            .entry(self.session)
            .or_default()
            .begin(odid, header.sequence);
        let mut records = 0u32;
        let mut complete = true;
        for set in SetIter::new(msg) {
            let set = match set {
                Ok(s) => s,
                Err((at, e)) => {
                    complete = false;
                    self.problem(place.at(e, at), sink)?;
                    break;
                }
            };
            match set.id {
                TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                    self.template_set(
                        set.id,
                        set.body,
                        odid,
                        &place,
                        set.offset.saturating_add(SET_HEADER_LEN),
                        sink,
                    )?;
                }
                id if id < MIN_DATA_SET_ID => {
                    self.health.sets_reserved = self.health.sets_reserved.saturating_add(1);
                }
                id => {
                    let key = TemplateKey {
                        session: self.session,
                        observation_domain_id: odid,
                        template_id: id,
                    };
                    if self.udp {
                        self.expire(&key);
                    }
                    let Some(t) = self.store.get(&key).cloned() else {
                        complete = false;
                        if self.udp {
                            // A capture's UDP session: hold it for its
                            // template (pending.rs).
                            let held = Held {
                                body: set.body.to_vec(),
                                header,
                                msg_offset: place.msg_offset,
                                msg_index: place.msg_index,
                                exact: place.exact,
                                body_at: set.offset.saturating_add(SET_HEADER_LEN),
                            };
                            if !self.pending.hold(key, held) {
                                self.health.sets_missing_template =
                                    self.health.sets_missing_template.saturating_add(1);
                                let m =
                                    self.health.missing_templates.entry((odid, id)).or_default();
                                *m = m.saturating_add(1);
                            }
                            continue;
                        }
                        if self.captured {
                            self.health.sets_missing_template =
                                self.health.sets_missing_template.saturating_add(1);
                            let m = self.health.missing_templates.entry((odid, id)).or_default();
                            *m = m.saturating_add(1);
                            continue;
                        }
                        let e = Error::new(ErrorKind::MissingTemplate {
                            observation_domain_id: odid,
                            template_id: id,
                        });
                        self.problem(place.at(e, set.offset), sink)?;
                        continue;
                    };
                    let body_at = set.offset.saturating_add(SET_HEADER_LEN);
                    match self.data_set(&t, set.body, &header, &place, body_at, sink) {
                        Ok(n) => records = records.wrapping_add(n),
                        Err((n, e, fatal)) => {
                            records = records.wrapping_add(n);
                            if fatal {
                                return Err(e);
                            }
                            complete = false;
                            self.problem(e, sink)?;
                        }
                    }
                }
            }
        }
        if version == Version::V9 {
            self.seqs
                .entry(self.session)
                .or_default()
                .end_packet(odid, header.sequence, records);
        } else {
            self.seqs.entry(self.session).or_default().end(
                odid,
                header.sequence,
                records,
                complete,
            );
        }
        Ok(())
    }

    fn template_set<S: RecordSink>(
        &mut self,
        set_id: u16,
        body: &[u8],
        odid: u32,
        place: &Place,
        body_at: usize,
        sink: &mut S,
    ) -> Result<()> {
        let options = set_id == OPTIONS_TEMPLATE_SET_ID;
        for item in parse_template_set(set_id, body) {
            match item {
                Err((at, e)) => {
                    self.problem(place.at(e, body_at.saturating_add(at)), sink)?;
                    break;
                }
                Ok(TemplateItem::Template {
                    id,
                    scope_count,
                    fields,
                }) => {
                    let t = Template::new(id, odid, scope_count, fields, &self.model);
                    // Zero-length fields cost nothing on the wire but a value
                    // each in every record: bound that amplification.
                    // min_record_len < 2^16: never saturates.
                    if t.fields.len() > t.min_record_len.saturating_mul(4).saturating_add(64) {
                        let e = Error::new(ErrorKind::BadTemplate(format!(
                            "template {id} has {} fields in records of at least {} bytes \
                             (too many zero-length fields)",
                            t.fields.len(),
                            t.min_record_len
                        )));
                        self.problem(place.at(e, body_at), sink)?;
                        continue;
                    }
                    let key = TemplateKey {
                        session: self.session,
                        observation_domain_id: odid,
                        template_id: id,
                    };
                    match self.store.insert(key, t) {
                        Ok(ev) => {
                            self.health.template_event(ev, 1);
                            if self.udp && self.learned_at.len() < self.store.limits().max_templates
                            {
                                self.learned_at.insert(key, self.now);
                            }
                            self.replay(&key, sink)?;
                        }
                        Err(e) => self.problem(place.at(e, body_at), sink)?,
                    }
                }
                Ok(TemplateItem::Withdraw { .. } | TemplateItem::WithdrawAll) if self.udp => {
                    self.health.withdrawals_ignored =
                        self.health.withdrawals_ignored.saturating_add(1);
                }
                Ok(TemplateItem::Withdraw { id }) => {
                    let n = self.store.withdraw(self.session, odid, Some(id), options);
                    let ev = if n == 0 {
                        StoreEvent::WithdrawnUnknown
                    } else {
                        StoreEvent::Withdrawn
                    };
                    self.health.template_event(ev, n.max(1));
                }
                Ok(TemplateItem::WithdrawAll) => {
                    let n = self.store.withdraw(self.session, odid, None, options);
                    self.health.template_event(StoreEvent::Withdrawn, n);
                }
            }
        }
        Ok(())
    }

    /// Drop the UDP template `key` when it was last received more than the
    /// lifetime ago in export time, or by the clock (RFC 7011 §8.4).
    fn expire(&mut self, key: &TemplateKey) {
        let (Some(life), Some(&at)) = (self.template_lifetime, self.learned_at.get(key)) else {
            return;
        };
        // Export times are 32-bit seconds; the difference is taken signed.
        if (self.now.wrapping_sub(at) as i32) <= life as i32 {
            return;
        }
        let options = self.store.get(key).is_some_and(|t| t.is_options());
        self.store.withdraw(
            key.session,
            key.observation_domain_id,
            Some(key.template_id),
            options,
        );
        self.learned_at.remove(key);
        self.health.templates_expired = self.health.templates_expired.saturating_add(1);
    }

    /// Keep the sampling parameters of options records (IANA sampling and
    /// PSAMP IEs), the latest per (session, domain, selector or sampler
    /// id), so that counts can be scaled per exporter.
    fn note_sampling(&mut self, t: &Template, body: &[u8], odid: u32) {
        let fields: Vec<(usize, &TemplateField)> = t
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.ie.pen == 0 && SAMPLING_IES.contains(&f.ie.id) && f.length <= 8)
            .collect();
        if fields.is_empty() || t.min_record_len == 0 {
            return;
        }
        let mut spans = Vec::with_capacity(t.fields.len());
        let mut pos = 0;
        // pos <= body.len(): it only moves to a record's end.
        while body.len().saturating_sub(pos) >= t.min_record_len {
            let Some(end) = split_record(t, body, pos, &mut spans) else {
                return;
            };
            let mut values = BTreeMap::new();
            let mut selector = 0;
            for &(i, f) in &fields {
                let Some(&(at, len)) = spans.get(i) else {
                    continue;
                };
                let at = pos.saturating_add(at as usize);
                let Some(raw) = body.get(at..at.saturating_add(len as usize)) else {
                    continue;
                };
                let v = raw.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
                if matches!(f.ie.id, 302 | 48) {
                    selector = v;
                }
                values.insert(f.ie.name.to_string(), v);
            }
            let key = (self.session, odid, selector);
            if self.health.sampling.len() < MAX_SAMPLERS || self.health.sampling.contains_key(&key)
            {
                self.health.sampling.insert(key, values);
            }
            pos = end;
        }
    }

    /// Decode the sets held for the template `key` just learned.
    fn replay<S: RecordSink>(&mut self, key: &TemplateKey, sink: &mut S) -> Result<()> {
        let Some(held) = self.pending.take(key) else {
            return Ok(());
        };
        let Some(t) = self.store.get(key).cloned() else {
            return Ok(());
        };
        for h in held {
            let place = Place {
                msg_offset: h.msg_offset,
                msg_index: h.msg_index,
                exact: h.exact,
            };
            self.health.sets_replayed = self.health.sets_replayed.saturating_add(1);
            if let Err((_, e, fatal)) =
                self.data_set(&t, &h.body, &h.header, &place, h.body_at, sink)
            {
                if fatal {
                    return Err(e);
                }
                self.problem(e, sink)?;
            }
        }
        Ok(())
    }

    /// Decode the records of one data set. On trouble returns the records
    /// delivered so far, the error, and whether it came from the sink
    /// (fatal, not subject to the policy).
    fn data_set<S: RecordSink>(
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
    fn split_set<S: RecordSink>(
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
