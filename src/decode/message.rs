//! The message decoder: walks the sets of a message, keeps template state
//! (learn, replace, withdraw in wire order, RFC 7011 §8), splits data sets
//! into records for a [`RecordSink`], counts sequence numbers (§3.1), and
//! applies the bad-input policy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::health::Health;
use super::pending::{Held, Pending};
use super::record::{Origin, Record, Span};
use crate::error::{Error, ErrorKind, Result};
use crate::model::InfoModel;
use crate::netflow::Version;
use crate::session::{Limits, SequenceTracker, Template, TemplateKey, TemplateStore};
use crate::source::{Exporter, RawMessage};
use crate::wire::{
    MessageHeader, SetIter, MIN_DATA_SET_ID, OPTIONS_TEMPLATE_SET_ID, SET_HEADER_LEN,
    TEMPLATE_SET_ID,
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
}

#[path = "template_sets.rs"]
mod template_sets;

#[path = "data_sets.rs"]
mod data_sets;
